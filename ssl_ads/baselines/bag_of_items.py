"""Bag-of-items baseline for sequence user tasks: TF-IDF over user × item counts + logistic regression.

A behaviour encoder earns its keep only if it beats what a linear model reads off the items a user
touched, so every sequence user-task `pipeline` table carries this row (as tabular tables carry GBDT).
It reads exactly what the encoder reads (the featurized item histories, last `max_len` events before
the label window), fits the IDF on the split's train rows (inputs only), and fits scikit-learn's
`LogisticRegressionCV` on each fraction's label budget (`Downstream.budget_rows`) with its L2 strength
chosen by stratified cross-validation inside that budget: validation and test labels are never read
by the fit. It is scored with the task's own torchmetrics on the test rows, with the same intervals.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from ssl_ads.baselines.labeled_data import LabeledData
from ssl_ads.results import ResultRow

NAME = "bag-of-items"
MAX_FOLDS = 5
N_STRENGTHS = 10  # LogisticRegressionCV's grid: 10 values of C, log-spaced over 1e-4 .. 1e4


def macro_f1(estimator, features, target) -> float:
    """Macro-F1 as a plain callable: scikit-learn 1.9's LogisticRegressionCV rebuilds its "f1_macro" scorer
    with a duplicate `pos_label` (TypeError) when a multi-class budget holds only two classes."""
    return float(f1_score(target, estimator.predict(features), average="macro"))


# the task's primary metric → scikit-learn's scorer, so the strength is chosen on what the table reports
SCORERS = {"auroc": "roc_auc", "auprc": "average_precision", "macro_f1": macro_f1, "accuracy": "accuracy"}


def item_counts(items: np.ndarray, num_items: int) -> sp.csr_matrix:
    """`[N, num_items]` counts of each item id in each row of a left-padded `[N, L]` id array (padding, id 0,
    is not counted; out-of-vocabulary ids share one column). One sparse construction, no loop over users."""
    items = np.asarray(items)
    rows, positions = np.nonzero(items)
    values = np.ones(len(rows), dtype=np.float64)
    counts = sp.coo_matrix((values, (rows, items[rows, positions])), shape=(items.shape[0], num_items)).tocsr()
    counts.sum_duplicates()
    return counts


def tfidf_features(items: np.ndarray, num_items: int, fit_rows: np.ndarray) -> sp.csr_matrix:
    """TF-IDF rows (L2-normalised, smoothed IDF) with the IDF fitted on `fit_rows` only."""
    counts = item_counts(items, num_items)
    return TfidfTransformer().fit(counts[fit_rows]).transform(counts).tocsr()


def fit_bag_of_items(
    features: sp.csr_matrix, labels: np.ndarray, rows: np.ndarray, metric: str, seed: int
) -> LogisticRegression | LogisticRegressionCV:
    """Logistic regression on `rows` only; its strength by stratified k-fold CV over those rows (k = 5, fewer
    when a class has fewer members; a single fixed C=1 when a class has one member and no CV is possible)."""
    target = labels[rows].astype(np.int64)
    _, per_class = np.unique(target, return_counts=True)
    folds = min(MAX_FOLDS, int(per_class.min()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tiny budgets at extreme C; the CV judges them
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn 1.8+: notices about coming defaults
        if folds < 2:
            return LogisticRegression(C=1.0, max_iter=2000).fit(features[rows], target)
        model = LogisticRegressionCV(
            Cs=N_STRENGTHS,
            cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
            scoring=SCORERS.get(metric, "neg_log_loss"),
            max_iter=2000,
            n_jobs=1,
        )
        return model.fit(features[rows], target)


def class_probabilities(model, features: sp.csr_matrix, n_classes: int | None) -> torch.Tensor:
    """What `task.predictions` would give: P(1) `[N]` for a binary task, `[N, C]` for a multi-class one
    (classes missing from the budget get probability 0)."""
    proba = model.predict_proba(features)
    if n_classes is None:
        return torch.from_numpy(proba[:, list(model.classes_).index(1)].astype(np.float32))
    full = np.zeros((features.shape[0], n_classes), dtype=np.float32)
    full[:, model.classes_.astype(np.int64)] = proba
    return torch.from_numpy(full)


def fitted_models(downstream: LabeledData, fractions: list[float]) -> tuple[sp.csr_matrix, list[tuple]]:
    """The TF-IDF features of every row and, per fraction, `(fraction, budget rows, fitted model, seconds)`."""
    ctx = downstream.ctx
    features = tfidf_features(ctx.arrays["items"], int(ctx.data.encoder_kwargs["num_items"]), ctx.split.train)
    fits = []
    for fraction in fractions:
        started = time.perf_counter()
        budget = downstream.budget_rows(fraction)
        model = fit_bag_of_items(features, downstream.labels, budget, downstream.task.primary_metric, int(ctx.cfg.seed))
        fits.append((fraction, budget, model, time.perf_counter() - started))
    return features, fits


def bag_of_items_rows(downstream: LabeledData, fractions: list[float]) -> list[ResultRow]:
    """One `bag-of-items`/`baseline` row per label fraction, scored on the run's validation and test rows."""
    task = downstream.task
    classes = getattr(task, "classes", None)
    n_classes = len(classes) if classes else None
    features, fits = fitted_models(downstream, fractions)
    rows = []
    for fraction, budget, model, fit_seconds in fits:
        started = time.perf_counter() - fit_seconds
        metrics = {}
        for split, scored_rows in (("val", downstream.val), ("test", downstream.test)):
            scored = task.metrics().clone(prefix=f"{split}_")
            probabilities = class_probabilities(model, features[scored_rows], n_classes)
            target = torch.from_numpy(downstream.labels[scored_rows]).long()
            scored.update(probabilities, target)
            metrics.update({k: float(v) for k, v in scored.compute().items()})
        seconds = round(time.perf_counter() - started, 2)
        test_scored = (probabilities, target)  # the last split scored is test: the row's intervals resample it
        rows.append(downstream.result_row(NAME, "baseline", fraction, len(budget), metrics, seconds, test_scored))
    return rows
