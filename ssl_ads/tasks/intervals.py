"""95 % intervals for test metrics, from per-entity test predictions.

Why: a test split with three positives gives an AUROC to four decimals that is noise presented as a result.
Every test metric therefore carries an interval that says how much of the number the data supports:

- binary AUROC: DeLong's variance (`ssl_ads.tasks.delong`), a normal interval clipped to [0, 1];
- everything else (accuracy, macro-F1, AUPRC, log-loss, calibration error, recall at a false-positive rate,
  multi-class AUROC, the quality gate, per-user ranking metrics): a seeded percentile bootstrap over the
  test entities. Each resample is a row of multiplicity weights (how often each entity is drawn), and every
  known metric is a weighted statistic evaluated for a whole block of resamples at once
  (`ssl_ads.tasks.weighted_statistics`: no loop per row, and none per resample).

The same seed gives the same resamples for every row of a run (a paired bootstrap: two rows scored on the
same test split are resampled alike). When entities are groups of rows (a task split by `user_id`), whole
groups are drawn, and AUROC is bootstrapped as well, since DeLong assumes independent rows. A resample in
which a metric is undefined (no positive drawn) is left out of its percentiles. A percentile interval of a
biased statistic (calibration error, recall at a fixed false-positive rate) can miss the point estimate;
such an interval is widened to reach it, so a reported interval always contains its point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import BinaryAUROC, MulticlassAUROC

from ssl_ads.tasks.delong import delong
from ssl_ads.tasks.weighted_statistics import Statistic, mean_statistic, plain_metric, resample_weights, statistic_for

LEVEL = 0.95
RESAMPLES = 1000


@dataclass(frozen=True)
class Interval:
    """A two-sided interval at `LEVEL`; `low`/`high` are None when the data cannot define it."""

    low: float | None
    high: float | None
    method: str  # "delong", "bootstrap" or "cluster bootstrap"

    def as_dict(self) -> dict:
        return asdict(self)

    def containing(self, point: float | None) -> Interval:
        """Widened to reach `point` (see the module docstring); unchanged when either side is undefined."""
        if self.low is None or self.high is None or point is None or not np.isfinite(point):
            return self
        return Interval(min(self.low, float(point)), max(self.high, float(point)), self.method)


def delong_interval(scores: np.ndarray, labels: np.ndarray, level: float = LEVEL) -> Interval:
    auc, variance = delong(scores, labels)
    if not np.isfinite(auc):
        return Interval(None, None, "delong")
    half = NormalDist().inv_cdf(0.5 + level / 2) * np.sqrt(variance)
    return Interval(max(0.0, auc - half), min(1.0, auc + half), "delong")


def bootstrap(
    statistics: Mapping[str, Statistic],
    n: int,
    seed: int,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    groups: np.ndarray | None = None,
) -> dict[str, Interval]:
    """Percentile intervals of each statistic over the same seeded resamples of n entities."""
    values: dict[str, list[np.ndarray]] = {name: [] for name in statistics}
    for weights in resample_weights(n, resamples, seed, groups):
        for name, statistic in statistics.items():
            values[name].append(np.asarray(statistic(weights), dtype=np.float64))
    method = "bootstrap" if groups is None else "cluster bootstrap"
    out = {}
    for name, parts in values.items():
        drawn = np.concatenate(parts) if parts else np.zeros(0)
        drawn = drawn[np.isfinite(drawn)]
        if drawn.size == 0:
            out[name] = Interval(None, None, method)
            continue
        low, high = np.quantile(drawn, [(1 - level) / 2, (1 + level) / 2])
        out[name] = Interval(float(low), float(high), method)
    return out


def _uses_delong(metric: Metric, preds: Tensor, groups: np.ndarray | None) -> bool:
    """Binary AUROC on independent entities (a two-class macro AUROC is the AUROC of the second column)."""
    if groups is not None or not plain_metric(metric):
        return False
    if isinstance(metric, BinaryAUROC):
        return preds.ndim == 1 and metric.max_fpr is None
    return isinstance(metric, MulticlassAUROC) and preds.ndim == 2 and preds.shape[1] == 2


def metric_intervals(
    metrics: MetricCollection,
    preds: Tensor,
    target: Tensor,
    seed: int,
    points: Mapping[str, float] | None = None,
    prefix: str = "test_",
    groups: np.ndarray | None = None,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> dict[str, dict]:
    """`{prefix + name: {"low", "high", "method"}}` for every metric of the collection, from the predictions
    behind it (`preds` as the task's `predictions()`, `target` the labels; one row per test entity, or per
    row of a `groups` entity). `points` (keyed with the prefix) are the reported values each interval must
    contain."""
    preds, target = torch.as_tensor(preds), torch.as_tensor(target)
    intervals: dict[str, Interval] = {}
    statistics: dict[str, Statistic] = {}
    for name, metric in metrics.items():
        if _uses_delong(metric, preds, groups):
            scores = preds if preds.ndim == 1 else preds[:, 1]
            intervals[name] = delong_interval(scores.double().numpy(), target.numpy(), level)
        else:
            statistics[name] = statistic_for(metric, preds, target)
    intervals.update(bootstrap(statistics, len(target), seed, resamples, level, groups))
    return _reported(intervals, points, prefix)


def mean_intervals(
    values: Mapping[str, np.ndarray],
    seed: int,
    points: Mapping[str, float] | None = None,
    prefix: str = "test_",
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> dict[str, dict]:
    """Intervals of metrics that are means of per-entity values (HR@K, NDCG@K, MRR per test user)."""
    lengths = {len(v) for v in values.values()}
    if len(lengths) > 1:
        raise ValueError(f"per-entity values of different lengths: {sorted(lengths)}")
    statistics = {name: mean_statistic(np.asarray(v, dtype=np.float64)) for name, v in values.items()}
    return _reported(bootstrap(statistics, lengths.pop() if lengths else 0, seed, resamples, level), points, prefix)


def _reported(intervals: Mapping[str, Interval], points: Mapping[str, float] | None, prefix: str) -> dict[str, dict]:
    points = points or {}
    return {
        f"{prefix}{name}": interval.containing(points.get(f"{prefix}{name}")).as_dict()
        for name, interval in sorted(intervals.items())
    }
