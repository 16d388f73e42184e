"""What a run may ask of Lightning from the command line: Trainer arguments and the `logger` group.

Checked at start-up (`validate_run_config`), before any data is read: `+trainer.logger=...` and the Trainer
arguments ssl-ads passes itself would otherwise end in a TypeError inside Lightning, and a logger whose package
is missing in an ImportError after the data was featurized. Kept free of Lightning imports: preflight runs it.
"""

from __future__ import annotations

import importlib.util

from omegaconf import DictConfig

from ssl_ads.config.choices import group_choices
from ssl_ads.errors import ConfigError

# Trainer arguments ssl-ads passes itself, with what to set instead.
OWN_TRAINER_ARGS = {
    "max_epochs": "set pretrain.max_epochs, probe.max_epochs or finetune.max_epochs",
    "callbacks": "ssl-ads sets checkpointing, early stopping (<loop>.patience) and EMA (<loop>.ema_decay)",
    "enable_model_summary": "ssl-ads turns the model summary off",
    "num_sanity_val_steps": "ssl-ads skips the sanity validation steps",
    "use_distributed_sampler": "ssl-ads shards the rows by rank itself (ssl_ads.data.batches)",
}

# A Lightning logger class → (modules any of which it can use, the pip extra that installs one).
LOGGER_PACKAGES = {
    "TensorBoardLogger": (("tensorboard", "tensorboardX"), "tracking"),
    "MLFlowLogger": (("mlflow",), "tracking"),
    "WandbLogger": (("wandb",), "wandb"),
}


def check_lightning_args(cfg: DictConfig, choices: dict[str, str | None]) -> None:
    """Raise ConfigError for a Trainer argument ssl-ads owns or a logger that cannot be built here."""
    trainer = cfg.get("trainer")
    if trainer is not None and "logger" in trainer:
        raise ConfigError(
            "trainer.logger: the logger is its own config group; choose it with "
            f"logger=<{'|'.join(group_choices('logger'))}> (e.g. logger=mlflow), not trainer.logger"
        )
    for key, instead in OWN_TRAINER_ARGS.items():
        if trainer is not None and key in trainer:
            raise ConfigError(f"trainer.{key} is not a run setting: {instead}")
    check_logger_package(cfg, choices.get("logger"))


def check_logger_package(cfg: DictConfig, choice: str | None) -> None:
    """The chosen logger's package must be importable (looked up, not imported: `--help` stays fast)."""
    node = cfg.get("logger")
    if node is None:
        return
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise ConfigError(f"logger: expected a logger config with a _target_; choose one with "
                          f"logger=<{'|'.join(group_choices('logger'))}>")  # fmt: skip
    class_name = str(node["_target_"]).rsplit(".", 1)[-1]
    modules, extra = LOGGER_PACKAGES.get(class_name, ((), ""))
    if modules and not any(importlib.util.find_spec(module) for module in modules):
        raise ConfigError(
            f"logger={choice or class_name} needs the {modules[0]} package: pip install 'ssl-ads[{extra}]'"
        )
