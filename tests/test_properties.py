"""Property-based tests: generated input against the real readers, the spec parser and the query path.

The promise under test: bad input never loses good input, and never ends in anything but the
project's own errors (embedspace.errors), whose messages a person can act on. Every run generates
the same examples (derandomize=True, no example database), a bounded number of them, so the file
is as repeatable and quick as the rest of the suite. `pytest --hypothesis-show-statistics` reports
how many examples each property ran.
"""

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from embedspace import load_space, query
from embedspace.errors import EmbedspaceError, InputError
from embedspace.index.build import build_index
from embedspace.index.sources import ReadOptions, read_chunks
from embedspace.index.store import Index
from embedspace.spec import format_spec, parse_spec


def bounded(examples: int):
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def read_source(data: bytes, suffix: str, options: ReadOptions | None = None):
    """(texts kept, skip records) of `data` written as a file with that suffix, through the real reader."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"source{suffix}"
        path.write_bytes(data)
        chunks = list(read_chunks([path], options or ReadOptions(), chunk_size=7))  # several chunks
        return [item["text"] for c in chunks for item in c.items], [s for c in chunks for s in c.skipped]


def unique(texts: list) -> list:
    """What a build keeps of these texts: exact duplicates are skipped (all with the same language)."""
    return list(dict.fromkeys(texts))


LINE_BREAKS = "\n\r"
# text for a cell or a line: anything Unicode can encode, line breaks aside (they end a line)
LINE_TEXT = st.text(st.characters(codec="utf-8", exclude_characters=LINE_BREAKS), max_size=12)
NASTY_PIECES = [b",", b"\t", b'"', b"{", b"}", b"[", b"]", b":", b"\n", b"\r", b"\r\n", b'{"text": ', b'"\\ud800"',
                b"\xef\xbb\xbf", b"\xff", b"\xc3", b"\x00", b"null", b"1e999", b"text,lang\n", b"text\ttag\n"]
NASTY_BYTES = st.lists(st.one_of(st.binary(max_size=12), LINE_TEXT.map(str.encode), st.sampled_from(NASTY_PIECES)),
                       max_size=30).map(b"".join)


# -- (a) source readers ---------------------------------------------------------------------------
@bounded(300)
@given(data=NASTY_BYTES, suffix=st.sampled_from([".txt", ".csv", ".tsv", ".jsonl", ".parquet"]))
def test_any_bytes_in_any_format_are_read_or_refused_with_our_own_error(data, suffix):
    try:
        texts, skipped = read_source(data, suffix)
    except EmbedspaceError:
        return  # e.g. not a Parquet file at all, a table without a text column
    if suffix == ".txt":  # every line is an item or a skip, as an editor counts lines
        assert len(texts) + len(skipped) == len(data.splitlines())
    if suffix == ".jsonl":  # every line but a blank one
        assert len(texts) + len(skipped) == sum(1 for line in data.splitlines() if line.strip())
    json.dumps(skipped, ensure_ascii=False).encode()  # what skipped.jsonl will hold is UTF-8


LINE_END = st.sampled_from(["\n", "\r\n", "\r"])
TEXT_LINE = st.one_of(
    st.tuples(st.just("text"), LINE_TEXT),
    st.tuples(st.just("bytes"), st.tuples(LINE_TEXT, st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]))),
)


@bounded(150)
@given(lines=st.lists(TEXT_LINE, max_size=25), end=LINE_END)
def test_a_text_file_keeps_every_good_line_and_skips_each_bad_one(lines, end):
    raw, expected = [], []
    for number, (kind, content) in enumerate(lines):
        if kind == "text":
            raw.append(content.encode())
            text = content.removeprefix("\ufeff") if number == 0 else content  # a byte order mark is no text
            expected += [text.strip()] if text.strip() else []
        else:
            text, bad = content
            raw.append(text.encode() + bad)
    texts, skipped = read_source(b"".join(line + end.encode() for line in raw), ".txt")
    assert texts == unique(expected)
    assert len(texts) + len(skipped) == len(lines)
    assert all(s["where"].startswith("line ") for s in skipped)


CELL = st.text(max_size=10)  # any text: quotes, delimiters and line breaks are quoted by the writer
SIMPLE = st.text("abcxyz 123", min_size=1, max_size=5)  # a field that needs no quoting


@st.composite
def csv_file(draw, delimiter: str):
    """(bytes, texts a reader must keep, rows in all): a header, good rows and bad ones."""
    extra = draw(st.lists(st.text(st.characters(codec="utf-8", exclude_characters=LINE_BREAKS), min_size=1, max_size=6),
                          max_size=3, unique=True).filter(lambda names: "text" not in names))
    columns = ["text", *extra]
    width = len(columns)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(columns)
    data, expected = out.getvalue().encode(), []
    rows = draw(st.lists(st.sampled_from(["good", "ragged", "bad bytes"]), max_size=20))
    for kind in rows:
        if kind == "good":
            cells = draw(st.lists(CELL, min_size=width, max_size=width))
            out = io.StringIO()
            csv.writer(out, delimiter=delimiter).writerow(cells)
            data += out.getvalue().encode()
            expected += [cells[0].strip()] if cells[0].strip() else []
        else:
            count = width if kind == "bad bytes" else draw(st.integers(1, width + 2).filter(lambda n: n != width))
            fields = [s.encode() for s in draw(st.lists(SIMPLE, min_size=count, max_size=count))]
            if kind == "bad bytes":
                fields[draw(st.integers(0, count - 1))] += b"\xff"
            data += delimiter.encode().join(fields) + b"\n"
    return data, unique(expected), len(rows)


@bounded(150)
@given(data=st.data(), suffix=st.sampled_from([".csv", ".tsv"]))
def test_a_table_keeps_every_good_row_and_skips_each_bad_one(data, suffix):
    content, expected, rows = data.draw(csv_file("\t" if suffix == ".tsv" else ","))
    texts, skipped = read_source(content, suffix)
    assert texts == expected
    assert len(texts) + len(skipped) == rows
    assert all(s["where"].startswith("line ") for s in skipped)


JSON_VALUE = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                          max_leaves=6)


@st.composite
def jsonl_line(draw):
    """(line bytes, the text a reader must keep or None)."""
    others = draw(st.dictionaries(st.text(max_size=5).filter(lambda k: k != "text"), JSON_VALUE, max_size=3))
    kind = draw(st.sampled_from(["good", "not text", "no text", "broken", "not an object", "bad bytes", "surrogate"]))
    text = draw(CELL)
    ascii_only = draw(st.booleans())
    if kind == "good":
        line = json.dumps({"text": text, **others}, ensure_ascii=ascii_only)
        return line.encode(), text.strip() or None
    if kind == "not text":
        value = draw(JSON_VALUE.filter(lambda v: not isinstance(v, str)))
        return json.dumps({"text": value, **others}).encode(), None
    if kind == "no text":
        return json.dumps({**others, "other": text}).encode(), None
    if kind == "broken":
        whole = json.dumps({"text": text, **others})
        return whole[:draw(st.integers(1, len(whole) - 1))].encode(), None
    if kind == "not an object":
        return json.dumps(draw(JSON_VALUE.filter(lambda v: not isinstance(v, dict)))).encode(), None
    if kind == "bad bytes":
        return json.dumps({"text": text}).encode()[:-2] + b'\xff"}', None
    return json.dumps({"text": text + "\ud800", **others}).encode(), None  # a "\ud800" escape


@bounded(150)
@given(lines=st.lists(jsonl_line(), min_size=1, max_size=20))
def test_a_jsonl_file_keeps_every_good_line_and_skips_each_bad_one(lines):
    content = b"\n".join([b'{"text": "first"}', *(line for line, _ in lines)])  # so a text column exists
    texts, skipped = read_source(content, ".jsonl")
    assert texts == unique(["first", *(text.strip() for _, text in lines if text)])
    assert len(texts) + len(skipped) == len(lines) + 1
    assert all(s["where"].startswith("line ") for s in skipped)


PARQUET_TYPES = {  # arrow type (pyarrow's name for it): values of it
    "string": CELL, "int64": st.integers(-(2**63), 2**63 - 1), "float64": st.floats(), "bool_": st.booleans(),
    "binary": st.binary(max_size=5), "list<int64>": st.lists(st.integers(-5, 5), max_size=3),
}


@st.composite
def parquet_table(draw):
    import pyarrow as pa

    rows = draw(st.integers(0, 15))
    columns = {}
    for name in ["text", *draw(st.lists(st.text(min_size=1, max_size=5), max_size=3, unique=True))]:
        kind = draw(st.sampled_from(sorted(PARQUET_TYPES)))
        values = draw(st.lists(st.none() | PARQUET_TYPES[kind], min_size=rows, max_size=rows))
        arrow_type = pa.list_(pa.int64()) if kind == "list<int64>" else getattr(pa, kind)()
        columns[name] = pa.array(values, arrow_type)
    return pa.table(columns), draw(st.integers(1, 6))


@bounded(100)
@given(drawn=parquet_table())
def test_a_parquet_file_keeps_every_text_cell_and_skips_every_other_cell(drawn):
    import pyarrow.parquet as pq

    table, group_size = drawn
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=group_size)  # several row groups
    texts, skipped = read_source(buffer.getvalue(), ".parquet")
    cells = table.column("text").to_pylist()
    assert texts == unique([c.strip() for c in cells if isinstance(c, str) and c.strip()])
    assert len(texts) + len(skipped) == len(cells)
    for record in skipped:
        cell = cells[int(record["where"].removeprefix("row ")) - 1]
        assert ("holds" in record["reason"]) == (cell is not None and not isinstance(cell, str))


# -- (b) the spec parser -------------------------------------------------------------------------
SPEC_PIECES = ["concat:", "st:", "open_clip:", "hf-hub:", "use-m3", "e5-small", "glove-6b-50d", "+", "*", "0.7", "1e-9",
               "[", "]", "=", ",", '"', "\\", "/", " ", "\t", "\r", ":", "prefix", "asymmetric", "nan", "inf", "-1"]
SPEC_TEXT = st.one_of(st.text(max_size=30),
                      st.lists(st.one_of(st.sampled_from(SPEC_PIECES), st.text(max_size=3)), max_size=12).map("".join))


TOKEN = st.one_of(st.text(max_size=6), st.sampled_from(["use-m3", "a b", "x\r", "k/v", "", "hf-hub:a", '"q"', "\\"]))


def written(token: str, quoted: bool) -> str:
    return '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"' if quoted else token


@st.composite
def grammar_spec(draw) -> str:
    """Text shaped like the grammar, its tokens quoted or not at random: mostly specs, some near misses."""

    def token():
        return written(draw(TOKEN), draw(st.booleans()))

    def options():
        count = draw(st.integers(0, 3))
        return "[" + ",".join(f"{token()}={token()}" for _ in range(count)) + "]" if count else ""

    def single():
        base = draw(st.sampled_from(["", "st:", "open_clip:", "open_clip:hf-hub:"]))
        ref = "/" + token() if base == "open_clip:" else ""
        return base + token() + ref + options()

    if draw(st.booleans()):
        return single()
    weights = st.one_of(st.floats(), st.sampled_from(["0.7", "2", "1e-9", "0.1234567", "nan", "-1"]).map(float))
    parts = [single() + (f"*{draw(weights)!r}" if draw(st.booleans()) else "") for _ in range(draw(st.integers(1, 3)))]
    return "concat:" + "+".join(parts) + options()


@bounded(600)
@given(text=st.one_of(SPEC_TEXT, grammar_spec()))
@example('0[""=0]')  # what it found, kept as examples: an option name that needs quotes lost them,
@example('"a b"')  # so did a space name,
@example('open_clip:"hf-hub:"/0')  # an architecture that reads back as a hub model,
@example('st:"x\r"')  # whitespace other than space, tab and newline,
@example("concat:use-m3*0.1234567+e5-small")  # and a weight written rounded (0.123457)
def test_any_spec_text_parses_or_raises_a_spec_error_and_round_trips(text):
    try:
        spec = parse_spec(text)
    except EmbedspaceError:
        return
    assert parse_spec(format_spec(spec)) == spec  # the documented promise of format_spec


# -- (c) query text, up to the embedding ---------------------------------------------------------
@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("props")
    (folder / "words.txt").write_text("perro\ngato\ncasa\nrey\nreina\n")
    build_index("props", [folder / "words.txt"], space="use-m3", read_options=ReadOptions(lang="es"),
                index_dir=folder)
    index = Index.open("props", folder)
    return index, load_space("use-m3")


def test_a_lone_surrogate_in_a_query_is_an_input_error_that_says_where(small_index):
    index, space = small_index
    for ask in (lambda: query.search(index, space, text="ga\ud800to"),
                lambda: query.translate(index, space, "ga\ud800to", to="es"),
                lambda: query.analogy(index, space, "rey", "ga\ud800to", "reina")):
        with pytest.raises(InputError, match="lone surrogate U\\+D800 at character 3"):
            ask()


ANY_TEXT = st.text(max_size=20)  # any script, control characters included
WITH_SURROGATES = st.lists(st.one_of(st.characters(), st.characters(categories=["Cs"])), min_size=1,
                           max_size=20).map("".join)  # (st.text itself leaves the surrogates out)
QUERY_TEXT = st.one_of(ANY_TEXT, ANY_TEXT, ANY_TEXT, WITH_SURROGATES, st.just(""),
                       st.text(" \t\n\r\x00\x0b\u3000", max_size=5),
                       st.sampled_from([2_000, 100_001, 1_000_000]).map(lambda n: "palabra " * (n // 8) + "x" * (n % 8)))


@bounded(120)
@given(texts=st.lists(QUERY_TEXT, min_size=1, max_size=3), how=st.sampled_from(["search", "translate", "analogy"]))
def test_any_query_text_gives_results_or_our_own_error(small_index, texts, how):
    index, space = small_index
    try:
        if how == "search":
            results = query.search_many(index, space, texts=texts, k=2)
        elif how == "translate":
            results = query.translate_many(index, space, texts, to="es", k=2)
        else:
            results = query.analogy_many(index, space, [(texts + ["rey", "reina"])[:3]], k=2)
    except EmbedspaceError:
        return
    assert all(len(r["results"]) <= 2 and all(-1.01 <= x["cosine"] <= 1.01 for x in r["results"]) for r in results)
