"""Drift between the data a model was trained on and new data: PSI per input field, and on the embeddings.

Measured on the featurized inputs (the checkpoint's featurizer, never refitted), because that is what the model
reads: a new category is the out-of-vocabulary id whatever its raw value, a vocabulary that stopped matching shows
as OOV mass. Population stability index, PSI = Σ (c − r) · ln(c / r) over bins with reference shares r and current
shares c (each floored at 1e-4 so an empty bin stays finite); the usual reading is < 0.1 stable, 0.1–0.2 moderate,
> 0.2 a significant shift.

- categorical fields: a bin per special id (missing, OOV), one per the reference's `max_categories` most frequent
  ids, and one for the remaining ids;
- numeric fields (and history / text lengths): bins cut at the reference's quantiles (`bins` of them, fewer when
  values repeat), so each holds about the same share of the reference;
- embeddings: the RMS over dimensions of the standardised mean difference (current mean − reference mean, in
  reference standard deviations), beside the share of OOV ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

FLOOR = 1e-4
SIGNIFICANT_PSI = 0.2


@dataclass
class FieldDrift:
    """One input field's PSI, with the bins behind it (labels and shares, for the plot)."""

    name: str
    kind: str  # "categorical" or "numeric"
    psi: float
    labels: list[str] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)
    current: list[float] = field(default_factory=list)
    oov_reference: float | None = None  # share of the OOV id (categorical fields)
    oov_current: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Population stability index of two histograms over the same bins (counts or shares)."""
    ref = np.asarray(reference_counts, dtype=np.float64)
    cur = np.asarray(current_counts, dtype=np.float64)
    if ref.sum() <= 0 or cur.sum() <= 0:
        return float("nan")
    r = np.maximum(ref / ref.sum(), FLOOR)
    c = np.maximum(cur / cur.sum(), FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def categorical_drift(
    name: str, reference: np.ndarray, current: np.ndarray, specials: dict[int, str], max_categories: int = 20,
    oov_id: int | None = None, names: Callable[[int], str] | None = None,
) -> FieldDrift:  # fmt: skip
    """PSI of an id column: special ids each their own bin, the reference's top ids, and "other"; `names` labels
    an id with its raw value (the vocabulary's) for the plot."""
    reference = np.asarray(reference, dtype=np.int64).ravel()
    current = np.asarray(current, dtype=np.int64).ravel()
    size = int(max(reference.max(initial=0), current.max(initial=0), *specials, 0)) + 1
    ref_counts = np.bincount(reference, minlength=size)
    cur_counts = np.bincount(current, minlength=size)
    ranked = ref_counts.copy()
    ranked[list(specials)] = -1
    order = np.argsort(-ranked, kind="stable")
    top = [int(i) for i in order[:max_categories] if ranked[i] > 0]
    kept = [*specials, *top]
    rest = np.ones(size, dtype=bool)
    rest[kept] = False
    ref_bins = np.r_[ref_counts[kept], ref_counts[rest].sum()]
    cur_bins = np.r_[cur_counts[kept], cur_counts[rest].sum()]
    labels = [*specials.values(), *[names(i) if names else f"id {i}" for i in top], "other"]
    oov = {}
    if oov_id is not None:
        oov = {"oov_reference": _share(ref_counts[oov_id], len(reference)),
               "oov_current": _share(cur_counts[oov_id], len(current))}  # fmt: skip
    return FieldDrift(name, "categorical", psi(ref_bins, cur_bins), labels, _shares(ref_bins), _shares(cur_bins), **oov)


def numeric_drift(name: str, reference: np.ndarray, current: np.ndarray, bins: int = 10) -> FieldDrift:
    """PSI of a numeric column over bins cut at the reference's quantiles."""
    reference = np.asarray(reference, dtype=np.float64).ravel()
    current = np.asarray(current, dtype=np.float64).ravel()
    reference, current = reference[np.isfinite(reference)], current[np.isfinite(current)]
    # edges are reference values (inverted CDF), bins (lo, hi]: a 0/1 column gets exactly the bins {0} and {1}
    levels = np.linspace(0, 1, bins + 1)[1:-1]
    edges = np.unique(np.quantile(reference, levels, method="inverted_cdf")) if len(reference) else np.zeros(0)
    edges = edges[edges < reference.max()] if len(reference) else edges  # no empty bin above the maximum
    n_bins = len(edges) + 1
    ref_bins = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=n_bins)
    cur_bins = np.bincount(np.searchsorted(edges, current, side="left"), minlength=n_bins)
    bounds = [-np.inf, *edges.tolist(), np.inf]
    labels = [f"({lo:.3g}, {hi:.3g}]" for lo, hi in pairwise(bounds)]
    return FieldDrift(name, "numeric", psi(ref_bins, cur_bins), labels, _shares(ref_bins), _shares(cur_bins))


def embedding_shift(reference: np.ndarray, current: np.ndarray) -> float:
    """RMS over dimensions of (current mean − reference mean) / reference std: 0 for the same distribution,
    about 1 when every dimension moved by one reference standard deviation."""
    reference = np.asarray(reference, dtype=np.float64)
    current = np.asarray(current, dtype=np.float64)
    if len(reference) == 0 or len(current) == 0:
        return float("nan")
    scale = reference.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)  # a constant dimension: its raw mean difference
    standardised = (current.mean(axis=0) - reference.mean(axis=0)) / scale
    return float(np.sqrt(np.mean(standardised**2)))


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return (counts / total).tolist() if total > 0 else [0.0] * len(counts)


def _share(count: int, total: int) -> float:
    return float(count) / total if total else 0.0
