"""Impression-level task metrics against scikit-learn, and the GBDT baseline's feature matrix."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
from sklearn.metrics import log_loss, roc_curve

from ssl_ads.baselines.gbdt import gbdt_features
from ssl_ads.errors import DataError
from ssl_ads.tasks.impression_binary import FraudTask, ImpressionBinaryTask


def _scores(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = (rng.random(n) < 0.2).astype(np.int64)
    preds = np.clip(0.2 + 0.4 * target + rng.normal(0, 0.2, n), 0.01, 0.99)
    return preds.astype(np.float32), target


def test_ctr_metrics_match_sklearn():
    preds, target = _scores()
    metrics = ImpressionBinaryTask("click").metrics()
    metrics.update(torch.from_numpy(preds), torch.from_numpy(target))
    values = {k: float(v) for k, v in metrics.compute().items()}
    assert values["logloss"] == pytest.approx(log_loss(target, preds), rel=1e-4)
    assert 0.0 <= values["ece"] <= 1.0 and values["auroc"] > 0.8


def test_fraud_recall_at_fixed_false_positive_rate_matches_the_roc_curve():
    preds, target = _scores(seed=1)
    task = FraudTask("is_bot", max_fpr=0.05)
    assert task.primary_metric == "auprc"
    metrics = task.metrics()
    metrics.update(torch.from_numpy(preds), torch.from_numpy(target))
    values = {k: float(v) for k, v in metrics.compute().items()}
    fpr, tpr, _ = roc_curve(target, preds)
    assert values["recall_at_fpr"] == pytest.approx(tpr[fpr <= 0.05].max(), abs=1e-3)


def test_label_with_values_other_than_0_1_is_refused():
    with pytest.raises(DataError, match="must hold 0/1"):
        ImpressionBinaryTask("click").extract_labels(pl.DataFrame({"click": [0, 1, 2]}), "impressions.csv")


def test_gbdt_features_mark_small_categorical_fields():
    arrays = {"cat": np.array([[2, 5], [3, 7]], dtype=np.int32), "num": np.array([[0.5], [1.5]], dtype=np.float32)}
    features, categorical = gbdt_features(arrays, [10, 1000])
    assert features.shape == (2, 3) and categorical.tolist() == [True, False, False]


def test_fraud_splits_by_user_by_default_and_a_task_holds_no_training_recipe():
    import inspect

    from ssl_ads.config.schema import MOVED_TASK_KEYS

    assert FraudTask().split_by == "user_id" and ImpressionBinaryTask("click").split_by is None
    for task in (FraudTask, ImpressionBinaryTask):  # the recipe lives in probe: / finetune: (test_task_recipe.py)
        assert not set(inspect.signature(task).parameters) & set(MOVED_TASK_KEYS)
