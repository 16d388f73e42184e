"""Reading a task's label column: present, no nulls, and (for classifiers) mapped to class indices."""

from __future__ import annotations

import numpy as np
import polars as pl

from ssl_ads.errors import DataError


def label_column(labels: pl.DataFrame, label: str, source: str) -> pl.Series:
    """The column `label` of `labels`, or a DataError naming `source`, the column and what is there."""
    if label not in labels.columns:
        available = ", ".join(labels.columns)
        raise DataError(f"{source}: label column '{label}' not found (task.label); available: {available}")
    column = labels.get_column(label)
    if column.null_count():
        raise DataError(f"{source}: label column '{label}' has {column.null_count()} null values")
    return column


def class_codes(column: pl.Series, source: str) -> tuple[list[str], np.ndarray]:
    """`(classes, codes)`: the distinct values in sorted order (numbers in numeric order) as strings, and each
    row's index among them; a single class is a DataError (a classifier needs two or more)."""
    values = column.unique().sort()
    if values.len() < 2:
        raise DataError(f"{source}: label column '{column.name}' has a single class; a classifier needs two or more")
    mapping = pl.DataFrame({column.name: values, "code": np.arange(values.len(), dtype=np.int64)})
    codes = column.to_frame().join(mapping, on=column.name, how="left", maintain_order="left")
    return values.cast(pl.String).to_list(), codes["code"].to_numpy()
