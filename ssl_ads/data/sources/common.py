"""What the file loaders share: finding files, line-numbered reading, field parsing, dedup and k-core.

Everything is polars expressions; the only Python loops run over files or k-core iterations.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from ssl_ads.data.quarantine import FILE, LINE, QuarantineReport, collect_rows
from ssl_ads.errors import DataError

READER_VERSION = 2  # bump when parsing changes what a file turns into: it is part of the cache key
RAW_LINE = "raw_line"
N_FIELDS = "_n_fields"
WRONG_COUNT = "_wrong_count"
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
# compressions of a CSV that polars (and pyarrow) decompress on reading, by suffix and by magic bytes
CSV_COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
_CSV_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}
_OTHER_MAGIC = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip"}
_SNIFF_BYTES = 1 << 16


def existing_path(path: str, key: str = "dataset.path") -> Path:
    """The configured path, or a DataError naming the config key when nothing is there."""
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise DataError(f"{key}: no such file or folder: {resolved}")
    return resolved


def data_files(path: Path, key: str = "dataset.path") -> tuple[list[Path], str]:
    """The file itself, or every CSV/parquet file under a folder (sorted; hidden and `_*` files skipped).

    Returns the files and their one format, "csv" or "parquet".
    """
    if path.is_file():
        return [path], file_format(path)
    files = sorted(
        f
        for f in path.rglob("*")
        if f.is_file()
        and not any(part.startswith((".", "_")) for part in f.relative_to(path).parts)
        and suffix_format(f) is not None
    )
    if not files:
        raise DataError(
            f"{key}: the folder {path} holds no CSV ({', '.join(CSV_SUFFIXES)}, optionally "
            f"{' or '.join(CSV_COMPRESSIONS)}) or parquet files"
        )
    formats = {file_format(f) for f in files}
    if len(formats) > 1:
        raise DataError(f"{key}: the folder {path} mixes CSV and parquet files; keep one kind per folder")
    return files, formats.pop()


def file_format(path: Path) -> str:
    """The format, "csv" or "parquet", from the suffix, else from the content (parquet magic, a gzip or zstd
    stream, or UTF-8 text). Other compressions and binary content are a DataError naming the file."""
    by_suffix = suffix_format(path)
    if by_suffix is not None:
        return by_suffix
    head = _head(path, _SNIFF_BYTES)
    if head.startswith(b"PAR1"):
        return "parquet"
    if csv_compression(path, head) is not None:
        return "csv"
    for magic, name in _OTHER_MAGIC.items():
        if head.startswith(magic):
            raise DataError(
                f"{path}: a {name} archive; ssl-ads reads CSV plain or compressed with gzip or zstd (.csv.gz, "
                ".csv.zst) and parquet: recompress or extract it"
            )
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # not just a multi-byte character cut by the sniff window
            raise DataError(f"{path}: not a CSV or parquet file (binary content, unknown suffix)") from None
    return "csv"


def suffix_format(path: Path) -> str | None:
    """The format "csv" for `.csv`/`.tsv`/`.txt` (also `.gz` / `.zst` compressed: `events.csv.gz`), "parquet" for
    `.parquet`/`.pq`, else None (the suffix says nothing: see `file_format`)."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] in PARQUET_SUFFIXES:
        return "parquet"
    if suffixes and suffixes[-1] in CSV_COMPRESSIONS:
        suffixes = suffixes[:-1]
    return "csv" if suffixes and suffixes[-1] in CSV_SUFFIXES else None


def csv_compression(path: Path, head: bytes | None = None) -> str | None:
    """The compression, "gzip" or "zstd", when the file starts with that stream's magic bytes (whatever its
    name), else None."""
    head = _head(path, 4) if head is None else head
    return next((name for magic, name in _CSV_MAGIC.items() if head.startswith(magic)), None)


def _head(path: Path, size: int) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from err


def files_fingerprint(files: Sequence[Path], root: Path) -> list[dict]:
    """Name, size and modification time of each file: a changed file changes the cache key."""
    stats = [(f, f.stat()) for f in files]
    return [{"file": _relative(f, root), "size": st.st_size, "mtime_ns": st.st_mtime_ns} for f, st in stats]


def root_of(path: Path) -> Path:
    """The folder that file names in reports and quarantine files are relative to."""
    return path.parent if path.is_file() else path


def _relative(file: Path, root: Path) -> str:
    return file.relative_to(root).as_posix()


def per_file(expr: pl.Expr, files: Sequence[Path]) -> pl.Expr:
    """`expr` computed within each file (a window over `_file`) when there are several files."""
    return expr.over(FILE) if len(files) > 1 else expr


def relative_file_column(root: Path) -> pl.Expr:
    """Turn the absolute `_file` path polars records into a name relative to the data set root."""
    return pl.col(FILE).str.strip_prefix(f"{root}{os.sep}")


def collect(frame: pl.LazyFrame, source: Path, what: str) -> pl.DataFrame:
    """Collect a scan, turning polars' read errors into a DataError naming the file."""
    return collect_rows(frame, source, what)


def numbered_lines(files: Sequence[Path], root: Path) -> pl.LazyFrame:
    """One row per physical line: `_line` (1-based) and `raw_line`, plus `_file` (relative) for a folder."""
    if len(files) == 1:  # no per-row file name to carry: the common, large case stays lean
        scan = pl.scan_lines(str(files[0]), name=RAW_LINE, row_index_name=LINE, row_index_offset=1)
        return scan.with_columns(pl.col(LINE).cast(pl.Int64))
    scan = pl.scan_lines([str(f) for f in files], name=RAW_LINE, include_file_paths=FILE)
    line = pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(FILE).alias(LINE)
    return scan.with_columns(relative_file_column(root), line).select(FILE, LINE, RAW_LINE)


def split_lines(files: Sequence[Path], root: Path, separator: str, names: Sequence[str]) -> pl.LazyFrame:
    """Numbered lines cut on a literal (possibly multi-byte) separator into trimmed text fields `names`.

    Adds `_wrong_count` (too few or too many fields); `raw_line` is kept for the quarantine file.
    """
    parts = pl.col(RAW_LINE).str.split_exact(separator, len(names)).struct.rename_fields([*names, "_extra"])
    frame = numbered_lines(files, root).with_columns(parts.alias("_parts")).unnest("_parts")
    wrong = (pl.col("_extra").is_not_null() | pl.col(names[-1]).is_null()).alias(WRONG_COUNT)
    return frame.with_columns(wrong, *[text(pl.col(n)).alias(n) for n in names]).drop("_extra")


def line_checks() -> dict[str, pl.Expr]:
    """The first reasons a split line is set aside: blank, or not the expected number of fields."""
    return {"empty line": blank_line(), "wrong field count": pl.col(WRONG_COUNT)}


def csv_record_lines(files: Sequence[Path], root: Path, separator: str, header: bool = True) -> pl.LazyFrame:
    """Where each CSV record starts: `_record` (0-based, header excluded), `_line`, `_n_fields`, `_blank`.

    A record starts on a line when the quotes before it are balanced, so quoted fields holding line
    breaks keep later line numbers exact. `_n_fields` counts separators on unquoted records only
    (null for quoted ones, whose separators may sit inside quotes).
    """
    quotes = pl.col(RAW_LINE).str.count_matches('"', literal=True)
    starts = numbered_lines(files, root).filter(per_file(quotes.cum_sum() - quotes, files) % 2 == 0)
    n_fields = pl.col(RAW_LINE).str.count_matches(separator, literal=True) + 1
    return starts.select(
        *([FILE] if len(files) > 1 else []),
        (per_file(pl.int_range(pl.len(), dtype=pl.Int64), files) - int(header)).alias("_record"),
        LINE,
        pl.when(quotes == 0).then(n_fields).alias(N_FIELDS),
        blank_line().alias("_blank"),
    ).filter(pl.col("_record") >= 0)


def text(expr: pl.Expr) -> pl.Expr:
    """Trimmed text with empty strings as null, so "missing" is one test."""
    trimmed = expr.str.strip_chars()
    return pl.when(trimmed.str.len_bytes() > 0).then(trimmed)


def as_int(expr: pl.Expr) -> pl.Expr:
    """Integer text (already `text()`-ed) → Int64; anything else → null (to be quarantined)."""
    return expr.cast(pl.Int64, strict=False)


def as_float(expr: pl.Expr) -> pl.Expr:
    """Numeric text → finite Float64; anything else (including nan/inf) → null."""
    value = expr.cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


# numeric unix times: per-second counts of each unit
TIME_UNITS = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def as_seconds(expr: pl.Expr, unit: str = "s") -> pl.Expr:
    """Unix time written as an integer or a float in `unit` (TIME_UNITS) → whole seconds (floored), Int64; else
    null.

    One float parse instead of int-then-float: exact for every integer below 2**53 (any unix time in seconds or
    milliseconds; finer units lose less than a microsecond, far below the second kept).
    """
    value = as_float(expr)
    return (value if unit == "s" else value / TIME_UNITS[unit]).floor().cast(pl.Int64, strict=False)


def blank_line() -> pl.Expr:
    return pl.col(RAW_LINE).str.strip_chars().str.len_bytes() == 0


def field_checks(parsed: dict[str, str]) -> dict[str, pl.Expr]:
    """Per field, "missing X" when its text is null, else "non-numeric X" when parsing it gave null.

    `parsed` maps a text column to its parsed column.
    """
    checks: dict[str, pl.Expr] = {}
    for raw, value in parsed.items():
        checks[f"missing {value}"] = pl.col(raw).is_null()
        # an integer too large for Int64 (e.g. an unsigned 64-bit id) is named as such, not as "non-numeric"
        too_large = pl.col(raw).str.contains(r"^[+-]?\d+$")
        named = pl.when(too_large).then(pl.lit(f"{value} beyond the int64 range"))
        reason = named.otherwise(pl.lit(f"non-numeric {value}"))
        checks[f"non-numeric {value}"] = pl.when(pl.col(value).is_null()).then(reason)
    return checks


def drop_duplicates(events: pl.DataFrame, columns: Sequence[str]) -> tuple[pl.DataFrame, int]:
    """Remove exact duplicate events (first occurrence kept, order kept) and count them."""
    first = events.select(pl.struct(list(columns)).is_first_distinct()).to_series()
    return (events if first.all() else events.filter(first)), int((~first).sum())


def k_core(events: pl.DataFrame, min_user: int, min_item: int) -> tuple[pl.DataFrame, dict[str, int]]:
    """Keep users with >= min_user and items with >= min_item events, repeated until nothing changes.

    Removing a rare item can push a user below the minimum, whose removal can push another item
    below it, so one pass is not enough.
    """
    start = events
    iterations = 0
    if min_user > 1 or min_item > 1:
        while True:
            iterations += 1
            mask = events.select((pl.len().over("user_id") >= min_user) & (pl.len().over("item_id") >= min_item))
            if mask.to_series().all():
                break
            events = events.filter(mask.to_series())
    return events, {
        "k_core_iterations": iterations,
        "k_core_events": start.height - events.height,
        "k_core_users": start.get_column("user_id").n_unique() - events.get_column("user_id").n_unique(),
        "k_core_items": start.get_column("item_id").n_unique() - events.get_column("item_id").n_unique(),
    }


def clean_events(
    events: pl.DataFrame,
    columns: Sequence[str],
    *,
    dedup: bool,
    min_user_interactions: int,
    min_item_interactions: int,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Dedup, k-core, then order each user's events by time (ties keep file order): the canonical frame.

    `events` must be in file order; the returned counts say what each step removed (an empty result is the
    caller's to explain, with the whole cleaning history).
    """
    removed: dict[str, int] = {}
    events = events.select(columns)  # drop raw and helper columns before any filtering
    if dedup:
        events, removed["duplicates"] = drop_duplicates(events, columns)
    events, removed_by_core = k_core(events, min_user_interactions, min_item_interactions)
    removed.update(removed_by_core)
    # an explicit file-order key is a stable sort, and faster than maintain_order on large frames
    ordered = events.with_columns(pl.int_range(pl.len()).alias("_order"))
    return ordered.sort(["user_id", "timestamp", "_order"]).drop("_order"), removed


def require_rows(frame: pl.DataFrame | int, source: Path | str) -> None:
    """A DataError when a file (or its row count) has no data rows."""
    if (frame if isinstance(frame, int) else frame.height) == 0:
        raise DataError(f"{source}: the file is empty (no data rows)")


def source_report(report: QuarantineReport, removed: dict[str, int], settings: dict | None = None) -> dict:
    """The `SequenceSource.quarantine` payload: bad rows set aside, what each filter removed and the settings
    that controlled them (`dataset.<name>` → value), so the data report can name them even from the cache."""
    return {**report.as_dict(), "removed": removed, "settings": dict(settings or {})}
