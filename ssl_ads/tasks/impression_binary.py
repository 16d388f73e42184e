"""Impression-level binary tasks on tabular data: CTR / conversion (ranking + calibration) and fraud.

Labels are validated like the user-level ones (0/1, both classes present); the metrics differ: a CTR
model's probabilities are used as bids, so log-loss and calibration error sit beside AUROC; fraud is
rare and reviewed by people, so it is scored by AUPRC and the recall reached at a fixed false-positive
rate.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryCalibrationError,
    BinarySensitivityAtSpecificity,
)

from ssl_ads.config.ranges import Range
from ssl_ads.errors import ConfigError
from ssl_ads.tasks.base import HEAD_INITS, PROBE_SOLVERS, VALIDATION_LABELS, check_probe_cv_folds
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

    def __init__(
        self,
        label: str = "conversion",
        split_by: str | None = None,
        validation_labels: str = "full",
        wide: bool = False,
        encoder_lr_scale: Annotated[float, Range(min=0)] = 1.0,
        freeze_epochs: Annotated[int, Range(min=0)] = 0,
        probe_solver: str = "adamw",
        finetune_head_init: str = "random",
        probe_cv_folds: Annotated[int, Range(min=0)] = 0,
    ) -> None:
        super().__init__(label)
        check_probe_cv_folds(probe_cv_folds, probe_solver)
        if probe_solver not in PROBE_SOLVERS:
            raise ConfigError(f"task.probe_solver must be one of {PROBE_SOLVERS}, got {probe_solver!r}")
        if finetune_head_init not in HEAD_INITS:
            raise ConfigError(f"task.finetune_head_init must be one of {HEAD_INITS}, got {finetune_head_init!r}")
        if validation_labels not in VALIDATION_LABELS:
            raise ConfigError(f"task.validation_labels must be one of {VALIDATION_LABELS}, got {validation_labels!r}")
        if encoder_lr_scale < 0 or freeze_epochs < 0:
            raise ConfigError(
                f"task.encoder_lr_scale and task.freeze_epochs must be >= 0 ({encoder_lr_scale}, {freeze_epochs})"
            )
        self.split_by = split_by
        self.validation_labels = validation_labels
        self.wide = wide
        self.encoder_lr_scale = encoder_lr_scale
        self.freeze_epochs = freeze_epochs
        self.probe_solver = probe_solver
        self.finetune_head_init = finetune_head_init
        self.probe_cv_folds = probe_cv_folds

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
        validation_labels: str = "full",
        wide: bool = False,
        encoder_lr_scale: Annotated[float, Range(min=0)] = 1.0,
        freeze_epochs: Annotated[int, Range(min=0)] = 0,
        probe_solver: str = "adamw",
        finetune_head_init: str = "random",
        probe_cv_folds: Annotated[int, Range(min=0)] = 0,
    ) -> None:
        super().__init__(
            label, split_by, validation_labels, wide, encoder_lr_scale, freeze_epochs, probe_solver,
            finetune_head_init, probe_cv_folds,
        )  # fmt: skip
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
