"""`dataset=tabular_file`: any CSV or parquet table (one file or a folder); only the label column is required.

Field types are inferred (see `ssl_ads.data.tabular_schema`) and can be overridden with
`categorical`, `numeric` and `drop`; malformed rows (ragged lines, text in a numeric field) are
quarantined with their line numbers, and more than `max_bad_share` of them is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl

from ssl_ads.config.ranges import Range
from ssl_ads.data.quarantine import LINE
from ssl_ads.data.sources.common import existing_path, text
from ssl_ads.data.sources.file_table import FileTableDataset
from ssl_ads.data.tabular_dataset import TabularSource
from ssl_ads.data.tabular_read import INTERNAL, binary_label, field_count_checks, read_table
from ssl_ads.data.tabular_schema import datetime_exprs, infer_field_types, numeric_expr
from ssl_ads.errors import ConfigError, DataError

P = "__parsed_"  # prefix of parsed columns while the raw ones are still needed for the quarantine file


class TabularFile(FileTableDataset):
    def __init__(
        self,
        path: str,
        label: str | None,
        positive_class: str | None = None,
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        drop: list[str] | None = None,
        max_integer_categories: Annotated[int, Range(min=0)] = 20,
        separator: str = ",",
        max_bad_share: Annotated[float, Range(0, 1)] = 0.5,
        min_count: Annotated[int, Range(min=1)] = 1,
        max_vocab: Annotated[int, Range(min=1)] = 100_000,
        hash_buckets: Annotated[int, Range(min=0)] = 0,
        numeric_transform: str = "auto",
        quantile_bins: Annotated[int, Range(min=2)] = 100,
    ) -> None:
        super().__init__(path, max_bad_share, min_count, max_vocab, hash_buckets, numeric_transform, quantile_bins)
        overlap = set(categorical or []) & set(numeric or [])
        if overlap:
            raise ConfigError(f"dataset.categorical and dataset.numeric both list {sorted(overlap)}")
        self.label = label
        self.positive_class = None if positive_class is None else str(positive_class)
        self.categorical = list(categorical or [])
        self.numeric = list(numeric or [])
        self.drop = list(drop or [])
        self.max_integer_categories = max_integer_categories
        self.separator = separator

    def source(self, cache_dir: Path) -> TabularSource:
        path = existing_path(self.path)
        raw = read_table(path, self.separator)
        columns = [c for c in raw.columns if c not in INTERNAL]
        for key, names in (("categorical", self.categorical), ("numeric", self.numeric), ("drop", self.drop)):
            unknown = [n for n in names if n not in columns]
            if unknown:
                raise DataError(f"{path}: dataset.{key} names missing columns {unknown}; available: {columns}")
        labels = [self.label] if self.label is not None else []  # null: an unlabeled table (embed, pretrain)
        parsed_labels = [binary_label(raw, n, self.positive_class, path).alias(P + n) for n in labels]
        fields = [c for c in columns if c != self.label and c not in self.drop]
        types = infer_field_types(raw, fields, self.max_integer_categories, self.categorical, self.numeric)
        out_categorical = [*types.categorical, *[f"{n}_{part}" for n in types.datetime for part in ("hour", "dow")]]
        parsed = raw.with_columns(
            *parsed_labels,
            *[numeric_expr(raw, n, str(path), self._key(n)).alias(P + n) for n in types.numeric],
            *[text(pl.col(c).cast(pl.String)).alias(P + c) for c in types.categorical],
            *[e.alias(P + e.meta.output_name()) for name in types.datetime for e in datetime_exprs(raw, name)],
        )
        checks = field_count_checks(raw, len(columns))
        for name in types.numeric:
            present = text(pl.col(name).cast(pl.String)).is_not_null()
            checks[f"non-numeric {name}"] = present & pl.col(P + name).is_null()
        good, report = self.quarantined(parsed, checks, path, cache_dir, raw_columns=columns)
        frame = good.select(
            pl.col(LINE).alias("row_id"),
            *[pl.col(P + c).alias(c) for c in [*out_categorical, *types.numeric, *labels]],
        )
        if labels and frame.get_column(self.label).drop_nulls().len() == 0:
            raise DataError(f"{path}: label column '{self.label}' (dataset.label) has no values")
        notes = [*types.notes]
        if types.datetime:
            notes.append(f"datetime columns {types.datetime} expanded to hour-of-day and day-of-week")
        if self.drop:
            notes.append(f"dropped by config: {self.drop}")
        return TabularSource(
            frame=frame,
            categorical=out_categorical,
            numeric=types.numeric,
            labels=labels,
            name=str(path),
            quarantine=report.as_dict(),
            notes=notes,
        )

    def _key(self, name: str) -> str:
        return "dataset.numeric" if name in self.numeric else "inferred numeric; override with dataset.categorical"
