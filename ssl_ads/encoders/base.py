"""What every encoder provides, so stages call it without asking what it is.

An encoder maps a batch to a representation `[B, dim]` (`embed`). Heads read `features` (`[B, feature_dim]`;
the embedding unless an encoder's readout offers more). `prepare_inputs` adds inputs computed once per
dataset (e.g. cached sentence embeddings); `standardize_probe_features` says whether the probe may z-score
the features. The base holds no parameters: subclassing it leaves state-dict keys (checkpoints) unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor, nn

from ssl_ads.data.featurized import Featurized


class Encoder(nn.Module):
    """Subclasses set `modality` and `dim` and implement `embed`; the other members have working defaults."""

    modality: str | tuple[str, ...] = ()
    dim: int
    # The probe z-scores features with train-row statistics (one L2 strength then suits every column); False
    # keeps them as they are, for an encoder whose columns' relative scale is meant (TF-IDF beside MiniLM).
    standardize_probe_features: bool = True

    def embed(self, batch: dict[str, Tensor]) -> Tensor:  # pragma: no cover - interface
        """The representation `[B, dim]` a probe, a task head or `ssl-ads embed` reads."""
        raise NotImplementedError

    def features(self, batch: dict[str, Tensor]) -> Tensor:
        """What a downstream head reads, `[B, feature_dim]`: the embedding unless a subclass offers more."""
        return self.embed(batch)

    @property
    def feature_dim(self) -> int:
        """Width of `features()` (`dim` unless set otherwise)."""
        return self.__dict__.get("_feature_dim", self.dim)

    @feature_dim.setter
    def feature_dim(self, value: int) -> None:
        self.__dict__["_feature_dim"] = value

    def prepare_inputs(self, data: Featurized, cache_dir: Path, train_rows: np.ndarray | None = None) -> dict:
        """Inputs computed once per dataset and added to its arrays by name; none by default."""
        return {}
