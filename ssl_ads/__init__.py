"""ssl-ads: self-supervised pretraining, probing and fine-tuning on advertising data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ssl_ads.use.encoder import TrainedEncoder
    from ssl_ads.use.predict import FineTunedModel

__version__ = "0.1.0"


def load_encoder(path: str | Path, cache_dir: str | Path = ".ssl_ads_cache") -> TrainedEncoder:
    """A trained encoder (`encoder.pt`) whose `.embed(frame)` maps a polars frame of its training schema to ids +
    `embedding`, with the checkpoint's featurizer (see `ssl_ads.use.encoder`). Imported on call: `import ssl_ads`
    (and `ssl-ads --help`) must not pay for torch."""
    from ssl_ads.use.encoder import load_encoder as _load_encoder

    return _load_encoder(path, cache_dir)


def load_model(path: str | Path, cache_dir: str | Path = ".ssl_ads_cache") -> FineTunedModel:
    """A fine-tuned model (`model.pt`, written by `finetune` / `pipeline`) whose `.predict(frame)` scores a polars
    frame of its training schema with the checkpoint's featurizer and decision rule (see `ssl_ads.use.predict`).
    Imported on call, like `load_encoder`."""
    from ssl_ads.use.predict import load_model as _load_model

    return _load_model(path, cache_dir)
