"""The task classes a model bundle may name: a fixed allowlist, like the encoders' (`ssl_ads.encoders.registry`).

A fine-tuned model bundle (`model.pt`) records its task's config so the head can be rebuilt; that config is data
read from disk, so its `_target_` is only ever looked up here, never imported or instantiated by Hydra. Ranking
(`task=next_item`) is absent on purpose: it scores the catalogue with the encoder itself and has no head to ship.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ssl_ads.config.schema import MOVED_TASK_KEYS
from ssl_ads.tasks.base import LabeledTask

# `_target_` as written in configs/task/*.yaml -> (module, class name)
TASK_TARGETS: dict[str, tuple[str, str]] = {
    "ssl_ads.tasks.user_binary.UserBinaryTask": ("ssl_ads.tasks.user_binary", "UserBinaryTask"),
    "ssl_ads.tasks.impression_binary.ImpressionBinaryTask": ("ssl_ads.tasks.impression_binary", "ImpressionBinaryTask"),
    "ssl_ads.tasks.impression_binary.FraudTask": ("ssl_ads.tasks.impression_binary", "FraudTask"),
    "ssl_ads.tasks.intent.IntentTask": ("ssl_ads.tasks.intent", "IntentTask"),
    "ssl_ads.tasks.text_classification.TextClassification": ("ssl_ads.tasks.text_classification", "TextClassification"),
}


def is_known_task(target: object) -> bool:
    """Whether `target` is one of the task classes above (exact string match, nothing imported)."""
    return isinstance(target, str) and target in TASK_TARGETS


def task_class(target: str) -> type[LabeledTask]:
    """The class of an allowlisted target; a KeyError for anything else (callers check `is_known_task` first)."""
    module, name = TASK_TARGETS[target]
    return getattr(import_module(module), name)


def build_task(config: dict[str, Any], classes: list[str] | None = None) -> LabeledTask:
    """The task a bundle describes, its constructor called with the config's plain values (no instantiate).

    `classes` restores a classifier's label order (read from the training labels, not from the new data).
    Training-recipe keys that bundles written before they moved to `probe:` / `finetune:` still carry are
    dropped: the recipe shaped the saved weights, it plays no part in scoring with them.
    Raises KeyError for an unknown target and TypeError / ConfigError for arguments that do not fit.
    """
    target = config.get("_target_")
    cls = task_class(target)
    task = cls(**{k: v for k, v in config.items() if k != "_target_" and k not in MOVED_TASK_KEYS})
    if classes:
        task.classes = list(classes)
    return task
