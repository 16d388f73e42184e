"""A downstream task: label extraction and validation, head shape, loss and torchmetrics."""

from __future__ import annotations

import numpy as np
import polars as pl
from torch import Tensor, nn
from torchmetrics import MetricCollection

from ssl_ads.errors import ConfigError

# Values of the downstream options below that tasks may expose in their constructors (and validate against).
VALIDATION_LABELS = ("full", "matched")
PROBE_SOLVERS = ("adamw", "lbfgs")
HEAD_INITS = ("random", "probe")
CLASS_WEIGHTS = (None, "balanced", "auto")


def check_probe_cv_folds(folds: int, probe_solver: str) -> None:
    """`task.probe_cv_folds` is 0 (select on validation) or k >= 2, and only the exact (lbfgs) probe has a grid."""
    if folds == 1 or folds < 0:
        raise ConfigError(f"task.probe_cv_folds must be 0 (off) or >= 2, got {folds}")
    if folds and probe_solver != "lbfgs":
        raise ConfigError(f"task.probe_cv_folds={folds} needs task.probe_solver=lbfgs (got {probe_solver!r})")


class Task:
    """Subclasses set `modality`, `primary_metric` and implement the methods below."""

    modality: str | tuple[str, ...] = ()
    name: str = "task"
    primary_metric: str = "auroc"
    # Downstream options a task may expose in its config (these defaults are the plain protocol):
    # a label column whose values keep their rows in one split (e.g. user_id: split by user, not by row);
    split_by: str | None = None
    # validation labels for model selection at label fraction f: "full" (every validation row) or
    # "matched" (a stratified fraction f of them, so a 1 % run also selects with 1 % of the validation labels);
    validation_labels: str = "full"
    # the head also reads the featurized inputs (one-hot categorical ids, numeric values): a wide & deep head;
    wide: bool = False
    # fine-tuning a pretrained encoder (the scratch baseline keeps the plain recipe): the encoder's learning
    # rate is finetune.lr times this, and it is frozen for the first epochs.
    encoder_lr_scale: float = 1.0
    freeze_epochs: int = 0
    # the linear probe's solver: "adamw" (the `probe` loop: epochs, early stopping) or "lbfgs" (exact
    # L2-regularised head per strength of a grid, the strength chosen on the validation labels).
    probe_solver: str = "adamw"
    # lbfgs probe: 0 = the strength chosen on the validation rows; k >= 2 = by stratified k-fold cross-validation
    # over the fraction's label budget (its train labels, plus the matched validation labels), then refitted on it.
    probe_cv_folds: int = 0
    # fine-tuning a pretrained encoder starts its head at random or at the exact L2 probe's solution
    # ("probe": LP-FT, Kumar et al. 2022), so early updates do not distort the features to fit a random head.
    finetune_head_init: str = "random"
    # "balanced": each class's loss weighted by n / (k * n_c) over the labeled rows of the fit (sklearn's
    # class_weight="balanced"), so a minority class counts as much as the majority; None: the plain mean;
    # "auto" (cross-validated probe only): each probe fit takes whichever of the two has the better
    # out-of-fold accuracy (balanced wins with a few hundred skewed labels, the plain mean with thousands).
    class_weight: str | None = None

    def extract_labels(self, labels: pl.DataFrame, source: str) -> np.ndarray:  # pragma: no cover
        """Labels aligned with `labels`'s rows; raise DataError naming `source` and the column if unusable."""
        raise NotImplementedError

    def fit_class_weights(self, labels: np.ndarray, balanced: bool | None = None) -> None:
        """Called before every downstream fit with the labels it trains on, so a class-weighted loss
        (`class_weight`) weighs that fit's own class counts; tasks without such a loss ignore it.
        `balanced` overrides the config (the probe trying both under `class_weight=auto`)."""

    def make_head(self, dim: int) -> nn.Module:  # pragma: no cover
        raise NotImplementedError

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def metrics(self) -> MetricCollection:  # pragma: no cover
        raise NotImplementedError
