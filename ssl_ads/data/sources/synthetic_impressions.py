"""`dataset=synthetic_impressions` (the tabular default): the simulator's impression log, one row each.

User ids are not a model input on purpose: the bot label is per user, so a user-id field would let a model
memorise bots across the split instead of learning what bot traffic looks like. They are kept beside the
labels (a `key`), so that a task can split by user (`task.split_by=user_id`, the `fraud` default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl

from ssl_ads.config.ranges import Range
from ssl_ads.data.sources.synthetic_marketplace import SimulatorSettings
from ssl_ads.data.sources.synthetic_tables import load_or_simulate, settings_hash
from ssl_ads.data.tabular_dataset import TabularDataset, TabularSource

CATEGORICAL = [
    "item_id", "advertiser_id", "topic", "category", "price_tier", "position", "hour", "day_of_week", "device",
    "age_bucket",
]  # fmt: skip
NUMERIC = ["price", "user_activity", "user_prior_clicks"]
LABELS = ["click", "conversion", "is_bot"]
KEYS = ["user_id"]


class SyntheticImpressions(TabularDataset):
    def __init__(
        self,
        n_users: Annotated[int, Range(min=1)] = 5000,
        n_items: Annotated[int, Range(min=1)] = 800,
        n_topics: Annotated[int, Range(min=1)] = 12,
        n_advertisers: Annotated[int, Range(min=1)] = 40,
        n_days: Annotated[int, Range(2, 3650)] = 42,
        label_window_days: Annotated[int, Range(min=1)] = 14,
        sessions_per_user_day: Annotated[float, Range(min=0, min_inclusive=False)] = 0.3,
        impressions_per_session: Annotated[int, Range(1, 200)] = 8,
        bot_share: Annotated[float, Range(0, 1, max_inclusive=False)] = 0.03,
        seed: Annotated[int, Range(min=0)] = 0,
        max_rows: Annotated[int | None, Range(min=1)] = None,
        min_count: Annotated[int, Range(min=1)] = 1,
        max_vocab: Annotated[int, Range(min=1)] = 100_000,
        hash_buckets: Annotated[int, Range(min=0)] = 0,
        numeric_transform: str = "auto",
        quantile_bins: Annotated[int, Range(min=2)] = 100,
    ) -> None:
        super().__init__(min_count, max_vocab, hash_buckets, numeric_transform, quantile_bins)
        self.settings = SimulatorSettings(
            n_users=n_users,
            n_items=n_items,
            n_topics=n_topics,
            n_advertisers=n_advertisers,
            n_days=n_days,
            label_window_days=label_window_days,
            sessions_per_user_day=sessions_per_user_day,
            impressions_per_session=impressions_per_session,
            bot_share=bot_share,
            seed=seed,
        )
        # Keep the first `max_rows` impressions (in time order) for quick runs; null keeps all.
        self.max_rows = max_rows

    def source(self, cache_dir: Path) -> TabularSource:
        directory = load_or_simulate(self.settings, cache_dir)
        scan = pl.scan_parquet(directory / "impressions.parquet")
        if self.max_rows is not None:
            scan = scan.head(self.max_rows)
        frame = scan.select(pl.col("impression_id").alias("row_id"), *KEYS, *CATEGORICAL, *NUMERIC, *LABELS).collect()
        return TabularSource(
            frame=frame,
            categorical=CATEGORICAL,
            numeric=NUMERIC,
            labels=LABELS,
            keys=KEYS,
            name=f"synthetic impressions ({self.settings.n_users} users, seed {self.settings.seed})",
        )

    def fingerprint(self) -> dict:
        return {
            "class": type(self).__qualname__,
            "simulator": settings_hash(self.settings),
            "max_rows": self.max_rows,
            "featurizer": self.featurizer_settings(),
        }
