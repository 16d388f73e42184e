"""`ssl-ads <stage> [hydra overrides]`: one entry point for every stage, with Hydra's own flags."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console

from ssl_ads.config.choices import CONFIG_DIR, all_groups
from ssl_ads.config.schema import register_configs
from ssl_ads.config.validate import validate_run_config
from ssl_ads.errors import SslAdsError


def _stage_runners() -> dict[str, Callable[[DictConfig], None]]:
    # Imported lazily so `ssl-ads --help` does not pay for torch and Lightning.
    from ssl_ads.stages.downstream import run_finetune, run_pipeline, run_probe
    from ssl_ads.stages.pretrain import run as run_pretrain

    return {"pretrain": run_pretrain, "probe": run_probe, "finetune": run_finetune, "pipeline": run_pipeline}


STAGES = {
    "pretrain": "train an encoder with a self-supervised pretext objective (writes encoder.pt)",
    "probe": "linear probe of a frozen encoder (encoder_ckpt=..., or a random one) at each label fraction",
    "finetune": "fine-tune an encoder (encoder_ckpt=..., or from scratch) at each label fraction",
    "pipeline": "pretrain → probe → fine-tune beside the from-scratch baseline, one table",
    "benchmark": "run a suite (suite=ci|full|<file.yaml>) over seeds and fractions; exit 1 if an expectation fails",
    "report": "rank finished runs / -m sweep folders: ssl-ads report <dirs...> [--metric M] [--format md|json|csv]",
}


# Hydra's flags that take the next argument as their value (`--info` only when it is one of its topics).
VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
               "--experimental-rerun"}  # fmt: skip
INFO_TOPICS = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}


def hydra_argv(stage: str, rest: list[str]) -> list[str]:
    """The argv Hydra parses: its overrides are one positional run, so the user's overrides and `stage=` go
    together before the flags, whatever order they were typed in (`experiment=demo --cfg job` as well)."""
    overrides, flags = [], []
    args = iter(rest)
    for arg in args:
        if not arg.startswith("-"):
            overrides.append(arg)
            continue
        flags.append(arg)
        if arg in VALUE_FLAGS or arg in ("--info", "-i"):
            value = next(args, None)
            if value is not None and (arg in VALUE_FLAGS or value in INFO_TOPICS):
                flags.append(value)
            elif value is not None:
                overrides.append(value)
    return [f"ssl-ads {stage}", *overrides, f"stage={stage}", *flags]


def _direct_stage(stage: str) -> Callable[[list[str]], int]:
    """Stages that parse their own arguments instead of composing one Hydra run config (imported on use:
    `report` must not pay for torch)."""
    if stage == "report":
        from ssl_ads.stages.report_runs import main as report_main

        return report_main
    from ssl_ads.stages.benchmark import main as benchmark_main

    return benchmark_main


def usage() -> str:
    lines = ["usage: ssl-ads <stage> [key=value ...] [-m] [--cfg job] [--help]", "", "stages:"]
    lines += [f"  {name:<10} {text}" for name, text in STAGES.items()]
    lines += ["", "config groups (choose with group=choice):"]
    groups = all_groups()
    suites = groups.pop("benchmark", [])  # configs/benchmark holds suites (suite=<name>), not a run-config group
    lines += [f"  {group:<12} {', '.join(choices)}" for group, choices in groups.items()]
    lines += ["", f"benchmark suites (ssl-ads benchmark suite=<name>): {', '.join(suites)}"]
    lines += ["", "examples:", "  ssl-ads pipeline experiment=demo", "  ssl-ads pretrain -m encoder.dim=32,64"]
    return "\n".join(lines)


def quiet_libraries() -> None:
    """Keep the terminal for our tables and progress bars: Lightning's info lines go to the log only."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")


def run(cfg: DictConfig) -> float | None:
    """Hydra's task function: validate the composition, then run the chosen stage."""
    console = Console(stderr=True)
    try:
        runners = _stage_runners()
        quiet_libraries()  # after the imports: Lightning sets its own log level when it is imported
        validate_run_config(cfg, dict(HydraConfig.get().runtime.choices))
        # The value (a validation metric, see `sweep_objective`) is what a Hydra sweeper such as Optuna optimises.
        return runners[cfg.stage](cfg)
    except SslAdsError as err:
        console.print(f"[bold red]error:[/] {err}")
        sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    stage, rest = argv[0], argv[1:]
    relaunched = [a.split("=", 1)[1] for a in argv if a.startswith("stage=")]
    if stage not in STAGES and relaunched:
        # A DDP worker relaunched by Lightning gets our rewritten argv: overrides ending in `stage=<name>`.
        stage, rest = relaunched[-1], [a for a in argv if not a.startswith("stage=")]
    if stage not in STAGES:
        print(f"ssl-ads: unknown stage '{stage}'; choose one of: {', '.join(STAGES)}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    if stage in ("benchmark", "report"):
        sys.exit(_direct_stage(stage)(rest))
    register_configs()
    sys.argv = hydra_argv(stage, rest)
    hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")(run)()
