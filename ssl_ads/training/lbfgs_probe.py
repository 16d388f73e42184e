"""Linear probe solved exactly: an L2-regularised linear head fitted by full-batch L-BFGS for each strength
of a grid (strongest first, warm-started), the strength chosen on validation rows or by k-fold
cross-validation over the labeled rows.

The standard linear-evaluation protocol (e.g. SimCLR's logistic regression on frozen features): with a few
hundred labels, a head trained by a few hundred AdamW steps and early stopping is neither converged nor
regularised by a chosen amount, and its score says as much about the optimiser as about the features.
Cross-validation (`fit_l2_probe_cv`) is how a user with only a few hundred labels chooses the strength:
every label both trains and selects, and no label outside the budget is read.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from torch import Tensor, nn

from ssl_ads.errors import DataError
from ssl_ads.tasks.base import LabeledTask

# Penalty `l2 / 2 * ||W||^2` added to the mean training loss (the bias is not penalised).
L2_GRID = tuple(float(10.0**e) for e in np.arange(3.0, -4.01, -0.5))


def regularisation_path(
    task: LabeledTask, x: Tensor, y: Tensor, l2_grid: tuple[float, ...], max_iter: int = 100
) -> Iterator[tuple[float, nn.Module]]:
    """Yields `(l2, head)` from the strongest strength to the weakest; each fit starts at the previous optimum
    (the head is the same module, updated in place: copy it to keep one)."""
    head = task.make_head(x.shape[1])
    weights = [p for p in head.parameters() if p.ndim > 1]
    for l2 in sorted(l2_grid, reverse=True):
        optimizer = torch.optim.LBFGS(
            head.parameters(), lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe"
        )

        def closure(l2: float = l2, optimizer: torch.optim.LBFGS = optimizer) -> Tensor:
            optimizer.zero_grad()
            loss = task.loss(head(x), y) + 0.5 * l2 * sum((w**2).sum() for w in weights)
            loss.backward()
            return loss

        optimizer.step(closure)
        yield l2, head


def fit_l2_probe(
    task: LabeledTask,
    features: np.ndarray,
    labels: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    l2_grid: tuple[float, ...] = L2_GRID,
    max_iter: int = 100,
) -> tuple[nn.Module, float, float]:
    """Returns the head with the best validation primary metric, its L2 strength and that metric."""
    x, y = _tensors(features, labels, train_rows)
    x_val, y_val = _tensors(features, labels, val_rows)
    best: tuple[float, float, nn.Module] | None = None
    for l2, head in regularisation_path(task, x, y, l2_grid, max_iter):
        score = score_head(task, head, x_val, y_val)[task.primary_metric]
        if best is None or score > best[0]:
            best = (score, l2, copy.deepcopy(head))
    assert best is not None
    return best[2], best[1], best[0]


def fit_l2_probe_cv(
    task: LabeledTask,
    features: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray,
    folds: int,
    seed: int,
    l2_grid: tuple[float, ...] = L2_GRID,
    max_iter: int = 100,
) -> tuple[nn.Module, float, float, dict[str, float]]:
    """The strength with the best out-of-fold primary metric over stratified, seeded `folds` of `rows`, then
    the head refitted on all of `rows` at that strength; returns it, the strength, the out-of-fold primary
    metric and every out-of-fold metric of the task at that strength."""
    y_all = np.asarray(labels[rows])
    classes = len(np.unique(y_all))
    if folds < 2 or len(rows) < folds or classes < 2:
        raise DataError(
            f"probe.cv_folds={folds}: cross-validation needs >= 2 folds, at least that many labeled rows and "
            f"two classes ({len(rows)} rows, {classes} class)"
        )
    grid = tuple(sorted(l2_grid, reverse=True))
    out_of_fold: dict[float, list[Tensor]] = {l2: [] for l2 in grid}
    held_out = []
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a class rarer than `folds` (a department with 2 labels) sits out some folds
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splits = list(splitter.split(np.zeros(len(rows)), y_all))
    for fit_idx, held_idx in splits:
        x, y = _tensors(features, labels, rows[fit_idx])
        x_held, _ = _tensors(features, labels, rows[held_idx])
        held_out.append(held_idx)
        for l2, head in regularisation_path(task, x, y, grid, max_iter):
            with torch.no_grad():
                out_of_fold[l2].append(head(x_held))
    order = np.concatenate(held_out)
    y_order = torch.as_tensor(y_all[order])
    scores = {l2: _score_logits(task, torch.cat(out_of_fold[l2]), y_order) for l2 in grid}
    best = max(grid, key=lambda l2: scores[l2][task.primary_metric])  # ties: the strongest (first in `grid`)
    x, y = _tensors(features, labels, rows)
    path = regularisation_path(task, x, y, tuple(l2 for l2 in grid if l2 >= best), max_iter)
    *_, (_, head) = path
    return head, best, scores[best][task.primary_metric], scores[best]


def score_head(task: LabeledTask, head: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]:
    """Every metric of the task for the head's predictions on `x`."""
    with torch.no_grad():
        return _score_logits(task, head(x), y)


def _score_logits(task: LabeledTask, logits: Tensor, y: Tensor) -> dict[str, float]:
    metrics = task.metrics()
    metrics.update(task.predictions(logits), y.long())
    return {k: float(v) for k, v in metrics.compute().items()}


def _tensors(features: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> tuple[Tensor, Tensor]:
    return torch.as_tensor(np.asarray(features[rows]), dtype=torch.float32), torch.as_tensor(np.asarray(labels[rows]))
