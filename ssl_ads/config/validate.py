"""Start-up checks: every group node matches its constructor, values lie in their ranges, one modality.

Schemas are derived from each `_target_`'s constructor signature so they cannot drift from the code:
an unknown key, a value of the wrong type or out of its declared range (`Annotated[int, Range(min=1)]`, see
`ssl_ads.config.ranges`) fails here, naming the key, before any data is read. The run-level keys are checked
against the same kind of annotations on `ssl_ads.config.schema.RunConfig`.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

from hydra.utils import get_class
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ssl_ads.config.choices import COMPONENT_GROUPS, choices_with_modality
from ssl_ads.config.lightning_args import check_lightning_args
from ssl_ads.config.ranges import check_values
from ssl_ads.config.schema import RunConfig, check_recipe, moved_task_key
from ssl_ads.errors import ConfigError
from ssl_ads.extras import require_extra

_SIMPLE_TYPES = (int, float, str, bool)


def validate_run_config(cfg: DictConfig, choices: dict[str, str | None]) -> None:
    """Raise ConfigError when a group node is malformed or the composition mixes modalities."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        settings = " ".join(f"{key}=..." for key in missing)
        raise ConfigError(f"required config value(s) not set: {', '.join(missing)}; pass them as {settings}")
    check_run_values(cfg)
    check_recipe(cfg)  # the probe / finetune loops' named choices and the pairs that need each other
    check_lightning_args(cfg, choices)  # trainer.* passthroughs and the logger's package
    for group in COMPONENT_GROUPS:
        node = cfg.get(group)
        if node is None or "_target_" not in node:
            raise ConfigError(f"config group '{group}' is missing or has no _target_; choose one with {group}=<name>")
        if group != "task" or cfg.get("stage") != "embed":  # embed reads no task: an unlabeled file has no label
            check_node_against_signature(group, node)
    check_modalities(cfg, choices)
    check_extras(cfg, choices)


def check_node_against_signature(group: str, node: DictConfig) -> None:
    """Merge the node into a dataclass built from the target's __init__: unknown keys and bad types fail."""
    target = node["_target_"]
    try:
        cls = get_class(target)
    except Exception as err:
        raise ConfigError(f"{group}._target_: cannot import '{target}' ({err})") from err
    schema = signature_schema(cls)
    values = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k != "_target_"}
    moved = next((moved_task_key(k) for k in values if group == "task" and moved_task_key(k)), None)
    if moved:
        raise ConfigError(moved)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), values)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or getattr(err, "key", "?")
        raise ConfigError(f"{group}.{key}: {err.msg if hasattr(err, 'msg') else err}".splitlines()[0]) from err
    given = {k: v for k, v in OmegaConf.to_container(merged).items() if not OmegaConf.is_missing(merged, k)}
    problem = check_values(f"{group}.", typing.get_type_hints(cls.__init__, include_extras=True), given)
    if problem:
        raise ConfigError(problem)


def check_run_values(cfg: DictConfig, schema: type = RunConfig, prefix: str = "") -> None:
    """The run-level keys against the ranges annotated on the run schema's fields (nested loops included)."""
    hints = typing.get_type_hints(schema, include_extras=True)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(schema):
        if item.name not in cfg or OmegaConf.is_missing(cfg, item.name):
            continue
        value = cfg[item.name]
        if dataclasses.is_dataclass(hints[item.name]) and isinstance(value, DictConfig):
            check_run_values(value, hints[item.name], f"{prefix}{item.name}.")
        elif not isinstance(value, DictConfig):
            values[item.name] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_list(value) else value
    problem = check_values(prefix, hints, values)
    if problem:
        raise ConfigError(problem)


def signature_schema(cls: type) -> type:
    """A dataclass whose fields are the constructor's keyword parameters with their types and defaults."""
    hints = typing.get_type_hints(cls.__init__)
    fields: list[tuple[str, Any, Any]] = []
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = MISSING if param.default is inspect.Parameter.empty else param.default
        annotation = _omegaconf_type(hints.get(name, Any))
        if isinstance(default, (list, dict)):
            fields.append((name, annotation, dataclasses.field(default_factory=lambda d=default: d)))
        else:
            fields.append((name, annotation, dataclasses.field(default=default)))
    return dataclasses.make_dataclass(f"{cls.__name__}Schema", fields)


def _omegaconf_type(annotation: Any) -> Any:
    """Keep the types OmegaConf validates (simple, Optional simple, list/dict of simple); else Any."""
    if annotation in _SIMPLE_TYPES:
        return annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1 and non_none[0] in _SIMPLE_TYPES:
            return typing.Optional[non_none[0]]  # noqa: UP045 - OmegaConf needs typing.Optional
        return Any
    if origin in (list, tuple) and args and args[0] in _SIMPLE_TYPES:
        return list[args[0]]
    if origin is dict and len(args) == 2 and args[0] is str and args[1] in _SIMPLE_TYPES:
        return dict[str, args[1]]
    return Any


def check_extras(cfg: DictConfig, choices: dict[str, str | None]) -> None:
    """A component whose class declares a pip extra (`extra = "text"`) needs that extra installed."""
    for group in COMPONENT_GROUPS:
        extra = getattr(get_class(cfg[group]._target_), "extra", None)
        if extra:
            require_extra(extra, f"{group}={choices.get(group) or cfg[group]._target_}")


def check_modalities(cfg: DictConfig, choices: dict[str, str | None]) -> None:
    """The dataset fixes the modality; encoder, pretext and task must declare it."""
    dataset_modality = get_class(cfg.dataset._target_).modality
    for group in ("encoder", "pretext", "task"):
        declared = get_class(cfg[group]._target_).modality
        declared = (declared,) if isinstance(declared, str) else tuple(declared)
        if dataset_modality not in declared:
            compatible = ", ".join(choices_with_modality(group, dataset_modality)) or "(none yet)"
            raise ConfigError(
                f"{group}={choices.get(group)} works on {'/'.join(declared)} data, but "
                f"dataset={choices.get('dataset')} is {dataset_modality} data. "
                f"Compatible {group} choices: {compatible}"
            )
