"""The fp32 dense layers of the packed text encoder, each on the matrix-multiply kernel this CPU runs faster.

Why: PyTorch's fp32 `addmm` calls MKL, which on AMD CPUs runs its AVX2 code even where AVX-512 is there;
oneDNN (`torch.ops.mkldnn._linear_pointwise`, the kernel torch.compile's CPU backend calls) uses AVX-512 and
fuses the bias or a residual add into the multiply. Measured on an AMD EPYC with AVX-512, at MiniLM's shapes
on one thread: oneDNN 2.2x MKL's GFLOP/s, the whole packed encoder 1.86x faster; with oneDNN capped to AVX2
(`ONEDNN_MAX_CPU_ISA=AVX2`) about 1.1x per layer and 1.17x for the whole encoder (scripts/bench_text_speed.py).
GELU runs as PyTorch's exact GELU after either multiply (oneDNN's fused GELU was no faster).

Which wins is a property of the CPU, not of the model, so it is measured once per machine and layer shape (a
few hundred rows, the candidates timed alternately, the best of three; oneDNN must win by `MARGIN`) and kept in
`~/.cache/ssl-ads/dense_kernels.json` (`$XDG_CACHE_HOME`; or the file `$SSL_ADS_KERNEL_CHOICES`), keyed by
the CPU, its flags and the torch version: a near-tie measured afresh in every process could flip between runs,
and the vectors of the two kernels differ at float rounding (cosine ≥ 0.99999), so runs on one machine would
not repeat bit for bit.
`SSL_ADS_FP32_GEMM=mkl|onednn` fixes the choice (benchmarks, tests, bug reports).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from ssl_ads.data.io import stable_hash, write_json_atomic
from ssl_ads.errors import ConfigError
from ssl_ads.hardware import cpu_capability, cpu_flags, cpu_name

KERNEL_ENV = "SSL_ADS_FP32_GEMM"
CHOICES_ENV = "SSL_ADS_KERNEL_CHOICES"  # a path for the choices file instead of the per-user cache
KERNELS = ("auto", "mkl", "onednn")
MARGIN = 1.03  # oneDNN's time x MARGIN must still beat MKL's
_PROBE_ROWS = 384
_ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")  # instruction-set caps the kernels obey
_REPEATS = 3


def onednn_available() -> bool:
    """oneDNN's fused linear and its weight packing are in this torch build (CPU builds with MKLDNN: PyPI's)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        torch.ops.mkldnn._linear_pointwise, torch.ops.mkldnn._reorder_linear_weight  # noqa: B018
    except (AttributeError, RuntimeError):
        return False
    return True


def requested_kernel() -> str:
    """`SSL_ADS_FP32_GEMM` when set (checked), else "auto"."""
    value = os.environ.get(KERNEL_ENV, "auto").strip().lower() or "auto"
    if value not in KERNELS:
        raise ConfigError(f"{KERNEL_ENV} must be one of {', '.join(KERNELS)}, got {os.environ[KERNEL_ENV]!r}")
    if value == "onednn" and not onednn_available():
        raise ConfigError(f"{KERNEL_ENV}=onednn: this torch build has no oneDNN linear kernel; use mkl or auto")
    return value


EPILOGUES = ("none", "gelu", "residual")


class DenseLayer:
    """`x @ W.T + b` in fp32, then its epilogue: `none`, exact GELU (`gelu`), or added into the residual passed
    to `__call__` (`residual`; the residual tensor may be overwritten: pass one that is no longer needed)."""

    def __init__(self, weight: Tensor, bias: Tensor, epilogue: str = "none", kernel: str | None = None) -> None:
        if epilogue not in EPILOGUES:
            raise ValueError(f"epilogue must be one of {EPILOGUES}, got {epilogue!r}")
        self.shape = tuple(weight.shape)  # [out, in]
        self.bias = bias.detach().contiguous()
        self.epilogue = epilogue
        self.kernel = kernel or requested_kernel()
        if self.kernel == "auto":
            self.kernel = _fastest(self.shape, epilogue)
        if self.kernel == "mkl":
            self.weight = weight.detach().t().contiguous()  # [in, out]: MKL's fast layout for addmm
        else:  # oneDNN's own blocked layout, reordered once here rather than in every call (3 % per call)
            self.weight = torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), None)

    def __call__(self, x: Tensor, residual: Tensor | None = None, out: Tensor | None = None) -> Tensor:
        """`out` (used by MKL, without a residual: a workspace of the output's shape) saves an allocation."""
        if (residual is None) != (self.epilogue != "residual"):
            raise ValueError(f"a `{self.epilogue}` layer takes a residual only when its epilogue is `residual`")
        return _RUN[self.kernel](self, x, residual, out)


def _mkl(layer: DenseLayer, x: Tensor, residual: Tensor | None, out: Tensor | None) -> Tensor:
    if residual is not None:
        return residual.add_(layer.bias).addmm_(x, layer.weight)
    y = torch.addmm(layer.bias, x, layer.weight, **({"out": out} if out is not None else {}))
    return torch.ops.aten.gelu_(y) if layer.epilogue == "gelu" else y


def _onednn(layer: DenseLayer, x: Tensor, residual: Tensor | None, out: Tensor | None) -> Tensor:
    linear = torch.ops.mkldnn._linear_pointwise
    if residual is not None:
        return linear.binary(x, residual, layer.weight, layer.bias, "add")
    y = linear(x, layer.weight, layer.bias, "none", [], "")
    return torch.ops.aten.gelu_(y) if layer.epilogue == "gelu" else y


_RUN: dict[str, Callable[[DenseLayer, Tensor, Tensor | None, Tensor | None], Tensor]] = {"mkl": _mkl, "onednn": _onednn}


def choices_file() -> Path:
    """Where the measured choices are kept: `$SSL_ADS_KERNEL_CHOICES` when set, else
    `$XDG_CACHE_HOME/ssl-ads/dense_kernels.json` (~/.cache by default)."""
    if os.environ.get(CHOICES_ENV):
        return Path(os.environ[CHOICES_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ssl-ads" / "dense_kernels.json"


def _machine_key() -> str:
    """What the choice depends on: the CPU, its flags, the kernels torch dispatches to, torch's version."""
    flags = stable_hash(sorted(cpu_flags()), length=12)
    key = f"{cpu_name()} | {cpu_capability()} | flags {flags} | torch {torch.__version__}"
    caps = [f"{name}={os.environ[name]}" for name in _ISA_CAPS if os.environ.get(name)]
    return " | ".join([key, *caps])


@functools.cache
def _fastest(shape: tuple[int, int], epilogue: str) -> str:
    """The kernel that runs a `[in] -> [out]` layer with this epilogue fastest on this machine: as measured
    before (`choices_file`), else measured now on one torch thread (the packed encoder runs one
    single-threaded stream per core, `sentence_model`) and kept for the next process."""
    if not onednn_available():
        return "mkl"
    path, machine, layer = choices_file(), _machine_key(), f"{shape[0]}x{shape[1]} {epilogue}"
    known = _read_choices(path)
    entry = known.get(machine) if isinstance(known.get(machine), dict) else {}
    if isinstance(entry.get(layer), str) and entry[layer] in _RUN:
        return entry[layer]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        chosen = _time_candidates(shape, epilogue)
    except RuntimeError:  # oneDNN present but unable to run this layer here (an old or unusual build): MKL
        return "mkl"
    finally:
        torch.set_num_threads(threads)
    with contextlib.suppress(OSError):  # a read-only home: the choice holds for this process only
        write_json_atomic(path, {**known, machine: {**entry, layer: chosen}})
    return chosen


def _read_choices(path: Path) -> dict:
    """The choices file's content; {} when it is absent, unreadable or not a JSON object (it is then rewritten)."""
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _time_candidates(shape: tuple[int, int], epilogue: str) -> str:
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(shape, generator=generator), torch.randn(shape[0], generator=generator)
    x = torch.randn(_PROBE_ROWS, shape[1], generator=generator)
    residual = torch.randn(_PROBE_ROWS, shape[0], generator=generator) if epilogue == "residual" else None
    layers = {name: DenseLayer(weight, bias, epilogue, kernel=name) for name in ("mkl", "onednn")}
    best = dict.fromkeys(layers, float("inf"))
    with torch.inference_mode():
        for repeat in range(_REPEATS + 1):  # round 0 warms up (oneDNN builds its kernels on first use)
            for name in layers if repeat % 2 else reversed(layers):
                inputs = (x, None if residual is None else residual.clone())
                start = time.perf_counter()
                layers[name](*inputs)
                if repeat:
                    best[name] = min(best[name], time.perf_counter() - start)
    return "onednn" if best["onednn"] * MARGIN < best["mkl"] else "mkl"


def describe(layers: list[DenseLayer]) -> str:
    """Which kernel each kind of layer runs on, for benchmark output: e.g. `none: onednn, gelu: mkl`."""
    chosen = {f"{layer.shape} {layer.epilogue}": layer.kernel for layer in layers}
    return ", ".join(f"{name}: {kernel}" for name, kernel in chosen.items())
