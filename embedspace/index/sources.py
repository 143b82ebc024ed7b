"""Readers: turn users' files into a deterministic stream of items, in chunks.

Sources are text files (one item a line), tables (CSV, TSV, Parquet, JSONL) and folders of
images (recursive). The stream is the same every time it is read from the same files, which
is what lets an interrupted build resume by skipping the chunks it already finished.

An item is a dict with the columns of ITEM_COLUMNS; `payload` (the text, or the image path)
travels with it to the embedder and is not stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..images import IMAGE_SUFFIXES, find_images
from ..languages import normalize_lang

TEXT_SUFFIXES = {".txt", ".text", ".lst"}
TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".jsonl", ".ndjson"}
ITEM_COLUMNS = ("id", "kind", "text", "lang", "label", "concept", "path", "source", "meta", "key")
DEFAULT_CHUNK_SIZE = 512


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


@dataclass
class Chunk:
    seq: int  # position of the chunk in the stream: 0, 1, 2, ...
    items: list  # item dicts, ids already assigned
    skipped: list = field(default_factory=list)  # {"source", "where", "reason"} read-time skips


def text_key(text: str, lang: str | None) -> str:
    return "text:" + hashlib.sha256(f"{lang or ''}\x00{text}".encode()).hexdigest()


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
    seen = set(known_keys or ())
    next_id, seq, items, skipped = first_id, 0, [], []
    for source in sources:
        for item in _read_source(Path(source), options, skipped):
            if not options.allow_duplicates and item["key"] in seen:
                skipped.append({"source": item["source"], "where": item.pop("where"),
                                "reason": "duplicate of an item already in the index"})
                continue
            seen.add(item["key"])
            item.pop("where")
            item["id"] = next_id
            next_id += 1
            items.append(item)
            if len(items) >= chunk_size:
                yield Chunk(seq, items, skipped)
                seq, items, skipped = seq + 1, [], []
    if items or skipped:
        yield Chunk(seq, items, skipped)


def check_sources(sources) -> list:
    """Refuse up front a source that does not exist or has a type no reader takes."""
    checked = []
    for source in sources:
        path = Path(source)
        if not path.exists():
            raise InputError(f"Source {source}: no such file or folder.")
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
        yield from _read_image_folder(path)
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


def _text_item(text: str, lang, source: str, where: str, label=None, concept=None, meta=None) -> dict:
    return {
        "kind": "text", "text": text, "lang": lang, "label": label, "concept": concept, "path": None,
        "source": source, "meta": json.dumps(meta, ensure_ascii=False, default=str) if meta else None,
        "key": text_key(text, lang), "where": where, "payload": text,
    }


def _read_text_file(path: Path, options: ReadOptions, skipped: list) -> Iterator[dict]:
    source = describe_source(path)
    lang = _lang(options.lang, f"--lang for {path}")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"Source {path} is not UTF-8 text ({exc}); convert it or use a table format.") from None
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            skipped.append({"source": source, "where": f"line {number}", "reason": "empty line"})
            continue
        yield _text_item(text, lang, source, f"line {number}")


def _load_table(path: Path):
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
    table = _load_table(path)
    columns = [str(c) for c in table.columns]
    table.columns = columns
    for name in ("lang_column", "label_column", "concept_column", "image_column"):
        column = getattr(options, name)
        if column and column not in columns:
            raise InputError(f"Source {path} has no column '{column}' (--{name.replace('_', '-')}); "
                             f"its columns: {', '.join(columns)}.")
    text_column = _pick_text_column(columns, options, path)
    image_column = options.image_column or next((c for c in ("image", "path") if c in columns and not text_column), None)
    used = {text_column, image_column, options.lang_column, options.label_column, options.concept_column}
    source = describe_source(path)
    default_lang = _lang(options.lang, f"--lang for {path}")
    for number, row in enumerate(table.to_dict("records"), start=1):
        where = f"row {number}"
        meta = {k: v for k, v in row.items() if k not in used and not _missing(v)} or None
        label = _cell(row, options.label_column)
        concept = _cell(row, options.concept_column)
        lang = _lang(row.get(options.lang_column), f"{path} {where}") if options.lang_column else default_lang
        lang = lang or default_lang
        if image_column:
            value = _cell(row, image_column)
            if value is None:
                skipped.append({"source": source, "where": where, "reason": f"empty '{image_column}' cell"})
                continue
            image_path = (path.parent / value) if not Path(value).is_absolute() else Path(value)
            item = _image_item(image_path, path.parent, source, where, label=label, concept=concept, meta=meta)
            caption = _cell(row, text_column) if text_column else None
            item["text"], item["lang"] = caption, lang if caption else None
            yield item
            continue
        text = _cell(row, text_column)
        if text is None:
            skipped.append({"source": source, "where": where, "reason": f"empty '{text_column}' cell"})
            continue
        yield _text_item(text, lang, source, where, label=label, concept=concept, meta=meta)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip())


def _cell(row: dict, column: str | None):
    if not column or _missing(row.get(column)):
        return None
    return str(row[column]).strip()


def _read_image_folder(root: Path) -> Iterator[dict]:
    source = describe_source(root)
    for path in find_images(root):
        # a folder per class: the image's folder (below the root) is its label
        label = path.parent.name if path.parent != root else None
        yield _image_item(path, root, source, str(path.relative_to(root)), label=label)


def _image_item(path: Path, root: Path, source: str, where: str, label=None, concept=None, meta=None) -> dict:
    resolved = path.resolve()
    try:
        key = file_key(resolved)
    except OSError:
        key = "missing:" + str(resolved)  # reported as skipped when the embedder cannot open it
    return {
        "kind": "image", "text": None, "lang": None, "label": label, "concept": concept, "path": str(resolved),
        "source": source, "meta": json.dumps(meta, ensure_ascii=False, default=str) if meta else None,
        "key": key, "where": where, "payload": str(resolved),
    }
