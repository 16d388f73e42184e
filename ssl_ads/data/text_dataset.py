"""The canonical input of the text pipeline (one row per piece of copy), whatever file it came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ssl_ads.data.featurized import Dataset, Featurized
from ssl_ads.data.split import DEFAULT_SPLIT, SplitSettings
from ssl_ads.errors import ConfigError


@dataclass(frozen=True)
class TextSource:
    # Columns: `id`, `text` (null or empty where the copy is missing) and the label columns.
    frame: pl.DataFrame
    labels: list[str]
    # Where the data came from (file path or simulator settings), for messages and reports.
    name: str
    # How `text` was built, for the report's protocol block.
    description: str


class TextDataset(Dataset):
    """Base of every text data set config: tokenizer knobs and a `source()` reader.

    The tokenizer is fitted on the train split only, so `featurize` takes the split the stages will use and
    returns it (`Featurized.split`).
    """

    modality = "text"

    def __init__(self, vocab_size: int = 8000, max_len: int = 128, min_frequency: int = 2, lowercase: bool = True):
        if vocab_size < 16:
            raise ConfigError(f"dataset.vocab_size must be >= 16, got {vocab_size}")
        if max_len < 4:
            raise ConfigError(f"dataset.max_len must be >= 4, got {max_len}")
        if min_frequency < 1:
            raise ConfigError(f"dataset.min_frequency must be >= 1, got {min_frequency}")
        self.vocab_size = vocab_size
        self.max_len = max_len
        self.min_frequency = min_frequency
        self.lowercase = lowercase

    def source(self, cache_dir: Path) -> TextSource:  # pragma: no cover - interface
        raise NotImplementedError

    def featurize(
        self, cache_dir: Path, state: dict[str, Any] | None = None, split: SplitSettings = DEFAULT_SPLIT
    ) -> Featurized:
        from ssl_ads.data.text_features import featurize_text

        return featurize_text(self, cache_dir, state, split)

    def fingerprint(self) -> dict:
        """What identifies the featurized arrays besides the texts themselves and the split: the settings."""
        return {"class": type(self).__qualname__, **vars(self)}
