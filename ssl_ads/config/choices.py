"""The config groups and their choices, read from `configs/` (for help text and error messages)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hydra.utils import get_class
from omegaconf import OmegaConf

CONFIG_PACKAGE = "ssl_ads.configs"


def _config_dir() -> Path:
    """The package `ssl_ads.configs`: the wheel's copy of `configs/`, or in an editable install the repository's
    `configs/` itself (setup.py maps it). Located, not imported. A source tree that is not installed falls
    back to its own `configs/`."""
    spec = importlib.util.find_spec(CONFIG_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    return Path(__file__).resolve().parents[2] / "configs"


CONFIG_DIR = _config_dir()
# Hydra's primary config source (`hydra.main`); users add their own folders with --config-dir / hydra.searchpath.
CONFIG_SOURCE = f"pkg://{CONFIG_PACKAGE}" if importlib.util.find_spec(CONFIG_PACKAGE) else str(CONFIG_DIR)
COMPONENT_GROUPS = ("dataset", "encoder", "pretext", "task")


def group_choices(group: str) -> list[str]:
    """Option names of one config group, sorted."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def all_groups() -> dict[str, list[str]]:
    """Every config group folder with its choices (not `__pycache__`: the folder is a Python package)."""
    folders = (p for p in sorted(CONFIG_DIR.iterdir()) if p.is_dir() and not p.name.startswith(("_", ".")))
    return {p.name: group_choices(p.name) for p in folders}


def target_of(group: str, choice: str) -> str | None:
    """The `_target_` a group option builds, or None when it builds nothing."""
    node = OmegaConf.load(CONFIG_DIR / group / f"{choice}.yaml")
    return node.get("_target_") if OmegaConf.is_dict(node) else None


def modality_of(target: str) -> str:
    """The modality a component class declares (`modality` class attribute)."""
    return get_class(target).modality


def choices_with_modality(group: str, modality: str) -> list[str]:
    """Options of `group` whose component works on `modality`."""
    keep = []
    for choice in group_choices(group):
        target = target_of(group, choice)
        if target is not None and modality in _modalities(target):
            keep.append(choice)
    return keep


def _modalities(target: str) -> tuple[str, ...]:
    declared = get_class(target).modality
    return (declared,) if isinstance(declared, str) else tuple(declared)
