"""The fp32 dense layers of the packed text encoder, each on the matrix-multiply kernel this CPU runs faster.

Why: PyTorch's fp32 `addmm` calls MKL, which on AMD CPUs runs its AVX2 code even where AVX-512 is there;
oneDNN (`torch.ops.mkldnn._linear_pointwise`, the kernel torch.compile's CPU backend calls) uses AVX-512 and
fuses the bias, a residual add or GELU into the multiply. Measured on an AMD EPYC with AVX-512, at MiniLM's
shapes on one thread: oneDNN 2.2x MKL's GFLOP/s, the whole packed encoder 1.86x faster. With oneDNN capped
to AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`): about 1.1x on the plain and residual layers, 0.95x with GELU fused (so
oneDNN's multiply, then PyTorch's GELU, is a third candidate), 1.17x for the whole encoder
(scripts/bench_text_speed.py). Which wins is a property of the CPU, not of the model, so it is measured: once
per process and layer shape, on a few hundred rows, each candidate timed alternately, the best of three.
oneDNN must win by `MARGIN` to be chosen, so that near-ties keep MKL rather than flip between runs.
`SSL_ADS_FP32_GEMM=mkl|onednn` fixes the choice (benchmarks, tests, bug reports). Every candidate computes
the same function; vectors differ between them at float rounding (cosine ≥ 0.99999).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable

import torch
from torch import Tensor

from ssl_ads.errors import ConfigError

KERNEL_ENV = "SSL_ADS_FP32_GEMM"
KERNELS = ("auto", "mkl", "onednn")
MARGIN = 1.03  # oneDNN's time x MARGIN must still beat MKL's
_PROBE_ROWS = 384
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
    if layer.epilogue == "gelu":
        return linear(x, layer.weight, layer.bias, "gelu", [], "none")  # algorithm "none": exact (erf) GELU
    return linear(x, layer.weight, layer.bias, "none", [], "")


def _onednn_then_gelu(layer: DenseLayer, x: Tensor, residual: Tensor | None, out: Tensor | None) -> Tensor:
    """oneDNN's multiply, PyTorch's GELU: for CPUs where oneDNN's fused GELU epilogue is the slow part (AVX2)."""
    return torch.ops.aten.gelu_(torch.ops.mkldnn._linear_pointwise(x, layer.weight, layer.bias, "none", [], ""))


_RUN: dict[str, Callable[[DenseLayer, Tensor, Tensor | None, Tensor | None], Tensor]] = {
    "mkl": _mkl, "onednn": _onednn, "onednn+gelu": _onednn_then_gelu,
}  # fmt: skip


@functools.cache
def _fastest(shape: tuple[int, int], epilogue: str) -> str:
    """The kernel that ran a `[_PROBE_ROWS, in] -> [out]` layer with this epilogue fastest here, on one torch
    thread: the packed encoder runs one single-threaded stream per core (`sentence_model`)."""
    if not onednn_available():
        return "mkl"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _time_candidates(shape, epilogue)
    finally:
        torch.set_num_threads(threads)


def _time_candidates(shape: tuple[int, int], epilogue: str) -> str:
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(shape, generator=generator), torch.randn(shape[0], generator=generator)
    x = torch.randn(_PROBE_ROWS, shape[1], generator=generator)
    residual = torch.randn(_PROBE_ROWS, shape[0], generator=generator) if epilogue == "residual" else None
    candidates = ["mkl", "onednn"] + (["onednn+gelu"] if epilogue == "gelu" else [])
    layers = {name: DenseLayer(weight, bias, epilogue, kernel=name) for name in candidates}
    best = dict.fromkeys(candidates, float("inf"))
    with torch.inference_mode():
        for repeat in range(_REPEATS + 1):  # round 0 warms up (oneDNN builds its kernels on first use)
            for name in candidates if repeat % 2 else candidates[::-1]:
                inputs = (x, None if residual is None else residual.clone())
                start = time.perf_counter()
                layers[name](*inputs)
                if repeat:
                    best[name] = min(best[name], time.perf_counter() - start)
    onednn = min(candidates[1:], key=best.__getitem__)
    return onednn if best[onednn] * MARGIN < best["mkl"] else "mkl"


def describe(layers: list[DenseLayer]) -> str:
    """Which kernel each kind of layer runs on, for benchmark output: e.g. `none: onednn, gelu: mkl`."""
    chosen = {f"{layer.shape} {layer.epilogue}": layer.kernel for layer in layers}
    return ", ".join(f"{name}: {kernel}" for name, kernel in chosen.items())
