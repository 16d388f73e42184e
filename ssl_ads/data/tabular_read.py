"""Reading tabular files with line numbers, and turning a label column into 0/1 — shared by the loaders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from ssl_ads.data.quarantine import FILE, LINE
from ssl_ads.data.sources.common import (
    N_FIELDS,
    collect,
    csv_record_lines,
    data_files,
    line_checks,
    relative_file_column,
    root_of,
    split_lines,
)
from ssl_ads.errors import DataError

INTERNAL = (FILE, LINE, "_record", N_FIELDS, "_blank", "raw_line", "_wrong_count")


def read_table(path: Path, separator: str) -> pl.DataFrame:
    """A CSV (text columns, with its header) or parquet file/folder plus `_file`, `_line` and, for CSV,
    `_n_fields` / `_blank` (to quarantine ragged and empty lines)."""
    files, fmt = data_files(path)
    root = root_of(path)
    names = [str(f) for f in files]
    if fmt == "parquet":
        scan = pl.scan_parquet(names, hive_partitioning=path.is_dir(), include_file_paths=FILE).with_columns(
            relative_file_column(root), pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(FILE).alias(LINE)
        )
        return no_empty(collect(scan, path, "parquet"), path)
    scan = pl.scan_csv(
        names, separator=separator, infer_schema=False, truncate_ragged_lines=True, include_file_paths=FILE
    ).with_columns(relative_file_column(root), pl.int_range(pl.len(), dtype=pl.Int64).over(FILE).alias("_record"))
    lines = csv_record_lines(files, root, separator)
    on = [c for c in (FILE, "_record") if c in lines.collect_schema().names()]
    return no_empty(collect(scan.join(lines, on=on, how="left", maintain_order="left"), path, "CSV"), path).drop(
        "_record"
    )


def no_empty(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """A table with columns but no rows (a header-only CSV) is empty data, said before any column is checked."""
    if frame.height == 0:
        raise DataError(f"{path}: the table is empty: it has a header ({frame.width} columns) but no data rows")
    return frame


def read_headerless(path: Path, separator: str, names: Sequence[str]) -> pl.DataFrame:
    """A header-less text file (Criteo DAC) cut into named text fields, one row per physical line."""
    files, _ = data_files(path)
    return collect(split_lines(files, root_of(path), separator, names), path, "text")


def headerless_checks() -> dict[str, pl.Expr]:
    """Blank lines and lines with the wrong number of fields, for `read_headerless` frames."""
    return line_checks()


def field_count_checks(frame: pl.DataFrame, width: int) -> dict[str, pl.Expr]:
    """Empty lines and lines with the wrong number of fields (CSV/TSV only)."""
    if N_FIELDS not in frame.columns:
        return {}
    checks = {f"expected {width} fields": (pl.col(N_FIELDS) != width).fill_null(False)}
    if "_blank" in frame.columns:
        checks = {"empty line": pl.col("_blank").fill_null(False), **checks}
    return checks


def binary_label(frame: pl.DataFrame, column: str, positive_class: str | None, source: str | Path) -> pl.Expr:
    """The label as Int8 0/1 (null stays null: an unlabeled row, still used for pretraining).

    With `positive_class`, rows equal to it are 1 and the rest 0; without, the column must hold 0/1.
    """
    if column not in frame.columns:
        available = ", ".join(c for c in frame.columns if c not in INTERNAL)
        raise DataError(f"{source}: label column '{column}' (dataset.label) not found; available: {available}")
    values = pl.col(column).cast(pl.String).str.strip_chars()
    if positive_class is not None:
        found = frame.select(values.unique().drop_nulls().head(20)).to_series().to_list()
        if str(positive_class) not in found:
            raise DataError(
                f"{source}: label column '{column}' never equals dataset.positive_class={positive_class!r}; "
                f"values include {sorted(found)[:8]}"
            )
        return pl.when(values.is_null()).then(None).otherwise(values == str(positive_class)).cast(pl.Int8)
    parsed = values.replace_strict({"0": 0, "1": 1, "true": 1, "false": 0, "0.0": 0, "1.0": 1}, default=None)
    bad = frame.select(values.filter(values.is_not_null() & parsed.is_null()).unique().head(5)).to_series()
    if bad.len():
        raise DataError(
            f"{source}: label column '{column}' must hold 0/1, found {sorted(bad.to_list())}; set "
            "dataset.positive_class to the value that means 1"
        )
    return parsed.cast(pl.Int8)
