"""The default text data set: the simulator's ad copy (one text per ad), labelled by advertiser and voice."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import polars as pl

from ssl_ads.config.ranges import Range
from ssl_ads.data.sources.synthetic_marketplace import SimulatorSettings
from ssl_ads.data.sources.synthetic_tables import load_or_simulate
from ssl_ads.data.text_dataset import TextDataset, TextSource
from ssl_ads.errors import DataError


class SyntheticCopy(TextDataset):
    """Ad copy from the seeded marketplace simulator (`ad_copy` table); labels `voice` and `advertiser_id`."""

    def __init__(
        self,
        n_users: Annotated[int, Range(min=1)] = 200,
        n_items: Annotated[int, Range(min=1)] = 3000,
        n_topics: Annotated[int, Range(min=1)] = 12,
        n_advertisers: Annotated[int, Range(min=1)] = 40,
        seed: Annotated[int, Range(min=0)] = 0,
        vocab_size: Annotated[int, Range(min=16)] = 2000,
        max_len: Annotated[int, Range(min=4)] = 48,
        min_frequency: Annotated[int, Range(min=1)] = 2,
        lowercase: bool = False,
    ) -> None:
        super().__init__(vocab_size, max_len, min_frequency, lowercase)
        self.settings = SimulatorSettings(
            n_users=n_users, n_items=n_items, n_topics=n_topics, n_advertisers=n_advertisers, seed=seed
        )

    def fingerprint(self) -> dict:
        return {**super().fingerprint(), "settings": asdict(self.settings)}

    def source(self, cache_dir: Path) -> TextSource:
        directory = load_or_simulate(self.settings, Path(cache_dir))
        path = directory / "ad_copy.parquet"
        try:
            copy = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as err:
            raise DataError(f"{path}: cannot read the simulated ad copy ({err})") from err
        frame = copy.select(pl.col("item_id").alias("id"), "text", "voice", "advertiser_id", "topic")
        return TextSource(
            frame=frame,
            labels=["voice", "advertiser_id", "topic"],
            name=f"synthetic ad copy ({self.settings.n_items} ads, seed {self.settings.seed})",
            description="simulated ad copy (one text per ad)",
        )
