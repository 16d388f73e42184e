"""`dataset=taobao`: the Taobao UserBehavior log (user, item, category, behaviour, unix time; no header).

Why its own loader: the file has no header and a closed set of behaviour codes, so a wrong field count
or an unknown code is a malformed line to quarantine, not a new column or action to learn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl

from ssl_ads.config.ranges import Range
from ssl_ads.data.sequence_dataset import SequenceSource
from ssl_ads.data.sources.common import (
    RAW_LINE,
    READER_VERSION,
    as_int,
    as_seconds,
    data_files,
    existing_path,
    field_checks,
    files_fingerprint,
    line_checks,
    require_rows,
    root_of,
    split_lines,
)
from ssl_ads.data.sources.event_log import EventLogDataset
from ssl_ads.errors import ConfigError

BEHAVIORS = ("pv", "buy", "cart", "fav")  # page view, purchase, add to cart, favourite
FIELDS = ("user_id", "item_id", "category", "action", "timestamp")
COLUMNS = ["user_id", "item_id", "timestamp", "category", "action"]


class TaobaoUserBehavior(EventLogDataset):
    """Taobao events as canonical columns: `category` (Int64) and `action` (pv/buy/cart/fav) side fields."""

    def __init__(
        self,
        path: str,
        behaviors: list[str] | None = None,
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
    ) -> None:
        cleaning = (dedup, min_user_interactions, min_item_interactions, max_bad_share)
        super().__init__(path, *cleaning, max_len, min_item_count, side_fields, min_timestamp, max_timestamp)
        self.behaviors = None if behaviors is None else [str(b) for b in behaviors]
        unknown = sorted(set(self.behaviors or []) - set(BEHAVIORS))
        if unknown:
            raise ConfigError(f"dataset.behaviors: unknown {unknown}; Taobao codes are {', '.join(BEHAVIORS)}")
        self.separator = separator

    def fingerprint(self) -> dict:
        """Every argument plus each file's size and mtime, so an edited file is featurized again."""
        path = existing_path(self.path)
        files = files_fingerprint(data_files(path)[0], root_of(path))
        return {**super().fingerprint(), "reader_version": READER_VERSION, "files": files}

    def source(self, cache_dir: Path) -> SequenceSource:
        path = existing_path(self.path)
        files, _ = data_files(path)
        parsed = split_lines(files, root_of(path), self.separator, FIELDS).with_columns(
            as_int(pl.col("user_id")).alias("user_id"),
            as_int(pl.col("item_id")).alias("item_id"),
            as_int(pl.col("category")).alias("category"),
            as_seconds(pl.col("timestamp")).alias("timestamp"),
            pl.when(pl.col("action").is_in(BEHAVIORS)).then(pl.col("action")).alias("action"),
            *[pl.col(f).alias(f"text_{f}") for f in FIELDS],
        )
        checks = line_checks() | field_checks({f"text_{f}": f for f in FIELDS if f != "action"})
        checks["missing behavior_type"] = pl.col("text_action").is_null()
        checks["unknown behavior_type"] = pl.col("action").is_null()
        checks |= self.timestamp_checks()
        good, report = self.quarantined(parsed, checks, path, cache_dir, raw_columns=[RAW_LINE], keep=COLUMNS)
        require_rows(report.n_rows, path)
        removed: dict[str, int] = {}
        if self.behaviors is not None:
            kept = good.filter(pl.col("action").is_in(self.behaviors))
            removed["behavior_filter"] = good.height - kept.height
            good = kept
        return self.events_source(good, report, COLUMNS, path, f"Taobao UserBehavior ({path})", removed)
