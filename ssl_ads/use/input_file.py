"""New data for the use commands (predict, monitor): a parquet or CSV file, or a folder of them (a Spark or
Hive export: part files, `key=value` partition folders), CSV plain or gzip/zstd compressed; read lazily or
streamed in chunks. Which files a folder holds, and their format, is decided as training decides it
(`sources.common.data_files`), so a model reads its training data's layout back.

Streaming keeps memory flat in the data's size: rows are independent for tables and texts, so they are read,
scored and written a chunk at a time (parquet: polars' streaming batches; CSV: pyarrow's blocks, a file at a
time); events are grouped by user, so a sequence file is scanned lazily with only the columns the model reads.
A compressed CSV is decompressed in memory by the reader.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv

from ssl_ads.data.quarantine import not_utf8_hint
from ssl_ads.data.sources.common import csv_compression, data_files
from ssl_ads.errors import DataError

CSV_BLOCK_BYTES = 16 << 20  # CSV read a block of this many bytes at a time


def existing_input(path: str | Path, key: str) -> Path:
    """`path` as a Path when it is a data file or a folder holding some, else a one-line DataError naming the
    config key."""
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise DataError(f"{key}: no file or folder at {path} (expected a parquet or CSV file, or a folder of them)")
    data_files(resolved, key)
    return resolved


def file_columns(path: Path, separator: str = ",") -> list[str]:
    """Column names from the header or schema (a folder: its files' and partitions'), without reading rows."""
    return scan_file(path, separator).collect_schema().names()


def scan_file(
    path: Path,
    separator: str = ",",
    has_header: bool = True,
    whole_file_types: bool = False,
    dates: bool = False,
    text_columns: Sequence[str] = (),
) -> pl.LazyFrame:
    """The whole file or folder as a LazyFrame (columns read only when selected; a CSV without a header names them
    column_1, column_2...; a parquet folder's `key=value` folders are columns, as in training); its schema is read
    here, so an empty or broken file fails here, named, not at the first query.

    A CSV's column types are inferred from its first 10,000 rows, or with `whole_file_types` from every row (one
    more pass, and a column of numbers with text after row 10,000, such as ad ids, is text rather than a parse
    error); `dates` reads ISO dates and datetimes as such; `text_columns` are read as text (`iter_chunks`)."""
    files, fmt = data_files(path)
    names = [str(f) for f in files]
    try:
        if fmt == "parquet":
            frame = pl.scan_parquet(names, hive_partitioning=path.is_dir())
        else:
            options = {"separator": separator, "has_header": has_header, "try_parse_dates": dates}
            if whole_file_types:
                schema = whole_file_schema(pl.scan_csv(names, infer_schema=False, **options), dates)
                schema |= {name: pl.String() for name in text_columns if name in schema}
                frame = pl.scan_csv(names, schema=schema, **options)
            else:
                frame = pl.scan_csv(names, infer_schema_length=10_000, **options)
                text = [c for c in text_columns if c in frame.collect_schema()]
                if text:
                    frame = pl.scan_csv(names, infer_schema_length=10_000,
                                        schema_overrides=dict.fromkeys(text, pl.String), **options)  # fmt: skip
        frame.collect_schema()
        return frame
    except (OSError, pl.exceptions.PolarsError) as err:
        first = _first_line(err)
        raise DataError(f"{path}: cannot read as {fmt.replace('csv', 'CSV')} ({first}){not_utf8_hint(first)}") from err


def whole_file_schema(text: pl.LazyFrame, dates: bool) -> dict[str, pl.DataType]:
    """Each column's type read from every row of a CSV scanned as text, in one aggregate pass: Int64 when every
    value is an integer, Float64 when every value is a number, with `dates` a datetime when every value is one
    (only columns whose first rows are dates are checked), else String. What polars infers with
    `infer_schema_length=None`, in a fraction of its time (its inference reads the file again on every scan)."""
    names = text.collect_schema().names()
    head = text.head(1_000).collect() if dates else pl.DataFrame()
    candidates = {}
    for name in head.columns if dates else []:
        values = head.get_column(name).drop_nulls()
        try:
            parsed = values.str.to_datetime(strict=False) if values.len() else None
        except pl.exceptions.ComputeError:  # no datetime format fits its first value
            parsed = None
        if parsed is not None and parsed.null_count() == 0:
            candidates[name] = parsed.dtype

    def every(parsed: pl.Expr, name: str) -> pl.Expr:
        return (parsed.null_count() == pl.col(name).null_count()) & (pl.col(name).null_count() < pl.len())

    checks = [
        *[every(pl.col(n).cast(pl.Int64, strict=False), n).alias(f"int:{n}") for n in names],
        *[every(pl.col(n).cast(pl.Float64, strict=False), n).alias(f"float:{n}") for n in names],
        *[every(pl.col(n).str.to_datetime(strict=False), n).alias(f"date:{n}") for n in candidates],
    ]
    found = text.select(checks).collect(engine="streaming").row(0, named=True)
    schema: dict[str, pl.DataType] = {}
    for name in names:
        if found[f"int:{name}"]:
            schema[name] = pl.Int64()
        elif found[f"float:{name}"]:
            schema[name] = pl.Float64()
        elif found.get(f"date:{name}"):
            schema[name] = candidates[name]
        else:
            schema[name] = pl.String()
    return schema


def is_csv(path: Path) -> bool:
    """Whether the file, or the folder's files, are CSV (else parquet)."""
    return data_files(path)[1] == "csv"


def iter_chunks(
    path: Path, rows: int, separator: str = ",", columns: list[str] | None = None, text_columns: Sequence[str] = ()
) -> Iterator[pl.DataFrame]:
    """The file or folder `rows` rows at a time (the last chunk shorter), re-cut from the reader's own batches so
    every chunk but the last has exactly `rows` rows (model batches then fall on the same rows as in one pass).

    A CSV's `text_columns` are read as text, as the training readers read fields, not typed from the first block
    (a field of numbers that turns to text further down is read, not refused; `01` stays `01`)."""
    pending: list[pl.DataFrame] = []
    buffered = 0
    for batch in _batches(path, rows, separator, columns, text_columns):
        frame = batch if isinstance(batch, pl.DataFrame) else pl.from_arrow(batch)
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


def _batches(
    path: Path, rows: int, separator: str, columns: list[str] | None, text_columns: Sequence[str]
) -> Iterator[pa.RecordBatch | pl.DataFrame]:
    """Parquet through polars' streaming batches (a folder's partition columns included); CSV through pyarrow's
    blocks, one file after another (decompressed by the stream when gzip or zstd)."""
    files, fmt = data_files(path)
    if fmt == "parquet":
        scan = scan_file(path)
        try:
            yield from (scan.select(columns) if columns else scan).collect_batches(chunk_size=rows)
        except (OSError, pl.exceptions.PolarsError) as err:
            raise DataError(f"{path}: cannot read as parquet ({_first_line(err)})") from err
        return
    for file in files:
        yield from _csv_batches(file, separator, columns, text_columns)


def _csv_batches(
    file: Path, separator: str, columns: list[str] | None, text_columns: Sequence[str]
) -> Iterator[pa.RecordBatch]:
    options = pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES)
    convert = pa_csv.ConvertOptions(include_columns=columns, column_types=dict.fromkeys(text_columns, pa.string()))
    parse = pa_csv.ParseOptions(delimiter=separator)
    try:
        stream = pa.input_stream(str(file), compression=csv_compression(file))
        with pa_csv.open_csv(stream, read_options=options, parse_options=parse, convert_options=convert) as reader:
            yield from reader
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"{file}: cannot read as CSV ({_first_line(err)}){not_utf8_hint(_first_line(err))}") from err


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
