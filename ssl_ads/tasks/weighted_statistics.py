"""Test metrics as weighted statistics, evaluated for a whole block of bootstrap resamples at once.

Each resample is a row of multiplicity weights (how often each test entity is drawn); every metric known
here is a function of those weights, computed with one sort per metric and cumulative sums over the
resamples: no loop per row, and none per resample. At unit weights each equals its torchmetrics metric. A
metric not known here is resampled with its own torchmetrics object, one resample at a time (slow, but right).
The intervals built from them are `ssl_ads.tasks.intervals`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.classification import (
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryCalibrationError,
    BinarySensitivityAtSpecificity,
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassF1Score,
)

from ssl_ads.tasks.binary import EPS, BinaryLogLoss
from ssl_ads.tasks.quality_gate import GateAccuracy, GateCoverage, gate

_CHUNK_CELLS = 1 << 22  # resample × entity weights held at once (32 MB of float64)

Statistic = Callable[[np.ndarray], np.ndarray]  # weights [b, n] -> one value per resample [b]


def resample_weights(n: int, resamples: int, seed: int, groups: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Blocks of bootstrap weights `[b, n]`: how often each of the n rows is drawn in each resample (all the
    rows of a group drawn together when `groups` is given). Seeded: the same blocks for the same arguments."""
    if n == 0:
        return
    rng = np.random.default_rng(seed)
    if groups is None:
        unit, n_units = np.arange(n), n
    else:
        _, unit = np.unique(np.asarray(groups), return_inverse=True)
        n_units = int(unit.max()) + 1 if n else 0
    block = max(1, _CHUNK_CELLS // max(n, 1))
    done = 0
    while done < resamples:
        b = min(block, resamples - done)
        draws = rng.integers(0, n_units, size=(b, n_units)) + n_units * np.arange(b)[:, None]
        counts = np.bincount(draws.ravel(), minlength=b * n_units).reshape(b, n_units)
        yield counts[:, unit].astype(np.float64)
        done += b


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def mean_statistic(values: np.ndarray) -> Statistic:
    values = np.asarray(values, dtype=np.float64)
    return lambda w: _ratio(w @ values, w.sum(1))


class _Tied:
    """Scores sorted once, ties grouped: weighted per-group sums of any per-row quantity for a block of resamples."""

    def __init__(self, scores: np.ndarray, descending: bool) -> None:
        scores = np.asarray(scores)
        self.order = np.argsort(-scores if descending else scores, kind="mergesort")
        ordered = scores[self.order]
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])

    def sums(self, weights: np.ndarray, values: np.ndarray) -> np.ndarray:
        """`[b, groups]`: per resample, the weighted sum of `values` over each group of tied scores."""
        return np.add.reduceat(weights[:, self.order] * values[self.order], self.starts, axis=1)


def _auroc(scores: np.ndarray, positive: np.ndarray) -> Statistic:
    """Weighted Mann-Whitney AUROC (ties count half), as torchmetrics' trapezoidal ROC area."""
    tied, pos = _Tied(scores, descending=False), positive.astype(np.float64)

    def statistic(w: np.ndarray) -> np.ndarray:
        p, q = tied.sums(w, pos), tied.sums(w, 1.0 - pos)
        below = np.cumsum(q, axis=1) - q
        return _ratio((p * (below + 0.5 * q)).sum(1), p.sum(1) * q.sum(1))

    return statistic


def _average_precision(scores: np.ndarray, positive: np.ndarray) -> Statistic:
    """Σ_k (R_k − R_{k−1}) P_k over the distinct thresholds, as torchmetrics / sklearn's average precision."""
    tied, pos = _Tied(scores, descending=True), positive.astype(np.float64)

    def statistic(w: np.ndarray) -> np.ndarray:
        tp, fp = np.cumsum(tied.sums(w, pos), axis=1), np.cumsum(tied.sums(w, 1.0 - pos), axis=1)
        precision = np.nan_to_num(_ratio(tp, tp + fp))
        gained = np.diff(tp, axis=1, prepend=0.0)
        return _ratio((gained * precision).sum(1), tp[:, -1])

    return statistic


def _recall_at_specificity(scores: np.ndarray, positive: np.ndarray, min_specificity: float) -> Statistic:
    """The best true-positive rate among thresholds whose specificity reaches `min_specificity` (compared in
    float32, as torchmetrics does)."""
    tied, pos = _Tied(scores, descending=True), positive.astype(np.float64)
    floor = np.float32(min_specificity)

    def statistic(w: np.ndarray) -> np.ndarray:
        tp, fp = np.cumsum(tied.sums(w, pos), axis=1), np.cumsum(tied.sums(w, 1.0 - pos), axis=1)
        n_pos, n_neg = tp[:, -1:], fp[:, -1:]
        specificity = np.float32(1.0) - _ratio(fp, n_neg).astype(np.float32)
        best = np.where(specificity >= floor, _ratio(tp, n_pos), 0.0).max(1)
        return np.where((n_pos[:, 0] > 0) & (n_neg[:, 0] > 0), np.maximum(best, 0.0), np.nan)

    return statistic


def _calibration_error(probs: np.ndarray, target: np.ndarray, n_bins: int) -> Statistic:
    """L1 expected calibration error: Σ_bins |Σ_{i in bin} (y_i − p_i)| / n, binned as torchmetrics bins."""
    p32 = torch.as_tensor(probs, dtype=torch.float32)
    bins = (torch.bucketize(p32, torch.linspace(0, 1, n_bins + 1), right=True) - 1).numpy()
    gaps = np.zeros((len(probs), n_bins + 1))
    gaps[np.arange(len(probs)), bins] = target - p32.double().numpy()
    return lambda w: _ratio(np.abs(w @ gaps).sum(1), w.sum(1))


def _macro_f1(predicted: np.ndarray, target: np.ndarray, classes: int) -> Statistic:
    """Macro F1 over the classes with any true positive, false positive or false negative (torchmetrics' rule)."""
    truth, guess = np.eye(classes)[target], np.eye(classes)[predicted]
    tp_rows, fp_rows, fn_rows = truth * guess, (1 - truth) * guess, truth * (1 - guess)

    def statistic(w: np.ndarray) -> np.ndarray:
        tp, fp, fn = w @ tp_rows, w @ fp_rows, w @ fn_rows
        present = (tp + fp + fn) > 0
        f1 = np.nan_to_num(_ratio(2 * tp, 2 * tp + fp + fn))
        return _ratio((f1 * present).sum(1), present.sum(1).astype(np.float64))

    return statistic


def _multiclass_auroc(probs: np.ndarray, target: np.ndarray) -> Statistic:
    """Macro one-vs-rest AUROC; a class without positives or negatives in a resample counts as 0, as torchmetrics
    counts it in the reported value (so a rare class that a resample misses pulls that resample down)."""
    per_class = [_auroc(probs[:, c], target == c) for c in range(probs.shape[1])]
    return lambda w: np.nan_to_num(np.stack([s(w) for s in per_class], axis=1)).mean(1)


def _resampled(metric: Metric, preds: Tensor, target: Tensor) -> Statistic:
    """Any other metric: its own torchmetrics object on each resample, one at a time."""
    metric = metric.clone()
    rows = np.arange(len(target))

    def statistic(w: np.ndarray) -> np.ndarray:
        out = []
        for counts in w.astype(np.int64):
            index = torch.as_tensor(np.repeat(rows, counts))
            metric.reset()
            try:
                metric.update(preds[index], target[index])
                out.append(float(metric.compute()))
            except (ValueError, RuntimeError):
                out.append(float("nan"))
        return np.asarray(out)

    return statistic


def plain_metric(metric: Metric) -> bool:
    return getattr(metric, "ignore_index", None) is None and getattr(metric, "thresholds", None) is None


def statistic_for(metric: Metric, preds: Tensor, target: Tensor) -> Statistic:
    """The weighted, vectorized form of a torchmetrics metric for these predictions (see the module docstring);
    at unit weights it equals the metric itself."""
    p = preds.detach().cpu().double().numpy()
    y = target.detach().cpu().long().numpy()
    if preds.ndim == 1 and plain_metric(metric):
        positive = y == 1
        if isinstance(metric, BinaryLogLoss):
            q = np.clip(p, EPS, 1 - EPS)
            return mean_statistic(-(y * np.log(q) + (1 - y) * np.log(1 - q)))
        if isinstance(metric, BinaryAveragePrecision):
            return _average_precision(p, positive)
        if isinstance(metric, BinaryAUROC) and metric.max_fpr is None:
            return _auroc(p, positive)
        if isinstance(metric, BinarySensitivityAtSpecificity):
            return _recall_at_specificity(p, positive, metric.min_specificity)
        if isinstance(metric, BinaryCalibrationError) and metric.norm == "l1":
            return _calibration_error(preds.detach().cpu().numpy(), y, metric.n_bins)
    if preds.ndim == 2 and plain_metric(metric):
        predicted = p.argmax(1)
        single = getattr(metric, "top_k", 1) == 1 and getattr(metric, "multidim_average", "global") == "global"
        if isinstance(metric, MulticlassAccuracy) and metric.average == "micro" and single:
            return mean_statistic(predicted == y)
        if isinstance(metric, MulticlassF1Score) and metric.average == "macro" and single:
            return _macro_f1(predicted, y, p.shape[1])
        if isinstance(metric, MulticlassAUROC) and metric.average == "macro":
            return _multiclass_auroc(p, y)
        if isinstance(metric, GateCoverage | GateAccuracy):
            chosen, _, forwarded = (t.numpy() for t in gate(preds.detach().cpu().float(), metric.threshold))
            if isinstance(metric, GateCoverage):
                return mean_statistic(forwarded)
            right = (forwarded & (chosen == y)).astype(np.float64)
            fwd = forwarded.astype(np.float64)
            return lambda w: _ratio(w @ right, w @ fwd)
    return _resampled(metric, preds, target)
