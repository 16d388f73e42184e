"""A downstream task: label extraction and validation, head shape, loss and torchmetrics."""

from __future__ import annotations

import numpy as np
import polars as pl
from torch import Tensor, nn
from torchmetrics import MetricCollection


class Task:
    """Subclasses set `modality`, `primary_metric` and implement the methods below."""

    modality: str | tuple[str, ...] = ()
    name: str = "task"
    primary_metric: str = "auroc"

    def extract_labels(self, labels: pl.DataFrame, source: str) -> np.ndarray:  # pragma: no cover
        """Labels aligned with `labels`'s rows; raise DataError naming `source` and the column if unusable."""
        raise NotImplementedError

    def make_head(self, dim: int) -> nn.Module:  # pragma: no cover
        raise NotImplementedError

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def metrics(self) -> MetricCollection:  # pragma: no cover
        raise NotImplementedError
