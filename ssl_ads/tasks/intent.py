"""`task=intent`: which topic a user's next session is about (multi-class, accuracy and macro-F1).

Topics are mapped to class indices in sorted order; users without a next session carry no label and
are left out by the downstream stage. No quality gate here (that is the text tasks' business).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from ssl_ads.errors import ConfigError, DataError
from ssl_ads.tasks.base import Task


class IntentTask(Task):
    modality = "sequence"

    def __init__(self, label: str = "intent_topic", primary_metric: str = "macro_f1") -> None:
        if primary_metric not in ("accuracy", "macro_f1"):
            raise ConfigError(f"task.primary_metric must be accuracy or macro_f1, got {primary_metric!r}")
        self.label = label
        self.name = label
        self.primary_metric = primary_metric
        self.classes: list[str] = []

    def extract_labels(self, labels: pl.DataFrame, source: str) -> np.ndarray:
        if self.label not in labels.columns:
            raise DataError(
                f"{source}: label column '{self.label}' not found (task.label); available: {', '.join(labels.columns)}"
            )
        column = labels.get_column(self.label)
        if column.null_count():
            raise DataError(f"{source}: label column '{self.label}' has {column.null_count()} null values")
        values = column.unique().sort()
        if values.len() < 2:
            raise DataError(f"{source}: label column '{self.label}' has a single class; a classifier needs two or more")
        self.classes = values.cast(pl.String).to_list()
        mapping = pl.DataFrame({self.label: values, "code": np.arange(values.len(), dtype=np.int64)})
        codes = labels.select(self.label).join(mapping, on=self.label, how="left", maintain_order="left")
        return codes["code"].to_numpy()

    @property
    def num_classes(self) -> int:
        if not self.classes:
            raise DataError(f"task '{self.label}': labels must be read before the head is built")
        return len(self.classes)

    def make_head(self, dim: int) -> nn.Module:
        return nn.Linear(dim, self.num_classes)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits, target.long())

    def predictions(self, logits: Tensor) -> Tensor:
        return logits.softmax(dim=-1)

    def metrics(self) -> MetricCollection:
        n = self.num_classes
        return MetricCollection(
            {"accuracy": MulticlassAccuracy(n, average="micro"), "macro_f1": MulticlassF1Score(n, average="macro")}
        )
