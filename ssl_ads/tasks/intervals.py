"""95 % intervals for test metrics, from per-entity test predictions.

Why: a test split with three positives gives an AUROC to four decimals that is noise presented as a result.
Every test metric therefore carries an interval that says how much of the number the data supports:

- binary AUROC: DeLong's variance (Sun & Xu's O(n log n) midrank form), a normal interval clipped to [0, 1];
- everything else (accuracy, macro-F1, AUPRC, log-loss, calibration error, recall at a false-positive rate,
  multi-class AUROC, the quality gate, per-user ranking metrics): a seeded percentile bootstrap over the
  test entities. Each resample is a row of multiplicity weights (how often each entity is drawn), and every
  known metric is a weighted statistic evaluated for a whole block of resamples at once (one sort per
  metric, cumulative sums over the resamples: no loop per row, and none per resample). A metric this module
  does not know is resampled with its own torchmetrics object, one resample at a time (slow, but right).

The same seed gives the same resamples for every row of a run (a paired bootstrap: two rows scored on the
same test split are resampled alike). When entities are groups of rows (a task split by `user_id`), whole
groups are drawn, and AUROC is bootstrapped as well, since DeLong assumes independent rows. A resample in
which a metric is undefined (no positive drawn) is left out of its percentiles. A percentile interval of a
biased statistic (calibration error, recall at a fixed false-positive rate) can miss the point estimate;
such an interval is widened to reach it, so a reported interval always contains its point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryCalibrationError,
    BinarySensitivityAtSpecificity,
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassF1Score,
)

from ssl_ads.tasks.impression_binary import EPS, BinaryLogLoss
from ssl_ads.tasks.quality_gate import GateAccuracy, GateCoverage, gate

LEVEL = 0.95
RESAMPLES = 1000
MIN_POSITIVES = 30  # RunConfig.min_positives' default
_CHUNK_CELLS = 1 << 22  # resample × entity weights held at once (32 MB of float64)

Statistic = Callable[[np.ndarray], np.ndarray]  # weights [b, n] -> one value per resample [b]


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


# ---------------------------------------------------------------------------------------------------- DeLong


def midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank (what Mann-Whitney and DeLong count ties as)."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = ((starts + ends + 1) / 2.0)[np.cumsum(first) - 1]
    return ranks


def delong(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """`(AUROC, DeLong variance)` of `scores` for 0/1 `labels`, in O(n log n) (Sun & Xu 2014); NaNs without
    both classes. The variance is S10 / m + S01 / n over the placement values of the m positives and n negatives."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(labels) == 1
    x, y = scores[positive], scores[~positive]
    m, n = len(x), len(y)
    if m == 0 or n == 0:
        return float("nan"), float("nan")
    tz = midranks(np.concatenate([x, y]))
    v10 = (tz[:m] - midranks(x)) / n  # per positive: the share of negatives scored below it (ties count half)
    v01 = 1.0 - (tz[m:] - midranks(y)) / m  # per negative: the share of positives scored above it
    auc = float(v10.mean())
    s10 = v10.var(ddof=1) if m > 1 else 0.0
    s01 = v01.var(ddof=1) if n > 1 else 0.0
    return auc, float(s10 / m + s01 / n)


def delong_interval(scores: np.ndarray, labels: np.ndarray, level: float = LEVEL) -> Interval:
    auc, variance = delong(scores, labels)
    if not np.isfinite(auc):
        return Interval(None, None, "delong")
    half = NormalDist().inv_cdf(0.5 + level / 2) * np.sqrt(variance)
    return Interval(max(0.0, auc - half), min(1.0, auc + half), "delong")


# ------------------------------------------------------------------------------------------------- bootstrap


def resample_weights(
    n: int, resamples: int, seed: int, groups: np.ndarray | None = None
) -> Iterator[np.ndarray]:
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


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def _mean(values: np.ndarray) -> Statistic:
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


def _plain(metric: Metric) -> bool:
    return getattr(metric, "ignore_index", None) is None and getattr(metric, "thresholds", None) is None


def statistic_for(metric: Metric, preds: Tensor, target: Tensor) -> Statistic:
    """The weighted, vectorized form of a torchmetrics metric for these predictions (see the module docstring);
    at unit weights it equals the metric itself."""
    p = preds.detach().cpu().double().numpy()
    y = target.detach().cpu().long().numpy()
    if preds.ndim == 1 and _plain(metric):
        positive = y == 1
        if isinstance(metric, BinaryLogLoss):
            q = np.clip(p, EPS, 1 - EPS)
            return _mean(-(y * np.log(q) + (1 - y) * np.log(1 - q)))
        if isinstance(metric, BinaryAveragePrecision):
            return _average_precision(p, positive)
        if isinstance(metric, BinaryAUROC) and metric.max_fpr is None:
            return _auroc(p, positive)
        if isinstance(metric, BinarySensitivityAtSpecificity):
            return _recall_at_specificity(p, positive, metric.min_specificity)
        if isinstance(metric, BinaryCalibrationError) and metric.norm == "l1":
            return _calibration_error(preds.detach().cpu().numpy(), y, metric.n_bins)
    if preds.ndim == 2 and _plain(metric):
        predicted = p.argmax(1)
        single = getattr(metric, "top_k", 1) == 1 and getattr(metric, "multidim_average", "global") == "global"
        if isinstance(metric, MulticlassAccuracy) and metric.average == "micro" and single:
            return _mean(predicted == y)
        if isinstance(metric, MulticlassF1Score) and metric.average == "macro" and single:
            return _macro_f1(predicted, y, p.shape[1])
        if isinstance(metric, MulticlassAUROC) and metric.average == "macro":
            return _multiclass_auroc(p, y)
        if isinstance(metric, GateCoverage | GateAccuracy):
            chosen, _, forwarded = (t.numpy() for t in gate(preds.detach().cpu().float(), metric.threshold))
            if isinstance(metric, GateCoverage):
                return _mean(forwarded)
            right = (forwarded & (chosen == y)).astype(np.float64)
            fwd = forwarded.astype(np.float64)
            return lambda w: _ratio(w @ right, w @ fwd)
    return _resampled(metric, preds, target)


def _uses_delong(metric: Metric, preds: Tensor, groups: np.ndarray | None) -> bool:
    """Binary AUROC on independent entities (a two-class macro AUROC is the AUROC of the second column)."""
    if groups is not None or not _plain(metric):
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
    statistics = {name: _mean(np.asarray(v, dtype=np.float64)) for name, v in values.items()}
    return _reported(bootstrap(statistics, lengths.pop() if lengths else 0, seed, resamples, level), points, prefix)


def _reported(intervals: Mapping[str, Interval], points: Mapping[str, float] | None, prefix: str) -> dict[str, dict]:
    points = points or {}
    return {
        f"{prefix}{name}": interval.containing(points.get(f"{prefix}{name}")).as_dict()
        for name, interval in sorted(intervals.items())
    }


# ------------------------------------------------------------------------------------------- counts, warnings


def count_positives(labels: np.ndarray) -> int:
    return int((np.asarray(labels) == 1).sum())


def count_positive_groups(labels: np.ndarray, groups: np.ndarray) -> int:
    """Groups with at least one positive row (a bot's 40 impressions are one bot, not 40 independent cases)."""
    return len(np.unique(np.asarray(groups)[np.asarray(labels) == 1]))


def positive_warnings(rows: list, min_positives: int) -> list[str]:
    """One line per test split or label budget (of rows carrying `counts`) with fewer than `min_positives`
    positives (positive groups, when rows come in groups): a metric resting on a handful of positives is noise,
    whatever its decimals."""
    lines: dict[str, None] = {}
    for row in rows:
        counts = getattr(row, "counts", None) or {}
        if "n_test_pos_groups" in counts:
            test_pos, what = counts["n_test_pos_groups"], (
                f"{counts['n_test_pos_groups']} positive groups ({counts['n_test_pos']} positive rows) of "
                f"{counts['n_test_groups']}"
            )
        else:
            test_pos, what = counts.get("n_test_pos"), f"{counts.get('n_test_pos')} positives of {counts.get('n_test')}"
        if test_pos is not None and test_pos < min_positives:
            lines[
                f"the test split holds {what} (< min_positives={min_positives}): every test metric rests on them; "
                "read the intervals, not the decimals"
            ] = None
    for row in sorted(rows, key=lambda r: r.label_fraction):
        counts = getattr(row, "counts", None) or {}
        budget_pos = counts.get("n_budget_pos_groups", counts.get("n_budget_pos"))
        unit = "positive groups" if "n_budget_pos_groups" in counts else "positives"
        if budget_pos is not None and budget_pos < min_positives:
            lines[
                f"label fraction {row.label_fraction:g} ({row.n_labels} labels) holds {budget_pos} {unit} "
                f"(< min_positives={min_positives}): its models are fitted on very few positive cases"
            ] = None
    return list(lines)
