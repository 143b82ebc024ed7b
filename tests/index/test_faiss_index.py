"""The planner (embedspace/index/faiss_index.py): what auto picks under a memory budget, and the
bytes a vector that a query reads, part by part (issue 16)."""

import numpy as np
import pytest

from embedspace.cli.parser import build_parser
from embedspace.index.faiss_index import (
    FASTSCAN_IMPLEM,
    INDEX_TYPES,
    build_partitions,
    memory_parts,
    plan_index,
    read_mmapped,
    tuning_queries,
)

MIB = 2**20
N, DIM = 1_000_000, 512


@pytest.mark.parametrize("budget_mib, kind", [(None, "ivf-fastscan"), (3000, "ivf-fastscan"), (1100, "ivf-fastscan"),
                                              (1000, "ivf-rabitq"), (300, "ivf-rabitq")])
def test_auto_picks_the_first_of_ivf_fastscan_and_the_compact_index_that_fits(budget_mib, kind):
    plan = plan_index(N, DIM, "auto", budget_mib and budget_mib * MIB)
    assert plan.kind == kind, plan.reason
    assert budget_mib is None or N * plan.bytes_per_vector <= budget_mib * MIB, plan.reason  # what a query reads fits
    if kind == "ivf-rabitq":
        assert "does not fit --max-memory" in plan.reason and "re-ranking" in plan.reason


def test_auto_is_exact_below_the_threshold_and_hnsw_only_when_asked():
    assert plan_index(9_999, DIM).kind == "flat"
    assert plan_index(10_000, DIM).kind == "ivf-fastscan"
    assert plan_index(10_000, DIM, "hnsw").kind == "hnsw"


def test_fastscan_uses_fewer_lists_than_ivf_pq_and_codes_of_one_bit_a_dimension():
    plan = plan_index(N, DIM, "ivf-fastscan")
    assert plan.factory == "IVF1024(SQfp16),PQ128x4fs,Refine(SQfp16)", plan.factory
    assert plan_index(12_000, 50, "ivf-fastscan").factory.startswith("IVF128(SQfp16),PQ25x4fs")  # 50-d: 2 dims a code


def test_below_the_compact_index_auto_keeps_ivf_pq_and_says_its_reranking_vectors_are_outside_the_budget():
    plan = plan_index(N, DIM, "auto", 100 * MIB)
    assert plan.kind == "ivf-pq" and plan.rerank
    assert "read from disk outside the budget" in plan.reason
    assert N * (memory_parts(plan.factory, N, DIM)["codes"] + 8) <= 100 * MIB  # its codes and ids do fit


def test_memory_parts_name_what_a_query_reads_and_add_up_to_the_plan():
    for kind in ("flat", "hnsw", "ivf-fastscan", "ivf-pq", "ivf-rabitq"):
        plan = plan_index(N, DIM, kind)
        parts = memory_parts(plan.factory, N, DIM)
        assert sum(parts.values()) == pytest.approx(plan.bytes_per_vector, abs=0.5), (kind, parts)
    pq = memory_parts(plan_index(N, DIM, "ivf-pq").factory, N, DIM)
    assert pq["re-ranking vectors (float16, vectors.npy)"] == 2 * DIM and pq["codes"] == 64 and pq["ids"] == 8
    fastscan = memory_parts(plan_index(N, DIM, "ivf-fastscan").factory, N, DIM)
    assert fastscan["codes"] == 64 and fastscan["re-ranking vectors (float16, in FAISS)"] == 2 * DIM
    compact = memory_parts(plan_index(N, DIM, "ivf-rabitq").factory, N, DIM)
    assert set(compact) == {"codes", "factors", "ids", "centroids"} and sum(compact.values()) <= 300


def test_the_codes_counted_are_the_codes_faiss_stores():
    import faiss

    vectors = np.random.default_rng(0).standard_normal((2_000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    plan = plan_index(len(vectors), 32, "ivf-pq")
    built = faiss.downcast_index(build_partitions(plan, vectors, 1)[0])
    assert memory_parts(plan.factory, len(vectors), 32)["codes"] == built.code_size
    plan = plan_index(len(vectors), 32, "ivf-fastscan")
    owner = build_partitions(plan, vectors, 1)[0]  # a downcast proxy does not keep the index alive
    built = faiss.downcast_index(owner)
    assert memory_parts(plan.factory, len(vectors), 32)["codes"] == faiss.extract_index_ivf(built).code_size
    assert faiss.downcast_index(built.refine_index).code_size == 2 * 32
    quantizer = faiss.downcast_index(faiss.extract_index_ivf(built).quantizer)
    nlist = faiss.extract_index_ivf(built).nlist
    assert memory_parts(plan.factory, len(vectors), 32)["centroids"] == round(nlist * quantizer.sa_code_size() / len(vectors), 1)


def test_fast_scan_scans_single_queries_its_own_way_after_build_and_after_open(tmp_path):
    """The scan implementation is set when an index is built (a partition cloned from the trained
    index keeps it) and again when one is opened (a file written before it was chosen holds 0)."""
    import faiss

    vectors = np.random.default_rng(1).standard_normal((3_000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    plan = plan_index(len(vectors), 32, "ivf-fastscan")
    parts = build_partitions(plan, vectors, 2)
    path = tmp_path / "index.faiss"
    faiss.downcast_index(faiss.extract_index_ivf(parts[0])).implem = 0
    faiss.write_index(parts[0], str(path))
    for index in (parts[1], read_mmapped(path)):
        assert faiss.downcast_index(faiss.extract_index_ivf(index)).implem == FASTSCAN_IMPLEM


def test_the_cli_offers_every_index_type():
    args = build_parser().parse_args(["build", "w", "words.txt", "--index-type", "ivf-rabitq"])
    assert args.index_type == "ivf-rabitq"
    build = build_parser()._subparsers._group_actions[0].choices["build"]
    choices = next(a.choices for a in build._actions if a.dest == "index_type")
    assert list(choices) == list(INDEX_TYPES)


def test_the_shaped_tuning_queries_move_along_the_data_and_isotropic_ones_leave_it():
    """Data spanning 16 of 64 dimensions: the shaped copies stay in that span, the isotropic copies
    mostly leave it (48 of 64 directions lie outside), both at the near set's cosine."""
    rng = np.random.default_rng(3)
    vectors = np.zeros((3_000, 64), np.float32)
    vectors[:, :16] = rng.standard_normal((3_000, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    (near, near_cos), (shaped, shaped_cos) = tuning_queries(vectors, quantiles=(0.25,), shaped=True)
    assert shaped_cos == near_cos
    np.testing.assert_allclose(np.linalg.norm(shaped, axis=1), 1, atol=1e-5)
    outside = lambda q: float(np.mean(np.linalg.norm(q[:, 16:], axis=1)))  # noqa: E731
    assert outside(shaped) < 1e-5 and outside(near) > 0.5 * np.sqrt(1 - near_cos**2)
