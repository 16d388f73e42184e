"""A user-level binary outcome read from the label table (conversion, churn, bot)."""

from __future__ import annotations

import numpy as np
import polars as pl
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAUROC, BinaryAveragePrecision

from ssl_ads.errors import DataError
from ssl_ads.tasks.base import Task


class UserBinaryTask(Task):
    """Predict a 0/1 column per user from the user's history before the label window."""

    modality = "sequence"
    primary_metric = "auroc"

    def __init__(self, label: str = "conversion") -> None:
        self.label = label
        self.name = label

    def extract_labels(self, labels: pl.DataFrame, source: str) -> np.ndarray:
        if self.label not in labels.columns:
            raise DataError(
                f"{source}: label column '{self.label}' not found (task.label); available: {', '.join(labels.columns)}"
            )
        column = labels.get_column(self.label)
        if column.null_count():
            raise DataError(f"{source}: label column '{self.label}' has {column.null_count()} null values")
        values = set(column.unique().to_list())
        if not values <= {0, 1}:
            shown = sorted(map(str, values))[:5]
            raise DataError(f"{source}: label column '{self.label}' must hold 0/1, found values {shown}")
        if len(values) < 2:
            raise DataError(
                f"{source}: label column '{self.label}' has a single class ({values.pop()}); "
                "a binary task needs both 0 and 1"
            )
        return column.cast(pl.Int8).to_numpy()

    def make_head(self, dim: int) -> nn.Module:
        return nn.Linear(dim, 1)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1), target.float())

    def predictions(self, logits: Tensor) -> Tensor:
        return logits.squeeze(-1).sigmoid()

    def metrics(self) -> MetricCollection:
        from ssl_ads.tasks.impression_binary import BinaryLogLoss  # that module imports this one

        return MetricCollection({"auroc": BinaryAUROC(), "auprc": BinaryAveragePrecision(), "logloss": BinaryLogLoss()})
