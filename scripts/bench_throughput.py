"""Throughput and memory on this machine: matmul ceiling, sequence-transformer training, simulator and featurizer.

    python scripts/bench_throughput.py                 # 1 M and 10 M simulated events
    python scripts/bench_throughput.py --events 1e6    # one size only

Every figure is measured here, in this run; peak RSS figures come from a fresh subprocess per size so one
measurement does not inherit another's memory. Nothing is asserted: compare against the targets in issue 7.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_catalogue import CATALOGUES, measure, plan, table_rows
from rich.console import Console
from rich.table import Table

SASREC = {"dim": 64, "layers": 2, "heads": 2, "ff_dim": 256, "max_len": 50, "num_items": 1684}
USERS_PER_MILLION_EVENTS = 8_500  # about 118 events per user at sessions_per_user_day=1.0


def matmul_ceiling(dtype: torch.dtype, sizes: tuple[int, ...] = (1024, 2048, 4096), seconds: float = 2.0) -> float:
    """GFLOP/s of repeated square matmuls, best over a few sizes: the practical peak a training step could
    approach (one size alone can land on a poor blocking for this CPU's caches)."""
    best = 0.0
    for size in sizes:
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        for _ in range(2):
            a @ b
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            a @ b
            done += 1
        best = max(best, 2 * size**3 * done / (time.perf_counter() - started) / 1e9)
    return best


MAX_MULTIPLY_SECONDS = 2.0  # one timed multiply may take this long; a larger size is left out of the ceiling


def bf16_plan(sizes: tuple[int, ...] = (1024, 2048, 4096)) -> tuple[float, tuple[int, ...]]:
    """bf16 GFLOP/s of one small (256²) multiply, and the ceiling sizes whose multiply that rate finishes within
    MAX_MULTIPLY_SECONDS: without bf16 units (AVX2) PyTorch emulates bf16 at ~1 GFLOP/s, so one 4096² multiply
    takes minutes and the unbounded ceiling loop printed nothing for 20 minutes."""
    a = torch.randn(256, 256, dtype=torch.bfloat16)
    a @ a
    started = time.perf_counter()
    a @ a
    rate = 2 * 256**3 / max(time.perf_counter() - started, 1e-9)
    return rate / 1e9, tuple(size for size in sizes if 2 * size**3 / rate <= MAX_MULTIPLY_SECONDS)


def transformer_flops_per_target(dim: int, layers: int, ff_dim: int, length: int, num_items: int) -> float:
    """Training FLOPs (forward + backward = 3x forward) per next-item target with a full softmax."""
    per_token = layers * (2 * 4 * dim * dim + 2 * 2 * dim * ff_dim + 2 * 2 * length * dim)
    return 3 * (per_token + 2 * dim * num_items)


def training_throughput(batch_size: int, steps: int, bf16: bool, repeat_bias: bool = False) -> dict:
    """Next-item (SASRec-style) training steps on random full windows at SASRec's sizes."""
    from ssl_ads.encoders.sequence_transformer import SequenceTransformer
    from ssl_ads.pretext.next_item import NextItem

    torch.manual_seed(0)
    sizes = SASREC
    encoder = SequenceTransformer(
        num_items=sizes["num_items"], max_len=sizes["max_len"] + 1, dim=sizes["dim"], layers=sizes["layers"],
        heads=sizes["heads"], ff_dim=sizes["ff_dim"], dropout=0.2, causal=True, repeat_bias=repeat_bias,
    )  # fmt: skip
    pretext = NextItem()
    pretext.attach(encoder)
    optimizer = torch.optim.AdamW([*encoder.parameters(), *pretext.parameters()], lr=1e-3)
    items = torch.randint(2, sizes["num_items"], (batch_size, sizes["max_len"] + 1))
    batch = {"items": items, "mask": items != 0}

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = pretext.loss(encoder, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    elapsed = time.perf_counter() - started
    targets = batch_size * sizes["max_len"] * steps
    flops = targets * transformer_flops_per_target(
        sizes["dim"], sizes["layers"], sizes["ff_dim"], sizes["max_len"], sizes["num_items"]
    )
    return {
        "targets_per_s": targets / elapsed,
        "sequences_per_s": batch_size * steps / elapsed,
        "tokens_per_s": targets / elapsed,
        "gflops": flops / elapsed / 1e9,
    }


def data_child(events: str, cache_dir: str) -> dict:
    """Runs in a fresh process: simulate then featurize; report times and peak RSS (arguments arrive as text)."""
    from ssl_ads.data.sources.synthetic_sequences import SyntheticSequences

    n_users = int(float(events) / 1e6 * USERS_PER_MILLION_EVENTS)
    dataset = SyntheticSequences(n_users=n_users, n_items=2000, sessions_per_user_day=1.0, side_fields=[])
    started = time.perf_counter()
    dataset.source(Path(cache_dir))
    simulated = time.perf_counter() - started
    rss_after_simulation = _peak_rss_mb()
    started = time.perf_counter()
    data = dataset.featurize(Path(cache_dir))
    featurized = time.perf_counter() - started
    n_events = int(data.meta["num_events"])
    return {
        "events": n_events,
        "users": n_users,
        "simulate_s": simulated,
        "featurize_s": featurized,
        "featurize_events_per_s": n_events / featurized,
        "peak_rss_simulate_mb": rss_after_simulation,
        "cache_dir": data.meta["cache_dir"],
    }


def pretrain_child(cache_dir: str, steps: str) -> dict:
    """Fresh process: memory-map featurized arrays and train `steps` masked-item steps; report peak RSS."""
    import numpy as np

    from ssl_ads.data.batches import batch_loader
    from ssl_ads.encoders.sequence_transformer import SequenceTransformer
    from ssl_ads.pretext.masked_item import MaskedItem

    items = np.load(Path(cache_dir) / "items.npy", mmap_mode="r")
    meta = json.loads((Path(cache_dir) / "meta.json").read_text())
    encoder = SequenceTransformer(num_items=meta["num_items"], max_len=meta["max_len"], dim=64, ff_dim=256)
    pretext = MaskedItem()
    pretext.attach(encoder)
    optimizer = torch.optim.AdamW([*encoder.parameters(), *pretext.parameters()], lr=1e-3)
    loader = batch_loader({"items": items}, np.arange(len(items)), 256, shuffle=True)
    for done, batch in enumerate(loader):
        if done == int(steps):
            break
        pretext.loss(encoder, batch).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return {"peak_rss_pretrain_mb": _peak_rss_mb(), "rows": len(items)}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_subprocess(function: str, *args: str) -> dict:
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_throughput as b; "
    code += f"print(json.dumps(b.{function}(*{list(args)!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=float, nargs="*", default=[1e6, 1e7])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--catalogues", type=float, nargs="*", default=list(CATALOGUES),
                        help="next-item pretraining at these catalogue sizes (bench_catalogue.py)")  # fmt: skip
    parser.add_argument("--catalogue-steps", type=int, default=5, help="steps per timed repeat, best of 3")
    args = parser.parse_args()
    console = Console()
    from ssl_ads.hardware import cpu_bf16_fast, cpu_capability, describe_cpu

    console.print(describe_cpu())
    console.print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()}, "
                  f"cpu capability {cpu_capability()}")  # fmt: skip

    fp32 = matmul_ceiling(torch.float32)
    # no bf16 multiply at all without native bf16 (AVX2: emulated, ~100x slower; it once hung this script)
    native_bf16 = cpu_bf16_fast()
    probe_rate, bf16_sizes = bf16_plan() if native_bf16 else (0.0, ())
    table = Table(title="ssl-ads throughput (this machine, this run)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("matmul ceiling fp32 (GFLOP/s)", f"{fp32:.1f}")
    if not native_bf16:
        table.add_row("bf16 matmul ceiling and training", f"skipped: {cpu_capability()} without native bf16")
    else:
        table.add_row("bf16 256² multiply (GFLOP/s)", f"{probe_rate:.1f}")
    if bf16_sizes:
        table.add_row(
            f"matmul ceiling bf16 (GFLOP/s, sizes {bf16_sizes})", f"{matmul_ceiling(torch.bfloat16, bf16_sizes):.1f}"
        )
    elif native_bf16:
        table.add_row(
            "matmul ceiling bf16", f"skipped: a 1024² multiply would take {2 * 1024**3 / probe_rate / 1e9:.0f} s"
        )
    # bf16 autocast training only where bf16 is not emulated: elsewhere 30 steps take minutes and show nothing new
    bf16_training = native_bf16
    if not bf16_training:
        console.print(f"bf16 skipped (matmul ceiling, autocast training): {cpu_capability()} has no avx512_bf16/AMX, "
                      f"so PyTorch would emulate it (SSL_ADS_BF16=1 forces it)")  # fmt: skip
    runs = [("fp32", False, False), ("bf16 autocast", True, False), ("fp32 + repeat bias", False, True)]
    for label, use_bf16, repeat_bias in (run for run in runs if bf16_training or not run[1]):
        result = training_throughput(args.batch_size, args.steps, use_bf16, repeat_bias)
        table.add_row(f"SASRec-size next-item training {label}: targets/s", f"{result['targets_per_s']:,.0f}")
        table.add_row(f"  sequences/s ({label})", f"{result['sequences_per_s']:,.0f}")
        table.add_row(f"  achieved GFLOP/s ({label}), MFU vs fp32 ceiling", f"{result['gflops']:.1f}, "
                      f"{result['gflops'] / fp32:.0%}")  # fmt: skip
        table.add_row(f"  vs RecBole SASRec ~690 targets/s ({label})", f"{result['targets_per_s'] / 690:.1f}x")
    catalogue_runs = plan([int(n) for n in args.catalogues], ["full", "sampled", "in_batch"], ["dense", "sparse"])
    threads = str(torch.get_num_threads())
    results = [measure(*run, args.catalogue_steps, args.batch_size, int(threads)) for run in catalogue_runs]
    for name, value in table_rows(results):
        table.add_row(f"SASRec-size next-item pretraining, {name.strip()}", value)
    with tempfile.TemporaryDirectory() as cache:
        for events in args.events:
            data = _in_subprocess("data_child", str(events), cache)
            memory = _in_subprocess("pretrain_child", data["cache_dir"], str(args.steps))
            tag = f"{data['events'] / 1e6:.1f} M events ({data['users']:,} users)"
            table.add_row(f"{tag}: simulate (s)", f"{data['simulate_s']:.1f}")
            table.add_row(f"{tag}: featurize (events/s)", f"{data['featurize_events_per_s']:,.0f}")
            table.add_row(f"{tag}: peak RSS simulate (MB)", f"{data['peak_rss_simulate_mb']:,.0f}")
            peak = memory["peak_rss_pretrain_mb"]
            table.add_row(f"{tag}: peak RSS pretraining {args.steps} steps (MB)", f"{peak:,.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
