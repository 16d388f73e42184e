"""Drift measures of `ssl-ads monitor`: PSI against its formula, zero for identical data, large for shifted data;
and the binary decision threshold a model bundle carries (best F1 on validation rows)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssl_ads.use.decision import best_f1_threshold, choose_decision, decision_columns
from ssl_ads.use.drift import FLOOR, categorical_drift, embedding_shift, numeric_drift, psi


def reference_psi(expected: list[float], actual: list[float]) -> float:
    """The textbook formula, term by term: Σ (a_i − e_i) · ln(a_i / e_i) over shares."""
    return sum((a - e) * math.log(a / e) for e, a in zip(expected, actual, strict=True))


def test_psi_matches_the_formula_on_hand_made_shares():
    expected, actual = [0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]
    assert psi(np.array(expected), np.array(actual)) == pytest.approx(reference_psi(expected, actual), rel=1e-12)
    # counts are normalised: the same histogram at another scale is the same PSI
    assert psi(np.array([250, 250, 250, 250]), np.array([10, 20, 30, 40])) == pytest.approx(0.2282, abs=1e-4)


def test_psi_floors_empty_bins_and_is_symmetric_in_its_terms():
    value = psi(np.array([50, 50, 0]), np.array([40, 40, 20]))
    assert value == pytest.approx(reference_psi([0.5, 0.5, FLOOR], [0.4, 0.4, 0.2]), rel=1e-9)
    assert math.isfinite(value) and value > 0.2
    assert psi(np.array([1, 2, 3]), np.array([3, 2, 1])) == pytest.approx(psi(np.array([3, 2, 1]), np.array([1, 2, 3])))


def test_identical_data_has_zero_psi():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 30, 5000)
    values = rng.normal(size=5000)
    assert categorical_drift("c", ids, ids.copy(), {0: "missing", 1: "OOV"}).psi == 0.0
    assert numeric_drift("x", values, values.copy()).psi == 0.0
    assert math.isnan(embedding_shift(rng.normal(size=(200, 8)), np.zeros((0, 8))))  # nothing to compare
    same = rng.normal(size=(500, 8))
    assert embedding_shift(same, same.copy()) == 0.0


def test_shifted_data_has_large_psi():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=20_000)
    assert numeric_drift("x", reference, rng.normal(size=20_000)).psi < 0.01  # another sample: noise only
    assert numeric_drift("x", reference, rng.normal(loc=1.0, size=20_000)).psi > 0.2  # one std away
    ids = rng.integers(2, 12, 10_000)
    unseen = np.ones(10_000, dtype=np.int64)  # every value out of vocabulary
    drift = categorical_drift("c", ids, unseen, {0: "missing", 1: "OOV"}, oov_id=1)
    assert drift.psi > 5 and drift.oov_reference == 0.0 and drift.oov_current == 1.0
    shifted = rng.normal(loc=1.0, size=(2000, 4))
    assert embedding_shift(rng.normal(size=(2000, 4)), shifted) == pytest.approx(1.0, abs=0.1)


def test_categorical_bins_keep_specials_top_ids_and_other():
    reference = np.array([0, 1, 2, 2, 2, 3, 3, 4, 5, 6])
    current = np.array([1, 1, 2, 7, 7, 7, 3, 3, 3, 0])
    drift = categorical_drift("c", reference, current, {0: "missing", 1: "OOV"}, max_categories=2,
                              names=lambda i: f"v{i}")  # fmt: skip
    assert drift.labels == ["missing", "OOV", "v2", "v3", "other"]
    assert drift.reference == pytest.approx([0.1, 0.1, 0.3, 0.2, 0.3])
    assert drift.current == pytest.approx([0.1, 0.2, 0.1, 0.3, 0.3])  # id 7, unseen in the reference: "other"
    assert drift.psi == pytest.approx(reference_psi(drift.reference, drift.current))


def test_numeric_bins_are_reference_quantiles_and_merge_repeated_edges():
    reference = np.arange(100, dtype=float)
    drift = numeric_drift("x", reference, reference + 0.5, bins=4)
    assert len(drift.labels) == 4 and drift.reference == pytest.approx([0.25] * 4)
    indicator = numeric_drift("missing", np.r_[np.zeros(90), np.ones(10)], np.r_[np.zeros(50), np.ones(50)], bins=10)
    assert len(indicator.labels) == 2  # a 0/1 column has one cut
    assert indicator.psi == pytest.approx(reference_psi([0.9, 0.1], [0.5, 0.5]))


def test_best_f1_threshold_matches_brute_force():
    rng = np.random.default_rng(2)
    scores = np.round(rng.random(300), 2)  # ties: a run of equal scores stays on one side
    labels = (rng.random(300) < scores).astype(int)
    threshold, f1 = best_f1_threshold(scores, labels)

    def f1_at(t: float) -> float:
        flagged = scores >= t
        tp = int((flagged & (labels == 1)).sum())
        return 2 * tp / (flagged.sum() + labels.sum())

    assert f1 == pytest.approx(max(f1_at(t) for t in np.unique(scores)))
    assert f1 == pytest.approx(f1_at(threshold))


def test_decision_columns_by_task_kind():
    class Binary:  # as `Task`, which declares `gate_threshold = None` for tasks without a gate
        primary_metric = "auroc"
        gate_threshold = None

    scores = torch.tensor([0.1, 0.6, 0.9])
    decision = choose_decision(Binary(), scores, np.array([0, 1, 1]))
    assert decision["kind"] == "threshold" and decision["threshold"] == pytest.approx(0.6)
    score, predicted = decision_columns(decision, scores, [])
    assert score.name == "score" and predicted.to_list() == [0, 1, 1]

    class Gated:
        gate_threshold = 0.7

    probs = torch.tensor([[0.8, 0.2], [0.4, 0.6]])
    gate = choose_decision(Gated(), probs, np.array([0, 1]))
    predicted, confidence, verdict = decision_columns(gate, probs, ["formal", "playful"])
    assert predicted.to_list() == ["formal", "playful"] and verdict.to_list() == ["forward", "review"]
    assert confidence.to_list() == pytest.approx([0.8, 0.6])
