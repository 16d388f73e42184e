"""`dataset=events_file`: any CSV or parquet events table (one file or a folder) with optional user labels.

Why a generic loader: most ad logs are already "one row per event" tables whose only differences are
column names, a header or not, and the timestamp encoding (or none: file order is time order);
`columns`, `has_header` and `timestamp_format` absorb those differences (see event_columns.py).
"""

from __future__ import annotations

from itertools import accumulate
from pathlib import Path
from typing import Annotated, Any

import polars as pl

from ssl_ads.config.ranges import Range
from ssl_ads.data.item_table import ItemTableOption
from ssl_ads.data.quarantine import FILE, LINE
from ssl_ads.data.sequence_dataset import EVENT_COLUMNS, SequenceSource
from ssl_ads.data.sources.common import (
    N_FIELDS,
    READER_VERSION,
    TIME_UNITS,
    as_int,
    as_seconds,
    collect,
    csv_record_lines,
    data_files,
    existing_path,
    files_fingerprint,
    per_file,
    relative_file_column,
    require_rows,
    root_of,
    text,
)
from ssl_ads.data.sources.event_columns import ColumnSpec, parse_columns
from ssl_ads.data.sources.event_log import EventLogDataset
from ssl_ads.data.sources.user_labels import UserLabelsOption
from ssl_ads.errors import ConfigError, DataError

INT64_MAX = 2**63 - 1
RAW = "raw_"  # prefix of the file's own (unparsed) columns, kept for the quarantine file


class EventsFile(ItemTableOption, UserLabelsOption, EventLogDataset):
    """Events from `path`; `columns` maps canonical names (user_id, item_id, timestamp, ...) to the file's
    columns, by name or position. User labels come from `labels_path` (0/1 columns) and/or from a user
    attribute file (`user_file` + `user_labels`); item side fields from an item file (`item_file`)."""

    def __init__(
        self,
        path: str,
        columns: dict[str, str | int | None] | list[str | None] | None = None,
        has_header: bool = True,
        labels_path: str | None = None,
        label_columns_map: dict[str, str] | None = None,
        cutoff_timestamp: int | None = None,
        timestamp_format: str | None = None,
        timestamp_unit: str = "s",
        separator: str = ",",
        dedup: bool = True,
        min_user_interactions: Annotated[int, Range(min=0)] = 0,
        min_item_interactions: Annotated[int, Range(min=0)] = 0,
        max_bad_share: Annotated[float, Range(0, 1)] = 0.5,
        max_len: Annotated[int, Range(min=2)] = 50,
        min_item_count: Annotated[int, Range(min=1)] = 1,
        side_fields: list[str] | None = None,
        min_timestamp: int | None = None,
        max_timestamp: int | None = None,
        user_file: str | None = None,
        user_labels: dict[str, Any] | None = None,
        user_columns: list[str] | None = None,
        item_file: str | None = None,
        item_fields: list[str] | None = None,
        item_text: str | None = None,
        item_buckets: Annotated[int, Range(min=1)] = 8,
    ) -> None:
        cleaning = (dedup, min_user_interactions, min_item_interactions, max_bad_share)
        super().__init__(path, *cleaning, max_len, min_item_count, side_fields, min_timestamp, max_timestamp)
        if len(separator.encode()) != 1:
            raise ConfigError(f"dataset.separator must be a single-byte character, got {separator!r}")
        spec = parse_columns(columns, has_header)
        if timestamp_unit not in TIME_UNITS:
            raise ConfigError(f"dataset.timestamp_unit must be one of {', '.join(TIME_UNITS)}, got {timestamp_unit!r}")
        if not spec.has_timestamp:
            unit = None if timestamp_unit == "s" else timestamp_unit
            for key, value in (("cutoff_timestamp", cutoff_timestamp), ("timestamp_format", timestamp_format),
                               ("timestamp_unit", unit)):  # fmt: skip
                if value is not None:
                    raise ConfigError(f"dataset.{key} is set but dataset.columns gives no timestamp column")
        self.columns = spec.mapping
        self.column_names = spec.names
        self.has_header = has_header
        self.has_timestamp = spec.has_timestamp
        self.labels_path = None if labels_path is None else str(labels_path)
        self.label_columns_map = {str(k): str(v) for k, v in (label_columns_map or {}).items()}
        self.cutoff_timestamp = cutoff_timestamp
        self.timestamp_format = timestamp_format
        self.timestamp_unit = timestamp_unit
        self.separator = separator
        self.init_user_labels(user_file, user_labels, user_columns)
        # item side fields / title from a CSV or parquet item table with an item_id column: encoder.item_inputs
        self.init_item_table(item_file, item_fields, item_text, item_buckets)

    def fingerprint(self) -> dict:
        """Every argument plus each file's size and mtime, so an edited file is featurized again."""
        path = existing_path(self.path)
        key = {**super().fingerprint(), "reader_version": READER_VERSION}
        key["files"] = files_fingerprint(data_files(path)[0], root_of(path))
        if self.labels_path is not None:
            labels = existing_path(self.labels_path, "dataset.labels_path")
            key["label_files"] = files_fingerprint(data_files(labels, "dataset.labels_path")[0], root_of(labels))
        return key | self.user_file_fingerprint()

    def canonical_columns(self) -> list[str]:
        """Output columns: the three event columns, then every other mapped column and side field."""
        extra = [c for c in [*self.columns, *self.side_fields] if c not in EVENT_COLUMNS]
        return [*EVENT_COLUMNS, *dict.fromkeys(extra)]

    def source(self, cache_dir: Path) -> SequenceSource:
        path = existing_path(self.path)
        raw, schema, fmt, mapping = self._read_raw(path)
        keep = self.canonical_columns()
        read = [name for name in keep if name != "timestamp" or self.has_timestamp]  # columns in the file
        sources = {name: self._file_column(name, mapping, schema, path) for name in read}
        require_rows(collect(raw.select(pl.len()), path, fmt).item(), path)
        values = {name: RAW + src for name, src in sources.items() if name != "timestamp"}
        parsed = raw.with_columns(
            *([self._parse_timestamp(schema, sources["timestamp"])] if self.has_timestamp else []),
            *[expr.alias(name) for name, expr in _parse_values(raw, schema, values, path, fmt).items()],
        )
        # `parsed` is lazy for parquet: the streaming engine reads only the mapped columns, and raw fields
        # are kept for the bad rows only
        raw_columns = [RAW + src for src in dict.fromkeys(sources.values())]
        good, report = self.quarantined(parsed, self._checks(schema, sources), path, cache_dir, raw_columns, read)
        if not self.has_timestamp:  # file order is time order: each user's events numbered as they come
            good = good.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over("user_id").alias("timestamp"))
        labels = None if self.labels_path is None else self._read_labels(good.schema["user_id"])
        source = self.events_source(
            good, report, keep, path, str(path), labels=labels, cutoff_timestamp=self.cutoff_timestamp
        )
        user_column = self.columns.get("user_id", "user_id")  # the user file's, when it has that name too
        return self.add_user_labels(source, self.separator, str(user_column))

    def _read_raw(self, path: Path) -> tuple[pl.LazyFrame, pl.Schema, str, dict[str, str]]:
        """The file's columns as `raw_<name>` plus `_file` and `_line` (CSV: line in file; parquet: row),
        their schema, the format and the file column of each mapped canonical column (positions resolved).

        Parquet stays a lazy scan (nothing is read here but the schema); CSV is read now, because its
        line numbers come from a second pass over the raw lines that is matched to the parsed records.
        """
        files, fmt = data_files(path)
        frame = _scan_parquet_rows(files, path) if fmt == "parquet" else self._read_csv(files, path).lazy()
        columns = collect(frame.head(0), path, fmt).columns  # a broken file fails here, named
        internal = {FILE, LINE, "_record", N_FIELDS, "_blank"}
        data_columns = [c for c in columns if c not in internal]
        spec = ColumnSpec(self.columns, self.column_names, self.has_timestamp)
        renames, mapping = spec.resolve(data_columns, path)
        frame = frame.rename({c: RAW + renames.get(c, c) for c in data_columns})
        return frame, frame.collect_schema(), fmt, mapping

    def _read_csv(self, files: list[Path], path: Path) -> pl.DataFrame:
        """Every CSV record as text fields, with the line (and file) where it starts."""
        root = root_of(path)
        many = len(files) > 1  # only a folder carries a per-row file name
        scan = pl.scan_csv(
            [str(f) for f in files],
            separator=self.separator,
            has_header=self.has_header,
            infer_schema=False,
            truncate_ragged_lines=True,
            include_file_paths=FILE if many else None,
        )
        frame = collect(scan.with_columns(relative_file_column(root)) if many else scan, path, "csv")
        lines = collect(csv_record_lines(files, root, self.separator, self.has_header), path, "csv")
        if lines.height == frame.height:  # one record start per row, both in file order
            return frame.hstack(lines.drop(FILE, "_record", strict=False))
        # a stray quote read differently by the line scan and the parser: lines after it are approximate
        record = per_file(pl.int_range(pl.len(), dtype=pl.Int64), files).alias("_record")
        keys = [FILE, "_record"] if many else ["_record"]
        return frame.with_columns(record).join(lines, on=keys, how="left", maintain_order="left")

    def _file_column(self, name: str, mapping: dict[str, str], schema: pl.Schema, path: Path) -> str:
        """The file column holding canonical column `name`, or a DataError listing what is there."""
        source = mapping.get(name, name)
        if RAW + source in schema:
            return source
        key = f"dataset.columns.{name}" if name in self.columns or name in EVENT_COLUMNS else "dataset.side_fields"
        available = ", ".join(c[len(RAW) :] for c in schema.names() if c.startswith(RAW))
        raise DataError(f"{path}: column '{source}' ({key}) not found; available columns: {available}")

    def _parse_timestamp(self, schema: pl.Schema, source: str) -> pl.Expr:
        """Unix seconds from a datetime, a date, a number (in `timestamp_unit`), or a string (`timestamp_format`,
        or numeric)."""
        column, dtype = pl.col(RAW + source), schema[RAW + source]
        parsed = parse_timestamp(column, dtype, self.timestamp_format, self.timestamp_unit)
        if parsed is None:
            raise DataError(f"{self.path}: column '{source}' (dataset.columns.timestamp) has type {dtype}")
        return parsed.alias("timestamp")

    def _checks(self, schema: pl.Schema, sources: dict[str, str]) -> dict[str, pl.Expr]:
        """Reasons a row is set aside, in the order they are reported."""
        checks: dict[str, pl.Expr] = {}
        if N_FIELDS in schema:  # CSV: blank lines and lines with the wrong number of fields
            width = sum(c.startswith(RAW) for c in schema.names())
            checks["empty line"] = pl.col("_blank").fill_null(False)
            checks["wrong field count"] = (pl.col(N_FIELDS) != width).fill_null(False)
            if self.has_header:  # part files joined with `cat`, each with its header
                header = [(pl.col(RAW + source).str.strip_chars() == source) for source in set(sources.values())]
                checks["repeated header line"] = pl.all_horizontal(header).fill_null(False)
        for name in ["user_id", "item_id", *self.side_fields]:
            checks[f"missing {name}"] = pl.col(name).is_null()
        if not self.has_timestamp:
            return checks
        checks["missing timestamp"] = text(pl.col(RAW + sources["timestamp"]).cast(pl.String)).is_null()
        bad_time = "non-numeric timestamp" if self.timestamp_format is None else "timestamp not in timestamp_format"
        checks[bad_time] = pl.col("timestamp").is_null()
        return checks | self.timestamp_checks()

    def _read_labels(self, user_dtype: pl.DataType) -> pl.DataFrame:
        """One row per user: `user_id` (cast to the events' id type) and the label columns."""
        path = existing_path(self.labels_path or "", "dataset.labels_path")
        files, fmt = data_files(path, "dataset.labels_path")
        names = [str(f) for f in files]
        available = collect(self._scan_labels(names, fmt, path.is_dir(), None).head(0), path, fmt).columns
        mapping = dict(self.label_columns_map)
        if "user_id" not in mapping:
            mapped_user = self.columns.get("user_id", "user_id")
            mapping["user_id"] = mapped_user if mapped_user in available else "user_id"
        for name, column in mapping.items():
            if column not in available:
                key = f"dataset.label_columns_map.{name}" if name in self.label_columns_map else "dataset.columns"
                raise DataError(f"{path}: column '{column}' ({key}) not found; available: {', '.join(available)}")
        scan = self._scan_labels(names, fmt, path.is_dir(), mapping["user_id"])
        labels = collect(scan, path, fmt)
        require_rows(labels, path)
        user = mapping.pop("user_id")
        mapping = {"user_id": user, **mapping}
        # a map naming labels selects them; otherwise every column is a label
        labels = labels.select(mapping.values()) if len(mapping) > 1 else labels.select(user, pl.exclude(user))
        labels = labels.rename({column: name for name, column in mapping.items()})
        return _check_label_users(labels, user_dtype, path, mapping["user_id"])

    def _scan_labels(self, names: list[str], fmt: str, hive: bool, user_column: str | None) -> pl.LazyFrame:
        """Label file(s) with inferred types, except the user id read as text ("007" stays "007")."""
        if fmt == "parquet":
            return pl.scan_parquet(names, hive_partitioning=hive)
        overrides = None if user_column is None else {user_column: pl.String}
        return pl.scan_csv(names, separator=self.separator, infer_schema_length=None, schema_overrides=overrides)


def parse_timestamp(
    column: pl.Expr, dtype: pl.DataType, timestamp_format: str | None, unit: str = "s"
) -> pl.Expr | None:
    """Unix seconds (Int64; null where a value does not parse) from a datetime, a date, a number or numeric text
    (unix time in `unit`: s, ms, us, ns), or a string in `timestamp_format`; None for a column of any other type.
    Also how `predict` reads a file laid out as the training file was (`ssl_ads.use.training_layout`)."""
    if isinstance(dtype, pl.Datetime):
        parsed = column.dt.epoch("s")
    elif dtype == pl.Date:
        parsed = column.cast(pl.Datetime("us")).dt.epoch("s")
    elif timestamp_format is not None:
        strings = text(column.cast(pl.String))
        parsed = strings.str.strptime(pl.Datetime("us"), timestamp_format, strict=False).dt.epoch("s")
    elif dtype == pl.String or dtype.is_numeric():
        parsed = as_seconds(text(column.cast(pl.String)), unit)
    else:
        return None
    return parsed.cast(pl.Int64)


def _scan_parquet_rows(files: list[Path], path: Path) -> pl.LazyFrame:
    """A lazy scan of the parquet file(s) with `_line`, the 1-based row within each file (and `_file`, the
    file relative to `path`, for a folder of several).

    The row number is the scan's running row index less the rows of the files before (read from the
    files' footers), not a window over `_file`, so the streaming engine never holds a whole file.
    """
    names = [str(f) for f in files]
    many = len(files) > 1
    scan = pl.scan_parquet(
        names,
        hive_partitioning=path.is_dir(),
        include_file_paths=FILE if many else None,
        row_index_name=LINE,
        row_index_offset=1,
    )
    line = pl.col(LINE).cast(pl.Int64)
    if many:
        counts = [collect(pl.scan_parquet(name).select(pl.len()), Path(name), "parquet").item() for name in names]
        before = dict(zip(names, accumulate([0, *counts[:-1]]), strict=True))
        line = line - pl.col(FILE).replace_strict(before, return_dtype=pl.Int64)
    scan = scan.with_columns(line.alias(LINE))
    return scan.with_columns(relative_file_column(root_of(path))) if many else scan


def _parse_values(
    raw: pl.LazyFrame, schema: pl.Schema, columns: dict[str, str], path: Path, fmt: str
) -> dict[str, pl.Expr]:
    """Ids and side values by output name: trimmed text becomes Int64 when the whole column is integers
    (as in parquet); integer columns become Int64, unless unsigned 64-bit values beyond its range (hashed ids)
    make them text; anything else is kept.

    Whether a column is all integers (text) or all within Int64 (UInt64) is one aggregate pass over those
    columns, so nothing else of the file is materialized for it.
    """
    texts = {raw_name: text(pl.col(raw_name)) for raw_name in dict.fromkeys(columns.values())}
    texts = {raw_name: expr for raw_name, expr in texts.items() if schema[raw_name] == pl.String}
    unsigned = [raw_name for raw_name in dict.fromkeys(columns.values()) if schema[raw_name] == pl.UInt64]
    checks = [
        *[
            (expr.cast(pl.Int64, strict=False).null_count() == expr.null_count()).alias(column)
            for column, expr in texts.items()
        ],
        *[(pl.col(column).max().fill_null(0) <= INT64_MAX).alias(column) for column in unsigned],
    ]
    integer = collect(raw.select(checks), path, fmt).row(0, named=True) if checks else {}
    parsed = {}
    for name, raw_name in columns.items():
        if raw_name in unsigned and not integer[raw_name]:
            parsed[name] = pl.col(raw_name).cast(pl.String)
        elif schema[raw_name].is_integer():
            parsed[name] = pl.col(raw_name).cast(pl.Int64)
        elif raw_name in texts:
            parsed[name] = as_int(texts[raw_name]) if integer[raw_name] else texts[raw_name]
        else:
            parsed[name] = pl.col(raw_name)
    return parsed


def _check_label_users(labels: pl.DataFrame, user_dtype: pl.DataType, path: Path, column: str) -> pl.DataFrame:
    """Label user ids must be present, unique and castable to the events' user id type (for the join)."""
    ids = pl.col("user_id")
    cast = text(ids.cast(pl.String)) if user_dtype == pl.String else ids.cast(user_dtype, strict=False)
    labels = labels.with_columns(cast.alias("user_id"), ids.alias("__given"))
    bad = labels.filter(ids.is_null())
    if bad.height:
        examples = ", ".join(map(str, bad.get_column("__given").head(3).to_list()))
        raise DataError(
            f"{path}: {bad.height} values in user id column '{column}' are missing or not {user_dtype} "
            f"like the events' user ids (e.g. {examples})"
        )
    duplicated = labels.filter(ids.is_duplicated()).get_column("user_id").unique(maintain_order=True)
    if duplicated.len():
        raise DataError(
            f"{path}: user ids must be unique in a label file; {duplicated.len()} repeat "
            f"(e.g. {', '.join(map(str, duplicated.head(3).to_list()))})"
        )
    return labels.drop("__given")
