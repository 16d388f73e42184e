"""Downstream options of the tabular tasks: a split by group (fraud keeps every user's impressions in one
split: bots are users), matched validation labels, and the fine-tuning head started at the probe (LP-FT)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from torch import nn

from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.schema import register_configs
from ssl_ads.data.split import split_rows
from ssl_ads.errors import DataError
from ssl_ads.evaluation.context import build_context
from ssl_ads.evaluation.labeled import Downstream
from ssl_ads.report.protocol import protocol
from ssl_ads.training.lbfgs_probe import fit_l2_probe


def _context(tmp_path, *overrides: str):
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "config", overrides=["stage=pipeline", "experiment=tabular_tiny", f"cache_dir={tmp_path}", *overrides]
        )
    return cfg, build_context(cfg, directory=tmp_path / "run")


def _users(ctx, rows: np.ndarray) -> set[int]:
    return set(ctx.data.rows.get_column("user_id").to_numpy()[rows].tolist())


def test_fraud_splits_by_user_so_no_user_is_in_two_splits(tmp_path):
    bots = ("dataset.bot_share=0.15", "dataset.n_users=400", "dataset.max_rows=null")  # bots in every split
    cfg, ctx = _context(tmp_path, "task=fraud", *bots)
    downstream = Downstream(ctx)
    for split in (ctx.split, downstream):  # the run's split (pretraining reads it) and the labeled rows
        train, val, test = (_users(ctx, rows) for rows in (split.train, split.val, split.test))
        assert train and val and test
        assert not (train & val) and not (train & test) and not (val & test)
    assert len(ctx.split.train) + len(ctx.split.val) + len(ctx.split.test) == ctx.data.num_rows
    # a row split of the same rows shares users between train and test (what inflated the fraud baseline)
    random_split = split_rows(ctx.data.num_rows, cfg.val_share, cfg.test_share, cfg.seed)
    assert _users(ctx, random_split.train) & _users(ctx, random_split.test)
    assert "by user_id" in protocol(cfg, ctx.data.meta, "is_bot", "auprc")["split"]


def test_ctr_keeps_the_row_split_and_a_missing_split_column_is_named(tmp_path):
    cfg, ctx = _context(tmp_path, "task=ctr")
    expected = split_rows(ctx.data.num_rows, cfg.val_share, cfg.test_share, cfg.seed)
    assert np.array_equal(ctx.split.test, expected.test)
    assert "by row" in protocol(cfg, ctx.data.meta, "click", "auroc")["split"]
    with pytest.raises(DataError, match=r"split_by='session_id'.*user_id"):
        _context(tmp_path, "task=ctr", "task.split_by=session_id")


def test_matched_validation_labels_take_the_label_fraction_of_the_validation_rows(tmp_path):
    _, ctx = _context(tmp_path, "task=ctr", "validation_labels=matched")
    downstream = Downstream(ctx)
    small, large = downstream.validation_rows(0.1), downstream.validation_rows(0.5)
    assert set(small) < set(large) < set(downstream.val)
    positives = downstream.labels[downstream.val].sum()
    assert downstream.labels[small].sum() == max(1, round(0.1 * positives))
    assert np.array_equal(downstream.validation_rows(1.0), downstream.val)
    _, ctx = _context(tmp_path, "task=ctr")
    full = Downstream(ctx)
    assert np.array_equal(full.validation_rows(0.1), full.val)


def test_finetune_head_starts_at_the_probe_solution_on_raw_features(tmp_path):
    _, ctx = _context(tmp_path, "task=ctr", "finetune.head_init=probe")
    downstream = Downstream(ctx)
    encoder = ctx.fresh_encoder()
    features, mean, scale = downstream._head_features(encoder)
    labeled = downstream.labeled_rows(0.5)
    head = nn.Linear(features.shape[1], 1)
    downstream._start_from_probe(head, features, mean, scale, labeled, 0.5)
    scaled = (features - mean) / scale
    probe, _, _ = fit_l2_probe(downstream.task, scaled, downstream.labels, labeled, downstream.validation_rows(0.5))
    with torch.no_grad():
        expected = probe(torch.as_tensor(scaled[:50]))
        got = head(torch.as_tensor(features[:50]))
    assert torch.allclose(got, expected, atol=5e-3)  # float32 features: rounding only
    assert expected.std() > 1e-3  # a real fit, not a constant


def test_the_label_budget_adds_the_matched_validation_labels_and_the_cv_probe_reads_only_it(tmp_path):
    cfg, ctx = _context(tmp_path, "task=ctr", "validation_labels=matched", "probe.solver=lbfgs", "probe.cv_folds=3")
    downstream = Downstream(ctx)
    budget = downstream.budget_rows(0.5)
    labeled, selecting = downstream.labeled_rows(0.5), downstream.validation_rows(0.5)
    assert sorted(budget) == sorted(np.concatenate([labeled, selecting])) and downstream.budget_size(0.5) == len(budget)
    features = np.random.default_rng(0).normal(size=(ctx.data.num_rows, 6)).astype(np.float32)
    features[:, 0] += 2.0 * downstream.labels  # one informative column
    outside = np.setdiff1d(np.arange(ctx.data.num_rows), budget)
    features[outside, 0] *= -1.0  # a model fitted on any row outside the budget would learn the opposite sign
    head, l2, _ = downstream.l2_probe(features, labeled, 0.5)
    assert float(head.weight.detach()[0, 0]) > 0 and l2 > 0
    text = protocol(cfg, ctx.data.meta, "click", "auroc")
    assert "3-fold cross-validation over the label budget" in text["model_selection"]
    assert text["label_budget"].startswith("fraction f of the train labels plus fraction f of the validation")
    _, ctx = _context(tmp_path, "task=ctr")
    full = Downstream(ctx)
    assert np.array_equal(full.budget_rows(0.5), full.labeled_rows(0.5))


def test_probe_cv_folds_needs_the_exact_probe_and_at_least_two_folds():
    from omegaconf import OmegaConf

    from ssl_ads.config.schema import RunConfig, check_recipe
    from ssl_ads.errors import ConfigError

    cfg = OmegaConf.structured(RunConfig)
    cfg.probe.cv_folds = 5
    with pytest.raises(ConfigError, match=r"needs probe\.solver=lbfgs"):
        check_recipe(cfg)
    cfg.probe.solver, cfg.probe.cv_folds = "lbfgs", 1
    with pytest.raises(ConfigError, match=r"probe\.cv_folds must be 0"):
        check_recipe(cfg)


def test_pretrain_rows_train_val_adds_the_validation_rows_and_never_a_test_row(tmp_path):
    from ssl_ads.errors import ConfigError
    from ssl_ads.evaluation.pretraining import pretext_rows

    cfg, ctx = _context(tmp_path, "task=ctr", "pretrain_rows=train_val")
    rows = pretext_rows(ctx)
    assert sorted(rows) == sorted(np.concatenate([ctx.split.train, ctx.split.val]))
    assert not set(rows) & set(ctx.split.test)
    assert "inputs of train and validation rows" in protocol(cfg, ctx.data.meta, "click", "auroc")["split"]
    cfg, ctx = _context(tmp_path, "task=ctr", "pretrain_rows=everything")
    with pytest.raises(ConfigError, match="pretrain_rows must be one of"):
        pretext_rows(ctx)
