"""`task=intent`: which topic a user's next session is about (multi-class, accuracy and macro-F1).

Topics are mapped to class indices in sorted order; users without a next session carry no label and
are left out by the downstream stage. No quality gate here (that is the text tasks' business).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from ssl_ads.errors import ConfigError
from ssl_ads.tasks.multiclass import MulticlassTask


class IntentTask(MulticlassTask):
    modality = "sequence"
    metric_names = ("accuracy", "macro_f1")

    def __init__(self, label: str = "intent_topic", primary_metric: str = "macro_f1") -> None:
        if primary_metric not in ("accuracy", "macro_f1"):
            raise ConfigError(f"task.primary_metric must be accuracy or macro_f1, got {primary_metric!r}")
        super().__init__(label)
        self.primary_metric = primary_metric

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits, target.long())

    def predictions(self, logits: Tensor) -> Tensor:
        return logits.softmax(dim=-1)

    def metrics(self) -> MetricCollection:
        n = self.num_classes
        return MetricCollection(
            {"accuracy": MulticlassAccuracy(n, average="micro"), "macro_f1": MulticlassF1Score(n, average="macro")}
        )
