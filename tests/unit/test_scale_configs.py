"""The scale-out choices compose and validate: `trainer=ddp`, `trainer=fsdp` and Hydra's cluster launchers."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.strategies import DDPStrategy

from ssl_ads.config.choices import CONFIG_DIR, group_choices
from ssl_ads.config.schema import register_configs
from ssl_ads.config.validate import validate_run_config
from ssl_ads.hardware import resolve_trainer_precision


def compose_run(*overrides: str, hydra: bool = False) -> DictConfig:
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=["stage=pretrain", *overrides], return_hydra_config=hydra)


def test_ddp_trainer_composes_validates_and_builds_a_gloo_ddp_trainer():
    cfg = compose_run("trainer=ddp", "experiment=tiny")
    validate_run_config(cfg, {"trainer": "ddp", "experiment": "tiny"})
    assert (cfg.trainer.accelerator, cfg.trainer.strategy, cfg.trainer.devices) == ("cpu", "ddp", 2)
    assert cfg.trainer.enable_progress_bar is False  # the experiment still applies on top
    # the Trainer the stages build from it (no process is started before fit)
    args = OmegaConf.to_container(cfg.trainer)
    args["precision"] = resolve_trainer_precision(args["precision"], args["accelerator"])  # as make_trainer does
    trainer = pl.Trainer(**args, logger=False, enable_checkpointing=False)
    assert isinstance(trainer.strategy, DDPStrategy) and trainer.num_devices == 2
    assert trainer.strategy._get_process_group_backend() == "gloo"  # picked from the CPU device
    nodes = compose_run("trainer=ddp", "trainer.num_nodes=2", "trainer.devices=4")
    validate_run_config(nodes, {"trainer": "ddp"})
    assert (nodes.trainer.num_nodes, nodes.trainer.devices) == (2, 4)


def test_fsdp_trainer_composes_as_a_gpu_only_choice():
    # Lightning 2.6 rejects FSDP with a CPU accelerator, so only the composition is testable here.
    cfg = compose_run("trainer=fsdp")
    validate_run_config(cfg, {"trainer": "fsdp"})
    assert (cfg.trainer.accelerator, cfg.trainer.strategy, cfg.trainer.num_nodes) == ("gpu", "fsdp", 1)


def test_every_trainer_choice_composes_and_validates():
    assert {"cpu", "ddp", "fsdp"} <= set(group_choices("trainer"))
    for choice in group_choices("trainer"):
        validate_run_config(compose_run(f"trainer={choice}"), {"trainer": choice})


@pytest.mark.parametrize(
    ("choice", "target"),
    [
        ("joblib", "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
        ("submitit_slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
        ("submitit_local", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"),
    ],
)
def test_cluster_launchers_resolve_to_their_plugin_class(choice, target):
    cfg = compose_run("experiment=tiny", f"hydra/launcher={choice}", hydra=True)
    assert cfg.hydra.runtime.choices["hydra/launcher"] == choice
    assert cfg.hydra.launcher._target_ == target
    assert get_class(target).__name__ == target.rsplit(".", 1)[1]  # the installed plugin imports
