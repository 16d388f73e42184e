"""Classify a piece of copy (brand voice, advertiser, category; binary or multi-class) and gate it.

Labels of any type are mapped to class indices in sorted order (the mapping is kept for the decisions
file); metrics are accuracy, macro-F1 and macro one-vs-rest AUROC (equal to the binary AUROC for two
classes), plus the quality gate's coverage and forwarded-share accuracy at `gate_threshold`.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassF1Score

from ssl_ads.errors import ConfigError, DataError
from ssl_ads.tasks.base import Task
from ssl_ads.tasks.quality_gate import GateAccuracy, GateCoverage

METRICS = ("accuracy", "macro_f1", "auroc", "gate_coverage", "gate_accuracy")


class TextClassification(Task):
    modality = "text"

    def __init__(self, label: str = "voice", gate_threshold: float = 0.7, primary_metric: str = "accuracy") -> None:
        if not 0.0 <= gate_threshold <= 1.0:
            raise ConfigError(f"task.gate_threshold must be in [0, 1], got {gate_threshold}")
        if primary_metric not in METRICS[:3]:
            raise ConfigError(f"task.primary_metric must be one of {METRICS[:3]}, got {primary_metric!r}")
        self.label = label
        self.name = label
        self.gate_threshold = gate_threshold
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
        as_text = column.cast(pl.String)
        self.classes = column.unique().sort().cast(pl.String).to_list()  # numeric labels in numeric order
        if len(self.classes) < 2:
            raise DataError(f"{source}: label column '{self.label}' has a single class; a classifier needs two or more")
        mapping = pl.DataFrame({"value": self.classes, "code": np.arange(len(self.classes), dtype=np.int64)})
        codes = pl.DataFrame({"value": as_text}).join(mapping, on="value", how="left", maintain_order="left")
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

