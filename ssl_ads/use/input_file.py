"""New data files for the use commands (predict, monitor): parquet or CSV, read lazily or streamed in chunks.

Streaming keeps memory flat in the file's size: rows are independent for tables and texts, so they are read,
scored and written a chunk at a time (pyarrow's readers: parquet row groups, CSV blocks); events are grouped by
user, so a sequence file is scanned lazily with only the columns the model reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ssl_ads.errors import DataError

CSV_BLOCK_BYTES = 16 << 20  # CSV read a block of this many bytes at a time


def existing_file(path: str | Path, key: str) -> Path:
    """`path` as a Path, or a one-line DataError naming the config key."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{key}: no file at {path} (expected a .parquet or .csv file)")
    return path


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def file_columns(path: Path, separator: str = ",") -> list[str]:
    """Column names from the file's header or schema, without reading its rows."""
    try:
        if is_parquet(path):
            return list(pq.read_schema(path).names)
        return list(pl.scan_csv(path, separator=separator).collect_schema().names())
    except (OSError, pa.ArrowException, pl.exceptions.PolarsError) as err:
        raise DataError(f"{path}: cannot read as {_kind(path)} ({_first_line(err)})") from err


def scan_file(path: Path, separator: str = ",", has_header: bool = True) -> pl.LazyFrame:
    """The whole file as a LazyFrame (columns read only when selected; a CSV without a header names them
    column_1, column_2...); its schema is read here, so an empty or broken file fails here, named, not at the
    first query."""
    try:
        if is_parquet(path):
            frame = pl.scan_parquet(path)
        else:
            frame = pl.scan_csv(path, separator=separator, has_header=has_header, infer_schema_length=10_000)
        frame.collect_schema()
        return frame
    except (OSError, pl.exceptions.PolarsError) as err:
        raise DataError(f"{path}: cannot read as {_kind(path)} ({_first_line(err)})") from err


def iter_chunks(
    path: Path, rows: int, separator: str = ",", columns: list[str] | None = None
) -> Iterator[pl.DataFrame]:
    """The file `rows` rows at a time (the last chunk shorter), re-cut from the reader's own batches so every chunk
    but the last has exactly `rows` rows (model batches then fall on the same rows as in one pass)."""
    pending: list[pl.DataFrame] = []
    buffered = 0
    for batch in _arrow_batches(path, rows, separator, columns):
        frame = pl.from_arrow(batch)
        if not isinstance(frame, pl.DataFrame):  # a batch of one column can come back as a Series
            frame = frame.to_frame()
        pending.append(frame)
        buffered += frame.height
        while buffered >= rows:
            joined = pl.concat(pending, how="vertical_relaxed") if len(pending) > 1 else pending[0]
            yield joined.slice(0, rows)
            rest = joined.slice(rows)
            pending, buffered = ([rest] if rest.height else []), rest.height
    if buffered:
        yield pl.concat(pending, how="vertical_relaxed") if len(pending) > 1 else pending[0]


def _arrow_batches(path: Path, rows: int, separator: str, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    try:
        if is_parquet(path):
            yield from pq.ParquetFile(path).iter_batches(batch_size=rows, columns=columns)
            return
        options = pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES)
        convert = pa_csv.ConvertOptions(include_columns=columns)
        with pa_csv.open_csv(path, read_options=options, parse_options=pa_csv.ParseOptions(delimiter=separator),
                             convert_options=convert) as reader:  # fmt: skip
            yield from reader
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"{path}: cannot read as {_kind(path)} ({_first_line(err)})") from err


def _kind(path: Path) -> str:
    return "parquet" if is_parquet(path) else "CSV"


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
