"""Readers: turn users' files into a deterministic stream of items, in chunks.

Sources are text files (one item a line), tables (CSV, TSV, Parquet, JSONL) and folders of
images (recursive). The stream is the same every time it is read from the same files, which
is what lets an interrupted build resume by skipping the chunks it already finished.

An item is a dict with the columns of ITEM_COLUMNS; `payload` (the text, or the image path)
travels with it to the embedder and is not stored.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..images import IMAGE_SUFFIXES, MAX_FILE_BYTES, find_images, load_image
from ..languages import normalize_lang
from ..spaces.space import check_text
from ..text import describe_lone_surrogate, excerpt, lone_surrogate

TEXT_SUFFIXES = {".txt", ".text", ".lst"}
TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".jsonl", ".ndjson"}
ITEM_COLUMNS = ("id", "kind", "text", "lang", "label", "concept", "path", "source", "meta", "key")
DEFAULT_CHUNK_SIZE = 512
REASON_CHARS = 500  # of a reason (some quote the text they refuse)
INLINE_SOURCE = "inline"  # the `source` of items given in memory (`embedspace remove NAME --source inline`)


@dataclass
class ReadOptions:
    """How tables are read, and which language applies when no column says."""

    text_column: str | None = None
    lang_column: str | None = None
    label_column: str | None = None
    concept_column: str | None = None
    image_column: str | None = None
    lang: str | None = None
    allow_duplicates: bool = False


@dataclass(frozen=True)
class InlineItem:
    """An item given in memory instead of read from a file: a text, or an image's bytes (with an
    optional caption in `text`, in language `lang`). Nothing on this machine is read for it."""

    text: str | None = None
    image: bytes | None = None
    lang: str | None = None
    label: str | None = None
    concept: str | None = None
    meta: dict | None = None


@dataclass
class Chunk:
    seq: int  # position of the chunk in the stream: 0, 1, 2, ...
    items: list  # item dicts, ids already assigned
    skipped: list = field(default_factory=list)  # {"source", "where", "reason"} read-time skips


def text_key(text: str, lang: str | None) -> str:
    return "text:" + hashlib.sha256(f"{lang or ''}\x00{text}".encode()).hexdigest()


def bytes_key(data: bytes) -> str:
    """The key of an image given as bytes: the same as file_key of a file holding those bytes."""
    return "file:" + hashlib.sha256(data).hexdigest()


def file_key(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "file:" + digest.hexdigest()


def describe_source(source) -> str:
    return str(Path(source).resolve())


def read_chunks(
    sources, options: ReadOptions, first_id: int = 0, known_keys: set | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[Chunk]:
    """Items from every source, with ids from first_id, grouped in chunks of chunk_size.

    Exact duplicates (same kind, text and lang; or same file bytes) of known_keys or of an
    earlier item are skipped and reported, unless options.allow_duplicates.
    """
    skipped = []  # the readers append what they skip; chunk_items hands it out with each chunk
    stream = (item for source in sources for item in _read_source(Path(source), options, skipped))
    return chunk_items(stream, skipped, first_id, known_keys, chunk_size, options.allow_duplicates)


def chunk_items(stream, skipped: list, first_id: int = 0, known_keys: set | None = None,
                chunk_size: int = DEFAULT_CHUNK_SIZE, allow_duplicates: bool = False) -> Iterator[Chunk]:
    """Number the items of a stream from first_id and group them in chunks, skipping duplicates.

    skipped: the list the stream's reader appends its own skips to. Each chunk takes what is in it
    when the chunk is yielded and the list is emptied in place, because the reader keeps appending
    to this same list while the runner has already taken the chunk (and its skips) away.
    """
    seen = set(known_keys or ())
    next_id, seq, items = first_id, 0, []
    for item in stream:
        if not allow_duplicates and item["key"] in seen:
            skipped.append({"source": item["source"], "where": item.pop("where"),
                            "reason": "duplicate of an item already in the index"})
            continue
        seen.add(item["key"])
        item.pop("where")
        item["id"] = next_id
        next_id += 1
        items.append(item)
        if len(items) >= chunk_size:
            yield Chunk(seq, items, _take(skipped))
            seq, items = seq + 1, []
    if items or skipped:
        yield Chunk(seq, items, _take(skipped))


def _take(skipped: list) -> list:
    taken = list(skipped)
    skipped.clear()
    return taken


def _skip_record(skipped: list, source: str, where: str, reason: str, text=None) -> None:
    """One read-time skip: the source, where in it (line N, row N), why, and an excerpt of the text."""
    record = {"source": source, "where": where, "reason": excerpt(reason, REASON_CHARS)}
    if text is not None:
        record["text"] = excerpt(text)
    skipped.append(record)


def check_sources(sources) -> list:
    """Refuse up front a source that does not exist or has a type no reader takes."""
    checked = []
    for source in sources:
        path = Path(source)
        if not path.exists():
            raise InputError(f"Source {source}: no such file or folder.")
        if lone_surrogate(describe_source(path)):  # a byte that is not UTF-8 in its name: no index file could hold it
            raise InputError(f"Source {excerpt(source)}: its name is not UTF-8, so the index could not record where "
                             "its items came from; rename it.")
        if path.is_file() and path.suffix.lower() not in TEXT_SUFFIXES | TABLE_SUFFIXES | IMAGE_SUFFIXES:
            raise InputError(
                f"Source {source}: unknown file type '{path.suffix}'. Give text files (.txt, one item a line), "
                "tables (.csv .tsv .parquet .jsonl), images, or folders of images."
            )
        checked.append(path)
    return checked


def _read_source(path: Path, options: ReadOptions, skipped: list) -> Iterator[dict]:
    suffix = path.suffix.lower()
    if path.is_dir():
        yield from _read_image_folder(path, skipped)
    elif suffix in IMAGE_SUFFIXES:
        yield _image_item(path, path.parent, describe_source(path), str(path.name))
    elif suffix in TABLE_SUFFIXES:
        yield from _read_table(path, options, skipped)
    else:
        yield from _read_text_file(path, options, skipped)


def _lang(value, where: str) -> str | None:
    if value is None or (isinstance(value, float) and value != value) or str(value).strip() == "":
        return None
    try:
        return normalize_lang(str(value))
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _meta_json(meta) -> str | None:
    return json.dumps(meta, ensure_ascii=False, default=str) if meta else None


def _text_item(text: str, lang, source: str, where: str, label=None, concept=None, meta=None) -> dict:
    return {
        "kind": "text", "text": text, "lang": lang, "label": label, "concept": concept, "path": None,
        "source": source, "meta": _meta_json(meta), "key": text_key(text, lang), "where": where, "payload": text,
    }


def _read_text_file(path: Path, options: ReadOptions, skipped: list) -> Iterator[dict]:
    source = describe_source(path)
    lang = _lang(options.lang, f"--lang for {path}")
    for number, raw in _lines(path):
        where = f"line {number}"
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            _skip_not_utf8(skipped, source, number, raw, exc)
            continue
        if not text:
            _skip_record(skipped, source, where, "empty line")
            continue
        yield _text_item(text, lang, source, where)


def _lines(path: Path, keepends: bool = False) -> Iterator[tuple[int, bytes]]:
    """(number from 1, bytes) of each line, read one at a time.

    Lines end at \\n, \\r\\n or \\r, as an editor numbers them; a UTF-8 byte order mark before the
    first line is dropped. Bytes, not text: one line that is not UTF-8 is that line's problem.
    """
    number = 0
    with open(path, "rb") as f:
        for block in f:  # ends at \n only; splitlines also ends a line at a lone \r
            for line in block.splitlines(keepends=keepends):
                number += 1
                yield number, line.removeprefix(codecs.BOM_UTF8) if number == 1 else line


def _skip_not_utf8(skipped: list, source: str, number: int, raw: bytes, exc: UnicodeDecodeError) -> None:
    # the position goes with `where`, so that the summary counts such lines under one reason per byte
    _skip_record(skipped, source, f"line {number}, byte {exc.start + 1}",
                 f"not UTF-8 (byte 0x{raw[exc.start]:02X}); save the file as UTF-8", raw.decode("utf-8", "replace"))


class _Skip(Exception):
    """A row that cannot become an item: why, and what it held (kept as an excerpt)."""

    def __init__(self, reason: str, text=None):
        super().__init__(reason)
        self.reason, self.text = reason, text


@dataclass
class _Table:
    """A table being read: its columns, and its rows as (where, {column: value}), one at a time.

    escaped_bytes: the rows were decoded with surrogateescape (CSV, TSV), so a lone surrogate in a
    cell stands for a byte that is not UTF-8; elsewhere (JSONL) it came from a JSON escape.
    """

    columns: list
    rows: Iterator
    escaped_bytes: bool = False


def _open_table(path: Path, source: str, skipped: list) -> _Table:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _parquet_table(path, source, skipped)
    if suffix in (".jsonl", ".ndjson"):
        return _Table(_jsonl_columns(path), _jsonl_records(path, source, skipped))
    return _csv_table(path, "\t" if suffix == ".tsv" else ",", source, skipped)


# -- CSV and TSV: row by row, a row that does not fit the header is skipped by its line ---------
class _CountedLines:
    """Lines decoded for the csv module (bytes that are not UTF-8 kept as surrogates, found per row
    later), counting how many it has taken, so that a row is named by the line it starts on."""

    def __init__(self, path: Path):
        self.taken = 0
        self._lines = _lines(path, keepends=True)

    def __iter__(self):
        return self

    def __next__(self) -> str:
        number, line = next(self._lines)
        self.taken = number
        return line.decode("utf-8", "surrogateescape")


def _csv_table(path: Path, delimiter: str, source: str, skipped: list) -> _Table:
    lines = _CountedLines(path)
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next((row for row in reader if row), [])  # blank lines before the header are no rows
    except csv.Error as exc:
        raise InputError(f"Source {path}: its first line is not a table header ({exc}).") from None
    if any(lone_surrogate(name) for name in header):
        raise InputError(f"Source {path}: its header line is not UTF-8; save the file as UTF-8.")
    columns = _unique_names(header)
    return _Table(columns, _csv_rows(reader, lines, columns, delimiter, source, skipped), escaped_bytes=True)


def _unique_names(header: list) -> list:
    """Header names, a repeated one numbered as pandas does (a, a.1, a.2), so no column is lost."""
    names = []
    for name in header:
        unique, number = name, 0
        while unique in names:
            number += 1
            unique = f"{name}.{number}"
        names.append(unique)
    return names


def _csv_rows(reader, lines: _CountedLines, columns: list, delimiter: str, source: str, skipped: list) -> Iterator:
    while True:
        start = lines.taken + 1  # the line the next row starts on (a quoted cell may span lines)
        where = f"line {start}"
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a cell over the csv module's 131,072 characters (an unclosed quote)
            lost = where if lines.taken <= start else f"lines {start}-{lines.taken}"
            _skip_record(skipped, source, lost, f"not a readable row ({exc})")
            continue
        if not fields:
            continue  # a blank line is no row
        if len(fields) != len(columns):
            count = f"{len(fields)} field" + ("s" if len(fields) != 1 else "")
            _skip_record(skipped, source, where, f"{count} where the header has {len(columns)}",
                         delimiter.join(fields))
            continue
        yield where, dict(zip(columns, fields))


# -- JSONL: line by line, a line that is not a JSON object is skipped by its number -------------
def _jsonl_records(path: Path, source: str, skipped: list) -> Iterator[tuple[str, dict]]:
    for number, raw in _lines(path):
        where = f"line {number}"
        if not raw.strip():
            continue  # a blank line is no row
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            _skip_not_utf8(skipped, source, number, raw, exc)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            _skip_record(skipped, source, f"{where}, character {exc.colno}", f"not valid JSON ({exc.msg})", line)
            continue
        except (ValueError, RecursionError) as exc:  # an integer of over 4,300 digits; nesting too deep
            _skip_record(skipped, source, where, f"not valid JSON ({type(exc).__name__}: {exc})", line)
            continue
        if not isinstance(record, dict):
            _skip_record(skipped, source, where, f"not a JSON object but {_a_type(record)}", line)
            continue
        yield where, record


def _jsonl_columns(path: Path) -> list:
    """Every key of every line, in the order first seen: a first pass, so that the rows can then
    be read one at a time (its skips are the second pass's too, so it keeps none)."""
    columns = {}
    for _, record in _jsonl_records(path, "", []):
        columns.update(dict.fromkeys(record))
    return list(columns)


# -- Parquet: row group by row group; one that cannot be read is skipped, the others kept -------
def _parquet_table(path: Path, source: str, skipped: list) -> _Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"Source {path} could not be read as a Parquet table: {exc}") from None
    columns = [name for name in names if not name.startswith("__index_level_")]  # pandas' saved index
    return _Table(columns, _parquet_rows(parquet, columns, source, skipped))


def _parquet_rows(parquet, columns: list, source: str, skipped: list) -> Iterator:
    import pyarrow as pa

    first = 1
    for group in range(parquet.num_row_groups):
        size = parquet.metadata.row_group(group).num_rows
        number = first
        try:
            for batch in parquet.iter_batches(batch_size=4096, row_groups=[group]):
                for row in batch.to_pylist():
                    yield f"row {number}", {column: row.get(column) for column in columns}
                    number += 1
        except (pa.ArrowException, OSError, ValueError, OverflowError) as exc:
            _skip_record(skipped, source, f"rows {number}-{first + size - 1}", f"could not be read ({exc})")
        first += size


def _load_table(path: Path):
    """The whole table as a DataFrame, or an InputError: what maps/alignment.py reads its captioned
    images with (a build reads tables row by row, above, so that a bad row costs only itself)."""
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise InputError(f"Source {path} could not be read as a {suffix[1:]} table: {exc}") from None


# -- a row -> an item ----------------------------------------------------------------------------
def _pick_text_column(columns, options: ReadOptions, path: Path) -> str | None:
    if options.text_column:
        if options.text_column not in columns:
            raise InputError(f"Source {path} has no column '{options.text_column}'; its columns: {', '.join(columns)}.")
        return options.text_column
    for candidate in ("text", "sentence", "caption", "word", "name"):
        if candidate in columns:
            return candidate
    if options.image_column or "image" in columns or "path" in columns:
        return None
    raise InputError(
        f"Source {path}: which column holds the text? Pass --text-column (columns: {', '.join(columns)})."
    )


def _read_table(path: Path, options: ReadOptions, skipped: list) -> Iterator[dict]:
    source = describe_source(path)
    table = _open_table(path, source, skipped)
    columns = table.columns
    if not columns:  # an empty file, or no line that reads: nothing to take a text from
        for _ in table.rows:
            pass  # each line that did not read is still reported
        return
    for name in ("lang_column", "label_column", "concept_column", "image_column"):
        column = getattr(options, name)
        if column and column not in columns:
            raise InputError(f"Source {path} has no column '{column}' (--{name.replace('_', '-')}); "
                             f"its columns: {', '.join(columns)}.")
    text_column = _pick_text_column(columns, options, path)
    image_column = options.image_column or next((c for c in ("image", "path") if c in columns and not text_column), None)
    plan = _RowPlan(path, source, text_column, image_column, options, _lang(options.lang, f"--lang for {path}"))
    for where, row in table.rows:
        try:
            _check_encodable(row, table.escaped_bytes)
            yield _row_item(row, where, plan)
        except _Skip as skip:
            _skip_record(skipped, source, where, skip.reason, skip.text)


@dataclass
class _RowPlan:
    """What every row of one table becomes: which column is the text, the image, the language..."""

    path: Path
    source: str
    text_column: str | None
    image_column: str | None
    options: ReadOptions
    default_lang: str | None

    @property
    def used(self) -> set:
        o = self.options
        return {self.text_column, self.image_column, o.lang_column, o.label_column, o.concept_column}


def _row_item(row: dict, where: str, plan: _RowPlan) -> dict:
    options = plan.options
    meta = {k: v for k, v in row.items() if k not in plan.used and not _missing(v)} or None
    label, concept = _cell(row, options.label_column), _cell(row, options.concept_column)
    lang = _row_lang(row, options.lang_column) or plan.default_lang
    if plan.image_column:
        value = _image_cell(row, plan.image_column)
        image_path = (plan.path.parent / value) if not Path(value).is_absolute() else Path(value)
        item = _image_item(image_path, plan.path.parent, plan.source, where, label=label, concept=concept, meta=meta)
        caption = _cell(row, plan.text_column) if plan.text_column else None
        item["text"], item["lang"] = caption, lang if caption else None
        return item
    return _text_item(_text_cell(row, plan.text_column), lang, plan.source, where, label=label, concept=concept,
                      meta=meta)


def _text_cell(row: dict, column: str) -> str:
    value = row.get(column)
    if _missing(value):
        raise _Skip(f"empty '{column}' cell")
    if not isinstance(value, str):  # a number is not text: 1.0 would be embedded as "1.0"
        raise _Skip(f"text column '{column}' holds {_a_type(value)}, not text", repr(value))
    return value.strip()


def _image_cell(row: dict, column: str) -> str:
    value = row.get(column)
    if _missing(value):
        raise _Skip(f"empty '{column}' cell")
    if not isinstance(value, str):
        raise _Skip(f"image column '{column}' holds {_a_type(value)}, not a path", repr(value))
    if "\0" in value:
        raise _Skip(f"image column '{column}' holds a path with a NUL character", value)
    return value.strip()


def _row_lang(row: dict, column: str | None) -> str | None:
    if not column or _missing(row.get(column)):
        return None
    try:
        return normalize_lang(str(row[column]))
    except InputError as exc:  # one row's bad code costs that row, not the file
        raise _Skip(f"column '{column}': {exc}") from None


def _check_encodable(row: dict, escaped_bytes: bool) -> None:
    """Refuse a row with a lone surrogate in any name or value: UTF-8 cannot hold one, so neither
    the model nor the index files could take it (in CSV it stands for a byte that is not UTF-8)."""
    for column, value in row.items():
        for text in _strings(column, value):
            found = lone_surrogate(text)
            if found is None:
                continue
            position, char = found
            if escaped_bytes:
                raise _Skip(f"not UTF-8 (byte 0x{ord(char) - 0xDC00:02X} in column '{excerpt(column, 40)}'); "
                            "save the file as UTF-8", text)
            raise _Skip(f"column '{excerpt(column, 40)}' holds {describe_lone_surrogate(text)}", text)


def _strings(key: str, value) -> Iterator[str]:
    """key and every string inside value (JSON values nest lists and objects)."""
    yield key
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(str(k), v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings("", v)


def _a_type(value) -> str:
    name = {"bytes": "binary data", "dict": "an object", "NoneType": "null"}.get(type(value).__name__)
    if name:
        return name
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip())


def _cell(row: dict, column: str | None):
    if not column or _missing(row.get(column)):
        return None
    return str(row[column]).strip()


def _read_image_folder(root: Path, skipped: list) -> Iterator[dict]:
    source = describe_source(root)
    for path in find_images(root):
        where = str(path.relative_to(root))
        if lone_surrogate(where):  # a byte that is not UTF-8 in its name: no index file could hold it
            _skip_record(skipped, source, excerpt(where), "file name is not UTF-8 (rename the file)")
            continue
        # a folder per class: the image's folder (below the root) is its label
        label = path.parent.name if path.parent != root else None
        yield _image_item(path, root, source, where, label=label)


def _image_item(path: Path, root: Path, source: str, where: str, label=None, concept=None, meta=None) -> dict:
    resolved = path.resolve()
    try:  # only a regular file of an image's size is read: /dev/zero or a FIFO named in a table would never end
        readable = resolved.is_file() and resolved.stat().st_size <= MAX_FILE_BYTES
        key = file_key(resolved) if readable else "missing:" + str(resolved)  # the embedder says why it is skipped
    except OSError:
        key = "missing:" + str(resolved)  # reported as skipped when the embedder cannot open it
    return {
        "kind": "image", "text": None, "lang": None, "label": label, "concept": concept, "path": str(resolved),
        "source": source, "meta": _meta_json(meta), "key": key, "where": where, "payload": str(resolved),
    }


# -- items given in memory ---------------------------------------------------------------------------
def inline_item_stream(items, source: str = INLINE_SOURCE) -> Iterator[dict]:
    """The item dicts of InlineItems, all checked before the first is returned: a bad text or image
    raises InputError naming it ("Item 3: ..."), since whoever sent it is there to fix it (a file's
    bad lines are skipped and reported instead). Images are decoded here, with the same checks as
    image files (decompression bombs, corrupt bytes), and travel on decoded."""
    return iter([_inline_item(item, number, source) for number, item in enumerate(items, start=1)])


def _inline_item(item: InlineItem, number: int, source: str) -> dict:
    where = f"item {number}"
    try:
        lang = _lang(item.lang, "its lang")
        if item.image is None:
            _check_inline_text(item.text)
            return _text_item(item.text.strip(), lang, source, where, item.label, item.concept, item.meta)
        if not isinstance(item.image, (bytes, bytearray)):
            raise InputError(f"its image must be the image's bytes, not a {type(item.image).__name__} "
                             "(a path names a file on this machine, which an item given in memory may not).")
        image = load_image(bytes(item.image))
        caption = item.text.strip() if item.text is not None else None
        if caption is not None:
            _check_inline_text(caption)
    except InputError as exc:
        raise InputError(f"Item {number}: {exc}") from None
    return {"kind": "image", "text": caption, "lang": lang if caption else None, "label": item.label,
            "concept": item.concept, "path": None, "source": source, "meta": _meta_json(item.meta),
            "key": bytes_key(bytes(item.image)), "where": where, "payload": image}


def _check_inline_text(text) -> None:
    try:
        check_text(text)
    except InputError as exc:
        raise InputError(f"its text {exc}") from None
