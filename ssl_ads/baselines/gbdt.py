"""Gradient-boosting baseline for tabular runs: scikit-learn HistGradientBoosting on the same features.

A tabular user always asks "does this beat GBDT?", so every tabular `pipeline` table carries this row.
It trains on the label budget of each fraction only (the same stratified sample the networks get, plus
the matched validation labels under `validation_labels=matched`: it selects nothing on them),
with scikit-learn's defaults, and is scored with the task's own torchmetrics on the test rows.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier

from ssl_ads.baselines.labeled_data import LabeledData
from ssl_ads.results import ResultRow

MAX_CATEGORIES = 255  # HistGradientBoosting's native categorical support stops at max_bins categories


def gbdt_features(arrays: dict[str, np.ndarray], cardinalities: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Features `[N, Fc + Fn]` and the mask of columns treated as categorical (ids of small fields)."""
    features = np.hstack([np.asarray(arrays["cat"], dtype=np.float64), np.asarray(arrays["num"], dtype=np.float64)])
    categorical = np.array([c <= MAX_CATEGORIES for c in cardinalities] + [False] * arrays["num"].shape[1])
    return features, categorical


def gbdt_rows(downstream: LabeledData, fractions: list[float]) -> list[ResultRow]:
    ctx, task = downstream.ctx, downstream.task
    features, categorical = gbdt_features(ctx.arrays, ctx.data.encoder_kwargs["cardinalities"])
    rows = []
    for fraction in fractions:
        started = time.perf_counter()
        labeled = downstream.budget_rows(fraction)
        model = HistGradientBoostingClassifier(
            categorical_features=categorical if categorical.any() else None, random_state=int(ctx.cfg.seed)
        )
        model.fit(features[labeled], downstream.labels[labeled])
        metrics = {}
        for split, rows_ in (("val", downstream.val), ("test", downstream.test)):
            scored = task.metrics().clone(prefix=f"{split}_")
            probabilities = torch.from_numpy(model.predict_proba(features[rows_])[:, 1].astype(np.float32))
            target = torch.from_numpy(downstream.labels[rows_]).long()
            scored.update(probabilities, target)
            metrics.update({k: float(v) for k, v in scored.compute().items()})
        seconds = round(time.perf_counter() - started, 2)
        test_scored = (probabilities, target)  # the last split scored is test: the row's intervals resample it
        rows.append(downstream.result_row("gbdt", "baseline", fraction, len(labeled), metrics, seconds, test_scored))
    return rows
