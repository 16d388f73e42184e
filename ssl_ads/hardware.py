"""Numerics chosen by the hardware: `precision: auto` means bf16 only where bf16 matmuls run fast.

bf16 halves memory traffic, but only CPUs with native bf16 dot products (x86 `avx512_bf16` / `amx_bf16`,
ARM `bf16`) or CUDA GPUs from Ampere on (compute capability ≥ 8) compute it fast. Elsewhere PyTorch emulates
it: on an AVX2-only CPU a bf16 matmul runs about 100x slower than fp32, so `auto` picks fp32 there. The
decision reads the CPU's flags (deterministic, so embedding-cache keys stay stable); where the flags cannot
be read (no /proc/cpuinfo) a short matmul micro-benchmark, cached per process, decides instead.

Training (`trainer.precision: auto`) also needs a model wide enough for bf16's faster matmuls to outweigh
autocast's casts: on a CPU it trains in bf16-mixed only from `CPU_BF16_MIN_WIDTH` (the encoder's `dim`) up.
Measured by `scripts/bench_train_precision.py` on a 2-core AMD EPYC with avx512_bf16, 3 epochs of the demo's
pretraining, masked items and the 14-day forecast (dim, fp32 vs bf16-mixed seconds): 64: 10.0 vs 14.9; 128: 22.4 vs
18.6; 192: 40.4 vs 27.3; 256: 62.3 vs 32.8. At 128 the gain depends on the pretext (1.09x for masked items alone,
1.20x with the forecast; `... bench_train_precision.py pretext.future_days=0`), so the threshold sits above it.
CPUs with AMX likely cross over earlier: `trainer.precision=bf16-mixed` sets it by hand.

`SSL_ADS_BF16=0` or `=1` overrides the answer (to pin numerics across a fleet of mixed machines, or in tests).
"""

from __future__ import annotations

import functools
import os
import platform
import time
from pathlib import Path

import torch

ENCODER_PRECISIONS = ("auto", "fp32", "bf16", "int8")
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})  # x86 (AVX-512 BF16, AMX) and aarch64 (BF16)
OVERRIDE_ENV = "SSL_ADS_BF16"
CPU_BF16_MIN_WIDTH = 160  # narrower models train faster in fp32 on a CPU, even with bf16 units (see above)
_CPUINFO = Path("/proc/cpuinfo")


def cpu_capability() -> str:
    """The vector ISA PyTorch dispatches its CPU kernels to ("AVX2", "AVX512", "SVE256", "DEFAULT", ...)."""
    return torch.backends.cpu.get_cpu_capability()


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (`flags` on x86, `Features` on ARM); empty where unreadable."""
    try:
        text = _CPUINFO.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return frozenset()


@functools.cache
def bf16_matmul_speed_ratio(size: int = 256, repeats: int = 3) -> float:
    """bf16 / fp32 throughput of a `size`² matmul, best of `repeats` (under 0.2 s even where bf16 is emulated:
    256² costs 34 MFLOP, ~30 ms at the 1 GFLOP/s an AVX2 CPU manages in bf16)."""
    seconds = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        a @ b  # first call pays one-off costs (allocation, kernel selection)
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - started)
        seconds[dtype] = max(best, 1e-9)
    return seconds[torch.float32] / seconds[torch.bfloat16]


def _override() -> bool | None:
    value = os.environ.get(OVERRIDE_ENV, "").strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    return None


def cpu_bf16_fast() -> bool:
    """True where this CPU computes bf16 matmuls natively; the flags decide, a micro-benchmark where none."""
    forced = _override()
    if forced is not None:
        return forced
    flags = cpu_flags()
    if flags:
        return bool(flags & BF16_CPU_FLAGS)
    return bf16_matmul_speed_ratio() >= 1.0  # unknown flags (macOS, Windows): bf16 must at least match fp32


def cuda_bf16_fast() -> bool:
    """True on a CUDA GPU with bf16 tensor cores (compute capability 8.0 and later: Ampere, Hopper, ...)."""
    forced = _override()
    if forced is not None:
        return forced
    return torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8


def bf16_fast(device: str = "cpu") -> bool:
    """Whether bf16 runs fast on `device` ("cpu", "cuda", "cuda:N"; anything else: no)."""
    if device == "cpu":
        return cpu_bf16_fast()
    if device.startswith("cuda"):
        return cuda_bf16_fast()
    return False


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """An encoder precision with `auto` made concrete: bf16 where it runs fast on `device`, else fp32."""
    if precision == "auto":
        return "bf16" if bf16_fast(device) else "fp32"
    return precision


def resolve_trainer_precision(precision: str | int, accelerator: str = "cpu", width: int | None = None) -> str | int:
    """Lightning's `precision` with `auto` made concrete: "bf16-mixed" where bf16 runs fast on the
    accelerator's device (on a CPU, for a model of `width` >= CPU_BF16_MIN_WIDTH when given), else "32-true"
    (Lightning's own default). Other values pass through unchanged."""
    if precision != "auto":
        return precision
    accelerator = str(accelerator).lower()
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        device = "cuda"
    elif accelerator in ("cpu", "auto"):
        device = "cpu"
    else:  # mps, tpu, xla, ...: no claim about their bf16 speed
        return "32-true"
    if device == "cpu" and width is not None and width < CPU_BF16_MIN_WIDTH:
        return "32-true"
    return "bf16-mixed" if bf16_fast(device) else "32-true"


def model_width(cfg) -> int | None:
    """The encoder's width (`encoder.dim`) of a run config, what `resolve_trainer_precision` weighs; None if unset."""
    encoder = cfg.get("encoder") if hasattr(cfg, "get") else None
    dim = encoder.get("dim") if encoder is not None and hasattr(encoder, "get") else None
    return int(dim) if isinstance(dim, int) and not isinstance(dim, bool) else None


def describe_cpu() -> str:
    """One line for the top of every benchmark: what this CPU can do and what `auto` therefore picks."""
    flags = cpu_flags()
    found = sorted(flags & BF16_CPU_FLAGS)
    if _override() is not None:
        source = f"{OVERRIDE_ENV}={os.environ[OVERRIDE_ENV]}"
    elif flags:
        source = f"bf16 flags: {', '.join(found) if found else 'none (no avx512_bf16/amx_bf16/bf16)'}"
    else:
        source = f"no CPU flags readable; bf16/fp32 matmul speed {bf16_matmul_speed_ratio():.2f}"
    return (
        f"CPU: {cpu_name()}, torch capability {cpu_capability()}, {source}; precision auto -> "
        f"{resolve_precision('auto')}; torch threads {torch.get_num_threads()}, load average {load_average()}"
    )


def load_average() -> str:
    """The 1/5/15-minute load averages: beside every timing, since other processes disturb it."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # not available (Windows)
        return "n/a"


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else what `platform` knows."""
    try:
        for line in _CPUINFO.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
