"""Linear probe solved exactly: an L2-regularised linear head fitted by full-batch L-BFGS for each strength
of a grid (strongest first, warm-started), the strength chosen on the validation rows.

The standard linear-evaluation protocol (e.g. SimCLR's logistic regression on frozen features): with a few
hundred labels, a head trained by a few hundred AdamW steps and early stopping is neither converged nor
regularised by a chosen amount, and its score says as much about the optimiser as about the features.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor, nn

from ssl_ads.tasks.base import Task

# Penalty `l2 / 2 * ||W||^2` added to the mean training loss (the bias is not penalised).
L2_GRID = tuple(float(10.0**e) for e in np.arange(1.0, -4.01, -0.5))


def fit_l2_probe(
    task: Task,
    features: np.ndarray,
    labels: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    l2_grid: tuple[float, ...] = L2_GRID,
    max_iter: int = 100,
) -> tuple[nn.Module, float, float]:
    """Returns the head with the best validation primary metric, its L2 strength and that metric."""
    x = torch.as_tensor(np.asarray(features[train_rows]), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels[train_rows]))
    x_val = torch.as_tensor(np.asarray(features[val_rows]), dtype=torch.float32)
    y_val = torch.as_tensor(np.asarray(labels[val_rows]))
    head = task.make_head(x.shape[1])
    weights = [p for p in head.parameters() if p.ndim > 1]
    best: tuple[float, float, nn.Module] | None = None
    for l2 in sorted(l2_grid, reverse=True):  # strong to weak: each fit starts from the previous optimum
        optimizer = torch.optim.LBFGS(
            head.parameters(), lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe"
        )

        def closure(l2: float = l2, optimizer: torch.optim.LBFGS = optimizer) -> Tensor:
            optimizer.zero_grad()
            loss = task.loss(head(x), y) + 0.5 * l2 * sum((w**2).sum() for w in weights)
            loss.backward()
            return loss

        optimizer.step(closure)
        score = score_head(task, head, x_val, y_val)[task.primary_metric]
        if best is None or score > best[0]:
            best = (score, l2, copy.deepcopy(head))
    assert best is not None
    return best[2], best[1], best[0]


def score_head(task: Task, head: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]:
    """Every metric of the task for the head's predictions on `x`."""
    metrics = task.metrics()
    with torch.no_grad():
        metrics.update(task.predictions(head(x)), y.long())
    return {k: float(v) for k, v in metrics.compute().items()}
