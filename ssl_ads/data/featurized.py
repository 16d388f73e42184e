"""What every modality's featurizer hands to the stages: arrays by batch field, one row per example."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ssl_ads.data.split import DEFAULT_SPLIT, RowSplit, SplitSettings


@dataclass
class Featurized:
    """Featurized examples (users for sequences, impressions for tables, pieces of copy for text).

    `inputs` are memory-mapped from the cache where possible; `rows` carries ids and label columns
    aligned with them; `state` is the fitted featurizer (vocabularies...) saved with every encoder so
    new data is mapped exactly as the encoder was trained. `split` is the split the featurizer fitted on
    (tables, texts); None where nothing fitted depends on it (sequences: the stages split their rows).
    """

    inputs: dict[str, np.ndarray]
    rows: pl.DataFrame
    encoder_kwargs: dict[str, Any]
    state: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    split: RowSplit | None = None

    @property
    def num_rows(self) -> int:
        return self.rows.height

    @property
    def source(self) -> str:
        return str(self.meta.get("source", "data"))


class Dataset:
    """Base of every dataset config: a `modality` and a cached `featurize()`."""

    modality: str = ""

    def featurize(
        self, cache_dir: Path, state: dict[str, Any] | None = None, split: SplitSettings = DEFAULT_SPLIT
    ) -> Featurized:  # pragma: no cover
        """Featurize (from the cache when present); `state` comes from a pretrained encoder's bundle, `split` is
        the run's split (featurizers fitted on train rows compute it once and return it on `Featurized.split`)."""
        raise NotImplementedError
