"""The fine-tuned model bundle, `model.pt`: encoder + task head + featurizer state + decision rule + its metrics.

It is an encoder bundle (`ssl_ads.encoders.bundle`: `format`, `encoder_config`, `data_state`,
`dataset_config`, the encoder's `state_dict`) with the downstream parts beside it, so `encoder_ckpt=model.pt`
reuses the fine-tuned encoder and `predict` / `export` rebuild the whole scorer. Like `encoder.pt` it holds
tensors and plain containers only and is read with `weights_only=True`; the encoder class comes from the encoder
allowlist and the task (whose `make_head` builds the head) from the task allowlist, both called with plain
values: a file cannot name code to run.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ssl_ads.data.io import save_atomic
from ssl_ads.encoders.bundle import BUNDLE_FORMAT, build_encoder, plain, safe_load
from ssl_ads.errors import DataError, SslAdsError
from ssl_ads.tasks.base import LabeledTask
from ssl_ads.tasks.registry import TASK_TARGETS, build_task, is_known_task
from ssl_ads.training.downstream_module import WideInputs, head_features

MODEL_KIND = "finetuned_model"
MODEL_FORMAT = 1
# Keys a model bundle must hold besides an encoder bundle's.
MODEL_KEYS = ("task_config", "task", "head_state_dict", "decision", "selection")


class ScoringModel(nn.Module):
    """Encoder, optional wide inputs and the task head: `DownstreamModule.forward` without Lightning."""

    def __init__(self, encoder: nn.Module, head: nn.Module, wide: WideInputs | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.wide = wide

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        features = head_features(self.encoder, batch)
        if self.wide is not None:
            features = torch.cat([features, self.wide(batch)], dim=1)
        return self.head(features)


def model_payload(
    encoder_bundle: dict[str, Any],
    encoder: nn.Module,
    head: nn.Module,
    task_config: dict[str, Any],
    task: LabeledTask,
    wide: dict[str, Any] | None,
    decision: dict[str, Any],
    selection: dict[str, Any],
) -> dict[str, Any]:
    """Everything `model.pt` holds, made plain (numpy, OmegaConf and paths converted; anything else refused).

    `wide`: the `WideInputs` arguments (`cardinalities`, `num_numeric`) of a wide & deep head, else None.
    """
    payload = plain(
        {
            **encoder_bundle,
            "format": BUNDLE_FORMAT,
            "kind": MODEL_KIND,
            "model_format": MODEL_FORMAT,
            "task_config": task_config,
            "task": {
                "name": task.name,
                "label": getattr(task, "label", task.name),
                "primary_metric": task.primary_metric,
                "classes": list(getattr(task, "classes", []) or []),
            },
            "wide": wide,
            "decision": decision,
            "selection": selection,
        },
        "model bundle",
    )
    payload["state_dict"] = {k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()}
    payload["head_state_dict"] = {k: v.detach().cpu().clone() for k, v in head.state_dict().items()}
    return payload


def save_model(path: Path, payload: dict[str, Any]) -> None:
    """Write `model.pt` atomically (a reader never sees half a file)."""
    save_atomic(path, lambda tmp: torch.save(payload, tmp))


def read_model(path: str | Path, what: str = "model") -> dict[str, Any]:
    """The bundle of `model.pt`, checked; a one-line DataError naming `what` (the config key) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what}: no file at {path} (expected the model.pt written by ssl-ads finetune or pipeline)")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else is not a checkpoint at all
        raise DataError(f"{what}: {path} is not a torch checkpoint (expected the model.pt written by ssl-ads "
                        "finetune or pipeline)")  # fmt: skip
    payload = safe_load(path, what)
    if not isinstance(payload, dict):
        raise DataError(f"{what}: {path} was not written by ssl-ads (no model bundle inside)")
    if payload.get("kind") != MODEL_KIND:
        if payload.get("format") == BUNDLE_FORMAT or isinstance(payload.get("ssl_ads"), dict):
            raise DataError(
                f"{what}: {path} is an encoder checkpoint, not a fine-tuned model (no task head); use the model.pt "
                "that ssl-ads finetune or pipeline writes beside it"
            )
        raise DataError(f"{what}: {path} was not written by ssl-ads (no model bundle inside)")
    required = ("encoder_config", "data_state", "dataset_config", "state_dict", *MODEL_KEYS)
    missing = [k for k in required if k not in payload]
    if missing:
        raise DataError(f"{what}: {path} is not a complete model bundle ({', '.join(missing)} missing)")
    if payload.get("model_format") != MODEL_FORMAT:
        raise DataError(
            f"{what}: {path} has model format {payload.get('model_format')!r}; this ssl-ads reads format {MODEL_FORMAT}"
        )
    return payload


def build_model(path: str | Path, bundle: dict[str, Any], what: str = "model") -> tuple[ScoringModel, LabeledTask]:
    """The scorer and its task, rebuilt from allowlisted classes and the bundle's plain values, in eval mode."""
    path = Path(path)
    if (bundle.get("decision") or {}).get("kind") == "top_k":  # `ranking_model`: no head to rebuild or export
        raise DataError(f"{what}: {path} is a next-item ranking model (no task head): predict reads it; export its "
                        f"encoder with encoder_ckpt={path}")  # fmt: skip
    encoder = build_encoder(path, bundle["encoder_config"])
    target = bundle["task_config"].get("_target_") if isinstance(bundle["task_config"], dict) else None
    if not is_known_task(target):
        known = ", ".join(sorted(t.rsplit(".", 1)[-1] for t in TASK_TARGETS))
        raise DataError(f"{what}: {path} names task class {str(target)[:80]!r}, which is not an ssl-ads task ({known})")
    try:
        task = build_task(bundle["task_config"], bundle["task"].get("classes"))
    except (TypeError, ValueError, SslAdsError) as err:
        raise DataError(f"{what}: {path}: its task config does not fit {target.rsplit('.', 1)[-1]} ({err})") from err
    wide_spec = bundle.get("wide")
    wide = WideInputs(wide_spec["cardinalities"], wide_spec["num_numeric"]) if wide_spec else None
    head = task.make_head(encoder.feature_dim + (wide.dim if wide is not None else 0))
    model = ScoringModel(encoder, head, wide)
    for part, state in ((encoder, bundle["state_dict"]), (head, bundle["head_state_dict"])):
        load_weights(part, state, path, what)
    return model.eval(), task


def load_weights(part: nn.Module, state: dict[str, Tensor], path: Path, what: str) -> None:
    """`part.load_state_dict(state)`, or a one-line DataError naming the file and the module."""
    try:
        part.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{what}: the weights in {path} do not fit {type(part).__name__} ({first})") from err
