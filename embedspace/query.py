"""Queries against an index: nearest neighbours, analogies and translation.

Every score is computed exactly from the stored vectors: FAISS (or a brute-force pass over a
filtered subset) only proposes candidates. Analogy and CSLS re-rank a documented candidate
set exactly: the top CANDIDATES items by cosine to the analogy's 3CosAdd target (b - a + c), or
the top CSLS_CANDIDATES to the text being translated, within the allowed items.

Result shape (also the CLI's JSON): {"query": ..., "results": [{"rank", "id", "kind", "text",
"lang", "label", "concept", "path", "score", "cosine"}]}; `score` is the method's own score and
`cosine` the plain cosine between the query vector and the item.
"""

from __future__ import annotations

import numpy as np

from .artifacts import load_checked_array, save_checked_array
from .errors import InputError
from .images import describe
from .index.faiss_index import faiss_search, filtered_search, float16_flat_index, has_exact_storage
from .languages import normalize_lang
from .maps.rerank import (
    DEFAULT_RERANK,
    RERANK_CANDIDATES,
    default_rerank,
    load_rerank_space,
    rerank_candidates,
    rerank_setting,
    space_name,
)
from .maps.text_map import applicable_text_map
from .paths import cache_dir
from .text import describe_lone_surrogate, excerpt
from .vectors import (
    CSLS_K,
    ReadOnlyMemo,
    analogy_scores,
    analogy_target,
    candidate_cosines,
    csls_scores,
    exact_neighbours,
    l2_normalize,
    mean_top_k,
    neighbourhood_similarity,
)

CANDIDATES = 100  # exact re-ranking pool for analogy
# CSLS re-ranks the CSLS_CANDIDATES target items nearest by cosine. On the FreeDict DEV halves of
# ten directions into English (use-m3, pools of 1.2-3.9k English texts) 50 gave the same P@1 as
# 100 within 0.13 points in every direction (mean -0.03) and as ranking the whole pool; 30 lost up
# to 0.26 (pl), 10 up to 0.4. A filtered walk of the approximate index keeps FILTER_EF_PER_RESULT
# candidates a result, so at a million items half the pool is about half a translation's search.
CSLS_CANDIDATES = 50
# Above BRUTE_FORCE_BELOW allowed rows a filtered search walks the approximate index with the
# filter: its effort (efSearch, nprobe) is multiplied by FILTER_FULL_EFFORT_AT / the share of items
# allowed, between 1 and FILTER_WIDEN_MAX (a filter keeping 7% of the items: x 2.9).
FILTER_FULL_EFFORT_AT = 0.2
FILTER_WIDEN_MAX = 8.0
BRUTE_FORCE_BELOW = 50_000  # filtered subsets this small are searched exactly (_exact_filtered)
# ivf-fastscan's exact vectors are float16 codes (SQfp16), scanned at ~0.29 us an allowed row
# (a 7% language at 100k items, 7,113 rows: 2.0 ms), where its filtered IVF walk took 0.51 ms at
# recall@10 0.975 (1.5 ms at 1M, 0.984; benchmarks/search.py, 2026-12-02): the exact scan pays
# only below about 2,000 rows.
FASTSCAN_BRUTE_FORCE_BELOW = 2_000


# -- the candidate search everything uses ------------------------------------------------------
# Index kinds whose FAISS scores are already the exact cosines, best first: their vectors in FAISS
# (Flat's and HNSW's float32 storage, ivf-fastscan's float16 re-ranking vectors) hold the same
# float16 values as vectors.npy, and IVF-PQ's candidates are re-ranked against vectors.npy. Taking
# them saves reading the rows again from the memory map (0.03-0.09 ms of a 1M text search, right
# after the model). IVF-RaBitQ's scores are estimates: its rows' cosines are computed.
EXACT_SCORES = frozenset({"flat", "hnsw", "ivf-fastscan", "ivf-pq"})


def nearest(index, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, exact cosines) of the k items nearest to a unit query vector among `allowed` rows."""
    query = np.asarray(query, dtype=np.float32)
    if allowed is None:
        scores, rows = faiss_search(index.faiss, query[None, :], k, index.kind, index.vectors)
        found = rows[0] >= 0
        if index.kind in EXACT_SCORES:
            return rows[0][found], scores[0][found]
        rows = rows[0][found]
    else:
        count = _allowed_count(allowed)
        if count <= exact_filter_limit(index):
            scores, rows = _exact_filtered(index, query, allowed, k)
            return rows, scores  # exact by construction, best first
        scores, rows = _filtered_ann(index, query, allowed, k, count)
        if index.kind in EXACT_SCORES:
            return rows, scores
    # einsum's own loop, not BLAS: OpenBLAS spreads a product of >= ~9,000 values (20 rows of 512-d)
    # over its threads, and waking a sleeping one on an idle core stalled single searches for ms.
    cosines = np.einsum("ij,j->i", index.vectors_f32(rows), query) if len(rows) else np.zeros(0, np.float32)
    order = np.argsort(-cosines, kind="stable")
    return rows[order], cosines[order]


def exact_filter_limit(index) -> float:
    """Filtered subsets of at most this many rows are searched exactly; larger ones walk the index."""
    if index.kind == "flat":
        return float("inf")
    return FASTSCAN_BRUTE_FORCE_BELOW if index.kind == "ivf-fastscan" else BRUTE_FORCE_BELOW


_COUNTS = ReadOnlyMemo()


def _allowed_count(allowed: np.ndarray) -> int:
    """Rows a mask allows. A read-only mask (the filters remembered per index, _mask) is counted
    once: a pass over a million rows cost 0.06 ms right after the model."""
    return _COUNTS.get(allowed, lambda mask: int(np.count_nonzero(mask)))


def _exact_filtered(index, query, allowed, k):
    """Exact search of the allowed rows. Flat, HNSW and ivf-fastscan: FAISS scans its own exact
    vectors (Flat's and HNSW's float32 storage, ivf-fastscan's float16 re-ranking vectors: the same
    float16 values as vectors.npy) and skips the rows a bitmap leaves out, so no subset of the
    vectors is copied and converted to float32 per query (5.8 of translate's ms on the demo index).
    IVF-PQ and IVF-RaBitQ keep no exact vectors in FAISS: the allowed rows of vectors.npy.
    Returns (exact cosines, rows), best first."""
    if has_exact_storage(index.faiss):
        scores, rows = filtered_search(index.faiss, query[None, :], k, allowed, "exact")
    else:
        rows, scores = exact_neighbours(query[None, :], index.vectors, k, pool_rows=np.flatnonzero(allowed))
    found = rows[0] >= 0
    return scores[0][found], rows[0][found]


def _filtered_ann(index, query, allowed, k, count):
    """The approximate index searched with the filter inside it (FAISS's IDSelectorBitmap), its
    effort (efSearch, nprobe) widened as the filter gets more selective; exact over the allowed
    rows if that finds fewer than k of them.

    On the demo index (66k items, HNSW efSearch 96) a filter keeping 7% of the items gave recall@10
    0.92 at efSearch 96, 0.98 at 192 and 0.99 at 384 (0.15, 0.28, 0.6 ms), against 0.99 unfiltered;
    today's oversampling (k x 8, then x 4 ...) got the same 0.92 in twice the time (docs/indexes.md).
    """
    scores, rows = selector_search(index, query, allowed, k, count, with_scores=True)
    if len(rows) >= min(k, count):
        return scores, rows
    return _exact_filtered(index, query, allowed, k)


def selector_search(index, query, allowed, k, count=None, with_scores=False):
    """Rows the approximate index finds with the filter inside it, widened effort, no fallback
    (benchmarks/search.py measures its recall against exact); with_scores: (FAISS's scores, rows).
    count: the allowed rows, if known."""
    selectivity = (_allowed_count(allowed) if count is None else count) / len(allowed)
    widen = min(FILTER_WIDEN_MAX, max(1.0, FILTER_FULL_EFFORT_AT / selectivity))
    how = "ivf" if index.kind.startswith("ivf") else "hnsw"
    rerank_with = index.vectors if index.kind == "ivf-pq" else None  # as faiss_search: only PQ is re-ranked
    scores, rows = filtered_search(index.faiss, query[None, :], k, allowed, how, rerank_with, widen=widen)
    found = rows[0] >= 0
    return (scores[0][found], rows[0][found]) if with_scores else rows[0][found]


RESULT_COLUMNS = ("id", "kind", "text", "lang", "label", "concept", "path")


def _batch_results(index, answers) -> list:
    """Result rows of a batch, [(rows, scores, cosines)] per query: every item of the batch taken
    at once (_item_values), not row by row from pandas (0.1 ms a row). The same values as
    Index.result_row: an int id, and None for a missing value."""
    every_row = (np.concatenate([np.asarray(rows, dtype=np.int64) for rows, _, _ in answers]) if answers
                 else np.zeros(0, dtype=np.int64))
    values = _item_values(index, every_row)
    names = ("rank", *RESULT_COLUMNS, "score", "cosine")
    out, start = [], 0
    for rows, scores, cosines in answers:  # each row made once, as one dict
        end = start + len(rows)
        cosines_shown = _rounded(cosines)
        scores_shown = cosines_shown if scores is cosines else _rounded(scores)
        out.append([dict(zip(names, (rank, *item, score, cosine))) for rank, item, score, cosine
                    in zip(range(1, len(rows) + 1), values[start:end], scores_shown, cosines_shown)])
        start = end
    return out


def _item_values(index, rows: np.ndarray) -> list:
    """One tuple of RESULT_COLUMNS' values a row: from the tuples a small index keeps (_row_tuples),
    else from the index's columns as an Arrow table, else (a column Arrow cannot hold) from pandas."""
    kept = _row_tuples(index)
    if kept is not None:
        return [kept[r] for r in rows.tolist()]
    columns = _result_columns(index)  # RESULT_COLUMNS, read from the Arrow table
    if columns:
        return _column_tuples(columns, rows)
    items = [index.result_row(r) for r in rows]
    return [tuple(item[name] for name in RESULT_COLUMNS) for item in items]


# An index of at most ROW_TUPLES_MAX items keeps every result row's values as one Python tuple, made
# from its columns at its first search (the demo's 66,084 items: 0.16 s, 13 MiB). Right after the
# model embedded a text, a demo search's ten rows then cost 0.06-0.09 ms less than read column by
# column (paired A/B, 400 held-out texts, two runs, 2026-12-02), a tenth of what follows the model.
# Above it, columns: both costs grow with the items (a million: ~2.5 s at the first search, ~200 MiB).
ROW_TUPLES_MAX = 200_000


def _row_tuples(index) -> list | None:
    """Every row's RESULT_COLUMNS values as a tuple, made once per opened index; None above
    ROW_TUPLES_MAX items or without a result table."""
    memo = index.__dict__.setdefault("_row_tuples", {})
    if "rows" not in memo:
        columns = _result_columns(index) if len(index.items) <= ROW_TUPLES_MAX else {}
        memo["rows"] = _column_tuples(columns, np.arange(len(index.items))) if columns else None
    return memo["rows"]


def _column_tuples(columns: dict, rows: np.ndarray) -> list:
    """One tuple a row of the columns' values (_result_columns' readers, in RESULT_COLUMNS' order)."""
    return list(zip(*(read(rows) for read in columns.values())))


def _rounded(values) -> list:
    return [round(v, 6) for v in np.asarray(values, dtype=np.float64).tolist()]


def _result_table(index):
    """The columns a result row shows as an Arrow table, made once per opened index (zero copy
    from the Arrow-backed columns pandas reads; NaN becomes null, so None). None when a column
    holds mixed Python objects Arrow cannot take: rows then come from Index.result_row."""
    memo = index.__dict__.setdefault("_result_table", {})
    if "table" not in memo:
        import pyarrow as pa

        try:
            # One chunk a column: take() over pandas' chunked string columns cost 2.3 ms a query at
            # 1M items (8 chunks each), 0.02 ms once combined (benchmarks/search.py, end to end).
            table = pa.Table.from_pandas(index.items[list(RESULT_COLUMNS)], preserve_index=False)
            memo["table"] = table.combine_chunks()
        except (pa.ArrowException, TypeError, ValueError):
            memo["table"] = None
    return memo["table"]


def _result_columns(index):
    """{name: values_of(rows) -> list} over the result table, made once per opened index; empty when
    there is no result table (rows then come from Index.result_row).
    Strings come from a list of a column's distinct values (DICTIONARY_MAX), or else are cut
    straight from the Arrow buffers (offsets, bytes, validity bits) with numpy: right after the
    model ran, when little of the index is in the CPU caches, an Arrow take of ten rows of 1M cost
    0.22 ms and the buffers 0.10 ms (0.04 / 0.035 ms when warm)."""
    memo = index.__dict__.setdefault("_result_columns", {})
    if "columns" not in memo:
        table = _result_table(index)
        memo["columns"] = {} if table is None else {name: _column_reader(table.column(name).chunk(0))
                                                     for name in table.column_names}
    return memo["columns"]


# A string column whose values repeat (kind, lang, label, ...: a sample of REPEATS_SAMPLE rows holds
# at most half as many distinct values) is read through a Python list of its distinct values, at
# most DICTIONARY_MAX of them (~60-80 B each), and an int32 code a row. Right after the model, ten
# result rows took 0.097 ms p50 with every string column read this way, against 0.162 cut from
# Arrow's buffers, on the demo; at 1M 0.118 against 0.159 (500 texts, 2026-12-02). Texts rarely
# repeat and their list cost 0.25 s at the first search of a 1M index: they stay in the buffers.
DICTIONARY_MAX = 100_000
REPEATS_SAMPLE = 4_096


def _column_reader(array):
    """values_of(rows) for one Arrow array: plain Python values, None where missing."""
    import pyarrow as pa

    if (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)) and len(array):
        import pyarrow.compute as pc

        step = max(1, len(array) // REPEATS_SAMPLE)
        sample = array.take(pa.array(np.arange(0, len(array), step)))
        repeats = pc.count_distinct(sample, mode="all").as_py() <= len(sample) // 2
        encoded = pc.dictionary_encode(array) if repeats else None
        if encoded is not None and len(encoded.dictionary) <= DICTIONARY_MAX:
            values = encoded.dictionary.to_pylist() + [None]  # the last one for a missing value
            codes = encoded.indices.fill_null(len(values) - 1).to_numpy()
            return lambda rows: [values[c] for c in codes[rows].tolist()]
        return _string_buffer_reader(array)
    if pa.types.is_null(array.type):  # a column no item fills (an index of texts has no paths)
        return lambda rows: [None] * len(rows)
    if pa.types.is_integer(array.type) and array.null_count == 0:
        values = array.to_numpy()
        return lambda rows: values[rows].tolist()
    return lambda rows: array.take(pa.array(rows)).to_pylist()


def _string_buffer_reader(array):
    """values_of(rows) of a string array cut straight from its buffers (offsets, bytes, validity)."""
    import pyarrow as pa

    validity, offsets, data = array.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int64 if pa.types.is_large_string(array.type) else np.int32)
    offsets = offsets[array.offset:array.offset + len(array) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    bits = np.frombuffer(validity, dtype=np.uint8) if validity is not None and array.null_count else None
    start = array.offset

    def strings(rows):
        return [None if bits is not None and not (bits[(r + start) >> 3] >> ((r + start) & 7)) & 1
                else data[offsets[r]:offsets[r + 1]].tobytes().decode() for r in rows.tolist()]
    return strings


MASKS_KEPT = 32  # filter masks remembered per opened index: 1 byte an item each (32 MiB at 1M items)


def _mask(index, kind=None, lang=None, label=None) -> np.ndarray | None:
    """index.mask, remembered per opened index (read-only): comparing a string column costs ~1 ms
    at 66k items and grows with the index, far more than the filtered search itself."""
    memo = index.__dict__.setdefault("_masks", {})
    key = (kind, lang, label)
    if key not in memo:
        mask = index.mask(kind=kind, lang=lang, label=label)
        if mask is not None:
            mask.setflags(write=False)
        if len(memo) >= MASKS_KEPT:
            memo.pop(next(iter(memo), None), None)  # the oldest (another thread may have taken it already)
        memo[key] = mask
    return memo[key]


def _allowed(index, kind=None, lang=None, exclude_rows=(), label=None) -> np.ndarray | None:
    mask = _mask(index, kind=kind, lang=lang, label=label)
    if len(exclude_rows):
        mask = np.ones(len(index), dtype=bool) if mask is None else mask.copy()
        mask[list(exclude_rows)] = False
    return mask


def _check_k(k: int) -> int:
    if not isinstance(k, int) or k < 1:
        raise InputError(f"k must be a whole number of at least 1, not {k!r}.")
    return k


def check_query_texts(texts, what: str = "query") -> None:
    """Refuse a query text that is not Unicode text, before any model sees it.

    A lone surrogate (a command-line byte that is not UTF-8, a JSON "\\ud800" escape) cannot be
    encoded, so a model's tokenizer would fail with a UnicodeEncodeError instead of this message.
    Everything else about a text (empty, too long, not a string) is the space's check_text.
    """
    if isinstance(texts, str) or texts is None:
        return  # not a list of texts: embed_texts says so
    texts = list(texts)
    for number, text in enumerate(texts, start=1):
        problem = describe_lone_surrogate(text) if isinstance(text, str) else None
        if problem:
            which = f"The {what}" if len(texts) == 1 else f"{what.capitalize()} {number} of {len(texts)}"
            raise InputError(
                f"{which} '{excerpt(text, 60)}' contains {problem}: it is not Unicode text, so no model can read "
                "it. Such a character comes from bytes in another encoding (a terminal or file that is not UTF-8): "
                "retype the text, or save it as UTF-8."
            )


# -- search ------------------------------------------------------------------------------------
def search(index, space, text: str | None = None, image=None, vector=None, item_id: int | None = None, k: int = 10,
           lang: str | None = None, kind: str | None = None, image_via: str | None = None,
           label: str | None = None) -> dict:
    """Nearest items to a text (any language), an image, a vector, or an item of the index."""
    return search_many(index, space, texts=[text] if text is not None else None,
                       images=[image] if image is not None else None,
                       vectors=None if vector is None else [vector], ids=None if item_id is None else [item_id],
                       k=k, lang=lang, kind=kind, image_via=image_via, label=label)[0]


def search_many(index, space, texts=None, images=None, vectors=None, ids=None, k: int = 10, lang=None, kind=None,
                image_via: str | None = None, label: str | None = None) -> list:
    """Batch search: texts (embedded together, as queries), images, raw vectors, or item ids (an
    item's stored vector; the item itself is left out of its answer).
    image_via: one of space.image_routes() (ConSE for photos in a space whose own images go
    through a map fitted on drawings); default the space's own. label: only items with this label."""
    index.check_space(space)
    _check_k(k)
    given = [x is not None for x in (texts, images, vectors, ids)]
    if sum(given) != 1:
        raise InputError("Search needs exactly one of: a text, an image, a vector or an item id.")
    own_rows = [None] * len(next(x for x in (texts, images, vectors, ids) if x is not None))
    if texts is not None:
        check_query_texts(texts)
        queries, labels = space.embed_texts(texts, role="query"), list(texts)
    elif images is not None:
        queries = space.embed_images(images, via=image_via)
        labels = [{"image": describe(i), **({"via": image_via} if image_via else {})} for i in images]
    elif vectors is not None:
        queries, labels = _query_vectors(index, vectors), [{"vector": True}] * len(vectors)
    else:
        own_rows = [_row_of(index, item_id) for item_id in ids]
        queries, labels = index.vectors_f32(own_rows), [{"id": int(item_id)} for item_id in ids]
    allowed = _allowed(index, kind=kind, lang=lang, label=label)
    kinds = None if kind else kind_masks(index, allowed)
    answers = []
    for query, own in zip(queries, own_rows):
        wanted = k if own is None else k + 1
        rows, cosines = (nearest_mixed(index, query, k, kinds, own, allowed) if kinds
                         else nearest(index, query, wanted, allowed))
        if own is not None:  # cheaper than a mask without the item, which would force a filtered search
            keep = rows != own
            rows, cosines = rows[keep][:k], cosines[keep][:k]
        answers.append((rows, cosines, cosines))
    return [{"query": shown, "results": results} for shown, results in zip(labels, _batch_results(index, answers))]


# -- texts and images in one list ---------------------------------------------------------------
# What a person reads under a list that holds both kinds (the CLI and the app show it; docs/indexes.md).
MIXED_KINDS_NOTE = ("Texts and images are ranked apart, each by cosine, and then interleaved (reciprocal rank "
                    "fusion). Images sit in a region of the space of their own, so an image's cosine to a text "
                    "query runs about 0.15 below a text's: a cosine compares items of one kind only, and the "
                    "rank is the order.")


def mixes_kinds(results: list) -> bool:
    """Whether a result list holds more than one kind of item (then MIXED_KINDS_NOTE applies)."""
    return len({r["kind"] for r in results}) > 1


RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al. 2009); with two lists any constant alternates


def kind_masks(index, allowed=None) -> list | None:
    """[text rows, image rows] as masks within `allowed`, where the index holds both kinds; else None.

    The masks of the whole index are computed once per open index: a search must not pay for a
    pass over every item's kind."""
    items = index.items
    cached = getattr(index, "_kind_masks", None)
    if cached is None or cached[0] is not items or len(cached[1][0]) != len(items):  # items added since
        kinds = items["kind"].to_numpy()
        masks = [kinds == "text", kinds == "image"]
        for mask in masks:
            mask.setflags(write=False)  # shared by every search; read-only masks have their counts remembered
        cached = (items, masks, all(m.any() for m in masks))  # both kinds: a pass over every item, once
        index._kind_masks = cached
    _, masks, both = cached
    if allowed is None:
        return masks if both else None
    masks = [m & allowed for m in masks]
    return masks if all(m.any() for m in masks) else None


def nearest_mixed(index, query: np.ndarray, k: int, kinds: list, own=None,
                  allowed=None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cosines) of an unfiltered search over texts and images: each kind's k nearest by
    cosine, merged by reciprocal rank fusion, so the best image stands beside the best text.

    Why not one list by cosine: images come into a text space through a map or ConSE and sit in
    their own region (the modality gap), so a text query's cosine to its own image runs ~0.15
    below its cosine to the text's translations; by cosine alone ten texts always come first.
    Ties in fused rank go to the higher cosine (so a text query's best text comes first). own: the
    row of an item query, left out of its kind's list before the lists are merged. allowed: the
    filter the kinds' masks were cut from (None: the whole index)."""
    wanted = k if own is None else k + 1
    lists = []
    for mask in kinds:
        rows, cosines = _nearest_in_kind(index, query, wanted, mask, allowed is None)
        if own is not None:
            keep = rows != own
            rows, cosines = rows[keep], cosines[keep]
        lists.append((rows[:k], cosines[:k]))
    return fuse_by_rank(lists, k)


def fuse_by_rank(lists: list, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first k of [(rows, cosines), ...] (each list best first) in reciprocal rank fusion's
    order: items of equal rank in their lists have equal fused scores (1 / (RRF_K + 1 + rank)),
    so the lists are taken rank by rank, the higher cosine first and the earlier list on a tie.
    Sorted as Python tuples: right after the model, the numpy form (three concatenations, the
    fused scores, a lexsort) cost 0.03 ms more on the demo (paired A/B, 480 held-out texts)."""
    entries = sorted((rank, -cosine, which, row) for which, (rows, cosines) in enumerate(lists)
                     for rank, (row, cosine) in enumerate(zip(rows.tolist(), cosines.tolist())))[:k]
    return (np.array([e[3] for e in entries], dtype=np.int64),
            np.array([-e[1] for e in entries], dtype=np.float32))


SMALL_KIND = 20_000  # a kind this small is searched exactly from a float16 copy kept with the open index (<= 20 MB)


def _nearest_in_kind(index, query, k: int, mask, whole_index: bool) -> tuple[np.ndarray, np.ndarray]:
    """`nearest` within one kind; a small kind (the demo's 1,914 images) exactly, from a FAISS flat
    index of its vectors kept with the open index (float16_flat_index), since reading its rows out
    of the memory-mapped store on every search would cost more than the search itself. (Not numpy's
    `vectors @ query`: OpenBLAS spreads that product over its threads, and on the demo, with the
    model's threads just used, it took 3 ms a search on a busy machine against 0.08 ms for FAISS's
    one-thread scan.)
    A large kind of an unfiltered search first tries the unfiltered search for k (cheaper than a
    filtered one), keeping its items when all k are of this kind. Not 2k: ivf-fastscan re-ranks
    8 x k candidates, and on the demo, right after the model, k = 20 took 0.47 ms p50 against 0.21
    for k = 10. An image was among the unfiltered top 10 for 44 of benchmarks/search.py's first 500
    held-out texts, which then take the filtered search (with k + 2, 16: the same cost at the mean)."""
    if _allowed_count(mask) > SMALL_KIND:  # the row numbers of a large kind are never needed
        if whole_index:
            found, cosines = nearest(index, query, k)
            keep = mask[found]
            if keep.sum() >= k:
                return found[keep][:k], cosines[keep][:k]
        return nearest(index, query, k, mask)
    rows, flat = _kind_flat_index(index, mask)
    cosines, found = faiss_search(flat, np.asarray(query, dtype=np.float32)[None, :], k, "float16-flat")
    found, cosines = found[0], cosines[0]
    keep = found >= 0  # FAISS returns them best first
    return rows[found[keep]], cosines[keep]


def _kind_flat_index(index, mask) -> tuple[np.ndarray, object]:
    """(rows, exact FAISS index of their vectors) for this mask, kept with the open index
    (a few masks at most). The whole index's kind masks are the same objects on every search, so
    they are found by identity; a filtered one by its values."""
    kept = index.__dict__.setdefault("_kind_flat", [])
    for known, rows, flat in kept:
        if known is mask or (known.shape == mask.shape and np.array_equal(known, mask)):
            return rows, flat
    if len(kept) >= 4:
        kept.clear()
    rows = np.flatnonzero(mask)
    kept.append((mask, rows, float16_flat_index(index.vectors_f32(rows))))  # masks are never changed in place
    return rows, kept[-1][2]


def _query_vectors(index, vectors) -> np.ndarray:
    """Query vectors as unit rows, or an InputError saying why they cannot search this index."""
    rows = []
    for number, vector in enumerate(vectors, start=1):
        vector = np.asarray(vector, dtype=np.float32)
        where = f"Query vector {number}"
        if vector.ndim != 1:
            raise InputError(f"{where} has shape {vector.shape}; give one row of {index.dim} numbers.")
        if vector.shape[0] != index.dim:
            raise InputError(f"{where} has {vector.shape[0]} numbers; the index's space has {index.dim} dimensions.")
        if not np.isfinite(vector).all():
            raise InputError(f"{where} holds values that are not finite numbers (NaN or infinity).")
        if not vector.any():
            raise InputError(f"{where} is all zeros: it points nowhere, so no item is nearer than another.")
        rows.append(vector)
    return l2_normalize(np.stack(rows)) if rows else np.zeros((0, index.dim), np.float32)


def _row_of(index, item_id) -> int:
    try:
        return index.row_of_id[int(item_id)]
    except (KeyError, TypeError, ValueError):
        raise InputError(f"Index '{index.name}' has no item with id {item_id!r} (it may have been removed).") from None


# -- analogy -----------------------------------------------------------------------------------
def rank_analogy_candidates(pool: np.ndarray, va, vb, vc, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(order, scores) of candidate vectors `pool` (..., n, dim) for operands (..., dim), best first.

    Works for one question (pool (n, dim), operands (dim,)) and for a batch (pool (q, n, dim),
    operands (q, dim)); the order is stable, so ties keep the candidates' cosine order.
    """
    scores = analogy_scores(*candidate_cosines(pool, va, vb, vc), method)
    return np.argsort(-scores, axis=-1, kind="stable"), scores


def analogy(index, space, a: str, b: str, c: str, k: int = 10, method: str = "add",
            lang: str | None = None, kind: str | None = None, candidates: int = CANDIDATES) -> dict:
    """a is to b as c is to ?  The inputs themselves (any item whose text is a, b or c) are excluded."""
    return analogy_many(index, space, [(a, b, c)], k=k, method=method, lang=lang, kind=kind, candidates=candidates)[0]


def analogy_many(index, space, triples, k=10, method="add", lang=None, kind=None, candidates=CANDIDATES) -> list:
    index.check_space(space)
    _check_k(k)
    analogy_scores(np.zeros(1), np.zeros(1), np.zeros(1), method)  # validates the method up front
    for triple in triples:
        if len(triple) != 3:
            raise InputError(f"An analogy needs three terms A B C, got {list(triple)}.")
    flat = [term for triple in triples for term in triple]
    check_query_texts(flat, "analogy term")
    vectors = space.embed_texts(flat, role="item").reshape(len(triples), 3, space.dim)
    texts = index.items["text"].fillna("").str.casefold().to_numpy()
    out, answers = [], []
    for (a, b, c), (va, vb, vc) in zip(triples, vectors):
        inputs = {a.strip().casefold(), b.strip().casefold(), c.strip().casefold()}
        exclude = np.flatnonzero(np.isin(texts, list(inputs)))
        allowed = _allowed(index, kind=kind, lang=lang, exclude_rows=exclude)
        target = analogy_target(va, vb, vc)
        rows, _ = nearest(index, target, max(candidates, k), allowed)
        pool = index.vectors_f32(rows)
        order, scores = rank_analogy_candidates(pool, va, vb, vc, method)
        order = order[:k]
        out.append({"query": [a, b, c], "method": method})
        answers.append((rows[order], scores[order], (pool @ target)[order]))
    return [{**question, "results": results} for question, results in zip(out, _batch_results(index, answers))]


# -- translation -------------------------------------------------------------------------------
def translate(index, space, text: str, to: str, from_: str | None = None, method: str = "csls",
              k: int = 10, candidates: int = CSLS_CANDIDATES, use_text_map: bool = True,
              rerank: str | None = DEFAULT_RERANK) -> dict:
    """Nearest text items in language `to`, by plain cosine (nn) or CSLS (default)."""
    return translate_many(index, space, [text], to=to, from_=from_, method=method, k=k, candidates=candidates,
                          use_text_map=use_text_map, rerank=rerank)[0]


def translate_many(index, space, texts, to, from_=None, method="csls", k=10, candidates=CSLS_CANDIDATES,
                   use_text_map=True, rerank=DEFAULT_RERANK) -> list:
    """With `from_` given and a text map saved by `align-text` for this space and direction whose
    report shows it helps words, the source texts are mapped by it first (the target items and
    CSLS's r_S stay as indexed). CSLS's top candidates are then re-ordered (maps/rerank.py): by
    default by spelling + frequency where that was measured (one-word queries into English), with
    rerank="e5-small" by a second space; rerank="none" (or None) keeps CSLS's order.
    Each answer's "setting" says which map and re-ranking were used, or why none; "score" is the
    score the answer is ordered by (CSLS plus the re-ranking's terms), "cosine" the plain cosine."""
    index.check_space(space)
    _check_k(k)
    if method not in ("nn", "csls"):
        raise InputError(f"Translation method {method!r}: use nn (nearest neighbour) or csls.")
    rerank = rerank or "none"
    second = load_rerank_space(rerank) if rerank not in ("none", DEFAULT_RERANK) else None
    if second is not None and method != "csls":
        raise InputError("Re-ranking adds to CSLS scores (its weight was chosen for them): use --method csls.")
    to = normalize_lang(to)
    from_ = normalize_lang(from_) if from_ else None
    target = _target_mask(index, to)
    check_query_texts(texts, "text to translate")
    queries = space.embed_texts(texts, role="item")
    text_map, setting = applicable_text_map(space, from_, to) if use_text_map else (None, "text map off")
    if text_map is not None:
        queries = text_map.apply(queries)
    out, answers = [], []
    for text, query in zip(texts, queries):
        rows, cosines = nearest(index, query, max(candidates, k, CSLS_K), target)
        if method == "nn":
            scores = cosines
        else:
            query_hubness = mean_top_k(cosines, CSLS_K)  # r_T(x): the candidates are the nearest items
            scores = csls_scores(cosines, query_hubness, csls_source_hubness(index, to, from_)[rows])
        order = np.argsort(-scores, kind="stable")[: max(k, RERANK_CANDIDATES) if rerank != "none" else k]
        shown, reranked = scores[order], rerank_setting(rerank)
        if second is not None:
            moved, shown = rerank_candidates(second, text, _texts_of(index, rows[order]), shown)
            order, shown = order[moved][:k], shown[:k]
        elif rerank == DEFAULT_RERANK:
            order, shown, reranked = _rerank_by_features(index, space, text, to, from_, method, rows, order, shown, k)
        out.append({"query": text, "to": to, "from": from_, "method": method, "text_map": text_map is not None,
                    "setting": f"{method}; {setting}; {reranked}"})
        answers.append((rows[order], shown, cosines[order]))
    return [{**question, "results": results} for question, results in zip(out, _batch_results(index, answers))]


def _rerank_by_features(index, space, text, to, from_, method, rows, order, scores, k):
    """(order, shown scores, setting) after the default re-ranking (maps/rerank.feature_rerank), or
    CSLS's order and the reason it does not apply."""
    moved, shown, setting = default_rerank(text, scores, to, method, space_name(space),
                                           lambda: _texts_of(index, rows[order]), source=from_)
    return order[moved][:k], shown[:k], setting


def _texts_of(index, rows) -> list:
    """The items' texts ('' where none), taken as result rows are (_item_values): a pandas take of
    ten rows cost ~0.1-0.4 ms, more than the re-ranking itself."""
    text = RESULT_COLUMNS.index("text")
    return [item[text] if isinstance(item[text], str) else "" for item in _item_values(index, np.asarray(rows))]


def _target_mask(index, to: str) -> np.ndarray:
    mask = _mask(index, kind="text", lang=to)
    if not mask.any():
        langs = index.manifest.get("counts", {}).get("by_lang", {})
        raise InputError(f"Index '{index.name}' has no text items in '{to}'; its languages: "
                         f"{', '.join(f'{k} ({v:,})' for k, v in langs.items()) or 'none recorded'}.")
    return mask


def source_mask(index, to: str, from_: str | None) -> np.ndarray:
    """CSLS's source side: items in `from_` if given, else every item outside the target language."""
    if from_:
        mask = index.mask(lang=from_)
        if mask is None or not mask.any():
            raise InputError(f"Index '{index.name}' has no items in '{from_}' to measure hubness against.")
        return mask
    return (index.items["lang"] != to).to_numpy()


def csls_source_hubness(index, to: str, from_: str | None) -> np.ndarray:
    """r_S(y) for every row: mean cosine of y to its CSLS_K nearest source-side items (0 off target).

    Computed once per (index, to, from) for all target items with an exact search, kept in
    memory and cached on disk under the index checksum, so later queries cost nothing.
    """

    memo = index.__dict__.setdefault("_csls", {})
    key = (to, from_)
    if key in memo:
        return memo[key]
    path = cache_dir("csls") / f"{index.name}-{index.checksum}-{to}-{from_ or 'rest'}-{CSLS_K}.array"
    inputs = {"index": index.name, "checksum": index.checksum, "to": to, "from": from_, "k": CSLS_K}
    cached = load_checked_array(path, inputs)
    if cached is not None and cached.shape == (len(index),):
        memo[key] = cached
        return cached
    target_rows = np.flatnonzero(_target_mask(index, to))
    source_rows = np.flatnonzero(source_mask(index, to, from_))
    hubness = np.zeros(len(index), dtype=np.float32)
    if len(source_rows):
        hubness[target_rows] = neighbourhood_similarity(index.vectors_f32(target_rows),
                                                        index.vectors_f32(source_rows), CSLS_K)
    save_checked_array(path, hubness, inputs)
    memo[key] = hubness
    return hubness
