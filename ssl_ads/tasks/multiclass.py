"""The shared part of the classifiers over named classes (session intent, text labels): labels of any type
mapped to class indices in sorted order, and a linear head with one logit per class."""

from __future__ import annotations

import numpy as np
import polars as pl
from torch import nn

from ssl_ads.errors import DataError
from ssl_ads.tasks.base import LabeledTask
from ssl_ads.tasks.label_columns import class_codes, label_column


class MulticlassTask(LabeledTask):
    """Subclasses set `modality`, `loss`, `predictions` and `metrics`; `classes` is read from the labels."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.name = label
        self.classes: list[str] = []

    def extract_labels(self, labels: pl.DataFrame, source: str) -> np.ndarray:
        self.classes, codes = class_codes(label_column(labels, self.label, source), source)
        return codes

    @property
    def num_classes(self) -> int:
        if not self.classes:
            raise DataError(f"task '{self.label}': labels must be read before the head is built")
        return len(self.classes)

    def make_head(self, dim: int) -> nn.Module:
        return nn.Linear(dim, self.num_classes)
