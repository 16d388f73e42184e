"""The canonical input of the tabular pipeline (one row per impression), whatever format it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ssl_ads.data.featurized import Dataset, Featurized
from ssl_ads.data.split import DEFAULT_SPLIT, SplitSettings
from ssl_ads.errors import ConfigError

NUMERIC_TRANSFORMS = ("auto", "standard", "log1p", "quantile")


@dataclass(frozen=True)
class TabularSource:
    # One row per example: the field columns, the label columns and (optionally) `row_id`.
    frame: pl.DataFrame
    categorical: list[str]
    numeric: list[str]
    # 0/1 (Int8) label columns; null where a row is unlabeled.
    labels: list[str]
    # Where the data came from, for error messages and reports.
    name: str
    # QuarantineReport.as_dict() of rows set aside while reading; None when nothing could be malformed.
    quarantine: dict | None = None
    # Human-readable notes on what the reader decided (inferred types, dropped id columns...).
    notes: list[str] = field(default_factory=list)
    # Id columns kept beside the labels but never fed to a model (e.g. user_id, for `task.split_by`).
    keys: list[str] = field(default_factory=list)


class TabularDataset(Dataset):
    """Base of every tabular data set config: featurizer knobs and a `source()` reader.

    The featurizer is fitted on the train split only, so `featurize` takes the split the stages will use
    and returns it (`Featurized.split`).
    """

    modality = "tabular"

    def __init__(
        self,
        min_count: int = 1,
        max_vocab: int = 100_000,
        hash_buckets: int = 0,
        numeric_transform: str = "auto",
        quantile_bins: int = 100,
    ) -> None:
        if min_count < 1:
            raise ConfigError(f"dataset.min_count must be >= 1, got {min_count}")
        if max_vocab < 1 or hash_buckets < 0:
            raise ConfigError(
                f"dataset.max_vocab must be >= 1 and dataset.hash_buckets >= 0 ({max_vocab}, {hash_buckets})"
            )
        if numeric_transform not in NUMERIC_TRANSFORMS:
            raise ConfigError(
                f"dataset.numeric_transform must be one of {NUMERIC_TRANSFORMS}, got {numeric_transform!r}"
            )
        if quantile_bins < 2:
            raise ConfigError(f"dataset.quantile_bins must be >= 2, got {quantile_bins}")
        self.min_count = min_count
        self.max_vocab = max_vocab
        self.hash_buckets = hash_buckets
        self.numeric_transform = numeric_transform
        self.quantile_bins = quantile_bins

    def source(self, cache_dir: Path) -> TabularSource:  # pragma: no cover - interface
        raise NotImplementedError

    def featurize(
        self, cache_dir: Path, state: dict[str, Any] | None = None, split: SplitSettings = DEFAULT_SPLIT
    ) -> Featurized:
        from ssl_ads.data.tabular_features import featurize_tabular

        return featurize_tabular(self, cache_dir, state, split)

    def featurizer_settings(self) -> dict[str, Any]:
        return {
            "min_count": self.min_count,
            "max_vocab": self.max_vocab,
            "hash_buckets": self.hash_buckets,
            "numeric_transform": self.numeric_transform,
            "quantile_bins": self.quantile_bins,
        }

    def fingerprint(self) -> dict:
        """What identifies the data and the featurizer's settings (the cache key, with the split): every
        constructor argument."""
        return {"class": type(self).__qualname__, **vars(self)}
