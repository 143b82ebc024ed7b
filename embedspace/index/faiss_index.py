"""Choosing, building and tuning the FAISS index, as autofaiss does.

Vectors are unit length, so inner product is cosine. The automatic choice, in order:
- exact (Flat) below EXACT_BELOW vectors: nothing approximate is worth it there;
- IVF with float16 centroids, 4-bit fast-scan PQ codes and an exact float16 re-ranking inside
  FAISS (ivf-fastscan, `IVF{nlist}(SQfp16),PQ{dim/4}x4fs,Refine(SQfp16)`) when its codes and
  re-ranking vectors (~1,100 B a vector at 512-d) fit the memory budget: at a million use-m3 texts it reached recall@10 0.95 on
  held-out texts in about half the time of HNSW32, built in a tenth of the time and reads half
  the memory (FASTSCAN_LISTS_PER_SQRT says where);
- IVF-RaBitQ, the compact choice, when only it fits: ~292 B a vector at 512-d with nothing else
  read by a query (rabitq_bytes names the parts);
- below that, IVF-PQ with the largest codes that fit, its re-ranking vectors read from disk
  (memory-mapped) outside the budget, as the reason says.
HNSW32 and IVF-PQ with 8-bit codes are built when asked for (--index-type).
Memory is what a query reads, part by part (memory_parts): `info` prints the parts.
After building, the search parameter (efSearch for HNSW, nprobe for IVF) is tuned on queries
that are not items of the index (three sets of noisy copies of sampled items, see NEAR_QUANTILE) to
the smallest value whose recall@10 against exact search reaches the targets on all three, for
TARGET_RECALL on real queries. If none gets there faster than exact
search, the index falls back to exact search and says why.

Partitions: an index can be split by item id into N FAISS indexes, one file each, read back
memory-mapped and searched in parallel (PartitionedIndex), with merged results that carry the
same row numbers as one index would. Every file is read with IO_FLAG_MMAP_IFC, which in faiss
1.15.1 maps Flat and scalar-quantised codes (ivf-fastscan's re-ranking vectors), HNSW's graph and
storage and IVF-PQ's and IVF-RaBitQ's lists from the file instead of copying them into process
memory; fast-scan lists (64 + 8 B a vector at 512-d) are read into memory (read_into_memory).
"""

from __future__ import annotations

import math
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError
from ..runtime import ONE_THREAD_BELOW, cpu_count
from ..vectors import ReadOnlyMemo, exact_neighbours, l2_normalize

EXACT_BELOW = 10_000
TARGET_RECALL = 0.95
HNSW_M = 32
TUNING_QUERIES = 300
# Tuning asks three sets of synthetic queries, noisy copies of sampled items that equal no item:
#  near:   as far from their item as the lower quartile of the items' nearest-neighbour cosines,
#          the noise isotropic (a random direction orthogonal to the item);
#  far:    as far as the loneliest sampled item is from its nearest neighbour (the minimum);
#  shaped: as far as the near set, but the noise shaped like the data (the difference of two
#          random items, orthogonal to the item). Isotropic noise in 512-d mostly leaves the
#          space the data span, so those copies stay as easy to find as their item; a real query
#          differs from its neighbours along the data's own directions. At 100k and 1M use-m3
#          texts (benchmarks/search.py's sets; IVF fast-scan with 1,024 and 4,096 lists; the first
#          500 of its held-out texts, the other 500 not looked at) recall on this set followed the
#          held-out texts' within 0.007 at every nprobe from 8 to 64, where the near set was
#          0.015 (100k) to 0.047 (1M) easier at nprobe 8.
# Targets, tried in turn (the first tier any setting reaches, at its smallest such setting):
#  1. shaped >= FAR_TARGET and far >= FAR_TARGET and near >= TARGET_RECALL;
#  2. shaped and near >= TARGET_RECALL. Not the far set here: with 4-bit codes its recall levels
#     off near 0.95 (the re-ranked candidates cannot order such flat neighbourhoods), so a hair
#     decided the setting. On the demo built without 1,000 random text items (those items the
#     queries; another domain than the benchmark's dev half) the far set peaked at 0.949 and tuning
#     fell to tier 5 (nprobe 12; 0.961 on the held-out items), while on the whole demo it reached
#     0.9503 at nprobe 48 (0.983 there). This tier chooses nprobe 16 there (0.969);
#  then the rule from before the shaped set, for indexes the shaped set is harder for than real
#  queries: an HNSW graph at 1M reached 0.95 on the held-out texts at efSearch 256, where the
#  shaped set gave 0.92 and never reached 0.95 up to 512:
#  3. near >= SYNTHETIC_TARGET (0.99) and far >= FAR_TARGET;
#  4. near and far >= TARGET_RECALL;
#  5. near >= TARGET_RECALL (a quantised index may never tell the farther ones apart).
# Tiers 3-5 alone (the rule to 2026-12-01) chose, on 1M padded near-duplicates, settings that gave
# 0.91 (HNSW) and 0.946 (IVF-PQ) on held-out texts.
NEAR_QUANTILE, FAR_QUANTILE = 0.25, 0.0
MIN_QUERY_COS, MAX_QUERY_COS = 0.5, 0.85  # bounds on how far a copy may be from its item
FAR_TARGET = 0.96  # 0.95 and one more point: 300 queries measure recall@10 to about +-0.005
SYNTHETIC_TARGET = 0.99
RERANK_FACTOR = 10  # IVF-PQ: candidates re-ranked exactly = RERANK_FACTOR x k
# Below FAISS's own BLAS threshold (ONE_THREAD_BELOW = 20 queries, runtime.py) a flat search splits
# each query over OpenMP threads, and the split costs more than it saves: one query on 200k vectors
# takes 20 ms on one thread and 42 ms on two here (73 ms when the machine is busy). Such small
# batches run on one thread.
INDEX_TYPES = ("auto", "flat", "hnsw", "ivf-fastscan", "ivf-pq", "ivf-rabitq")
# ivf-fastscan: nlist = FASTSCAN_LISTS_PER_SQRT x sqrt(n) lists (a power of two). A single query
# first scans every centroid (nlist x dim floats, 4 MB at 2,048 lists), and a text search runs it
# right after the model has filled the CPU caches, so fewer lists than IVF-PQ's 4 sqrt(n) pay. At 1M
# use-m3 texts (benchmarks/search.py's set, its 500 dev held-out texts, one thread, each search right
# after the model embedded a text): 1,024 lists reached recall@10 0.962 at nprobe 12 in 0.25 ms,
# 2,048 lists 0.961 in 0.35 ms, 512 lists 0.969 in 0.35 ms (0.952 at nprobe 8 in 0.28 ms).
FASTSCAN_LISTS_PER_SQRT = 1
# Candidates the float16 re-ranking re-scores: FASTSCAN_K_FACTOR x k. Same set, 1M, nprobe 16:
# 4 -> recall@10 0.953, 8 -> 0.969, 16 -> 0.972 (0.28, 0.33, 0.38 ms).
FASTSCAN_K_FACTOR = 8
# Fast-scan's search implementation (IndexIVFFastScan.implem: set at build and again at open, since
# an index written before this choice holds FAISS's default, 0). FAISS's automatic choice blocks
# queries together (implem 12/13), which pays in batches and costs a single query. Measured at 1M
# (nprobe 24, one thread, each search right after the model embedded a text; benchmarks/search.py's
# 500 dev-half held-out texts, 2026-12-02): automatic 0.47 ms p50, 11 (reservoir, no query blocks)
# 0.36, 10 (heap) 0.36, 14 (threads over lists) 0.49; the demo (66k, nprobe 12): 0.165 vs 0.151.
# A batch of 1,000 costs 0.11 s on two threads against the automatic 0.07 s, small beside embedding
# 1,000 texts. 11 keeps candidates as the automatic choice does (the same top 10 for 9,999 of
# 10,000 results; 10 differed in 12).
FASTSCAN_IMPLEM = 11
# The IVF centroids of ivf-fastscan in float16 (its `IVF{nlist}(SQfp16)` quantizer): a query scans
# every centroid, right after the model has filled the caches, so halving their bytes pays. At 1M
# (1,024 lists, the same measure as above): 0.365 ms p50 with float32 centroids, 0.320 with float16,
# and the same top 10 for all 500 queries.
FASTSCAN_CENTROIDS = "SQfp16"
RABITQ_BITS = 4  # bits a dimension in IVF-RaBitQ's codes (RaBitQ4): 256 B at 512-d
RABITQ_CENTROID_BYTES = 8  # most bytes a vector its share of the IVF centroids may cost
RABITQ_QUERY_BITS = 8  # qb: bits a dimension of the query; FAISS's default for RaBitQ4 (4) lost recall
MAX_PARTITIONS = 1024


@dataclass
class IndexPlan:
    kind: str  # flat | hnsw | ivf-pq
    factory: str  # FAISS index_factory string
    reason: str
    bytes_per_vector: float
    param: str | None = None  # name of the search parameter to tune
    grid: list = field(default_factory=list)
    rerank: bool = False  # re-rank candidates exactly with the stored vectors


@dataclass
class Tuning:
    param: str | None
    value: int | None
    recall_at_10: float
    latency_ms: float  # mean single-query latency at that setting
    exact_latency_ms: float
    queries: int
    tried: list  # [{"value", "recall_at_10", "latency_ms"}]
    note: str

    def as_dict(self):
        return asdict(self)


def parse_memory(text: str | None) -> int | None:
    """'2G', '512M', '100k', '1000000' -> bytes."""
    if text in (None, ""):
        return None
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    raw = str(text).strip().lower().removesuffix("b").removesuffix("i")
    try:
        if raw and raw[-1] in units:
            return int(float(raw[:-1]) * units[raw[-1]])
        return int(float(raw))
    except ValueError:
        raise InputError(f"--max-memory {text!r}: give a size like 512M or 4G.") from None


def plan_index(n: int, dim: int, index_type: str = "auto", max_memory: int | None = None) -> IndexPlan:
    """Pick the index for n vectors of dim within max_memory bytes (None: no budget)."""
    if index_type not in INDEX_TYPES:
        raise InputError(f"--index-type {index_type}: choose one of {', '.join(INDEX_TYPES)}.")
    flat_bytes = 4 * dim
    hnsw_bytes = 4 * dim + HNSW_M * 2 * 4 * 1.1  # level-0 links dominate; upper levels ~10% more
    budget_note = f" within the memory budget of {max_memory / 2**20:,.0f} MiB" if max_memory else ""

    def fits(bytes_per_vector):
        return max_memory is None or n * bytes_per_vector <= max_memory

    if index_type == "flat" or (index_type == "auto" and n < EXACT_BELOW and fits(flat_bytes)):
        reason = (f"exact search: {n:,} vectors is below {EXACT_BELOW:,}, where exact search is fast and "
                  "approximate search gains nothing" if index_type == "auto" else "exact search, as asked (--index-type flat)")
        return IndexPlan("flat", "Flat", reason, flat_bytes)
    if index_type == "hnsw":
        return IndexPlan("hnsw", f"HNSW{HNSW_M},Flat", "HNSW graph (M=32), as asked", hnsw_bytes, "efSearch",
                         [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512])
    if index_type == "ivf-rabitq":
        return _plan_ivf_rabitq(n, dim)
    if index_type == "ivf-pq":
        return _plan_ivf_pq(n, dim, max_memory, index_type)
    fastscan = _plan_ivf_fastscan(n, dim, "as asked (--index-type ivf-fastscan)" if index_type != "auto" else
                                  f"{n:,} vectors is above {EXACT_BELOW:,} and it fits{budget_note or ' in memory'}")
    if index_type == "ivf-fastscan" or fits(fastscan.bytes_per_vector):
        return fastscan
    return _plan_within_budget(n, dim, max_memory, fastscan)  # auto, and a budget it does not fit


def _plan_within_budget(n: int, dim: int, max_memory: int, fastscan: IndexPlan) -> IndexPlan:
    """Auto under a memory budget ivf-fastscan does not fit (at 512-d ~1,100 B a vector): the
    compact IVF-RaBitQ when it fits (~292 B), else IVF-PQ's codes alone with the re-ranking vectors
    left on disk."""
    fastscan_mib = n * fastscan.bytes_per_vector / 2**20
    budget = f"--max-memory {max_memory / 2**20:,.0f} MiB"
    compact = _plan_ivf_rabitq(n, dim)
    if n * compact.bytes_per_vector <= max_memory:
        compact.reason = (f"IVF with fast-scan codes and float16 re-ranking vectors ({fastscan_mib:,.0f} MiB) does not "
                          f"fit {budget}; " + compact.reason.replace(", as asked (--index-type ivf-rabitq)", ""))
        return compact
    plan = _plan_ivf_pq(n, dim, max_memory, "auto")
    plan.reason = plan.reason.replace("does not fit", f"({fastscan_mib:,.0f} MiB) does not fit {budget}", 1)
    plan.reason += (f"; even the compact IVF-RaBitQ ({n * compact.bytes_per_vector / 2**20:,.0f} MiB) does not fit "
                    f"{budget}, so the re-ranking vectors ({n * 2 * dim / 2**20:,.0f} MiB) are read from disk outside "
                    "the budget")
    return plan


def _ivf_lists(n: int, per_sqrt: float = 4) -> int:
    """nlist ~ per_sqrt x sqrt(n), a power of two, but keep >= 39 training points per centroid as FAISS asks."""
    return max(1, min(2 ** round(math.log2(max(per_sqrt * math.sqrt(n), 1))), n // 39 or 1))


def _fastscan_subquantizers(dim: int) -> int:
    """4 dimensions a 4-bit sub-quantizer (1 bit a dimension: 64 B at 512-d); fewer when dim does
    not divide by 4 (50-d GloVe: 25 sub-quantizers of 2 dimensions)."""
    return next(dim // per for per in (4, 2, 1) if dim % per == 0)


def _plan_ivf_fastscan(n: int, dim: int, why: str) -> IndexPlan:
    """IVF with 4-bit fast-scan PQ codes, its top FASTSCAN_K_FACTOR x k candidates re-ranked with the
    float16 vectors kept in the FAISS file (FAISS's IndexRefine: no Python between the two steps)."""
    nlist = _ivf_lists(n, FASTSCAN_LISTS_PER_SQRT)
    m = _fastscan_subquantizers(dim)
    factory = f"IVF{nlist}({FASTSCAN_CENTROIDS}),PQ{m}x4fs,Refine(SQfp16)"
    parts = memory_parts(factory, n, dim)
    reason = (f"IVF with {nlist} lists, 4-bit fast-scan PQ codes and float16 re-ranking of the top "
              f"{FASTSCAN_K_FACTOR} x k candidates ({why}): {sum(parts.values()):,.0f} bytes a vector ("
              + ", ".join(f"{k} {v:,.1f}" for k, v in parts.items()) + ")")
    return IndexPlan("ivf-fastscan", factory, reason, round(sum(parts.values()), 1), "nprobe", _nprobe_grid(nlist))


def _nprobe_grid(nlist: int) -> list:
    """Powers of two and the steps halfway between (x 1.5): at 1M ivf-fastscan nprobe 8 -> 16 costs
    0.1 ms a query, a third of the search, so tuning stops closer to the targets."""
    steps = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
    return sorted({p for p in steps if p <= nlist} | {nlist})


def rabitq_bytes(n: int, dim: int, nlist: int) -> dict:
    """What one IVF-RaBitQ vector costs in memory, part by part (everything its search reads)."""
    return {"codes": dim * RABITQ_BITS / 8, "factors": 20.0, "ids": 8.0, "centroids": nlist * dim * 4 / max(n, 1)}


def memory_parts(factory: str, n: int, dim: int) -> dict:
    """Bytes a vector that a search of this FAISS index reads, part by part, from its factory
    string (so an index written before the parts were recorded is described too)."""
    n = max(n, 1)
    if factory == "Flat":
        return {"vectors (float32, in FAISS)": 4.0 * dim}
    if factory.startswith("HNSW"):
        return {"vectors (float32, in FAISS)": 4.0 * dim, "graph links": round(HNSW_M * 2 * 4 * 1.1, 1)}
    nlist = int(re.match(r"IVF(\d+)", factory).group(1))
    if "RaBitQ" in factory:
        return {k: round(v, 1) for k, v in rabitq_bytes(n, dim, nlist).items()}
    m = int(re.search(r"PQ(\d+)", factory).group(1))
    if is_fastscan(factory):  # 4-bit codes, float16 re-ranking vectors inside the FAISS file
        centroid_bytes = 2 if f"IVF{nlist}(SQfp16)" in factory else 4
        return {"codes": float(math.ceil(m / 2)), "ids": 8.0, "centroids": round(nlist * dim * centroid_bytes / n, 1),
                "re-ranking vectors (float16, in FAISS)": 2.0 * dim}
    return {"codes": float(m), "ids": 8.0, "centroids and codebooks": round((nlist + 256) * dim * 4 / n, 1),
            "re-ranking vectors (float16, vectors.npy)": 2.0 * dim}


def is_fastscan(factory: str) -> bool:
    return "x4fs" in factory


def read_into_memory(factory: str) -> str | None:
    """What of a FAISS file IO_FLAG_MMAP_IFC reads into memory instead of mapping, for `info`.
    Measured for fast-scan (faiss 1.15.1, 200k x 512-d): opening a 211 MB file mapped grew the
    process by 15 MB, its lists, where opening it unmapped grew it by 200 MB."""
    if is_fastscan(factory):
        return "the IVF lists of fast-scan codes and ids (its re-ranking vectors are mapped)"
    return None  # the same check mapped IVF-PQ's and IVF-RaBitQ's lists: < 1 MB of growth


def _plan_ivf_rabitq(n: int, dim: int) -> IndexPlan:
    """The compact choice: IVF with 4-bit RaBitQ codes, searched with 8-bit queries, no re-ranking
    (so nothing else is read): ~286 B a vector at 512-d and 1M vectors. On the demo index's real
    vectors (66k, use-m3) with 1,008 held-out words as queries, recall@10 against exact search
    was 0.949 at nprobe 64 and 0.957 at nprobe 256 (1024 lists); docs/indexes.md."""
    # the centroids (float32) are read by every query too: at most RABITQ_CENTROID_BYTES a vector
    most = max(1, int(n * RABITQ_CENTROID_BYTES / (4 * dim)))
    nlist = min(_ivf_lists(n), 2 ** int(math.log2(most)))
    parts = rabitq_bytes(n, dim, nlist)
    reason = (f"IVF-RaBitQ with {nlist} lists and {RABITQ_BITS}-bit codes, as asked (--index-type ivf-rabitq): "
              f"{sum(parts.values()):,.0f} bytes a vector (" + ", ".join(f"{k} {v:,.1f}" for k, v in parts.items())
              + "), no exact re-ranking")
    return IndexPlan("ivf-rabitq", f"IVF{nlist},RaBitQ{RABITQ_BITS}", reason, round(sum(parts.values()), 1), "nprobe",
                     _nprobe_grid(nlist))


def _plan_ivf_pq(n: int, dim: int, max_memory: int | None, index_type: str, strict: bool = True) -> IndexPlan | None:
    """IVF-PQ with the largest codes whose codes and ids fit max_memory. None when none fit and
    not strict; an InputError when strict."""
    nlist = _ivf_lists(n)
    # bytes per code: the largest of these that divides dim and fits the budget (8-bit codes)
    # any divisor of dim up to 64 bytes, each sub-vector at least 2 dims (50-d GloVe: 25, 10, 5, 2, 1)
    options = [m for m in range(min(64, dim // 2), 0, -1) if dim % m == 0]
    m = options[-1]
    for candidate in options:
        if max_memory is None or n * (candidate + 8) <= max_memory:
            m = candidate
            break
    if max_memory is not None and n * (m + 8) > max_memory:
        if not strict:
            return None
        raise InputError(
            f"{n:,} vectors need at least {n * (m + 8) / 2**20:,.0f} MiB even as {m}-byte codes; "
            f"--max-memory {max_memory / 2**20:,.0f} MiB is too small."
        )
    why = ("as asked (--index-type ivf-pq)" if index_type == "ivf-pq" else
           "IVF with fast-scan codes and float16 re-ranking vectors does not fit")
    reason = (f"IVF-PQ with {nlist} lists and {m}-byte codes, {why}; the top candidates are re-ranked "
              "exactly with the stored vectors (memory-mapped from disk)")
    grid = _nprobe_grid(nlist)
    # "np": no polysemous training, which nothing here uses and which made builds ~4x slower
    factory = f"IVF{nlist},PQ{m}x8np"
    return IndexPlan("ivf-pq", factory, reason, sum(memory_parts(factory, n, dim).values()), "nprobe", grid, rerank=True)


def build_faiss(plan: IndexPlan, vectors: np.ndarray, seed: int = 1234):
    """Train (if needed) and fill the index; vectors are float32 unit rows."""
    return _fill(_trained_index(plan, vectors, seed), vectors)


def build_partitions(plan: IndexPlan, vectors: np.ndarray, partitions: int, seed: int = 1234) -> list:
    """One index per contiguous range of rows (= of item ids). An index that needs training
    (IVF-PQ) is trained once on a sample of all vectors, so every partition shares its
    coarse centroids and codebooks and their scores compare when results are merged."""
    import faiss

    trained = _trained_index(plan, vectors, seed)
    parts = []
    for start, stop in partition_bounds(len(vectors), partitions):
        empty = faiss.clone_index(trained) if plan.kind.startswith("ivf") else _empty_index(plan, vectors.shape[1])
        parts.append(_fill(empty, vectors[start:stop]))
    return parts


def partition_bounds(n: int, partitions: int) -> list:
    """[(start, stop)] row ranges of `partitions` near-equal parts of n rows."""
    edges = np.linspace(0, n, partitions + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def check_partitions(partitions) -> int:
    if not isinstance(partitions, int) or isinstance(partitions, bool) or not 1 <= partitions <= MAX_PARTITIONS:
        raise InputError(f"--partitions {partitions!r}: give a whole number from 1 to {MAX_PARTITIONS}.")
    return partitions


def combine_partitions(parts: list):
    """The partitions as one searchable index (a single partition is returned as it is)."""
    return parts[0] if len(parts) == 1 else PartitionedIndex(parts)


class PartitionedIndex:
    """FAISS partitions searched in parallel, results merged by score, row numbers offset by
    the partitions before: what faiss.IndexShards(threaded, successive_ids) does, except for
    threads. IndexShards' threads run FAISS's OpenMP at its default width, so P partitions
    start P x cores threads, and on a busy machine OpenMP's waiting threads made a single
    query to 4 partitions 6x slower than to one index (benchmarks/scale.py). Here each
    partition is searched by a pool thread whose OpenMP is set to 1 thread, with
    min(partitions, cores) threads in the pool.
    """

    def __init__(self, parts: list):
        self.parts = parts
        self.d = parts[0].d
        self.offsets = np.cumsum([0] + [p.ntotal for p in parts])[:-1]
        self.ntotal = int(sum(p.ntotal for p in parts))
        self._pool = None

    def search(self, queries: np.ndarray, k: int, search_part=None):
        """Merged top-k (scores, rows). search_part(part, start, stop) -> (scores, part rows)
        searches one partition (rows start:stop of the whole); default: its own search."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if search_part is None:
            found = list(self._threads().map(lambda part: part.search(queries, k), self.parts))
        else:
            stops = [*self.offsets[1:], self.ntotal]
            found = list(self._threads().map(lambda args: search_part(*args), zip(self.parts, self.offsets, stops)))
        scores = np.concatenate([s for s, _ in found], axis=1)
        rows = np.concatenate([np.where(r >= 0, r + offset, -1) for (_, r), offset in zip(found, self.offsets)], axis=1)
        scores = np.where(rows >= 0, scores, -np.inf)
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # ties: lower partition first, as in one index
        return np.take_along_axis(scores, best, axis=1), np.take_along_axis(rows, best, axis=1)

    def set_search_param(self, param: str, value: int) -> None:
        for part in self.parts:
            set_search_param(part, param, value)

    def _threads(self):
        if self._pool is None:

            import faiss

            self._pool = ThreadPoolExecutor(min(len(self.parts), cpu_count()), thread_name_prefix="faiss-partition",
                                            initializer=faiss.omp_set_num_threads, initargs=(1,))
        return self._pool


def read_mmapped(path):
    """A FAISS index file, memory-mapped (see the module docstring)."""
    import faiss

    return for_single_queries(faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC))


def for_single_queries(index):
    """The index with fast-scan's scan set to FASTSCAN_IMPLEM."""
    import faiss

    outer = faiss.downcast_index(index)
    inner = faiss.downcast_index(outer.base_index) if isinstance(outer, faiss.IndexRefine) else outer
    if isinstance(inner, faiss.IndexIVFFastScan):
        inner.implem = FASTSCAN_IMPLEM
    return index


def _empty_index(plan: IndexPlan, dim: int):
    import faiss

    index = faiss.index_factory(dim, plan.factory, faiss.METRIC_INNER_PRODUCT)
    if plan.kind == "hnsw":
        index.hnsw.efConstruction = 80
    if plan.kind == "ivf-rabitq":
        faiss.downcast_index(index).qb = RABITQ_QUERY_BITS  # saved with the index
    if plan.kind == "ivf-fastscan":
        faiss.downcast_index(index).k_factor = FASTSCAN_K_FACTOR  # saved with the index
    return for_single_queries(index)


def _trained_index(plan: IndexPlan, vectors: np.ndarray, seed: int):
    index = _empty_index(plan, vectors.shape[1])
    if not index.is_trained:
        rng = np.random.default_rng(seed)
        sample = vectors if len(vectors) <= 100_000 else vectors[np.sort(rng.choice(len(vectors), 100_000, replace=False))]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
    return index


def _fill(index, vectors: np.ndarray):
    for start in range(0, len(vectors), 65_536):
        index.add(np.ascontiguousarray(vectors[start:start + 65_536], dtype=np.float32))
    return index


def set_search_param(index, param: str | None, value: int | None) -> None:
    import faiss

    if param and value:
        if isinstance(index, PartitionedIndex):
            index.set_search_param(param, value)
        else:
            faiss.ParameterSpace().set_index_parameter(index, param, int(value))


def faiss_search(index, queries: np.ndarray, k: int, plan_kind: str, vectors=None, rerank_factor: int = RERANK_FACTOR):
    """Top-k (scores, rows); IVF-PQ candidates are re-ranked exactly against `vectors`."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, index.ntotal)
    with search_threads(len(queries)):
        if plan_kind != "ivf-pq" or vectors is None:
            return index.search(queries, k)
        wide = min(index.ntotal, max(k * rerank_factor, k + 10))
        _, candidates = index.search(queries, wide)
    return exact_rerank(queries, candidates, vectors, k)


def flat_index(vectors: np.ndarray):
    """An exact inner-product FAISS index over these float32 rows (kept in memory)."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def float16_flat_index(vectors: np.ndarray):
    """An exact inner-product FAISS index over rows that are float16 values (vectors.npy's): FAISS's
    float16 scalar quantizer holds them without loss in half the bytes of IndexFlatIP, and a query
    reads half as much. The demo's 1,914 images, each search right after the model embedded a text:
    0.142 ms p50 as float32, 0.098 as float16, the same rows and scores for 500 queries."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not np.array_equal(vectors.astype(np.float16).astype(np.float32), vectors):
        raise ValueError("float16_flat_index: these rows are not float16 values; use flat_index")
    index = faiss.IndexScalarQuantizer(vectors.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    index.add(vectors)
    return index


def search_threads_for(n_queries: int) -> int | None:
    """OpenMP threads for a search of n_queries: EMBEDSPACE_SEARCH_THREADS if set, else 1 below
    ONE_THREAD_BELOW queries, else None (FAISS's default, every core)."""

    override = os.environ.get("EMBEDSPACE_SEARCH_THREADS")
    if override:
        try:
            return max(1, int(override))
        except ValueError:
            raise InputError(f"EMBEDSPACE_SEARCH_THREADS={override!r}: give a whole number of threads.") from None
    return 1 if n_queries < ONE_THREAD_BELOW else None


class search_threads:
    """Run the FAISS searches inside with search_threads_for(n_queries) threads, then restore the
    setting (OpenMP's setting belongs to the calling thread, so other threads are not affected).

    Every single query enters it, whatever the index: FAISS's IndexScalarQuantizer (the float16
    flat index of the demo's 1,914 images) opens a parallel region even for one query, and waking
    its sleeping second thread after 20 ms idle took 7.5 ms p50 against 0.33 ms on one thread (this
    2-core VM, 2026-12-02); a demo text search with queries 0.5 s apart, as a person types them,
    took 9.8-11.6 ms p50 with that index left at OpenMP's default, 4.8 ms with it on one thread.
    A class, not a @contextmanager generator: right after the model embedded a text the
    generator's machinery cost 0.035 ms of a 0.55 ms demo search (paired A/B, 480 held-out texts)."""

    __slots__ = ("wanted", "before")

    def __init__(self, n_queries: int):
        self.wanted, self.before = search_threads_for(n_queries), None

    def __enter__(self):
        if self.wanted is not None:
            import faiss

            before = faiss.omp_get_max_threads()
            if before != self.wanted:
                self.before = before
                faiss.omp_set_num_threads(self.wanted)

    def __exit__(self, *exc) -> None:
        if self.before is not None:
            import faiss

            faiss.omp_set_num_threads(self.before)
            self.before = None


# -- filters inside FAISS -----------------------------------------------------------------------
_SELECTORS = ReadOnlyMemo()


def bitmap_selector(allowed: np.ndarray):
    """(FAISS IDSelectorBitmap, its bitmap) for a boolean row mask; keep the bitmap alive while
    the selector is used (FAISS holds only a pointer to it). A read-only mask's (the filters an
    opened index remembers) are kept and shared: FAISS only reads them, and packing a million
    rows cost 0.05-0.1 ms a search."""
    return _SELECTORS.get(np.asarray(allowed, dtype=bool), _new_bitmap_selector)


def _new_bitmap_selector(allowed: np.ndarray):
    import faiss

    bitmap = np.packbits(allowed, bitorder="little")
    return faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap)), bitmap


def exact_storage(index):
    """The index of exact vectors inside a Flat, HNSW or ivf-fastscan index (float32, or float16
    for ivf-fastscan's re-ranking vectors: the same values as vectors.npy), else None."""
    import faiss

    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexFlat):
        return index
    if isinstance(index, faiss.IndexHNSW):
        return faiss.downcast_index(index.storage)
    if isinstance(index, faiss.IndexRefine):
        refine = faiss.downcast_index(index.refine_index)
        if isinstance(refine, faiss.IndexFlat) or (isinstance(refine, faiss.IndexScalarQuantizer)
                                                   and refine.sq.qtype == faiss.ScalarQuantizer.QT_fp16):
            return refine
    return None


def has_exact_storage(index) -> bool:
    parts = index.parts if isinstance(index, PartitionedIndex) else [index]
    return all(exact_storage(part) is not None for part in parts)


# A filtered HNSW walk keeps at least FILTER_EF_PER_RESULT x k candidates (_selected_search_params).
# Measured at 1M clustered 512-d vectors, a 7.1% language filter, 100 results (a translation's CSLS
# candidates): efSearch 90 fell short of 100 on 98% of queries, 200 on 46% (each then an exact scan,
# 16 ms), 400 on none (0.5 ms); ten results were never short from efSearch 90 (recall@10 0.97).
FILTER_EF_PER_RESULT = 4


def filtered_search(index, queries: np.ndarray, k: int, allowed: np.ndarray, how: str, vectors=None,
                    rerank_factor: int = RERANK_FACTOR, widen: float = 1.0):
    """Top-k (scores, rows) among the rows where `allowed` is True, the filter inside FAISS
    (an IDSelectorBitmap), for one index or a PartitionedIndex.

    how: "exact" scans the flat vectors of a Flat or HNSW index, skipping rows not allowed: exact,
    so never fewer than k results when k rows are allowed; "hnsw" walks the graph with the filter
    (FAISS's efSearch as set, times `widen`); "ivf" searches the IVF lists with the filter (nprobe as set, times `widen`) and,
    with `vectors`, re-ranks rerank_factor x k candidates exactly, as faiss_search does.
    Missing results (fewer allowed rows found than k) are row -1, score -inf.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = max(1, min(k, len(allowed)))
    wide = min(len(allowed), max(k * rerank_factor, k + 10)) if how == "ivf" and vectors is not None else k

    def search_part(part, start, stop):
        # the whole mask itself where there is one part, so that its selector is kept
        part_allowed = allowed if (start, stop) == (0, len(allowed)) else allowed[start:stop]
        if not part_allowed.any():
            return (np.full((len(queries), wide), -np.inf, np.float32), np.full((len(queries), wide), -1, np.int64))
        selector, _bitmap = bitmap_selector(part_allowed)  # _bitmap: alive until the search returns
        searched, params = _selected_search_params(part, how, selector, widen, k)
        return searched.search(queries, min(wide, stop - start), params=params)

    with search_threads(len(queries)):
        if isinstance(index, PartitionedIndex):
            scores, rows = index.search(queries, wide, search_part=search_part)
        else:
            scores, rows = search_part(index, 0, index.ntotal)
    scores = np.where(rows >= 0, scores, -np.inf)
    if how == "ivf" and vectors is not None:
        return exact_rerank(queries, rows, vectors, k)
    return scores, rows


def _selected_search_params(index, how: str, selector, widen: float = 1.0, k: int = 10):
    """(the index to search, its SearchParameters) for a filtered search of one FAISS index; the
    index's own efSearch / nprobe, times widen, are carried over (a SearchParameters object
    replaces them). HNSW's efSearch is at least FILTER_EF_PER_RESULT x k: it is tuned for ten
    results, and a walk that keeps fewer candidates than the k asked for falls short of k and ends
    in the exact fallback (a translation's 100 CSLS candidates at 1M items: 16 ms of its 19)."""
    import faiss

    index = faiss.downcast_index(index)
    if how == "exact":
        storage = exact_storage(index)
        if storage is None:
            raise ValueError(f"{type(index).__name__} keeps no exact vectors to scan")
        return storage, faiss.SearchParameters(sel=selector)
    if how == "hnsw":
        effort = max(round(index.hnsw.efSearch * widen), FILTER_EF_PER_RESULT * k)
        return index, faiss.SearchParametersHNSW(sel=selector, efSearch=effort)
    if how == "ivf":
        ivf = faiss.extract_index_ivf(index)
        params = faiss.SearchParametersIVF(sel=selector, nprobe=min(ivf.nlist, round(ivf.nprobe * widen)))
        if isinstance(index, faiss.IndexRefine):  # ivf-fastscan: the filter goes to the IVF inside
            refined = faiss.IndexRefineSearchParameters(k_factor=index.k_factor, base_index_params=params)
            refined.keep_alive = params  # the SWIG object must outlive the search
            return index, refined
        return index, params
    raise ValueError(f"unknown filtered search {how!r}")


def exact_rerank(queries, candidates, vectors, k):
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    rows = np.full((len(queries), k), -1, dtype=np.int64)
    for i, cand in enumerate(candidates):
        cand = cand[cand >= 0]
        exact = np.asarray(vectors[np.sort(cand)], dtype=np.float32) @ queries[i]
        order = np.argsort(-exact)[:k]
        scores[i, : len(order)] = exact[order]
        rows[i, : len(order)] = np.sort(cand)[order]
    return scores, rows


def tuning_queries(vectors: np.ndarray, count: int = TUNING_QUERIES, seed: int = 7,
                   quantiles=(NEAR_QUANTILE,), shaped: bool = False) -> list:
    """[(queries, cosine)] a set per quantile: noisy copies of the same sampled items, each set as far
    from its item as that quantile of the sampled items' nearest-neighbour cosines: near the data
    like real queries, but equal to no item. With shaped=True, one more set as far as the first
    quantile's, its noise the difference of two random sampled items (see the comment at
    NEAR_QUANTILE). The items and their neighbours are found once."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(vectors), size=min(count, len(vectors)), replace=False)
    base = np.asarray(vectors[np.sort(picks)], dtype=np.float32)
    near = exact_neighbours(base, vectors, 2)[1]  # [:, 0] is the item itself (cosine ~1)
    nearest_other = near[:, 1] if near.shape[1] > 1 else np.zeros(0, np.float32)  # a one-item index has none
    isotropic = _orthogonal_unit(rng.standard_normal(base.shape).astype(np.float32), base)
    sets = [_copies(base, isotropic, _query_cos(nearest_other, q)) for q in quantiles]
    if shaped:
        data_noise = base[rng.integers(len(base), size=len(base))] - base[rng.integers(len(base), size=len(base))]
        sets.append(_copies(base, _orthogonal_unit(data_noise, base), _query_cos(nearest_other, quantiles[0])))
    return sets


def _query_cos(nearest_other: np.ndarray, quantile: float) -> float:
    at = np.quantile(nearest_other, quantile) if len(nearest_other) else MIN_QUERY_COS
    return float(np.clip(at, MIN_QUERY_COS, MAX_QUERY_COS))


def _orthogonal_unit(noise: np.ndarray, base: np.ndarray) -> np.ndarray:
    noise = noise - (noise * base).sum(axis=1, keepdims=True) * base
    # a row equal to zero (two equal random items) gets an isotropic direction instead
    flat = np.linalg.norm(noise, axis=1) < 1e-6
    if flat.any():
        fill = np.random.default_rng(len(noise)).standard_normal((int(flat.sum()), base.shape[1])).astype(np.float32)
        noise[flat] = fill - (fill * base[flat]).sum(axis=1, keepdims=True) * base[flat]
    return l2_normalize(noise)


def _copies(base: np.ndarray, noise: np.ndarray, target_cos: float) -> tuple:
    angle = math.acos(target_cos)
    return (math.cos(angle) * base + math.sin(angle) * noise).astype(np.float32), target_cos


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0]) & set(t)) for f, t in zip(found, truth))
    return hits / truth.size


def _single_query_latency(search, queries: np.ndarray, repeats: int = 100) -> float:
    """Mean ms of one query, with the thread setting a single query gets in faiss_search."""
    queries = queries[:repeats]
    with search_threads(1):
        start = time.perf_counter()
        for q in queries:
            search(q[None, :])
        return (time.perf_counter() - start) / len(queries) * 1000


def tune(index, plan: IndexPlan, vectors: np.ndarray, k: int = 10, beat_exact: bool = True) -> Tuning:
    """Smallest search parameter faster than exact search whose recall@k reaches the first tier of
    targets any setting reaches (see NEAR_QUANTILE) on the near, far and shaped tuning queries;
    otherwise exact search. With beat_exact=False (the person asked for this index type) speed does
    not disqualify a setting, only recall does: a timing taken on a busy machine must not overrule
    an explicit choice."""
    (queries, query_cos), (far, far_cos), (shaped, _) = tuning_queries(
        vectors, quantiles=(NEAR_QUANTILE, FAR_QUANTILE), shaped=True)
    if plan.kind == "flat":  # nothing to tune: only its latency is recorded
        flat_ms = _single_query_latency(lambda q: index.search(q, k), queries)
        return Tuning(None, None, 1.0, flat_ms, flat_ms, len(queries), [], "exact search: recall is 1 by construction")
    truths = [exact_neighbours(q, vectors, k)[0] for q in (queries, far, shaped)]
    flat = flat_index(vectors)
    flat_ms = _single_query_latency(lambda q: flat.search(q, k), queries)
    tried = []
    for value in plan.grid:
        set_search_param(index, plan.param, value)
        search = lambda q: faiss_search(index, q, k, plan.kind, vectors)  # noqa: E731
        near, far_recall, shaped_recall = (recall_at_k(search(q)[1], t) for q, t in zip((queries, far, shaped), truths))
        ms = _single_query_latency(search, queries)
        tried.append({"value": value, "recall_at_10": round(near, 4), "recall_at_10_far": round(far_recall, 4),
                      "recall_at_10_shaped": round(shaped_recall, 4), "latency_ms": round(ms, 4)})
        if _reaches(tried[-1], TIERS[0]) or (beat_exact and ms > flat_ms):
            break  # reached the targets, or larger values are only slower than exact search
    fast = [t for t in tried if t["latency_ms"] <= flat_ms or not beat_exact]
    for tier, targets in enumerate(TIERS):
        chosen = next((t for t in fast if _reaches(t, targets)), None)
        if chosen:
            set_search_param(index, plan.param, chosen["value"])
            note = (f"{plan.param}={chosen['value']} is the smallest setting that reached "
                    + ", ".join(f"recall@{k} >= {target} on the {name} queries ({chosen[_TRIED_KEYS[name]]:.3f})"
                                for name, target in targets.items())
                    + f"; {len(queries)} synthetic queries a set, none an item: near and shaped at cosine "
                    f"{query_cos:.2f} from an item (the lower quartile of the items' nearest-neighbour cosines), far "
                    f"at {far_cos:.2f} (the lowest); shaped moves along the data's own directions"
                    + ("" if tier == 0 else " (no setting reached the higher targets faster than exact search)")
                    + f"; {chosen['latency_ms']:.2f} ms a query vs {flat_ms:.2f} ms exact")
            return Tuning(plan.param, chosen["value"], chosen["recall_at_10"], chosen["latency_ms"], flat_ms,
                          len(queries), tried, note)
    set_search_param(index, plan.param, plan.grid[-1])
    best = max(tried, key=lambda t: t["recall_at_10"]) if tried else None
    note = (f"no {plan.param} reached recall@{k} >= {TARGET_RECALL} faster than exact search "
            f"({flat_ms:.2f} ms; best tried: {best}); using exact search instead")
    return Tuning(None, None, 1.0, flat_ms, flat_ms, len(queries), tried, "FALLBACK: " + note)


TIERS = ({"shaped": FAR_TARGET, "far": FAR_TARGET, "near": TARGET_RECALL},
         {"shaped": TARGET_RECALL, "near": TARGET_RECALL},
         {"near": SYNTHETIC_TARGET, "far": FAR_TARGET},
         {"near": TARGET_RECALL, "far": TARGET_RECALL},
         {"near": TARGET_RECALL})
_TRIED_KEYS = {"near": "recall_at_10", "far": "recall_at_10_far", "shaped": "recall_at_10_shaped"}


def _reaches(tried: dict, targets: dict) -> bool:
    return all(tried[_TRIED_KEYS[name]] >= target for name, target in targets.items())
