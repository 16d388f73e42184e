"""Impression-level binary tasks on tabular data: CTR / conversion (ranking + calibration) and fraud.

Labels are validated like the user-level ones (0/1, both classes present); the metrics differ: a CTR
model's probabilities are used as bids, so log-loss and calibration error sit beside AUROC; fraud is
rare and reviewed by people, so it is scored by AUPRC and the recall reached at a fixed false-positive
rate.
"""

from __future__ import annotations

from typing import Annotated

from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryCalibrationError,
    BinarySensitivityAtSpecificity,
)

from ssl_ads.config.ranges import Range
from ssl_ads.errors import ConfigError
from ssl_ads.tasks.binary import BinaryLogLoss, BinaryTask


class RecallAtFalsePositiveRate(BinarySensitivityAtSpecificity):
    """Recall reached while flagging at most `max_fpr` of the negatives (the threshold is dropped)."""

    def __init__(self, max_fpr: float) -> None:
        super().__init__(min_specificity=1.0 - max_fpr)

    def compute(self) -> Tensor:
        return super().compute()[0]


class ImpressionBinaryTask(BinaryTask):
    """Predict a 0/1 column per row (click, conversion) from that row's fields; `split_by` names a column
    whose values keep their rows in one split (null: split by row)."""

    modality = "tabular"

    def __init__(self, label: str = "conversion", split_by: str | None = None) -> None:
        super().__init__(label)
        self.split_by = split_by

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
    """Bot traffic per impression: AUPRC and recall at a fixed false-positive rate.

    Bots are users: a random row split would put impressions of the same bot in train and test, and
    per-user fields (`user_activity`) would let a model recognise the user instead of bot behaviour, so
    the rows are split by `split_by` (the user id column) by default.
    """

    primary_metric = "auprc"

    def __init__(
        self,
        label: str = "is_bot",
        max_fpr: Annotated[float, Range(0, 1, min_inclusive=False, max_inclusive=False)] = 0.01,
        split_by: str | None = "user_id",
    ) -> None:
        super().__init__(label, split_by)
        if not 0.0 < max_fpr < 1.0:
            raise ConfigError(f"task.max_fpr must be in (0, 1), got {max_fpr}")
        self.max_fpr = max_fpr

    def metrics(self) -> MetricCollection:
        return MetricCollection(
            {
                "auprc": BinaryAveragePrecision(),
                "recall_at_fpr": RecallAtFalsePositiveRate(self.max_fpr),  # fpr = task.max_fpr
                "auroc": BinaryAUROC(),
            }
        )
