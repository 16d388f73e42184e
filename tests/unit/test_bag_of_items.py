"""The bag-of-items baseline's pieces: sparse item counts, TF-IDF fitted on given rows, the CV'd logistic fit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

from ssl_ads.baselines.bag_of_items import class_probabilities, fit_bag_of_items, item_counts, tfidf_features


def test_item_counts_count_repeats_and_skip_padding():
    items = np.array([[0, 0, 2, 3, 2], [0, 4, 4, 4, 1]], dtype=np.int32)  # left-padded, 1 = out of vocabulary
    counts = item_counts(items, num_items=5).toarray()
    assert counts.tolist() == [[0, 0, 2, 1, 0], [0, 1, 0, 0, 3]]


def test_the_idf_is_fitted_on_the_given_rows_only():
    rng = np.random.default_rng(0)
    items = rng.integers(0, 20, size=(30, 8)).astype(np.int32)
    fit_rows = np.arange(20)
    before = tfidf_features(items, 20, fit_rows)
    changed = items.copy()
    changed[20:] = 7  # rows outside the fit: their items must not move anyone's weights
    after = tfidf_features(changed, 20, fit_rows)
    assert np.allclose(before[fit_rows].toarray(), after[fit_rows].toarray())
    assert not np.allclose(before[20:].toarray(), after[20:].toarray())


def _separable(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Users of class 1 touch items 2-11 mostly, class 0 items 12-21."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(np.float32)
    items = rng.integers(0, 10, size=(n, 10)) + np.where(labels[:, None] == 1, 2, 12)
    noise = rng.random((n, 10)) < 0.3
    return np.where(noise, rng.integers(2, 22, size=(n, 10)), items).astype(np.int32), labels


def test_the_strength_is_cross_validated_inside_the_rows_and_predicts_held_out_users():
    items, labels = _separable()
    features = tfidf_features(items, 22, np.arange(120))
    budget = np.arange(60)
    model = fit_bag_of_items(features, labels, budget, "auroc", seed=0)
    assert isinstance(model, LogisticRegressionCV) and model.C_.shape == (1,)
    held_out = class_probabilities(model, features[60:], None).numpy()
    assert held_out.shape == (60,)
    positives, negatives = held_out[labels[60:] == 1], held_out[labels[60:] == 0]
    assert (positives[:, None] > negatives[None, :]).mean() > 0.9  # AUROC on users it never saw


def test_a_budget_with_one_member_of_a_class_falls_back_to_a_fixed_strength():
    items, labels = _separable()
    rows = np.concatenate([np.flatnonzero(labels == 1)[:1], np.flatnonzero(labels == 0)[:10]])
    model = fit_bag_of_items(tfidf_features(items, 22, np.arange(120)), labels, rows, "auroc", seed=0)
    assert type(model) is LogisticRegression and model.C == 1.0


@pytest.mark.parametrize("missing", [None, 2])
def test_multiclass_probabilities_fill_every_class_column(missing):
    items, binary = _separable()
    labels = binary + (np.arange(120) % 3 == 0)  # classes 0, 1, 2
    rows = np.arange(120) if missing is None else np.flatnonzero(labels != missing)
    model = fit_bag_of_items(tfidf_features(items, 22, np.arange(120)), labels, rows, "macro_f1", seed=0)
    proba = class_probabilities(model, tfidf_features(items, 22, np.arange(120)), 3).numpy()
    assert proba.shape == (120, 3) and np.allclose(proba.sum(1), 1.0, atol=1e-5)
    if missing is not None:
        assert np.all(proba[:, missing] == 0)
