"""Classify a piece of copy (brand voice, advertiser, category; binary or multi-class) and gate it.

Labels of any type are mapped to class indices in sorted order (the mapping is kept for the decisions
file); metrics are accuracy, macro-F1 and macro one-vs-rest AUROC (equal to the binary AUROC for two
classes), plus the quality gate's coverage and forwarded-share accuracy at `gate_threshold`.

Few labels and a skewed class balance (e.g. 82 % of reviews recommend) make a plain cross-entropy head
predict the majority class too often; `class_weight=balanced` weighs each class by its inverse frequency
in the labeled rows of each fit, which buys macro-F1 (on the reviews without costing accuracy:
scripts/bench_reviews.py).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassF1Score

from ssl_ads.config.ranges import Range
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.tasks.base import CLASS_WEIGHTS, PROBE_SOLVERS, VALIDATION_LABELS, Task, check_probe_cv_folds
from ssl_ads.tasks.quality_gate import GateAccuracy, GateCoverage

METRICS = ("accuracy", "macro_f1", "auroc", "gate_coverage", "gate_accuracy")


class TextClassification(Task):
    modality = "text"

    def __init__(
        self,
        label: str = "voice",
        gate_threshold: Annotated[float, Range(0, 1)] = 0.7,
        primary_metric: str = "accuracy",
        class_weight: str | None = None,
        probe_solver: str = "adamw",
        validation_labels: str = "full",
        probe_cv_folds: Annotated[int, Range(min=0)] = 0,
    ) -> None:
        if not 0.0 <= gate_threshold <= 1.0:
            raise ConfigError(f"task.gate_threshold must be in [0, 1], got {gate_threshold}")
        if primary_metric not in METRICS[:3]:
            raise ConfigError(f"task.primary_metric must be one of {METRICS[:3]}, got {primary_metric!r}")
        for key, value, allowed in (
            ("class_weight", class_weight, CLASS_WEIGHTS),
            ("probe_solver", probe_solver, PROBE_SOLVERS),
            ("validation_labels", validation_labels, VALIDATION_LABELS),
        ):
            if value not in allowed:
                raise ConfigError(f"task.{key} must be one of {allowed}, got {value!r}")
        check_probe_cv_folds(probe_cv_folds, probe_solver)
        if class_weight == "auto" and not probe_cv_folds:
            raise ConfigError("task.class_weight=auto is chosen by cross-validation: it needs task.probe_cv_folds >= 2")
        self.label = label
        self.name = label
        self.gate_threshold = gate_threshold
        self.primary_metric = primary_metric
        self.class_weight = class_weight
        self.probe_solver = probe_solver
        self.validation_labels = validation_labels
        self.probe_cv_folds = probe_cv_folds
        self.classes: list[str] = []
        self.loss_weights: Tensor | None = None  # per class, set by fit_class_weights

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

    def fit_class_weights(self, labels: np.ndarray, balanced: bool | None = None) -> None:
        """`class_weight=balanced`: n / (k * n_c) for each of the k classes present in `labels` (the rows this
        fit trains on), as sklearn's `class_weight="balanced"`; absent classes keep weight 1. Under "auto" the
        probe passes `balanced`; any other fit (fine-tuning) keeps the plain mean."""
        if not (self.class_weight == "balanced" if balanced is None else balanced):
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
