"""`dataset=synthetic`: the simulator's behaviour sequences with user-level labels."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ssl_ads.data.sequence_source import SequenceDataset, SequenceSource
from ssl_ads.data.sources.synthetic import SimulatorSettings, load_or_simulate, settings_hash

LABEL_COLUMNS = ["user_id", "conversion", "churn", "is_bot", "intent_topic"]


class SyntheticSequences(SequenceDataset):
    """Simulated click/cart/purchase events; labels come from the final `label_window_days`."""

    def __init__(
        self,
        n_users: int = 5000,
        n_items: int = 800,
        n_topics: int = 12,
        n_advertisers: int = 40,
        n_days: int = 42,
        label_window_days: int = 14,
        sessions_per_user_day: float = 0.3,
        impressions_per_session: int = 8,
        bot_share: float = 0.03,
        seed: int = 0,
        max_len: int = 50,
        min_item_count: int = 1,
        side_fields: list[str] | None = None,
    ) -> None:
        super().__init__(max_len=max_len, min_item_count=min_item_count, side_fields=side_fields)
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

    def source(self, cache_dir: Path) -> SequenceSource:
        directory = load_or_simulate(self.settings, cache_dir)
        cutoff = int(json.loads((directory / "meta.json").read_text())["cutoff_timestamp"])
        return SequenceSource(
            events=pl.scan_parquet(directory / "events.parquet"),
            labels=pl.read_parquet(directory / "users.parquet", columns=LABEL_COLUMNS),
            cutoff_timestamp=cutoff,
            name=f"synthetic ({self.settings.n_users} users, seed {self.settings.seed})",
        )

    def fingerprint(self) -> dict:
        return {
            "class": type(self).__qualname__,
            "simulator": settings_hash(self.settings),  # includes the simulator's version
            "max_len": self.max_len,
            "min_item_count": self.min_item_count,
            "side_fields": self.side_fields,
        }
