"""The exact L2 linear probe: matches scikit-learn's logistic regression and picks its strength on validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from ssl_ads.tasks.impression_binary import ImpressionBinaryTask
from ssl_ads.training.lbfgs_probe import fit_l2_probe


def _data(n: int = 600, d: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    logits = x[:, :3] @ np.array([2.0, -1.0, 0.5]) + rng.normal(0, 1.0, n)
    return x, (logits > 0).astype(np.float32)


def test_one_strength_matches_sklearn_logistic_regression():
    x, y = _data()
    rows = np.arange(400)
    l2 = 0.05
    head, chosen, _ = fit_l2_probe(ImpressionBinaryTask("click"), x, y, rows, np.arange(400, 600), (l2,))
    # sklearn minimises C * sum(loss) + ||w||^2 / 2, i.e. mean(loss) + ||w||^2 / (2 C n)
    reference = LogisticRegression(C=1.0 / (l2 * len(rows)), tol=1e-8, max_iter=5000).fit(x[rows], y[rows])
    assert chosen == l2
    np.testing.assert_allclose(head.weight.detach().numpy()[0], reference.coef_[0], atol=2e-3)
    assert float(head.bias.detach()) == pytest.approx(float(reference.intercept_[0]), abs=2e-3)


def test_strength_is_chosen_on_the_validation_rows():
    x, y = _data(n=1200, d=50, seed=1)  # 50 features (3 informative), 30 train rows
    train, val = np.arange(30), np.arange(600, 1200)
    task = ImpressionBinaryTask("click")
    grid = (10.0, 1.0, 0.1, 0.01, 1e-4)
    head, chosen, val_score = fit_l2_probe(task, x, y, train, val, grid)
    scores = {}
    for l2 in grid:
        scores[l2] = fit_l2_probe(task, x, y, train, val, (l2,))[2]
    assert val_score == pytest.approx(max(scores.values()), abs=1e-3)
    assert chosen == max(scores, key=scores.get) and scores[chosen] > max(scores[10.0], scores[1e-4]) + 0.003
    with torch.no_grad():
        assert head(torch.as_tensor(x[:2])).shape == (2, 1)


def test_cross_validated_strength_matches_a_hand_rolled_cross_validation():
    """The out-of-fold score of each strength is the metric over every row predicted by the fold that held it
    out; the chosen strength is the best of them and the returned head is refitted on every row."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from ssl_ads.training.lbfgs_probe import fit_l2_probe_cv

    x, y = _data(n=200, d=40, seed=2)
    rows = np.arange(40, 160)
    task = ImpressionBinaryTask("click")
    grid = (10.0, 0.1, 1e-4)
    head, chosen, score, chosen_metrics = fit_l2_probe_cv(task, x, y, rows, folds=4, seed=3, l2_grid=grid)
    out_of_fold = {l2: np.zeros(len(rows)) for l2 in grid}
    for fit, held in StratifiedKFold(4, shuffle=True, random_state=3).split(rows, y[rows]):
        for l2 in grid:
            model = LogisticRegression(C=1.0 / (l2 * len(fit)), tol=1e-8, max_iter=5000).fit(x[rows[fit]], y[rows[fit]])
            out_of_fold[l2][held] = model.decision_function(x[rows[held]])
    reference = {l2: roc_auc_score(y[rows], out_of_fold[l2]) for l2 in grid}
    assert chosen == max(reference, key=reference.get)
    assert score == pytest.approx(reference[chosen], abs=2e-3) and chosen_metrics["auroc"] == score
    refit = LogisticRegression(C=1.0 / (chosen * len(rows)), tol=1e-8, max_iter=5000).fit(x[rows], y[rows])
    np.testing.assert_allclose(head.weight.detach().numpy()[0], refit.coef_[0], atol=5e-3)


def test_cross_validation_needs_two_classes_and_copes_with_a_class_rarer_than_the_folds():
    from ssl_ads.errors import DataError
    from ssl_ads.training.lbfgs_probe import fit_l2_probe_cv

    x, y = _data(n=80)
    task = ImpressionBinaryTask("click")
    with pytest.raises(DataError, match="two classes"):
        fit_l2_probe_cv(task, x, y, np.flatnonzero(y == 0)[:20], folds=5, seed=0)
    rare = np.concatenate([np.flatnonzero(y == 0)[:20], np.flatnonzero(y == 1)[:2]])  # 2 positives, 5 folds
    head, l2, score, _ = fit_l2_probe_cv(task, x, y, rare, folds=5, seed=0)
    assert l2 > 0 and 0.0 <= score <= 1.0 and head(torch.as_tensor(x[:3])).shape == (3, 1)
