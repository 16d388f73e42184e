"""`ssl-ads <stage> [hydra overrides]`: one entry point for every stage, with Hydra's own flags."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from ssl_ads import __version__, progress
from ssl_ads.config.choices import CONFIG_SOURCE, all_groups
from ssl_ads.config.preflight import preflight, remove_unused_run_dir
from ssl_ads.config.schema import register_configs
from ssl_ads.config.validate import validate_run_config
from ssl_ads.errors import SslAdsError
from ssl_ads.terminal import quiet_libraries, report_error


def _stage_runners() -> dict[str, Callable[[DictConfig], None]]:
    # Imported lazily so `ssl-ads --help` does not pay for torch and Lightning.
    from ssl_ads.stages.dispatch import run_finetune, run_pipeline, run_pretrain, run_probe
    from ssl_ads.stages.embed import run as run_embed

    return {"pretrain": run_pretrain, "probe": run_probe, "finetune": run_finetune, "pipeline": run_pipeline,
            "embed": run_embed}  # fmt: skip


STAGES = {
    "pretrain": "train an encoder with a self-supervised pretext objective (writes encoder.pt)",
    "probe": "linear probe of a frozen encoder (encoder_ckpt=..., or a random one) at each label fraction",
    "finetune": "fine-tune an encoder (encoder_ckpt=..., or from scratch) at each label fraction",
    "pipeline": "pretrain → probe → fine-tune beside the from-scratch baseline, one table",
    "benchmark": "run a suite (suite=ci|full|<file.yaml>) over seeds and fractions; exit 1 if an expectation fails",
    "report": "rank finished runs / -m sweep folders: ssl-ads report <dirs...> [--metric M] [--format md|json|csv]",
    "embed": "one vector per user / item / row / text: ssl-ads embed encoder_ckpt=<encoder.pt> dataset=... (parquet)",
    "lookalike": "expand a seed audience: ssl-ads lookalike embeddings=<users.parquet> seeds=<ids.csv> k=<n>",
    "predict": "score a new file with a fine-tuned model: ssl-ads predict model=<model.pt> dataset.path=<file>",
    "export": "ONNX / TorchScript + model card: ssl-ads export model=<model.pt>|encoder_ckpt=<encoder.pt> format=onnx",
    "monitor": "data drift (PSI), exit 1 above threshold: ssl-ads monitor reference=<run dir|file> current=<file>",
}
# Use commands that read a checkpoint and files and parse their own key=value arguments (ssl_ads/stages/use_args.py).
USE_STAGES = ("predict", "export", "monitor")
# Stages that parse their own arguments (`_direct_stage`) rather than composing a Hydra run config.
DIRECT_STAGES = ("benchmark", "report", "lookalike", *USE_STAGES)


# Hydra's flags that take the next argument as their value (`--info` only when it is one of its topics).
VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
               "--experimental-rerun"}  # fmt: skip
INFO_TOPICS = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}
# Hydra's flags that need no stage: its own help and shell completion (`ssl-ads -sc install=bash`).
COMPLETION_FLAGS = ("-sc", "--shell-completion")
STAGELESS_FLAGS = ("--hydra-help", *COMPLETION_FLAGS)


def hydra_argv(stage: str, rest: list[str]) -> list[str]:
    """The arguments Hydra parses (`sys.argv[1:]`): its overrides are one positional run, so the user's overrides
    and `stage=` go together before the flags, whatever order they were typed in (`experiment=demo --cfg job` as
    well). `--hydra-help` composes no run config: it gets only the `hydra` overrides and no `stage=`."""
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
    if "--hydra-help" in flags:
        return [*(o for o in overrides if o.lstrip("+~").startswith(("hydra.", "hydra/"))), *flags]
    return [*overrides, f"stage={stage}", *flags]


def _direct_stage(stage: str) -> Callable[[list[str]], int]:
    """Stages that parse their own arguments instead of composing one Hydra run config (imported on use:
    `report` must not pay for torch)."""
    if stage in USE_STAGES:
        from importlib import import_module

        return import_module(f"ssl_ads.stages.{stage}").main
    if stage == "lookalike":
        from ssl_ads.stages.lookalike import main as lookalike_main

        return lookalike_main
    if stage == "report":
        from ssl_ads.report.rank_runs import main as report_main

        return report_main
    from ssl_ads.stages.benchmark import main as benchmark_main

    return benchmark_main


def usage() -> str:
    lines = ["usage: ssl-ads <stage> [key=value ...] [-m] [--cfg job] [--help]",
             "       ssl-ads --version | --hydra-help | --shell-completion install=bash", "", "stages:"]  # fmt: skip
    lines += [f"  {name:<10} {text}" for name, text in STAGES.items()]
    lines += ["", "config groups (choose with group=choice):"]
    groups = all_groups()
    suites = groups.pop("benchmark", [])  # configs/benchmark holds suites (suite=<name>), not a run-config group
    lines += [f"  {group:<12} {', '.join(choices)}" for group, choices in groups.items()]
    lines += ["", f"benchmark suites (ssl-ads benchmark suite=<name>): {', '.join(suites)}"]
    lines += ["", "examples:", "  ssl-ads pipeline experiment=demo", "  ssl-ads pretrain -m encoder.dim=32,64"]
    return "\n".join(lines)


def run(cfg: DictConfig) -> float | None:
    """Hydra's task function: validate the composition, then run the chosen stage."""
    try:
        runners = _stage_runners()
        quiet_libraries()  # after the imports: Lightning sets its own log level when it is imported
        validate_run_config(cfg, dict(HydraConfig.get().runtime.choices))
        progress.configure(cfg.trainer.enable_progress_bar)  # data and embedding bars follow Lightning's switch
        # The value (a validation metric, see `ssl_ads.results`) is what a Hydra sweeper such as Optuna optimises.
        return runners[cfg.stage](cfg)
    except (SslAdsError, InstantiationException) as err:
        # A component's constructor complaining about its config (ConfigError, or ValueError naming the key)
        # reaches us wrapped by Hydra's instantiate: report the complaint itself.
        cause = err.__cause__ if isinstance(err, InstantiationException) else err
        if not isinstance(cause, (SslAdsError, ValueError)):
            raise
        report_error(cause)
        remove_unused_run_dir()  # a run that failed before writing anything leaves no folder behind
        sys.exit(2)


def complete_stage(argv: list[str]) -> bool:
    """Shell completion (`ssl-ads -sc query=<shell>` with the line typed so far in COMP_LINE): stage names while
    the stage is typed; after a Hydra stage, Hydra completes the line without it (it would read the stage as an
    override). True when answered here."""
    line = os.environ.get("COMP_LINE")
    if line is None or not any(arg.startswith("query=") for arg in argv):
        return False
    words = line.split()
    if len(words) == 1 or (len(words) == 2 and not line.endswith(" ")):
        prefix = words[1] if len(words) == 2 else ""
        print(("\n" if "query=fish" in argv else " ").join(s for s in STAGES if s.startswith(prefix)))
        return True
    if words[1] not in STAGES or words[1] in DIRECT_STAGES:
        print()  # nothing Hydra knows to offer
        return True
    os.environ["COMP_LINE"] = re.sub(rf"^(\s*\S+)\s+{re.escape(words[1])}(?=\s|$)", r"\1", line, count=1)
    return False


def run_hydra(args: list[str]) -> None:
    """Hand `args` to Hydra as `sys.argv[1:]`. `sys.argv[0]` stays the program that was run: Lightning's DDP
    launcher starts each further process as `python <sys.argv[0]> <sys.argv[1:]>`, and Hydra's shell completion
    registers itself for that program's name."""
    sys.argv = [sys.argv[0], *args]
    hydra.main(config_path=CONFIG_SOURCE, config_name="config", version_base="1.3")(run)()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    if argv[0] in ("-V", "--version"):
        print(f"ssl-ads {__version__}")
        return
    if argv[0] in STAGELESS_FLAGS:  # `ssl-ads --hydra-help`, `ssl-ads -sc install=bash`
        if argv[0] in COMPLETION_FLAGS and complete_stage(argv):
            return
        register_configs()
        run_hydra(argv)
        return
    stage, rest = argv[0], argv[1:]
    relaunched = [a.split("=", 1)[1] for a in argv if a.startswith("stage=")]
    if stage not in STAGES and relaunched:
        # A DDP worker started by Lightning (`python <program> <Hydra's arguments>`): overrides holding `stage=`.
        stage, rest = relaunched[-1], [a for a in argv if not a.startswith("stage=")]
    if stage not in STAGES:
        print(f"ssl-ads: unknown stage '{stage}'; choose one of: {', '.join(STAGES)}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    if stage in DIRECT_STAGES:
        sys.exit(_direct_stage(stage)(rest))
    register_configs()
    args = hydra_argv(stage, rest)
    if f"stage={stage}" in args:
        cut = len(args) - args[::-1].index(f"stage={stage}")
        try:  # before Hydra creates the run folder: a config mistake leaves nothing behind
            preflight(args[:cut], args[cut:])
        except SslAdsError as err:
            report_error(err)
            sys.exit(2)
    run_hydra(args)
