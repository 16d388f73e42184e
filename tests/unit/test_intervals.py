"""95 % test intervals: DeLong against its O(m·n) definition, every vectorized bootstrap statistic against the
torchmetrics metric it stands for (at unit weights and on explicitly resampled data), and the bootstrap's
coverage, width, seeding and warnings."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAUROC

from ssl_ads.tasks.delong import delong, midranks
from ssl_ads.tasks.impression_binary import FraudTask, ImpressionBinaryTask
from ssl_ads.tasks.intervals import Interval, delong_interval, mean_intervals, metric_intervals
from ssl_ads.tasks.positive_counts import positive_warnings
from ssl_ads.tasks.text_classification import TextClassification
from ssl_ads.tasks.weighted_statistics import resample_weights, statistic_for


def binary_scores(n: int, seed: int = 0, rate: float = 0.3, ties: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = (rng.random(n) < rate).astype(np.int64)
    preds = 1 / (1 + np.exp(-(target * 1.2 + rng.normal(0, 1, n))))
    if ties:  # rounded scores: many ties, as a coarse model or a tree ensemble produces
        preds = np.round(preds, 2)
    return preds.astype(np.float32), target


def multiclass_scores(n: int, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.choice(max(classes - 1, 2), size=n)  # with more than two, the last class never occurs
    logits = rng.normal(0, 1, (n, classes)) + 1.5 * np.eye(classes)[target]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return probs.astype(np.float32), target


def brute_force_delong(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) as written: placement values from the m × n comparison matrix."""
    x, y = scores[labels == 1].astype(np.float64), scores[labels == 0].astype(np.float64)
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    v10, v01 = psi.mean(1), psi.mean(0)
    return psi.mean(), v10.var(ddof=1) / len(x) + v01.var(ddof=1) / len(y)


def torchmetric_values(metrics: MetricCollection, preds: np.ndarray, target: np.ndarray) -> dict[str, float]:
    metrics = metrics.clone()
    metrics.update(torch.from_numpy(preds), torch.from_numpy(target))
    return {k: float(v) for k, v in metrics.compute().items()}


def text_task(classes: int) -> TextClassification:
    task = TextClassification("voice", gate_threshold=0.5)
    task.classes = [str(c) for c in range(classes)]
    return task


def test_midranks_match_scipy():
    values = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0, 0.5])
    assert midranks(values) == pytest.approx(rankdata(values, method="average"))


@pytest.mark.parametrize(("n", "seed", "ties"), [(30, 0, True), (57, 1, False), (200, 2, True)])
def test_delong_matches_its_definition_and_the_auroc(n, seed, ties):
    scores, labels = binary_scores(n, seed, ties=ties)
    auc, variance = delong(scores, labels)
    ref_auc, ref_variance = brute_force_delong(scores, labels)
    assert auc == pytest.approx(ref_auc, abs=1e-12) and variance == pytest.approx(ref_variance, rel=1e-9)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert auc == pytest.approx(float(BinaryAUROC()(torch.from_numpy(scores), torch.from_numpy(labels))), abs=1e-6)
    interval = delong_interval(scores, labels)
    assert interval.low < auc < interval.high and interval.method == "delong"
    assert interval.high - interval.low == pytest.approx(2 * 1.959964 * np.sqrt(variance), rel=1e-5)


def test_delong_without_both_classes_has_no_interval():
    assert delong_interval(np.array([0.1, 0.2]), np.array([1, 1])) == Interval(None, None, "delong")


def test_delong_covers_the_true_auroc_about_95_percent_of_the_time():
    # binormal scores: the true AUROC is Φ(1 / √2)
    truth = 0.7602499389065233
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(300):
        labels = (rng.random(150) < 0.3).astype(np.int64)
        interval = delong_interval(rng.normal(0, 1, 150) + labels, labels)
        hits += interval.low <= truth <= interval.high
    assert 0.90 <= hits / 300 <= 0.99


BINARY_TASKS = [ImpressionBinaryTask("click"), FraudTask("is_bot", max_fpr=0.05)]


@pytest.mark.parametrize("task", BINARY_TASKS, ids=["ctr", "fraud"])
def test_binary_statistics_at_unit_weights_equal_the_task_metrics(task):
    preds, target = binary_scores(400, seed=3)
    expected = torchmetric_values(task.metrics(), preds, target)
    for name, metric in task.metrics().items():
        statistic = statistic_for(metric, torch.from_numpy(preds), torch.from_numpy(target))
        assert statistic(np.ones((1, len(target))))[0] == pytest.approx(expected[name], abs=2e-6), name


@pytest.mark.parametrize("classes", [2, 4])
def test_multiclass_statistics_at_unit_weights_equal_the_task_metrics(classes):
    preds, target = multiclass_scores(300, classes, seed=classes)
    task = text_task(classes)
    expected = torchmetric_values(task.metrics(), preds, target)
    for name, metric in task.metrics().items():
        statistic = statistic_for(metric, torch.from_numpy(preds), torch.from_numpy(target))
        assert statistic(np.ones((1, len(target))))[0] == pytest.approx(expected[name], abs=2e-6), name


@pytest.mark.parametrize("kind", ["ctr", "fraud", "text"])
def test_weighted_statistics_equal_the_metric_on_the_resampled_rows(kind):
    """The bootstrap's multiplicity weights give what the metric gives on the rows drawn (duplicates and all)."""
    if kind == "text":
        preds, target = multiclass_scores(120, 3, seed=5)
        task = text_task(3)
    else:
        preds, target = binary_scores(120, seed=5)
        task = BINARY_TASKS[kind == "fraud"]
    weights = next(resample_weights(len(target), 4, seed=11))
    for counts in weights:
        index = np.repeat(np.arange(len(target)), counts.astype(np.int64))
        expected = torchmetric_values(task.metrics(), preds[index], target[index])
        for name, metric in task.metrics().items():
            statistic = statistic_for(metric, torch.from_numpy(preds), torch.from_numpy(target))
            assert statistic(counts[None, :])[0] == pytest.approx(expected[name], abs=2e-6, nan_ok=True), name


def test_every_metric_gets_an_interval_containing_its_point():
    preds, target = binary_scores(300, seed=7)
    task = ImpressionBinaryTask("click")
    points = {f"test_{k}": v for k, v in torchmetric_values(task.metrics(), preds, target).items()}
    intervals = metric_intervals(task.metrics(), torch.from_numpy(preds), torch.from_numpy(target), 0, points)
    assert set(intervals) == set(points)
    for name, interval in intervals.items():
        assert interval["low"] <= points[name] <= interval["high"], name
    assert intervals["test_auroc"]["method"] == "delong" and intervals["test_auprc"]["method"] == "bootstrap"


def test_bootstrap_is_seeded_and_paired():
    preds, target = binary_scores(200, seed=8)
    args = (ImpressionBinaryTask("click").metrics(), torch.from_numpy(preds), torch.from_numpy(target))
    first, again, other = metric_intervals(*args, seed=3), metric_intervals(*args, seed=3), metric_intervals(*args, 4)
    assert first == again and first["test_auprc"] != other["test_auprc"]
    assert first["test_auroc"] == other["test_auroc"]  # DeLong draws nothing
    blocks = [np.concatenate(list(resample_weights(50, 30, seed=1))) for _ in range(2)]
    assert np.array_equal(*blocks) and (blocks[0].sum(1) == 50).all()


def test_bootstrap_width_shrinks_like_one_over_root_n():
    widths = []
    for n in (400, 1600):
        correct = (np.random.default_rng(n).random(n) < 0.8).astype(np.float64)
        interval = mean_intervals({"accuracy": correct}, seed=0)["test_accuracy"]
        widths.append(interval["high"] - interval["low"])
    assert widths[0] / widths[1] == pytest.approx(2.0, rel=0.2)


def test_bootstrap_covers_a_known_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    hits = sum(
        (lambda iv: iv["low"] <= 0.8 <= iv["high"])(
            mean_intervals({"a": (rng.random(200) < 0.8).astype(float)}, seed=s, resamples=400)["test_a"]
        )
        for s in range(120)
    )
    assert 0.88 <= hits / 120 <= 0.99


def test_cluster_bootstrap_draws_whole_groups():
    # 40 users of 10 identical rows each: the rows carry the information of 40 entities, not 400
    rng = np.random.default_rng(2)
    user_label = (rng.random(40) < 0.5).astype(np.int64)
    user_score = np.clip(0.5 + 0.2 * user_label + rng.normal(0, 0.25, 40), 0, 1)
    groups = np.repeat(np.arange(40), 10)
    preds, target = torch.tensor(user_score[groups], dtype=torch.float32), torch.tensor(user_label[groups])
    metrics = MetricCollection({"auroc": BinaryAUROC()})
    by_row = metric_intervals(metrics, preds, target, seed=0)["test_auroc"]
    by_user = metric_intervals(metrics, preds, target, seed=0, groups=groups)["test_auroc"]
    assert by_user["method"] == "cluster bootstrap" and by_row["method"] == "delong"
    assert by_user["high"] - by_user["low"] > 2 * (by_row["high"] - by_row["low"])


def test_ranking_means_per_user_and_undefined_intervals():
    ndcg = np.r_[np.zeros(90), np.full(10, 0.5)]
    interval = mean_intervals({"ndcg@10": ndcg}, seed=0, points={"test_ndcg@10": 0.05})["test_ndcg@10"]
    assert interval["low"] <= 0.05 <= interval["high"] and interval["high"] < 0.15
    assert mean_intervals({"hr@5": np.zeros(0)}, seed=0)["test_hr@5"] == {
        "low": None,
        "high": None,
        "method": "bootstrap",
    }


def test_an_unknown_metric_is_resampled_with_its_own_object():
    preds, target = binary_scores(80, seed=9)
    metrics = MetricCollection({"pauc": BinaryAUROC(max_fpr=0.5)})  # no vectorized form: the generic path
    preds, target = torch.from_numpy(preds), torch.from_numpy(target)
    interval = metric_intervals(metrics, preds, target, 0, resamples=50)["test_pauc"]
    assert interval["method"] == "bootstrap" and interval["low"] < interval["high"]


def test_interval_is_widened_to_reach_its_point():
    assert Interval(0.1, 0.2, "bootstrap").containing(0.25) == Interval(0.1, 0.25, "bootstrap")
    assert Interval(None, None, "bootstrap").containing(0.25).low is None


def test_warnings_name_small_test_splits_and_label_budgets():
    def row(fraction: float, budget_pos: int, test_pos: int = 3) -> SimpleNamespace:
        counts = {"n_test": 1000, "n_test_pos": test_pos, "n_budget_pos": budget_pos}
        return SimpleNamespace(label_fraction=fraction, n_labels=int(8000 * fraction), counts=counts)

    lines = positive_warnings([row(1.0, 24), row(0.1, 2), row(0.1, 2)], min_positives=30)
    assert len(lines) == 3 and "test split holds 3 positives of 1000" in lines[0]
    assert "label fraction 0.1 (800 labels) holds 2 positives" in lines[1] and "fraction 1 " in lines[2]
    assert positive_warnings([row(1.0, 30, test_pos=30)], min_positives=30) == []
    assert positive_warnings([SimpleNamespace(label_fraction=1.0, n_labels=5, counts={"n_test": 9})], 30) == []
    # rows in groups (fraud split by user): 232 bot impressions from 5 bots are 5 positives
    grouped = {
        "n_test": 802,
        "n_test_pos": 232,
        "n_test_groups": 60,
        "n_test_pos_groups": 5,
        "n_budget_pos": 900,
        "n_budget_pos_groups": 40,
    }
    (line,) = positive_warnings([SimpleNamespace(label_fraction=1.0, n_labels=6000, counts=grouped)], 30)
    assert "holds 5 positive groups (232 positive rows) of 60" in line
