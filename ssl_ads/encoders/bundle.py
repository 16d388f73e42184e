"""Save and load a reusable encoder: weights, constructor config, vocabularies and data config together.

Checkpoints are data, not code: they are written as tensors and plain containers only and read back with
`torch.load(weights_only=True)`, and the encoder they describe is built only if its class is one of this
package's encoders (`ssl_ads.encoders.registry`), so a crafted file cannot run anything when loaded.
"""

from __future__ import annotations

import importlib.util
import pickle
import re
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import polars as pl
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

from ssl_ads.data.featurized import Dataset
from ssl_ads.data.io import save_atomic
from ssl_ads.encoders.registry import ENCODER_TARGETS, encoder_class, is_allowed
from ssl_ads.errors import DataError, SslAdsError

BUNDLE_FORMAT = 1
# Keys Hydra's instantiate would act on; none may appear inside a checkpoint's encoder config.
HYDRA_KEYS = frozenset({"_target_", "_args_", "_recursive_", "_convert_", "_partial_"})
_SCALARS = (str, int, float, bool, type(None))


def make_bundle(encoder_config: dict, data_state: dict, dataset_config: dict, extra: dict) -> dict:
    """`data_state` is the fitted featurizer (vocabularies...), so new data maps as in training.

    Everything is made plain here (before any training), so the bundle loads with `weights_only=True`.
    """
    return plain(
        {
            "format": BUNDLE_FORMAT,
            "encoder_config": encoder_config,
            "data_state": data_state,
            "dataset_config": dataset_config,
            **extra,
        }
    )


def plain(value: Any, where: str = "bundle") -> Any:
    """`value` as tensors, numbers, strings, lists, tuples and dicts only: what `weights_only=True` reads back.

    numpy values and arrays, paths, OmegaConf and polars containers are converted; any other object is a
    DataError naming where it sits, since a checkpoint holding it could not be loaded safely later.
    """
    if type(value) in _SCALARS:
        return value
    if isinstance(value, (np.generic, np.ndarray)):  # before the scalars: np.float64 and np.str_ subclass them
        return plain(value.tolist(), where)
    for base in (bool, int, float, str):  # other subclasses (enums...) pickle by class: store the plain value
        if isinstance(value, base):
            return str.__str__(value) if base is str else base(value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, (DictConfig, ListConfig)):
        return plain(OmegaConf.to_container(value, resolve=True), where)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, pl.DataFrame):
        return plain(value.to_dict(as_series=False), where)
    if isinstance(value, pl.Series):
        return plain(value.to_list(), where)
    if isinstance(value, Mapping):
        return {plain(k, f"{where} key"): plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if all(type(v) in _SCALARS for v in value):  # the common case (vocabularies): no per-item recursion
            return list(value) if isinstance(value, list) else tuple(value)
        items = [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise DataError(
        f"cannot store {where} (a {type(value).__module__}.{type(value).__qualname__}) in an encoder checkpoint: "
        "only numbers, strings, lists, dicts and tensors are saved (cast the column to integers or strings)"
    )


def save_encoder(path: Path, encoder: nn.Module, bundle: dict[str, Any]) -> None:
    """Write `encoder.pt` atomically, from eval mode, with the bundle beside the state dict."""
    encoder.eval()
    payload = {**bundle, "state_dict": {k: v.detach().cpu() for k, v in encoder.state_dict().items()}}
    save_atomic(path, lambda tmp: torch.save(payload, tmp))


# What sizes an encoder by its catalogue (the run's `Featurized.encoder_kwargs`), and the per-item buffers that
# content-aware items fill from the run's item table (`ItemContent.fill`) rather than from a checkpoint.
CATALOGUE_KEYS = ("num_items", "item_fields", "item_text_dim")
PER_ITEM_BUFFERS = re.compile(r"item_content\.(codes_\w+|text_vectors)")


def reads_any_catalogue(encoder_config: Mapping[str, Any]) -> bool:
    """Whether a sequence encoder describes items by content alone (`item_inputs` without `id`): nothing it
    learned belongs to an item id, so it reads another catalogue (a new client's items, disjoint ids) through
    that catalogue's item table, with the field values and bucket edges it was trained with."""
    inputs = encoder_config.get("item_inputs")
    return isinstance(inputs, (list, tuple)) and "id" not in inputs


def load_encoder(path: str | Path, catalogue: Mapping[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild an encoder from `encoder.pt` or from a pretraining Lightning checkpoint (data only, see module).

    `catalogue` (the run's `Featurized.encoder_kwargs`) rebuilds an id-free encoder (`reads_any_catalogue`) for
    the run's items: every learned weight is loaded, the per-item buffers are left for `prepare_inputs` to fill.
    """
    path = Path(path)
    bundle, state = read_bundle(path)
    config = bundle["encoder_config"]
    new_catalogue = catalogue is not None and reads_any_catalogue(config)
    if new_catalogue:
        config = {**config, **{key: catalogue[key] for key in CATALOGUE_KEYS if key in catalogue}}
    encoder = build_encoder(path, config)
    if new_catalogue:
        own = encoder.state_dict()
        state = {**state, **{key: own[key] for key in own if PER_ITEM_BUFFERS.fullmatch(key)}}
    try:
        encoder.load_state_dict(state)
    except RuntimeError as err:
        raise DataError(
            f"encoder_ckpt: the weights in {path} do not fit {type(encoder).__name__} ({_first_line(err)})"
        ) from err
    return encoder.eval(), bundle


# What each modality's featurizer reads from a checkpoint's `data_state`.
STATE_KEYS = {"sequence": ("item_vocab",), "tabular": ("categorical", "numeric"), "text": ("tokenizer",)}


def checkpoint_state(path: str | Path, dataset: Dataset, dataset_config: Mapping, cache_dir: Path) -> dict[str, Any]:
    """The featurizer state of `encoder_ckpt`, once `check_matches` has accepted it for this run's dataset
    (without the item vocabulary for an id-free encoder: the run's own items are numbered afresh)."""
    bundle, _ = read_bundle(path)
    check_matches(Path(path), bundle, dataset, dataset_config, cache_dir)
    if reads_any_catalogue(bundle["encoder_config"]):  # the item vocabulary only indexed its item table: the run
        check_item_content(Path(path), bundle["data_state"], dataset)  # numbers its own items and describes them
        return {k: v for k, v in bundle["data_state"].items() if k != "item_vocab"}
    return bundle["data_state"]


def check_item_content(path: Path, state: dict[str, Any], dataset: Dataset) -> None:
    """An id-free encoder knows items only by their content: the run's data set must describe its items by the
    same fields (and title), or every item would read as padding."""
    fitted = state.get("item_table") or {}
    fields, text = sorted(fitted.get("fields") or {}), fitted.get("text")
    wanted, wanted_text = sorted(getattr(dataset, "item_fields", None) or []), getattr(dataset, "item_text", None)
    if fields != wanted or text != wanted_text:
        raise DataError(
            f"encoder_ckpt {path} knows items only by their content (item fields {fields}, item text {text}) but "
            f"this run's data set declares item fields {wanted}, item text {wanted_text}: set dataset.item_fields "
            "(and dataset.item_text / dataset.item_file) to match"
        )


def check_matches(
    path: Path, bundle: dict[str, Any], dataset: Dataset, dataset_config: Mapping, cache_dir: Path
) -> None:
    """Refuse, in one line naming both sides, a checkpoint whose data does not fit the run's dataset.

    Called before featurizing: otherwise the featurizer fails on a missing state key (`KeyError: 'item_vocab'`)
    or, worse, maps the new data with a vocabulary of other fields. The modality must always match; another
    dataset class of that modality is accepted when its feature schema does (sequence side fields, tabular
    field names; a text tokenizer reads any text).
    """
    target = bundle["encoder_config"].get("_target_")
    if not is_allowed(target):
        build_encoder(path, bundle["encoder_config"])  # raises the error naming the foreign class
    theirs, ours = encoder_class(target).modality, dataset.modality
    ckpt_data = dataset_label(bundle["dataset_config"].get("_target_"))
    run_data = dataset_label(dataset_config.get("_target_"))
    pretrained = f"encoder_ckpt {path} was pretrained on {theirs} data (dataset {ckpt_data})"
    if theirs != ours:
        raise DataError(f"{pretrained} but dataset={run_data} is {ours} data")
    state = bundle["data_state"]
    missing = [key for key in STATE_KEYS.get(ours, ()) if key not in state]
    if missing:
        raise DataError(f"{pretrained} but its featurizer state lacks {', '.join(missing)} (not an ssl-ads bundle?)")
    if ours == "sequence":
        fitted = sorted(map(str, bundle["encoder_config"].get("side_vocab_sizes") or state.get("side_vocabs") or {}))
        wanted = sorted(map(str, getattr(dataset, "side_fields", [])))
        if fitted != wanted:
            raise DataError(
                f"{pretrained} with side fields {', '.join(fitted) or 'none'} but dataset={run_data} has side "
                f"fields {', '.join(wanted) or 'none'} (dataset.side_fields)"
            )
    elif ours == "tabular" and bundle["dataset_config"].get("_target_") != dataset_config.get("_target_"):
        # Another table format: its fields are known only once read (only in this case; the featurizer itself
        # names the fields a file of the same format lacks).
        source = dataset.source(cache_dir)
        fitted_fields = (_names(state["categorical"]), _names(state["numeric"]))
        wanted_fields = (list(source.categorical), list(source.numeric))
        if [sorted(f) for f in fitted_fields] != [sorted(f) for f in wanted_fields]:
            present = {*wanted_fields[0], *wanted_fields[1]}
            missing = [name for name in [*fitted_fields[0], *fitted_fields[1]] if name not in present]
            lacks = f"; it lacks {', '.join(missing)}" if missing else ""
            raise DataError(
                f"{pretrained} with {_fields(*fitted_fields)} but dataset={run_data} has "
                f"{_fields(*wanted_fields)}{lacks}"
            )


def dataset_label(target: object) -> str:
    """The `dataset=` option building `target` (configs/dataset/*.yaml), else the class name, for messages."""
    from ssl_ads.config.choices import group_choices, target_of

    for choice in group_choices("dataset"):
        if target_of("dataset", choice) == target:
            return choice
    return _short(target.rsplit(".", 1)[-1]) if isinstance(target, str) else _short(target)


def _names(specs: object) -> list[str]:
    """Field names of a tabular featurizer state's `categorical` / `numeric` list."""
    return [str(s.get("name")) for s in specs if isinstance(s, dict)] if isinstance(specs, list) else []


def _fields(categorical: list[str], numeric: list[str], shown: int = 6) -> str:
    """`3 categorical (a, b, c) and 2 numeric (x, y) fields`, cut short for one line."""

    def listed(names: list[str]) -> str:
        more = f", ... {len(names) - shown} more" if len(names) > shown else ""
        return f"({', '.join(names[:shown])}{more})" if names else ""

    return f"{len(categorical)} categorical {listed(categorical)} and {len(numeric)} numeric {listed(numeric)} fields"


def safe_load(path: Path, what: str) -> Any:
    """`torch.load` restricted to tensors and plain containers: unpickling never calls arbitrary code."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        detail = f"it refers to {found.group(1)}" if found else _first_line(err)
        raise DataError(
            f"{what}: {path} holds objects other than tensors and plain containers ({detail}); "
            "it was not written by ssl-ads or was altered, and is not loaded"
        ) from err
    except Exception as err:
        raise DataError(f"{what}: cannot read {path} as a torch checkpoint ({_first_line(err)})") from err


def read_bundle(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The bundle and the encoder's weights of an `encoder.pt` or pretraining `.ckpt`, checked for shape."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"encoder_ckpt: no file at {path} (expected an encoder.pt or a pretraining .ckpt)")
    payload = safe_load(path, "encoder_ckpt")
    if isinstance(payload, dict) and isinstance(payload.get("ssl_ads"), dict):  # written by the pretrain stage
        bundle, weights = payload["ssl_ads"], payload.get("state_dict")
        if isinstance(weights, dict):
            weights = {k.removeprefix("encoder."): v for k, v in weights.items() if str(k).startswith("encoder.")}
    elif isinstance(payload, dict) and payload.get("format") == BUNDLE_FORMAT:
        bundle, weights = payload, payload.get("state_dict")
    else:
        raise DataError(f"encoder_ckpt: {path} was not written by ssl-ads (no encoder bundle inside)")
    for key in ("encoder_config", "data_state", "dataset_config"):
        if not isinstance(bundle.get(key), dict):
            raise DataError(f"encoder_ckpt: {path} is not a complete encoder bundle ({key} is missing)")
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise DataError(f"encoder_ckpt: {path} has no encoder weights (state_dict of tensors)")
    return bundle, weights


def build_encoder(path: Path, config: dict[str, Any]) -> nn.Module:
    """Construct the encoder a bundle describes, only if it is one of this package's encoder classes.

    The class comes from the allowlist and is called with the config's plain values directly (no Hydra
    instantiate), so neither the top-level `_target_` nor a nested one can name anything else.
    """
    target = config.get("_target_")
    if not is_allowed(target):
        known = ", ".join(sorted(t.rsplit(".", 1)[-1] for t in ENCODER_TARGETS))
        raise DataError(
            f"encoder_ckpt: {path} names encoder class {_short(target)}, which is not an ssl-ads encoder "
            f"({known}); it is not built"
        )
    kwargs = {k: v for k, v in config.items() if k != "_target_"}
    nested = _special_key(kwargs, "encoder_config")
    if nested is not None:
        raise DataError(f"encoder_ckpt: {path} has {nested} in its encoder config; only plain values are accepted")
    if "model" in kwargs and target.rsplit(".", 1)[-1] in ("SentencePretrained", "SentenceTfidf"):
        _check_model_reference(path, kwargs["model"])
    cls = encoder_class(target)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, SslAdsError) as err:
        detail = _first_line(err)
        raise DataError(f"encoder_ckpt: {path}: its encoder config does not fit {cls.__name__} ({detail})") from err


def _check_model_reference(path: Path, model: object) -> None:
    """A sentence encoder's `model` from a checkpoint: a model directory, or an installed package bundling one.

    Its constructor imports a package of that name; a checkpoint must not make it import any other module
    (an import runs the module's code), so the package is located without importing it first.
    """
    if isinstance(model, str) and Path(model).expanduser().is_dir():
        return
    spec = importlib.util.find_spec(model) if isinstance(model, str) and model.isidentifier() else None
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec is not None else []
    markers = ("modules.json", "config.json")
    if not any((d / m).is_file() for root in roots for d in (root, *root.iterdir()) if d.is_dir() for m in markers):
        raise DataError(
            f"encoder_ckpt: {path} names sentence model {_short(model)}, which is neither a model directory nor "
            "an installed package bundling one; it is not imported"
        )


def _special_key(value: Any, where: str) -> str | None:
    """Where a Hydra key (`_target_`, `_args_`, `_partial_`...) sits in `value`, or None when there is none."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in HYDRA_KEYS:
                return f"{where}.{key}"
            found = _special_key(item, f"{where}.{key}")
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _special_key(item, f"{where}[{i}]")
            if found is not None:
                return found
    return None


def _short(value: object, limit: int = 80) -> str:
    """A value read from a file, quoted and cut short, for a one-line error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
