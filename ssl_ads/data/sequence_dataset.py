"""The canonical input of the sequence pipeline, whatever format it was read from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ssl_ads.data.featurized import Dataset, Featurized
from ssl_ads.data.sequence_features import featurize_sequences
from ssl_ads.data.split import DEFAULT_SPLIT, SplitSettings

# Canonical event columns: user_id, item_id (any hashable dtype), timestamp (Int64 unix seconds),
# and optional side fields (category, action, ...). Labels: user_id + one column per label.
EVENT_COLUMNS = ("user_id", "item_id", "timestamp")


@dataclass(frozen=True)
class SequenceSource:
    events: pl.LazyFrame
    # One row per user with label columns; None when the data set has no user-level labels.
    labels: pl.DataFrame | None
    # Events at or after this time are the label window: encoders only see what came before.
    cutoff_timestamp: int | None
    # Where the data came from, for error messages and reports.
    name: str
    # Rows set aside or filtered while reading (QuarantineReport.as_dict() plus "removed" counts), so the
    # featurized metadata can say what was dropped; None for sources that drop nothing.
    quarantine: dict | None = None


class SequenceDataset(Dataset):
    """Base of every sequence data set config: featurizing knobs plus a `source()` reader."""

    modality = "sequence"

    def __init__(self, max_len: int = 50, min_item_count: int = 1, side_fields: list[str] | None = None) -> None:
        if max_len < 2:
            raise ValueError(f"dataset.max_len must be at least 2, got {max_len}")
        self.max_len = max_len
        self.min_item_count = min_item_count
        self.side_fields = list(side_fields or [])

    def source(self, cache_dir: Path) -> SequenceSource:  # pragma: no cover - interface
        raise NotImplementedError

    def featurize(
        self, cache_dir: Path, state: dict[str, Any] | None = None, split: SplitSettings = DEFAULT_SPLIT
    ) -> Featurized:
        """`split` is not read: this featurizer fits nothing on train rows only (its item vocabulary counts every
        user's events before the label window), so the stages split the featurized users themselves."""
        return featurize_sequences(self, cache_dir, state)

    def fingerprint(self) -> dict:
        """What identifies the featurized arrays (the cache key): every constructor argument."""
        return {"class": type(self).__qualname__, **vars(self)}
