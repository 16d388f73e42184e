"""`dataset=avazu`: Avazu CTR prediction train files.

Format: CSV with a header: `id`, `click` (0/1), `hour` as YYMMDDHH, then categoricals (C1, banner_pos,
site_*, app_*, device_*, C14–C21). `hour` becomes hour-of-day and day-of-week; `id` (one per row) is
dropped. Ragged lines, a click other than 0/1 or an unparsable hour are quarantined with line numbers.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ssl_ads.data.quarantine import LINE
from ssl_ads.data.sources.common import existing_path, text
from ssl_ads.data.sources.file_table import FileTableDataset
from ssl_ads.data.tabular_dataset import TabularSource
from ssl_ads.data.tabular_read import INTERNAL, field_count_checks, read_table
from ssl_ads.errors import DataError

REQUIRED = ["click", "hour"]
DROPPED = ["id"]


class Avazu(FileTableDataset):
    """Takes `FileTableDataset`'s arguments (a path and the large click logs' featurizer defaults)."""

    def source(self, cache_dir: Path) -> TabularSource:
        path = existing_path(self.path)
        raw = read_table(path, ",")
        columns = [c for c in raw.columns if c not in INTERNAL]
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise DataError(f"{path}: Avazu columns {missing} not found; the header has {columns}")
        fields = [c for c in columns if c not in (*REQUIRED, *DROPPED)]
        hour = text(pl.col("hour").cast(pl.String))
        when = pl.when(hour.str.len_chars() == 8).then(hour + "00").str.to_datetime("%y%m%d%H%M", strict=False)
        parsed = raw.with_columns(
            text(pl.col("click").cast(pl.String))
            .replace_strict({"0": 0, "1": 1}, default=None, return_dtype=pl.Int8)
            .alias("__label"),
            when.dt.hour().alias("__hour_of_day"),
            when.dt.weekday().alias("__day_of_week"),
        )
        checks = {
            **field_count_checks(raw, len(columns)),
            "click not 0/1": pl.col("__label").is_null(),
            "hour not YYMMDDHH": pl.col("__hour_of_day").is_null(),
        }
        good, report = self.quarantined(parsed, checks, path, cache_dir, raw_columns=columns)
        frame = good.select(
            pl.col(LINE).alias("row_id"),
            pl.col("__hour_of_day").alias("hour_of_day"),
            pl.col("__day_of_week").alias("day_of_week"),
            *[text(pl.col(c).cast(pl.String)).alias(c) for c in fields],
            pl.col("__label").alias("click"),
        )
        return TabularSource(
            frame=frame,
            categorical=["hour_of_day", "day_of_week", *fields],
            numeric=[],
            labels=["click"],
            name=str(path),
            quarantine=report.as_dict(),
            notes=["'hour' (YYMMDDHH) expanded to hour_of_day and day_of_week; 'id' dropped"],
        )
