"""Exports of an index: TensorFlow Embedding Projector TSVs, or Parquet with vectors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..artifacts import atomic_write_bytes
from ..errors import InputError

PROJECTOR_COLUMNS = ("id", "kind", "text", "lang", "label", "concept", "path")


def export_index(index, fmt: str, output) -> list[Path]:
    """Write the export into folder `output`; returns the files written."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    if fmt == "projector":
        return _projector(index, output)
    if fmt == "parquet":
        return _parquet(index, output)
    raise InputError(f"Export format {fmt!r}: use projector or parquet.")


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    # the projector splits on tabs and lines: keep each cell on one line
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _projector(index, output: Path) -> list[Path]:
    """vectors.tsv (one row of numbers per item) and metadata.tsv (a header, then one row per item),
    the two files projector.tensorflow.org loads with 'Load'."""
    vectors = io.StringIO()
    for start in range(0, len(index), 4096):
        np.savetxt(vectors, index.vectors_f32(np.arange(start, min(start + 4096, len(index)))), delimiter="\t", fmt="%.5f")
    metadata = io.StringIO()
    writer = csv.writer(metadata, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
    writer.writerow(["name", *PROJECTOR_COLUMNS])
    for row in index.items[list(PROJECTOR_COLUMNS)].itertuples(index=False):
        record = row._asdict()
        name = record["text"] if _cell(record["text"]) else Path(_cell(record["path"]) or "item").name
        writer.writerow([_cell(name), *(_cell(record[c]) for c in PROJECTOR_COLUMNS)])
    files = [output / "vectors.tsv", output / "metadata.tsv", output / "projector_config.json"]
    atomic_write_bytes(files[0], vectors.getvalue().encode())
    atomic_write_bytes(files[1], metadata.getvalue().encode())
    config = {"embeddings": [{"tensorName": f"{index.name} ({index.space_id})",
                              "tensorShape": [len(index), index.dim],
                              "tensorPath": "vectors.tsv", "metadataPath": "metadata.tsv"}]}
    atomic_write_bytes(files[2], json.dumps(config, indent=2).encode())
    return files


def _parquet(index, output: Path) -> list[Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(index.items.drop(columns=["key"], errors="ignore"), preserve_index=False)
    vectors = index.vectors_f32(np.arange(len(index)))
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), type=pa.float32()), index.dim)
    table = table.append_column("vector", column)
    table = table.replace_schema_metadata({"embedspace.space_id": index.space_id, "embedspace.index": index.name})
    path = output / f"{index.name}.parquet"
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return [path]
