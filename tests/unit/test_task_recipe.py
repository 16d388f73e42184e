"""A task says what is predicted and measured; how the probe and fine-tuning train is the `probe:` / `finetune:`
recipe. Old recipe keys under `task.` fail naming their new place, and model bundles written with them load."""

from __future__ import annotations

import inspect
import re

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ssl_ads.config.choices import CONFIG_DIR, group_choices
from ssl_ads.config.schema import MOVED_TASK_KEYS, RunConfig, check_recipe, register_configs
from ssl_ads.config.validate import check_node_against_signature, check_run_values, validate_run_config
from ssl_ads.errors import ConfigError
from ssl_ads.evaluation.labeled import check_class_weights
from ssl_ads.tasks.impression_binary import FraudTask, ImpressionBinaryTask
from ssl_ads.tasks.registry import TASK_TARGETS, build_task, task_class
from ssl_ads.tasks.text_classification import TextClassification


def _compose(*overrides: str):
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=["stage=pipeline", *overrides])


@pytest.mark.parametrize("key", sorted(MOVED_TASK_KEYS))
def test_a_recipe_key_under_task_fails_naming_where_it_moved(key):
    node = OmegaConf.create({"_target_": "ssl_ads.tasks.impression_binary.ImpressionBinaryTask", key: 1})
    moved = re.escape(MOVED_TASK_KEYS[key].split()[0])
    with pytest.raises(ConfigError, match=rf"task\.{key} is a training-recipe setting .* set {moved}"):
        check_node_against_signature("task", node)


def test_no_task_config_or_constructor_declares_a_recipe_key():
    for choice in group_choices("task"):
        node = OmegaConf.load(CONFIG_DIR / "task" / f"{choice}.yaml")
        assert not set(node) & set(MOVED_TASK_KEYS), choice
    for target in TASK_TARGETS:
        assert not set(inspect.signature(task_class(target)).parameters) & set(MOVED_TASK_KEYS), target


def test_fraud_takes_its_options_by_keyword_only_what_it_measures():
    task = FraudTask(max_fpr=0.05)
    assert (task.label, task.split_by, task.max_fpr, task.primary_metric) == ("is_bot", "user_id", 0.05, "auprc")
    with pytest.raises(ConfigError, match=r"task\.max_fpr"):
        FraudTask(max_fpr=1.5)


def test_the_recipe_is_typed_and_ranged_in_the_loop_configs():
    cfg = _compose("experiment=adult", "dataset.path=/nonexistent.parquet")
    assert (cfg.probe.solver, cfg.probe.cv_folds, cfg.validation_labels) == ("lbfgs", 5, "matched")
    assert (cfg.finetune.head_init, cfg.finetune.encoder_lr_scale, cfg.finetune.freeze_epochs) == ("probe", 0.3, 0)
    cfg = _compose("experiment=tabular_tiny", "finetune.freeze_epochs=-1")
    with pytest.raises(ConfigError, match=r"finetune\.freeze_epochs=-1 is out of range"):
        check_run_values(cfg)
    cfg = _compose("experiment=tabular_tiny", "finetune.encoder_lr_scale=-0.5")
    with pytest.raises(ConfigError, match=r"finetune\.encoder_lr_scale=-0.5 is out of range"):
        check_run_values(cfg)
    with pytest.raises(ConfigError, match=r"task\.probe_solver .* set probe\.solver instead"):
        validate_run_config(_compose("experiment=tabular_tiny", "+task.probe_solver=lbfgs"), {})
    cfg = OmegaConf.structured(RunConfig)
    cfg.finetune.head_init = "pretrained"
    with pytest.raises(ConfigError, match=r"finetune\.head_init must be one of \('random', 'probe'\)"):
        check_recipe(cfg)


def test_class_weights_need_a_task_whose_loss_weighs_classes():
    cfg = OmegaConf.structured(RunConfig)
    cfg.finetune.class_weight = "balanced"
    check_class_weights(TextClassification(), cfg)
    with pytest.raises(ConfigError, match=r"finetune\.class_weight=balanced: task=click .*no class-weighted loss"):
        check_class_weights(ImpressionBinaryTask("click"), cfg)


def test_a_bundle_written_with_the_recipe_in_its_task_config_still_loads():
    old = {
        "_target_": "ssl_ads.tasks.impression_binary.FraudTask", "label": "is_bot", "max_fpr": 0.01,
        "split_by": "user_id", "validation_labels": "full", "wide": False, "encoder_lr_scale": 1.0,
        "freeze_epochs": 0, "probe_solver": "adamw", "probe_cv_folds": 0, "finetune_head_init": "random",
    }  # fmt: skip
    task = build_task(old)
    assert isinstance(task, FraudTask) and task.split_by == "user_id"
    text = build_task({"_target_": "ssl_ads.tasks.text_classification.TextClassification", "label": "voice",
                       "class_weight": "balanced", "probe_solver": "lbfgs"}, classes=["a", "b"])  # fmt: skip
    assert text.classes == ["a", "b"] and text.loss_weights is None
