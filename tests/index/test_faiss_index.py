"""The planner (embedspace/index/faiss_index.py): what auto picks under a memory budget, and the
bytes a vector that a query reads, part by part (issue 16)."""

import numpy as np
import pytest

from embedspace.cli.parser import build_parser
from embedspace.index.faiss_index import INDEX_TYPES, build_partitions, memory_parts, plan_index

MIB = 2**20
N, DIM = 1_000_000, 512


@pytest.mark.parametrize("budget_mib, kind", [(3000, "hnsw"), (1200, "ivf-pq"), (600, "ivf-rabitq"), (300, "ivf-rabitq")])
def test_auto_picks_the_first_of_hnsw_ivf_pq_with_reranking_and_the_compact_index_that_fits(budget_mib, kind):
    plan = plan_index(N, DIM, "auto", budget_mib * MIB)
    assert plan.kind == kind, plan.reason
    assert N * plan.bytes_per_vector <= budget_mib * MIB, plan.reason  # everything a query reads fits
    if kind == "ivf-rabitq":
        assert "do not fit --max-memory" in plan.reason and "re-ranking" in plan.reason


def test_below_the_compact_index_auto_keeps_ivf_pq_and_says_its_reranking_vectors_are_outside_the_budget():
    plan = plan_index(N, DIM, "auto", 100 * MIB)
    assert plan.kind == "ivf-pq" and plan.rerank
    assert "read from disk outside the budget" in plan.reason
    assert N * (memory_parts(plan.factory, N, DIM)["codes"] + 8) <= 100 * MIB  # its codes and ids do fit


def test_memory_parts_name_what_a_query_reads_and_add_up_to_the_plan():
    for kind in ("flat", "hnsw", "ivf-pq", "ivf-rabitq"):
        plan = plan_index(N, DIM, kind)
        parts = memory_parts(plan.factory, N, DIM)
        assert sum(parts.values()) == pytest.approx(plan.bytes_per_vector, abs=0.5), (kind, parts)
    pq = memory_parts(plan_index(N, DIM, "ivf-pq").factory, N, DIM)
    assert pq["re-ranking vectors (float16, vectors.npy)"] == 2 * DIM and pq["codes"] == 64 and pq["ids"] == 8
    compact = memory_parts(plan_index(N, DIM, "ivf-rabitq").factory, N, DIM)
    assert set(compact) == {"codes", "factors", "ids", "centroids"} and sum(compact.values()) <= 300


def test_the_codes_counted_are_the_codes_faiss_stores():
    import faiss

    vectors = np.random.default_rng(0).standard_normal((2_000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    plan = plan_index(len(vectors), 32, "ivf-pq")
    built = faiss.downcast_index(build_partitions(plan, vectors, 1)[0])
    assert memory_parts(plan.factory, len(vectors), 32)["codes"] == built.code_size


def test_the_cli_offers_every_index_type():
    args = build_parser().parse_args(["build", "w", "words.txt", "--index-type", "ivf-rabitq"])
    assert args.index_type == "ivf-rabitq"
    build = build_parser()._subparsers._group_actions[0].choices["build"]
    choices = next(a.choices for a in build._actions if a.dest == "index_type")
    assert list(choices) == list(INDEX_TYPES)
