"""Export a fine-tuned model (probabilities) or an encoder (embeddings) to ONNX or TorchScript, checked against eager.

The exported graph takes the featurized batch fields as positional tensors (ids as int64, values as float32; the
sequence mask is derived inside, as the loader does), with a dynamic batch axis and, for sequences and texts, a
dynamic length axis. Export runs from eval mode (dropout off) and traces the module: ONNX through the TorchScript
exporter (`dynamo=False`, no onnxscript needed, works offline), TorchScript through `torch.jit.trace`. Every
export is then run on fresh random batches of other sizes and lengths beside the eager module; the largest
absolute difference is reported and must stay within the tolerance (1e-4 in fp32).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ssl_ads.data.sequence_features import AGE_KEY
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.extras import require_extra
from ssl_ads.training.downstream_module import head_features

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
OPSET = 17
TOLERANCE = 1e-4


@dataclass
class InputSpec:
    """One input of the exported graph: name, dtype, shape with symbolic axes, and how random values are drawn."""

    name: str
    dtype: torch.dtype
    shape: tuple[str | int, ...]
    low: int = 0  # ids: drawn in [low, high)
    high: int = 2
    padding: str | None = None  # "left" (sequences) or "right" (texts): pad id 0 past a random length
    highs: list[int] | None = None  # per column of a `[B, F]` id input: ids in [0, highs[f])


@dataclass
class ExportResult:
    format: str
    path: Path
    max_abs_diff: float
    checked: list[str] = field(default_factory=list)  # the batch shapes compared with eager


class ExportGraph(nn.Module):
    """Positional tensors in `names` order → `output(batch)`, with the loader's derived `mask` for sequences."""

    def __init__(self, module: nn.Module, names: list[str], output: Callable[[nn.Module, dict[str, Tensor]], Tensor]):
        super().__init__()
        self.module = module
        self.names = list(names)
        self.output = output

    def forward(self, *tensors: Tensor) -> Tensor:
        batch = dict(zip(self.names, tensors, strict=True))
        if "items" in batch:
            batch["mask"] = batch["items"] != 0
        return self.output(self.module, batch)


def model_graph(scorer: nn.Module, task: Any, specs: list[InputSpec]) -> ExportGraph:
    """A fine-tuned model's probabilities (`task.predictions`: binary `[B]`, multi-class `[B, C]`)."""
    return ExportGraph(scorer, [s.name for s in specs], lambda module, batch: task.predictions(module(batch))).eval()


def encoder_graph(encoder: nn.Module, specs: list[InputSpec]) -> ExportGraph:
    """An encoder's representation `[B, D]`: what a probe or task head reads (`head_features`)."""
    return ExportGraph(encoder, [s.name for s in specs], head_features).eval()


def input_specs(encoder: nn.Module, bundle: dict[str, Any]) -> list[InputSpec]:
    """The batch fields the encoder reads (and a wide head: the tabular ids and values), by modality."""
    modality = getattr(encoder, "modality", None)
    config = bundle["encoder_config"]
    if modality == "tabular":
        cards = list(config.get("cardinalities") or [])
        specs = [InputSpec("cat", torch.long, ("batch", len(cards)), highs=cards)]
        if int(config.get("num_numeric") or 0):
            specs.append(InputSpec("num", torch.float32, ("batch", int(config["num_numeric"]))))
        return specs
    if modality == "sequence":
        specs = [InputSpec("items", torch.long, ("batch", "length"), 2, int(config["num_items"]), "left")]
        read = config.get("side_fields_as", "inputs") == "inputs"  # targets-only side fields are not inputs
        for name, size in (config.get("side_vocab_sizes") or {} if read else {}).items():
            specs.append(InputSpec(name, torch.long, ("batch", "length"), 1, max(int(size), 2), "left"))
        if config.get("read_ages"):  # each event's age in days (encoder.read_ages)
            specs.append(InputSpec(AGE_KEY, torch.float32, ("batch", "length")))
        return specs
    if modality == "text":
        if getattr(encoder, "body", None) is not None:
            raise ConfigError("export: a fine-tuned sentence-transformer body (encoder.trainable=true) is not exported")
        specs = []
        if hasattr(encoder, "vocab_size") or hasattr(encoder, "tfidf"):
            vocab = int(config.get("vocab_size") or 16)
            specs.append(InputSpec("tokens", torch.long, ("batch", "length"), 4, max(vocab, 5), "right"))
        sentence = encoder if type(encoder).__name__ == "SentencePretrained" else getattr(encoder, "sentence", None)
        if sentence is not None:
            specs.append(InputSpec("sentence_embedding", torch.float32, ("batch", int(sentence.dim))))
        return specs
    raise ConfigError(f"export: unknown encoder modality {modality!r}")


def max_length(bundle: dict[str, Any]) -> int:
    """The longest sequence / text the encoder reads (its position table), the length traced at export."""
    found = [bundle["encoder_config"].get("max_len"), bundle["dataset_config"].get("max_len")]
    lengths = [int(v) for v in found if isinstance(v, int) and v > 0]
    return min(lengths) if lengths else 16


def random_inputs(specs: list[InputSpec], batch: int, length: int, seed: int) -> tuple[Tensor, ...]:
    """Valid random inputs: ids in range, padding on the spec's side past a random length, one row full-length
    (so a text encoder that trims shared padding traces its full width)."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    lengths[0] = length
    out = []
    for spec in specs:
        shape = tuple(batch if d == "batch" else length if d == "length" else int(d) for d in spec.shape)
        if spec.dtype.is_floating_point:
            values = torch.randn(shape, generator=generator)
            out.append(values.abs() * 100.0 if spec.name == AGE_KEY else values)  # ages span many buckets
            continue
        if spec.highs is not None:
            highs = torch.as_tensor(spec.highs, dtype=torch.float64)
            out.append((torch.rand(shape, generator=generator, dtype=torch.float64) * highs).long())
            continue
        values = torch.randint(spec.low, max(spec.high, spec.low + 1), shape, generator=generator)
        if spec.padding is not None:
            position = torch.arange(length)[None, :]
            real = position >= length - lengths[:, None] if spec.padding == "left" else position < lengths[:, None]
            values = torch.where(real, values, torch.zeros_like(values))
            if spec.name == "tokens":
                values[:, 0] = 2  # [CLS] first, as the tokenizer writes it
        out.append(values)
    return tuple(out)


def export(graph: ExportGraph, specs: list[InputSpec], fmt: str, path: Path, length: int, opset: int = OPSET) -> Path:
    """Write `graph` as `fmt` to `path` (traced on a batch of 2 at full length, dynamic axes kept)."""
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    example = random_inputs(specs, 2, length, seed=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on Python-side shape checks, the exporter's deprecation
        if fmt == "torchscript":
            torch.jit.save(torch.jit.trace(graph, example, check_trace=False), str(path))
            return path
        require_onnx()
        dynamic = {s.name: {i: d for i, d in enumerate(s.shape) if isinstance(d, str)} for s in specs}
        torch.onnx.export(
            graph, example, str(path), dynamo=False, input_names=[s.name for s in specs], output_names=["output"],
            dynamic_axes={**dynamic, "output": {0: "batch"}}, opset_version=opset, do_constant_folding=True,
        )  # fmt: skip
    return path


def runner(fmt: str, path: Path, threads: int | None = None) -> Callable[[tuple[Tensor, ...]], np.ndarray]:
    """A function running the exported file on positional inputs (onnxruntime, or the TorchScript module)."""
    if fmt == "torchscript":
        module = torch.jit.load(str(path)).eval()

        def run_script(inputs: tuple[Tensor, ...]) -> np.ndarray:
            with torch.inference_mode():
                return module(*inputs).numpy()

        return run_script
    ort = require_onnx()
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run_onnx(inputs: tuple[Tensor, ...]) -> np.ndarray:
        return session.run(None, {n: t.numpy() for n, t in zip(names, inputs, strict=True)})[0]

    return run_onnx


def parity(graph: ExportGraph, specs: list[InputSpec], fmt: str, path: Path, length: int) -> ExportResult:
    """Largest |exported - eager| over random batches of 1, 3 and 64 rows, at full and (sequences, texts) shorter
    lengths: the dynamic axes are exercised, not only the traced shape."""
    run = runner(fmt, path)
    lengths = [length] + ([max(2, length // 2)] if any("length" in s.shape for s in specs) else [])
    worst, checked = 0.0, []
    for seed, (batch, size) in enumerate((b, n) for n in lengths for b in (1, 3, 64)):
        inputs = random_inputs(specs, batch, size, seed=seed + 1)
        with torch.inference_mode():
            eager = graph(*inputs).numpy()
        exported = run(inputs)
        if exported.shape != eager.shape:
            raise DataError(f"export: {path} returns shape {exported.shape} where eager returns {eager.shape}")
        worst = max(worst, float(np.abs(exported.astype(np.float64) - eager.astype(np.float64)).max(initial=0.0)))
        checked.append(f"batch {batch} × length {size}" if len(lengths) > 1 else f"batch {batch}")
    return ExportResult(fmt, path, worst, checked)


def require_onnx():
    """onnxruntime (and onnx, which the exporter needs), or a one-line error naming the extra to install."""
    require_extra("export", "format=onnx", ("onnx", "onnxruntime"))
    import onnxruntime

    return onnxruntime
