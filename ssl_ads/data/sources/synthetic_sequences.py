"""`dataset=synthetic`: the simulator's behaviour sequences with user-level labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import polars as pl

from ssl_ads.config.ranges import Range
from ssl_ads.data.item_table import ItemTableOption
from ssl_ads.data.sequence_dataset import SequenceDataset, SequenceSource
from ssl_ads.data.sources.synthetic_marketplace import SimulatorSettings
from ssl_ads.data.sources.synthetic_tables import load_or_simulate, settings_hash

LABEL_COLUMNS = ["user_id", "conversion", "churn", "is_bot", "intent_topic"]


class SyntheticSequences(ItemTableOption, SequenceDataset):
    """Simulated click/cart/purchase events; labels come from the final `label_window_days`."""

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
        item_id_offset: Annotated[int, Range(min=0)] = 0,
        max_len: Annotated[int, Range(min=2)] = 50,
        min_item_count: Annotated[int, Range(min=1)] = 1,
        side_fields: list[str] | None = None,
        item_fields: list[str] | None = None,
        item_buckets: Annotated[int, Range(min=1)] = 8,
    ) -> None:
        super().__init__(max_len=max_len, min_item_count=min_item_count, side_fields=side_fields)
        # the catalogue's columns (category, advertiser_id, price_tier, price...) as item fields: encoder.item_inputs
        self.init_item_table(None, item_fields, None, item_buckets)
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
            item_id_offset=item_id_offset,
        )

    def source(self, cache_dir: Path) -> SequenceSource:
        directory = load_or_simulate(self.settings, cache_dir)
        cutoff = int(json.loads((directory / "meta.json").read_text())["cutoff_timestamp"])
        events = pl.scan_parquet(directory / "events.parquet")
        name = f"synthetic ({self.settings.n_users} users, seed {self.settings.seed})"
        # nothing is malformed in simulated data; the count lets the data report say how many events were read
        read = {"source": name, "n_rows": events.select(pl.len()).collect().item(), "n_bad": 0, "reasons": {}}
        return SequenceSource(
            events=events,
            labels=pl.read_parquet(directory / "users.parquet", columns=LABEL_COLUMNS),
            cutoff_timestamp=cutoff,
            name=name,
            quarantine={**read, "path": None, "removed": {}},
        )

    def fingerprint(self) -> dict:
        return {
            "class": type(self).__qualname__,
            "simulator": settings_hash(self.settings),  # includes the simulator's version
            "max_len": self.max_len,
            "min_item_count": self.min_item_count,
            "side_fields": self.side_fields,
        }

    def item_table_name(self) -> str:
        return f"the simulator's catalogue (seed {self.settings.seed})"

    def item_frame(self, cache_dir: Path) -> pl.DataFrame:
        """The simulated catalogue: item_id, topic, category, advertiser_id, price_tier, price, popularity."""
        return pl.read_parquet(load_or_simulate(self.settings, cache_dir) / "items.parquet")

    def item_table_fingerprint(self) -> dict:
        return {"simulator": settings_hash(self.settings)}
