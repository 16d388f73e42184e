"""A downstream task says what is predicted and measured: labels, head shape, loss, metrics, split unit.

How a head is trained on it (probe solver, folds, class weights, lr scales, freezing) is the recipe of the
`probe:` / `finetune:` loops (`ssl_ads.config.schema`), never the task's.

`Task` is what every task declares (the evaluator kind that runs it, its metric, its split unit);
`LabeledTask` adds the labeled-head contract the `labels` evaluator calls (`ssl_ads.evaluation.labeled`).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from torch import Tensor, nn
from torchmetrics import MetricCollection


class Task:
    """Subclasses set `modality`, `kind`, `primary_metric` (and `name`, `label` in their constructor)."""

    modality: str | tuple[str, ...] = ()
    # which evaluator runs the task (`ssl_ads.stages.evaluators.EVALUATORS`): "labels" (a head on each row's
    # representation) or "ranking" (the encoder scores the catalogue)
    kind: str = "labels"
    name: str = "task"
    label: str = "label"
    primary_metric: str = "auroc"
    # a column of the data's rows whose values keep their rows in one split (e.g. user_id); None: by row
    split_by: str | None = None
    # metrics known before any data is read (None: build `metrics()` to list them)
    metric_names: tuple[str, ...] | None = None


class LabeledTask(Task):
    """A label per row, a head on the encoder's features, a loss and torchmetrics (the `labels` evaluator)."""

    kind = "labels"
    # quality gate: items whose top class probability reaches it are forwarded, the rest reviewed; None: no gate
    gate_threshold: float | None = None
    # whether the loss can weigh classes (`probe.class_weight` / `finetune.class_weight`)
    supports_class_weight: bool = False

    def extract_labels(self, labels: pl.DataFrame, source: str) -> np.ndarray:  # pragma: no cover
        """Labels aligned with `labels`'s rows; raise DataError naming `source` and the column if unusable."""
        raise NotImplementedError

    def fit_class_weights(self, labels: np.ndarray, balanced: bool = False) -> None:
        """Called before every downstream fit with the labels it trains on: `balanced` weighs that fit's own
        class counts (the loop's `class_weight`); tasks whose loss has no weights ignore it."""

    def make_head(self, dim: int) -> nn.Module:  # pragma: no cover
        raise NotImplementedError

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def predictions(self, logits: Tensor) -> Tensor:  # pragma: no cover
        """What the metrics read: probabilities `[B]` (binary) or `[B, C]`."""
        raise NotImplementedError

    def metrics(self) -> MetricCollection:  # pragma: no cover
        raise NotImplementedError
