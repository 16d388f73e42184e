"""Classify a piece of copy (brand voice, advertiser, category; binary or multi-class) and gate it.

Labels of any type are mapped to class indices in sorted order (the mapping is kept for the decisions
file); metrics are accuracy, macro-F1 and macro one-vs-rest AUROC (equal to the binary AUROC for two
classes), plus the quality gate's coverage and forwarded-share accuracy at `gate_threshold`.

Few labels and a skewed class balance (e.g. 82 % of reviews recommend) make a plain cross-entropy head
predict the majority class too often; `probe.class_weight=balanced` (and `finetune.class_weight`) weighs
each class by its inverse frequency in the labeled rows of each fit, which buys macro-F1 (on the reviews
without costing accuracy: scripts/bench_reviews.py).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassF1Score

from ssl_ads.config.ranges import Range
from ssl_ads.errors import ConfigError
from ssl_ads.tasks.multiclass import MulticlassTask
from ssl_ads.tasks.quality_gate import GateAccuracy, GateCoverage

METRICS = ("accuracy", "macro_f1", "auroc", "gate_coverage", "gate_accuracy")


class TextClassification(MulticlassTask):
    modality = "text"
    supports_class_weight = True
    metric_names = METRICS

    def __init__(
        self,
        label: str = "voice",
        gate_threshold: Annotated[float, Range(0, 1)] = 0.7,
        primary_metric: str = "accuracy",
    ) -> None:
        if not 0.0 <= gate_threshold <= 1.0:
            raise ConfigError(f"task.gate_threshold must be in [0, 1], got {gate_threshold}")
        if primary_metric not in METRICS[:3]:
            raise ConfigError(f"task.primary_metric must be one of {METRICS[:3]}, got {primary_metric!r}")
        super().__init__(label)
        self.gate_threshold = gate_threshold
        self.primary_metric = primary_metric
        self.loss_weights: Tensor | None = None  # per class, set by fit_class_weights

    def fit_class_weights(self, labels: np.ndarray, balanced: bool = False) -> None:
        """`balanced`: n / (k * n_c) for each of the k classes present in `labels` (the rows this fit trains on),
        as sklearn's `class_weight="balanced"`; absent classes keep weight 1. Otherwise the plain mean."""
        if not balanced:
            self.loss_weights = None
            return
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=self.num_classes).astype(np.float64)
        present = counts > 0
        weights = np.ones_like(counts)
        weights[present] = counts.sum() / (present.sum() * counts[present])
        self.loss_weights = torch.as_tensor(weights, dtype=torch.float32)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        weight = None if self.loss_weights is None else self.loss_weights.to(logits.device, logits.dtype)
        return F.cross_entropy(logits, target.long(), weight=weight)

    def predictions(self, logits: Tensor) -> Tensor:
        """Class probabilities `[B, C]`; a single-column (binary, e.g. sklearn's) score becomes `[1-p, p]`."""
        if logits.shape[-1] == 1:
            positive = logits.sigmoid()
            return torch.cat([1 - positive, positive], dim=-1)
        return logits.softmax(dim=-1)

    def metrics(self) -> MetricCollection:
        n = self.num_classes
        return MetricCollection(
            {
                "accuracy": MulticlassAccuracy(n, average="micro"),
                "macro_f1": MulticlassF1Score(n, average="macro"),
                "auroc": MulticlassAUROC(n, average="macro"),
                "gate_coverage": GateCoverage(self.gate_threshold),
                "gate_accuracy": GateAccuracy(self.gate_threshold),
            }
        )
