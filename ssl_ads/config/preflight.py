"""Check a run's config before Hydra creates its run folder, so a wrong value leaves nothing behind.

`ssl-ads <stage> key=value ...` and `-m` sweeps are composed here with Hydra's compose API and validated
(`validate_run_config`; every job of a basic sweep); a mistake, Hydra's own composition errors included, is one
`ConfigError` line. Commands that run nothing (`--cfg`, `--help`, `--info`) or change where Hydra finds its
configs (`-cp`, `-cn`, `-cd`, `--experimental-rerun`), and sweepers that choose their own values (Optuna), are left
to Hydra: their jobs are still validated by the task function, which then calls `remove_unused_run_dir`.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from ssl_ads.config.choices import CONFIG_DIR, all_groups
from ssl_ads.config.schema import register_configs
from ssl_ads.config.validate import validate_run_config
from ssl_ads.errors import ConfigError
from ssl_ads.sweep_storage import prepare_storage

RUN_FLAGS = frozenset({"-m", "--multirun", "-r", "--run"})
MULTIRUN_FLAGS = frozenset({"-m", "--multirun"})
BASIC_SWEEPER = f"{BasicSweeper.__module__}.{BasicSweeper.__name__}"
# Lines of an OmegaConf message that locate the error for a developer, not for the person typing the command.
_LOCATION = re.compile(r"^\s*(full_key|object_type|reference_type|key|value|msg)\s*[:=]")


def preflight(overrides: list[str], flags: list[str]) -> None:
    """Raise ConfigError when the run (or any job of a basic `-m` sweep) these arguments describe cannot run."""
    if any(flag not in RUN_FLAGS for flag in flags):
        return
    multirun = any(flag in MULTIRUN_FLAGS for flag in flags)
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
        try:
            parsed = parser.parse_overrides(overrides)
        except HydraException as err:
            raise ConfigError(explain_compose_error(err)) from err
        sweeps = [o for o in parsed if o.is_sweep_override()]
        if sweeps and not multirun:
            return  # Hydra's own message: a sweep needs --multirun
        sweeper = _compose_and_validate([o.input_line or "" for o in parsed if not o.is_sweep_override()])
        if multirun:
            prepare_storage(sweeper)  # an Optuna study in SQLite: set up once, before parallel workers open it
        if not multirun or sweeper.get("_target_") != BASIC_SWEEPER:
            return
        params = sweeper.get("params") or {}
        task = [o for o in parsed if not o.is_hydra_override()]
        hydra_fixed = [o.input_line or "" for o in parsed if o.is_hydra_override()]
        try:
            swept = parser.parse_overrides([f"{k}={v}" for k, v in params.items()])
            jobs = BasicSweeper.split_arguments([*swept, *task], max_batch_size=None)[0]
        except Exception:  # a sweep the basic sweeper cannot expand: Hydra reports it, and each job is checked
            return
        swept_keys = {o.get_key_element() for o in [*swept, *sweeps]}
        for job in jobs:
            try:
                _compose_and_validate([*hydra_fixed, *job])
            except ConfigError as err:
                varying = " ".join(a for a in job if a.split("=", 1)[0] in swept_keys)
                where = f" (in the sweep job {varying})" if varying and varying not in str(err) else ""
                raise ConfigError(f"{err}{where}") from err


def _compose_and_validate(overrides: list[str]) -> dict:
    """Compose one run's config, validate it, and return its sweeper's settings (`hydra.sweeper`)."""
    try:
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        message = explain_compose_error(err)
        unknown = re.match(r"Could not override '([\w.]+)'.*\(Key '[\w]+' (is )?not in ", message)
        raise ConfigError((unknown and _unknown_key(overrides, unknown.group(1))) or message) from err
    choices = {k: v for k, v in OmegaConf.to_container(cfg.hydra.runtime.choices).items() if "hydra" not in k}
    sweeper = OmegaConf.to_container(cfg.hydra.sweeper, resolve=False)
    with open_dict(cfg):
        del cfg["hydra"]
    validate_run_config(cfg, choices)
    return sweeper


def _unknown_key(overrides: list[str], key: str) -> str | None:
    """`key` is not a setting: say so with the closest setting names of its parent node (Hydra's own message offers
    `+key=` to append it, which a checked config then refuses); None when the parent cannot be composed."""
    rest = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key]
    parent, _, name = key.rpartition(".")
    try:
        node = compose("config", overrides=rest)
        node = OmegaConf.select(node, parent) if parent else node
    except (HydraException, OmegaConfBaseException):
        return None
    if not OmegaConf.is_dict(node):
        return None
    keys = [str(k) for k in node]
    close = difflib.get_close_matches(name, keys, n=3)
    where = f"{parent}." if parent else ""
    suggestion = f"did you mean {' or '.join(where + c for c in close)}? " if close else ""
    return f"{key} is not a setting: {suggestion}{parent or 'the config'} has {', '.join(keys)}"


def explain_compose_error(err: Exception) -> str:
    """Hydra's composition error as one line: a missing option with the group's choices, or its message plus
    the OmegaConf cause, without the lines that locate it in Hydra's internals."""
    text = str(err)
    missing = re.search(r"Could not find '([\w/]+)/([^'/]+)'", text)
    groups = all_groups()
    if isinstance(err, MissingConfigException) and missing and missing.group(1) in groups:
        group, option = missing.groups()
        return f"{group}={option} is not an option; choose one of: {', '.join(groups[group])}"
    message = _one_line(text) or type(err).__name__
    if isinstance(err, OverrideParseException):
        message = f"cannot parse the override {err.override}: {message}"
    cause = err.__cause__
    if isinstance(cause, OmegaConfBaseException):
        detail = _one_line(str(getattr(cause, "msg", None) or cause))
        if detail and detail not in message:
            message = f"{message} ({detail})"
    return message


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not _LOCATION.match(line)]
    return " ".join(lines)


def remove_unused_run_dir() -> None:
    """After a failure that wrote nothing: remove the run folder Hydra created when it holds only Hydra's own
    files (its `.hydra/` snapshot and job log), then a sweep folder left holding only `multirun.yaml`."""
    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    own = {name for name in (hydra_cfg.output_subdir, f"{hydra_cfg.job.name}.log") if name}
    if not _removable(run_dir, own):
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        sweep_dir = Path(hydra_cfg.sweep.dir).resolve()
        if sweep_dir in run_dir.resolve().parents and _removable(sweep_dir, {"multirun.yaml"}):
            shutil.rmtree(sweep_dir, ignore_errors=True)
    _remove_empty_parents(run_dir)


def _remove_empty_parents(folder: Path) -> None:
    """`outputs/<stage>/` and `outputs/` when the removed run was all they held (only below the working directory)."""
    here = Path(os.getcwd()).resolve()
    for parent in folder.resolve().parents:
        if parent == here or here not in parent.parents:
            return
        if not parent.exists():  # the sweep folder, removed above
            continue
        try:
            parent.rmdir()  # only ever removes an empty folder
        except OSError:
            return


def _removable(folder: Path, own: set[str]) -> bool:
    """A folder holding nothing but `own` names, and neither the working directory nor one of its parents."""
    if not folder.is_dir():
        return False
    here = Path(os.getcwd()).resolve()
    if folder.resolve() in (here, *here.parents):
        return False
    return all(entry.name in own for entry in folder.iterdir())
