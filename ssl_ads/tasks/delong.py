"""DeLong's variance of a binary AUROC, in Sun & Xu's O(n log n) midrank form (the interval is in `intervals`)."""

from __future__ import annotations

import numpy as np


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
