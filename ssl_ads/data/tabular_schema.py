"""Field-type inference for generic tabular files, overridable in config.

Strings and low-cardinality integers → categorical; other numbers → numeric; datetime strings (or
datetime columns) → hour-of-day and day-of-week categoricals; id-like columns (one distinct value per
row) → dropped with a note. Every decision is written as a note, printed and saved with the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ssl_ads.data.sources.common import text
from ssl_ads.errors import DataError

DATETIME_SHARE = 0.95  # share of non-empty values that must parse for a text column to be a datetime
NUMERIC_SHARE = 0.9  # share of non-empty values that must be numbers for a text column to be numeric
MIN_ROWS_FOR_ID = 20  # tiny tables have unique values by chance


@dataclass
class FieldTypes:
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    datetime: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def infer_field_types(
    frame: pl.DataFrame,
    columns: list[str],
    max_integer_categories: int,
    categorical: list[str],
    numeric: list[str],
) -> FieldTypes:
    """Decide each column's role; `categorical` / `numeric` are the user's overrides (always win)."""
    types = FieldTypes()
    rows = frame.height
    for name in columns:
        series = frame.get_column(name)
        if name in categorical:
            types.categorical.append(name)
        elif name in numeric:
            types.numeric.append(name)
        elif series.dtype.is_temporal():
            types.datetime.append(name)
        elif series.null_count() == rows:
            types.notes.append(f"'{name}': every value is missing; kept as a categorical field (one id)")
            types.categorical.append(name)
        elif series.dtype == pl.String:
            _string_type(frame, name, max_integer_categories, types)
        elif series.dtype.is_integer() and _is_id(series, rows):
            _drop_id(name, types)
        elif series.dtype.is_integer() and series.n_unique() <= max_integer_categories:
            types.categorical.append(name)
        elif series.dtype.is_numeric():
            types.numeric.append(name)
        else:
            types.categorical.append(name)
    return types


def _string_type(frame: pl.DataFrame, name: str, max_integer_categories: int, types: FieldTypes) -> None:
    """Text columns from CSV: numbers written as text count as numbers, dates as dates."""
    values = text(pl.col(name))
    stats = frame.select(
        values.is_not_null().sum().alias("present"),
        values.cast(pl.Int64, strict=False).is_not_null().sum().alias("ints"),
        values.cast(pl.Float64, strict=False).is_not_null().sum().alias("floats"),
        values.cast(pl.Int64, strict=False).n_unique().alias("distinct_ints"),
    ).row(0, named=True)
    unique_per_row = _is_id(frame.get_column(name), frame.height)
    if stats["ints"] == stats["present"] and stats["distinct_ints"] <= max_integer_categories + 1:
        types.categorical.append(name)
    elif stats["ints"] == stats["present"] and unique_per_row:
        _drop_id(name, types)
    elif stats["floats"] >= NUMERIC_SHARE * stats["present"]:  # a few bad numbers are quarantined later
        types.numeric.append(name)
    elif _looks_like_datetime(frame, name):
        types.datetime.append(name)
    elif unique_per_row:
        _drop_id(name, types)
    else:
        types.categorical.append(name)


def _is_id(series: pl.Series, rows: int) -> bool:
    return rows >= MIN_ROWS_FOR_ID and series.n_unique() == rows


def _drop_id(name: str, types: FieldTypes) -> None:
    types.notes.append(
        f"'{name}': one distinct value per row (an id), dropped; list it in dataset.categorical to keep it"
    )


def _looks_like_datetime(frame: pl.DataFrame, name: str) -> bool:
    """Parse up to 1000 distinct values (parsing every row with format inference is slow)."""
    sample = frame.select(text(pl.col(name)).drop_nulls().unique(maintain_order=True).head(1000)).to_series()
    if sample.len() == 0 or not sample.str.contains(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}/\d{1,2}/\d{2,4}").all():
        return False
    parsed = sample.str.to_datetime(strict=False)
    return parsed.is_not_null().mean() >= DATETIME_SHARE


def numeric_expr(frame: pl.DataFrame, name: str, source: str, key: str) -> pl.Expr:
    """A numeric field as Float64; text that is not a number is an error when most of the column is text.

    Returns the parsed column; rows whose text failed to parse are null there (the loader quarantines them).
    """
    column = frame.get_column(name)
    if column.dtype.is_numeric():
        return pl.col(name).cast(pl.Float64)
    if column.dtype == pl.Boolean:
        return pl.col(name).cast(pl.Float64)
    values = text(pl.col(name).cast(pl.String))
    parsed = values.cast(pl.Float64, strict=False)
    present, bad = frame.select(
        values.is_not_null().sum().alias("present"), (values.is_not_null() & parsed.is_null()).sum().alias("bad")
    ).row(0)
    if present and bad / present > 0.5:
        examples = frame.select(values.filter(parsed.is_null()).drop_nulls().unique().head(3)).to_series().to_list()
        raise DataError(
            f"{source}: column '{name}' ({key}) should be numeric but {bad} of {present} values are text "
            f"(e.g. {examples}); list it in dataset.categorical instead"
        )
    return parsed


def datetime_exprs(frame: pl.DataFrame, name: str) -> list[pl.Expr]:
    """`<name>_hour` and `<name>_dow` categoricals from a datetime column or datetime text."""
    column = pl.col(name)
    if not frame.schema[name].is_temporal():
        column = text(column.cast(pl.String)).str.to_datetime(strict=False)
    return [column.dt.hour().alias(f"{name}_hour"), column.dt.weekday().alias(f"{name}_dow")]
