"""Impression-level binary tasks on tabular data: CTR / conversion (ranking + calibration) and fraud.

Labels are validated like the user-level ones (0/1, both classes present); the metrics differ: a CTR
model's probabilities are used as bids, so log-loss and calibration error sit beside AUROC; fraud is
rare and reviewed by people, so it is scored by AUPRC and the recall reached at a fixed false-positive
rate.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryCalibrationError,
    BinarySensitivityAtSpecificity,
)

from ssl_ads.tasks.user_binary import UserBinaryTask

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


class RecallAtFalsePositiveRate(BinarySensitivityAtSpecificity):
    """Recall reached while flagging at most `max_fpr` of the negatives (the threshold is dropped)."""

    def __init__(self, max_fpr: float) -> None:
        super().__init__(min_specificity=1.0 - max_fpr)

    def compute(self) -> Tensor:
        return super().compute()[0]


class ImpressionBinaryTask(UserBinaryTask):
    """Predict a 0/1 column per row (click, conversion) from that row's fields."""

    modality = "tabular"
    primary_metric = "auroc"

    def metrics(self) -> MetricCollection:
        return MetricCollection(
            {
                "auroc": BinaryAUROC(),
                "logloss": BinaryLogLoss(),
                "ece": BinaryCalibrationError(n_bins=15, norm="l1"),
                "auprc": BinaryAveragePrecision(),
            }
        )


class FraudTask(ImpressionBinaryTask):
    """Bot traffic per impression: AUPRC and recall at a fixed false-positive rate."""

    primary_metric = "auprc"

    def __init__(self, label: str = "is_bot", max_fpr: float = 0.01) -> None:
        super().__init__(label)
        if not 0.0 < max_fpr < 1.0:
            raise ValueError(f"task.max_fpr must be in (0, 1), got {max_fpr}")
        self.max_fpr = max_fpr

    def metrics(self) -> MetricCollection:
        return MetricCollection(
            {
                "auprc": BinaryAveragePrecision(),
                "recall_at_fpr": RecallAtFalsePositiveRate(self.max_fpr),  # fpr = task.max_fpr
                "auroc": BinaryAUROC(),
            }
        )
