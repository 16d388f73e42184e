"""`dataset=criteo`: Criteo Display Advertising Challenge (DAC) train files.

Format: tab-separated, no header, 40 fields per line: the 0/1 click label, I1–I13 integer counts and
C1–C26 hashed categoricals (8 hex digits); an empty field is a missing value. Lines with the wrong
number of fields, a label other than 0/1 or a non-integer count are quarantined with their line numbers.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ssl_ads.data.quarantine import LINE
from ssl_ads.data.sources.common import existing_path
from ssl_ads.data.sources.file_table import FileTableDataset
from ssl_ads.data.tabular_dataset import TabularSource
from ssl_ads.data.tabular_read import headerless_checks, read_headerless

INTEGER_FIELDS = [f"I{i}" for i in range(1, 14)]
CATEGORICAL_FIELDS = [f"C{i}" for i in range(1, 27)]
COLUMNS = ["click", *INTEGER_FIELDS, *CATEGORICAL_FIELDS]


class Criteo(FileTableDataset):
    """Takes `FileTableDataset`'s arguments (a path and the large click logs' featurizer defaults)."""

    def source(self, cache_dir: Path) -> TabularSource:
        path = existing_path(self.path)
        raw = read_headerless(path, "\t", COLUMNS)
        parsed = raw.with_columns(
            pl.col("click").replace_strict({"0": 0, "1": 1}, default=None, return_dtype=pl.Int8).alias("__label"),
            *[pl.col(n).cast(pl.Int64, strict=False).alias(f"__{n}") for n in INTEGER_FIELDS],
        )
        checks = {
            **headerless_checks(),
            "label not 0/1": pl.col("__label").is_null(),
            **{f"non-integer {n}": pl.col(n).is_not_null() & pl.col(f"__{n}").is_null() for n in INTEGER_FIELDS},
        }
        good, report = self.quarantined(
            parsed, checks, path, cache_dir, raw_columns=[c for c in ("raw_line",) if c in parsed.columns]
        )
        frame = good.select(
            pl.col(LINE).alias("row_id"),
            *[pl.col(f"__{n}").alias(n) for n in INTEGER_FIELDS],
            *CATEGORICAL_FIELDS,
            pl.col("__label").alias("click"),
        )
        return TabularSource(
            frame=frame,
            categorical=CATEGORICAL_FIELDS,
            numeric=INTEGER_FIELDS,
            labels=["click"],
            name=str(path),
            quarantine=report.as_dict(),
        )
