"""The shared part of every 0/1 task: label checks, a one-logit head, binary cross-entropy, binary metrics.

User-level (conversion, churn) and impression-level (click, conversion, fraud) tasks differ only in their
modality and in which metrics they report.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import BinaryAUROC, BinaryAveragePrecision

from ssl_ads.errors import DataError
from ssl_ads.tasks.base import LabeledTask
from ssl_ads.tasks.label_columns import label_column

EPS = 1e-7


class BinaryLogLoss(Metric):
    """Mean binary cross-entropy of predicted probabilities (lower is better)."""

    higher_is_better = False
    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        p = preds.double().clamp(EPS, 1 - EPS)
        y = target.double()
        self.total += -(y * p.log() + (1 - y) * (1 - p).log()).sum()
        self.count += target.numel()

    def compute(self) -> Tensor:
        return (self.total / self.count.clamp_min(1)).float()


class BinaryTask(LabeledTask):
    """Predict a 0/1 column; subclasses choose `modality`, `primary_metric` and `metrics`."""

    primary_metric = "auroc"

    def __init__(self, label: str) -> None:
        self.label = label
        self.name = label

    def extract_labels(self, labels: pl.DataFrame, source: str) -> np.ndarray:
        column = label_column(labels, self.label, source)
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
        """Ranking (AUROC, AUPRC) and probability quality (log-loss)."""
        return MetricCollection({"auroc": BinaryAUROC(), "auprc": BinaryAveragePrecision(), "logloss": BinaryLogLoss()})
