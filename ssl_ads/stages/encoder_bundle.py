"""Save and load a reusable encoder: weights, constructor config, vocabularies and data config together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from torch import nn

from ssl_ads.data.io import save_atomic
from ssl_ads.errors import DataError

BUNDLE_FORMAT = 1


def make_bundle(encoder_config: dict, data_state: dict, dataset_config: dict, extra: dict) -> dict:
    """`data_state` is the fitted featurizer (vocabularies...), so new data maps as in training."""
    return {
        "format": BUNDLE_FORMAT,
        "encoder_config": encoder_config,
        "data_state": data_state,
        "dataset_config": dataset_config,
        **extra,
    }


def save_encoder(path: Path, encoder: nn.Module, bundle: dict[str, Any]) -> None:
    """Write `encoder.pt` atomically, from eval mode, with the bundle beside the state dict."""
    encoder.eval()
    payload = {**bundle, "state_dict": {k: v.detach().cpu() for k, v in encoder.state_dict().items()}}
    save_atomic(path, lambda tmp: torch.save(payload, tmp))


def load_encoder(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild an encoder from `encoder.pt` or from a pretraining Lightning checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"encoder_ckpt: no file at {path} (expected an encoder.pt or a pretraining .ckpt)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise DataError(f"encoder_ckpt: cannot read {path} as a torch checkpoint ({err})") from err
    if "ssl_ads" in payload:  # a Lightning checkpoint written by the pretrain stage
        bundle = payload["ssl_ads"]
        state = {k.removeprefix("encoder."): v for k, v in payload["state_dict"].items() if k.startswith("encoder.")}
    elif payload.get("format") == BUNDLE_FORMAT:
        bundle, state = payload, payload["state_dict"]
    else:
        raise DataError(f"encoder_ckpt: {path} was not written by ssl-ads (no encoder bundle inside)")
    encoder = instantiate(bundle["encoder_config"])
    encoder.load_state_dict(state)
    return encoder.eval(), bundle

