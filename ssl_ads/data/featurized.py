"""What every modality's featurizer hands to the stages: arrays by batch field, one row per example."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl


@dataclass
class Featurized:
    """Featurized examples (users for sequences, impressions for tables, pieces of copy for text).

    `inputs` are memory-mapped from the cache where possible; `rows` carries ids and label columns
    aligned with them; `state` is the fitted featurizer (vocabularies...) saved with every encoder so
    new data is mapped exactly as the encoder was trained.
    """

    inputs: dict[str, np.ndarray]
    rows: pl.DataFrame
    encoder_kwargs: dict[str, Any]
    state: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return self.rows.height

    @property
    def source(self) -> str:
        return str(self.meta.get("source", "data"))


class Dataset:
    """Base of every dataset config: a `modality` and a cached `featurize()`."""

    modality: str = ""

    def use_split(self, val_share: float, test_share: float, seed: int, split_by: str | None = None) -> None:
        """The split the stages will evaluate on (`final_split` with these settings); featurizers that are
        fitted on train rows only (tabular, text) read it, the others ignore it."""

    def featurize(self, cache_dir: Path, state: dict[str, Any] | None = None) -> Featurized:  # pragma: no cover
        """Featurize (from the cache when present); `state` comes from a pretrained encoder's bundle."""
        raise NotImplementedError
