"""The text classification task and its quality gate, checked against hand computations."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from ssl_ads.errors import ConfigError, DataError
from ssl_ads.tasks.quality_gate import GateAccuracy, GateCoverage, decisions_frame, gate
from ssl_ads.tasks.text_classification import TextClassification

PROBS = torch.tensor(
    [
        [0.90, 0.05, 0.05],  # forward, predicted 0, true 0 -> correct
        [0.20, 0.75, 0.05],  # forward, predicted 1, true 2 -> wrong
        [0.40, 0.35, 0.25],  # review
        [0.10, 0.10, 0.80],  # forward, predicted 2, true 2 -> correct
        [0.50, 0.50, 0.00],  # review (0.5 < 0.7)
    ]
)
TRUTH = torch.tensor([0, 2, 0, 2, 1])


def test_gate_coverage_and_forwarded_accuracy_match_a_hand_computation():
    coverage, accuracy = GateCoverage(0.7), GateAccuracy(0.7)
    coverage.update(PROBS[:2], TRUTH[:2])  # two batches, like an evaluation loop
    coverage.update(PROBS[2:], TRUTH[2:])
    accuracy.update(PROBS, TRUTH)
    assert coverage.compute().item() == pytest.approx(3 / 5)
    assert accuracy.compute().item() == pytest.approx(2 / 3)
    assert torch.isnan(GateAccuracy(0.99).forward(PROBS, TRUTH))


def test_decisions_frame_has_one_row_per_item():
    frame = decisions_frame(pl.Series("id", [10, 11, 12, 13, 14]), PROBS.numpy(), ["a", "b", "c"], 0.7, TRUTH.numpy())
    assert frame.columns == ["id", "predicted", "confidence", "decision", "label"]
    assert frame["decision"].to_list() == ["forward", "forward", "review", "forward", "review"]
    assert frame["predicted"].to_list()[:2] == ["a", "b"]
    assert frame["confidence"][0] == pytest.approx(0.9)
    _, _confidence, forwarded = gate(PROBS, 0.7)
    assert forwarded.float().mean().item() == pytest.approx((frame["decision"] == "forward").mean())


def test_labels_map_to_sorted_classes_and_metrics_cover_binary_and_multiclass():
    task = TextClassification(label="voice")
    codes = task.extract_labels(pl.DataFrame({"voice": ["luxury", "bargain", "playful", "bargain"]}), "copy.csv")
    assert task.classes == ["bargain", "luxury", "playful"] and codes.tolist() == [1, 0, 2, 0]
    assert task.make_head(8).out_features == 3
    binary = TextClassification(label="rec")
    assert binary.extract_labels(pl.DataFrame({"rec": [10, 2, 2]}), "r.csv").tolist() == [1, 0, 0]  # numeric order
    metrics = binary.metrics()
    logits = torch.tensor([[0.0, 3.0], [2.0, -1.0], [1.0, 0.0]])
    values = metrics(binary.predictions(logits), torch.tensor([1, 0, 1]))
    assert values["accuracy"].item() == pytest.approx(2 / 3)
    assert values["auroc"].item() == pytest.approx(1.0)
    # a one-column score (sklearn's binary decision function) becomes two class probabilities
    assert binary.predictions(torch.tensor([[0.0]])).tolist() == [[0.5, 0.5]]


def test_unusable_labels_name_the_column():
    with pytest.raises(DataError, match="'voice' has a single class"):
        TextClassification(label="voice").extract_labels(pl.DataFrame({"voice": ["a", "a"]}), "x.csv")
    with pytest.raises(DataError, match="label column 'brand' not found"):
        TextClassification(label="brand").extract_labels(pl.DataFrame({"voice": ["a", "b"]}), "x.csv")
    assert np.isfinite(TextClassification().gate_threshold)


def _skewed(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Binary data with 85 % positives, the reviews' kind of imbalance."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = (x[:, 0] + 0.8 * x[:, 1] + rng.normal(0, 0.8, n) > -1.2).astype(np.int64)
    return x, y


def test_balanced_class_weights_match_sklearn_and_weigh_the_loss():
    from sklearn.utils.class_weight import compute_class_weight

    task = TextClassification(label="dept")
    task.extract_labels(pl.DataFrame({"dept": ["a", "b", "c", "d"]}), "r.csv")
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 3])  # class 2 absent from this fit's rows
    task.fit_class_weights(labels, balanced=True)
    expected = compute_class_weight("balanced", classes=np.array([0, 1, 3]), y=labels)
    np.testing.assert_allclose(task.loss_weights.numpy()[[0, 1, 3]], expected, rtol=1e-6)
    assert task.loss_weights[2].item() == 1.0
    logits, target = torch.randn(9, 4), torch.as_tensor(labels)
    per_row = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    weights = task.loss_weights[target]
    assert task.loss(logits, target).item() == pytest.approx(((weights * per_row).sum() / weights.sum()).item())
    plain = TextClassification(label="dept")  # the default: the plain mean, whatever labels the fit has
    plain.extract_labels(pl.DataFrame({"dept": ["a", "b", "c", "d"]}), "r.csv")
    plain.fit_class_weights(labels)
    assert plain.loss_weights is None and plain.loss(logits, target).item() == pytest.approx(per_row.mean().item())


def test_balanced_exact_probe_matches_sklearn_balanced_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    from ssl_ads.training.lbfgs_probe import fit_l2_probe

    x, y = _skewed()
    train, val, l2 = np.arange(300), np.arange(300, 400), 0.01
    probs = {}
    for class_weight in (None, "balanced"):
        task = TextClassification(label="rec")
        task.extract_labels(pl.DataFrame({"rec": y}), "r.csv")
        task.fit_class_weights(y[train], balanced=class_weight == "balanced")
        head = fit_l2_probe(task, x, y, train, val, (l2,), max_iter=500)[0]
        with torch.no_grad():
            probs[class_weight] = task.predictions(head(torch.as_tensor(x[val])))[:, 1].numpy()
        # two softmax logits with l2 on both rows = binary logistic regression with l2 / 2 on their difference
        reference = LogisticRegression(C=2.0 / (l2 * len(train)), class_weight=class_weight, tol=1e-8, max_iter=5000)
        np.testing.assert_allclose(probs[class_weight], reference.fit(x[train], y[train]).predict_proba(x[val])[:, 1],
                                   atol=2e-3)  # fmt: skip
    # balancing moves decisions towards the minority class (0 here)
    assert (probs["balanced"] < 0.5).sum() > (probs[None] < 0.5).sum()


def test_unknown_downstream_options_name_the_key():
    from omegaconf import OmegaConf

    from ssl_ads.config.schema import RunConfig, check_recipe

    def recipe(**changes):
        cfg = OmegaConf.structured(RunConfig)
        for key, value in changes.items():
            OmegaConf.update(cfg, key, value)
        check_recipe(cfg)

    with pytest.raises(ConfigError, match=r"probe\.class_weight must be one of .*'sometimes'"):
        recipe(**{"probe.class_weight": "sometimes"})
    with pytest.raises(ConfigError, match=r"finetune\.class_weight must be one of .*'auto'"):
        recipe(**{"finetune.class_weight": "auto"})  # auto is chosen by the probe's cross-validation only
    with pytest.raises(ConfigError, match=r"class_weight=auto .* needs probe\.cv_folds"):
        recipe(**{"probe.class_weight": "auto", "probe.solver": "lbfgs"})
    with pytest.raises(ConfigError, match=r"probe\.solver"):
        recipe(**{"probe.solver": "sgd"})
    with pytest.raises(ConfigError, match=r"^validation_labels"):
        recipe(validation_labels="some")
    recipe(**{"probe.class_weight": "auto", "probe.solver": "lbfgs", "probe.cv_folds": 3})  # allowed


def test_auto_class_weight_takes_the_weighting_with_the_better_out_of_fold_accuracy(tmp_path):
    """The probe under class_weight=auto fits both weightings by cross-validation over the label budget and
    keeps the one a hand-run of both says has the better out-of-fold accuracy."""
    from hydra import compose, initialize_config_dir

    from ssl_ads.config.choices import CONFIG_DIR
    from ssl_ads.config.schema import register_configs
    from ssl_ads.evaluation.context import build_context
    from ssl_ads.evaluation.labeled import Downstream
    from ssl_ads.training.lbfgs_probe import fit_l2_probe_cv

    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[
            "stage=probe", "experiment=text_tiny", f"cache_dir={tmp_path}", "probe.class_weight=auto",
            "probe.solver=lbfgs", "probe.cv_folds=3", "validation_labels=matched",
        ])  # fmt: skip
    downstream = Downstream(build_context(cfg, directory=tmp_path / "run"))
    labels = downstream.labels.astype(np.int64)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(len(labels), 8)).astype(np.float32)
    features[np.arange(len(labels)), labels % 8] += 0.7  # a weak signal: the two weightings disagree
    budget = downstream.budget_rows(1.0)
    accuracy = {}
    for balanced in (False, True):
        downstream.task.fit_class_weights(labels[budget], balanced)
        accuracy[balanced] = fit_l2_probe_cv(downstream.task, features, labels, budget, 3, cfg.seed)[3]["accuracy"]
    downstream.l2_probe(features, downstream.labeled_rows(1.0), 1.0)
    assert downstream.balanced_choice == max((False, True), key=accuracy.get)
    assert (downstream.task.loss_weights is not None) == downstream.balanced_choice
    downstream.task.fit_class_weights(labels[budget], cfg.finetune.class_weight == "balanced")  # fine-tuning: plain
    assert downstream.task.loss_weights is None
