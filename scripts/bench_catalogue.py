"""Next-item pretraining speed and memory at realistic catalogue sizes (20k / 200k / 1M items).

    python scripts/bench_catalogue.py                        # every catalogue, every loss, both optimisers
    python scripts/bench_catalogue.py --items 1e6 --steps 5  # one size
    python scripts/bench_catalogue.py --paths pipeline       # only through PretrainModule + a Lightning Trainer
    python scripts/bench_catalogue.py --table-only --items 2e4 5e4 1e5  # the item table's own cost per step
    python scripts/bench_throughput.py                       # prints these rows beside its SASRec-size row

Each row is a fresh subprocess (so its peak RSS is its own): the SASRec-size causal transformer (d=64, 2 layers,
2 heads, ff 256) trains on windows of 50 next-item targets, batch 256, with item ids drawn from a Zipf
popularity (exponent 1.0) over the catalogue. Targets/s is the best of 3 timed repeats (the machine is
shared: other processes only ever slow a repeat down); targets per CPU-second (`time.process_time`, summed over
the process's threads) is the figure a loaded machine disturbs least, comparable between rows at the same thread
count. Losses: `full` softmax (only where its `[12,800 x V]` logits fit: 20k items; 200k would need ~10 GB for
logits and their gradient, 1M ~50 GB), `sampled` (1,000 negatives from the streaming popularity, log-Q corrected)
and `in_batch`.

Optimisers: `dense` is AdamW over every parameter (the pipeline's with `pretrain.sparse_item_table=false`, or
`auto` below its threshold, ssl_ads/config/sparse_item_table.py): each step it zeroes and updates the whole
`[V, 64]` item table and its two moment tables, O(V) work however few rows the batch touched, which dominates
at 1M items. `sparse` makes the item table `sparse=True` and updates it with SparseAdam (lazy Adam: only the
rows the step read move), AdamW for the rest, so a step costs O(rows read). The moments are still dense
`[V, 64]` tables: memory grows with the catalogue by table + 2 moments, and nothing else should. The
`rss - table state` column subtracts exactly that (weights, gradient if dense, moments) from the peak RSS.

Paths: `loop` is the hand-written step above (forward, backward, the optimisers); `pipeline` is what `ssl-ads
pretrain` runs: `PretrainModule` (its `configure_optimizers`, with `sparse_item_table` on for `sparse`) fitted by a
Lightning Trainer (automatic optimisation, fp32, no logger, checkpoint or progress bar), timed per step by a
callback; the same batches, best of 3 windows of `steps` steps after 2 warm-up steps. Its peak RSS includes
Lightning's own import and loop overhead.

`--table-only` times just the item table's share of a step (embedding backward, optimiser step, zero_grad: CPU
time, median of 20) for dense AdamW and SparseAdam: the O(V) cost the sparse path removes, and where `auto` of
`pretrain.sparse_item_table` starts (ssl_ads/config/sparse_item_table.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

SIZES = {"dim": 64, "layers": 2, "heads": 2, "ff_dim": 256, "max_len": 50}
CATALOGUES = (20_000, 200_000, 1_000_000)
FULL_MAX_ITEMS = 50_000  # full-softmax logits are [batch x window, V]: 12,800 x 50k floats is 2.6 GB
ZIPF_EXPONENT = 1.0
NUM_NEGATIVES = 1000


def zipf_windows(num_items: int, batch_size: int, count: int, seed: int = 0) -> list[torch.Tensor]:
    """`count` batches of `[batch_size, 51]` item ids, each id drawn from a Zipf popularity over the catalogue."""
    generator = torch.Generator().manual_seed(seed)
    weights = torch.arange(1, num_items - 1, dtype=torch.float64) ** -ZIPF_EXPONENT
    cumulative = torch.cumsum(weights, 0)
    shape = (batch_size, SIZES["max_len"] + 1)
    draws = [torch.rand(shape, generator=generator, dtype=torch.float64) * cumulative[-1] for _ in range(count)]
    # popularity rank -> id through a fixed shuffle, so popular items are not all at the table's start
    ids = torch.randperm(num_items - 2, generator=generator) + 2
    return [ids[torch.searchsorted(cumulative, u).clamp_(max=num_items - 3)] for u in draws]


def catalogue_child(num_items: str, negatives: str, optimiser: str, steps: str, batch_size: str) -> dict:
    """Fresh process: build, warm up, then time 3 repeats of `steps` steps; peak RSS and table state sizes."""
    from ssl_ads.encoders.sequence_transformer import SequenceTransformer
    from ssl_ads.pretext.next_item import NextItem

    torch.manual_seed(0)
    n_items, n_steps, size = int(float(num_items)), int(steps), int(batch_size)
    encoder = SequenceTransformer(
        num_items=n_items, max_len=SIZES["max_len"] + 1, dim=SIZES["dim"], layers=SIZES["layers"],
        heads=SIZES["heads"], ff_dim=SIZES["ff_dim"], dropout=0.2, causal=True,
    )  # fmt: skip
    pretext = NextItem(negatives, NUM_NEGATIVES, sampling="popularity")
    pretext.attach(encoder)
    table = encoder.item_embedding.weight
    rest = [p for p in [*encoder.parameters(), *pretext.parameters()] if p is not table]
    if optimiser == "sparse":
        encoder.item_embedding.sparse = True
        optimisers = [torch.optim.SparseAdam([table], lr=1e-3), torch.optim.AdamW(rest, lr=1e-3)]
    else:
        optimisers = [torch.optim.AdamW([table, *rest], lr=1e-3)]
    batches = [{"items": items, "mask": items != 0} for items in zipf_windows(n_items, size, 4)]
    rss_built = _peak_rss_mb()

    def step(batch: dict[str, torch.Tensor]) -> None:
        pretext.loss(encoder, batch).backward()
        for optimizer in optimisers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    for i in range(2):
        step(batches[i % len(batches)])
    best, best_cpu = float("inf"), float("inf")
    for _ in range(3):
        started, started_cpu = time.perf_counter(), time.process_time()
        for i in range(n_steps):
            step(batches[i % len(batches)])
        best, best_cpu = min(best, time.perf_counter() - started), min(best_cpu, time.process_time() - started_cpu)
    targets = size * SIZES["max_len"] * n_steps
    table_mb = table.numel() * table.element_size() / 2**20
    moments = 2 if optimiser == "sparse" else 3  # exp_avg, exp_avg_sq (+ the dense gradient, kept between steps)
    return {
        "items": n_items,
        "negatives": negatives,
        "optimiser": optimiser,
        "targets_per_s": targets / best,
        "targets_per_cpu_s": targets / best_cpu,
        "step_s": best / n_steps,
        "table_mb": table_mb,
        "table_state_mb": table_mb * (1 + moments),
        "peak_rss_built_mb": rss_built,
        "peak_rss_mb": _peak_rss_mb(),
        "sampler_rebuilds": pretext.sampler.rebuilds,
    }


def pipeline_child(num_items: str, negatives: str, optimiser: str, steps: str, batch_size: str) -> dict:
    """Fresh process: `PretrainModule` through a Lightning Trainer, per-step wall times from a callback."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    from ssl_ads.encoders.sequence_transformer import SequenceTransformer
    from ssl_ads.pretext.next_item import NextItem
    from ssl_ads.training.pretrain_module import PretrainModule

    class StepTimes(pl.Callback):
        def __init__(self) -> None:
            self.ends: list[tuple[float, float]] = []

        def on_train_batch_end(self, *args: object) -> None:
            self.ends.append((time.perf_counter(), time.process_time()))

    torch.manual_seed(0)
    n_items, n_steps, size = int(float(num_items)), int(steps), int(batch_size)
    encoder = SequenceTransformer(
        num_items=n_items, max_len=SIZES["max_len"] + 1, dim=SIZES["dim"], layers=SIZES["layers"],
        heads=SIZES["heads"], ff_dim=SIZES["ff_dim"], dropout=0.2, causal=True,
    )  # fmt: skip
    pretext = NextItem(negatives, NUM_NEGATIVES, sampling="popularity")
    module = PretrainModule(encoder, pretext, 1e-3, 0.01, {}, sparse_item_table=optimiser == "sparse")
    windows = zipf_windows(n_items, size, 4)
    total = 2 + 3 * n_steps
    batches = [{"items": w, "mask": w != 0} for w in (windows * total)[:total]]
    timer = StepTimes()
    trainer = pl.Trainer(
        accelerator="cpu", precision="32-true", max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, callbacks=[timer],
    )  # fmt: skip
    trainer.fit(module, DataLoader(batches, batch_size=None))
    ends = timer.ends[1:]  # the end of warm-up step 2 starts the first window
    best, best_cpu = (min(ends[(r + 1) * n_steps][k] - ends[r * n_steps][k] for r in range(3)) for k in (0, 1))
    table = encoder.item_embedding.weight
    table_mb = table.numel() * table.element_size() / 2**20
    moments = 2 if optimiser == "sparse" else 3
    return {
        "items": n_items,
        "negatives": negatives,
        "optimiser": optimiser,
        "path": "pipeline",
        "optimizer_class": type(trainer.optimizers[0]).__name__,
        "targets_per_s": size * SIZES["max_len"] * n_steps / best,
        "targets_per_cpu_s": size * SIZES["max_len"] * n_steps / best_cpu,
        "step_s": best / n_steps,
        "table_mb": table_mb,
        "table_state_mb": table_mb * (1 + moments),
        "peak_rss_mb": _peak_rss_mb(),
    }


def table_step_cpu_ms(num_items: int, sparse: bool, batch_size: int) -> float:
    """CPU ms of the item table's own work in one step (median of 20 after 3 warm-up steps): the backward of a
    bench batch's rows (inputs, targets, 1,000 negatives), the optimiser step and zero_grad."""
    import statistics

    import torch.nn.functional as F

    windows = zipf_windows(num_items, batch_size, 4)
    negatives = torch.randint(2, num_items, (NUM_NEGATIVES,), generator=torch.Generator().manual_seed(1))
    table = torch.nn.Parameter(torch.randn(num_items + 1, SIZES["dim"]) * 0.02)
    optimizer = torch.optim.SparseAdam([table], 1e-3) if sparse else torch.optim.AdamW([table], 1e-3, weight_decay=0.01)
    times = []
    for i in range(23):
        w = windows[i % len(windows)]
        rows = F.embedding(torch.cat([w[:, :-1].reshape(-1), w[:, 1:].reshape(-1), negatives]), table, sparse=sparse)
        started = time.process_time()
        rows.backward(torch.ones_like(rows))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.process_time() - started)
    return 1000 * statistics.median(times[3:])


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(
    num_items: int, negatives: str, optimiser: str, steps: int, batch_size: int, threads: int, path: str = "loop"
) -> dict:
    """One row, measured in a fresh subprocess with `threads` torch threads, by the hand loop or the pipeline."""
    child = {"loop": "catalogue_child", "pipeline": "pipeline_child"}[path]
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_catalogue as b; "
    arguments = [str(num_items), negatives, optimiser, str(steps), str(batch_size)]
    code += f"print(json.dumps(b.{child}(*{arguments!r})))"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        return {"items": num_items, "negatives": negatives, "optimiser": optimiser, "path": path,
                "error": out.stderr[-500:]}  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def plan(catalogues: list[int], losses: list[str], optimisers: list[str]) -> list[tuple[int, str, str]]:
    """Every (catalogue, loss, optimiser) worth running: full softmax only where its logits fit; sparse item
    tables only with sampled / in-batch losses (the full softmax reads every row, so its gradient is dense)."""
    rows = []
    for items in catalogues:
        for negatives in losses:
            for optimiser in optimisers:
                if negatives == "full" and (items > FULL_MAX_ITEMS or optimiser == "sparse"):
                    continue
                rows.append((items, negatives, optimiser))
    return rows


def table_rows(results: list[dict]) -> list[tuple[str, str]]:
    """(measure, value) rows for a rich table; skipped full-softmax sizes are listed with the reason."""
    rows = []
    for r in results:
        tag = f"{r['items']:,} items, {r['negatives']}, {r['optimiser']} AdamW".replace("sparse AdamW", "SparseAdam")
        tag += f" ({r.get('path', 'loop')})"
        if "error" in r:
            rows.append((f"{tag}: failed", r["error"].strip().splitlines()[-1] if r["error"].strip() else "?"))
            continue
        rows.append(
            (f"{tag}: targets/s (per CPU-second)", f"{r['targets_per_s']:,.0f} ({r['targets_per_cpu_s']:,.0f})")
        )
        rest = r["peak_rss_mb"] - r["table_state_mb"]
        rows.append(("  peak RSS / item table / RSS - table state (MB)",
                     f"{r['peak_rss_mb']:,.0f} / {r['table_mb']:,.0f} / {rest:,.0f}"))  # fmt: skip
    measured_full = {r["items"] for r in results if r["negatives"] == "full"}
    skipped = sorted({r["items"] for r in results} - measured_full)
    if skipped and any(r["negatives"] != "full" for r in results):
        rows.append(("full softmax at " + ", ".join(f"{n:,}" for n in skipped) + " items",
                     f"skipped: [12,800 x V] logits exceed {FULL_MAX_ITEMS:,} items' worth of memory"))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=float, nargs="*", default=list(CATALOGUES))
    parser.add_argument("--losses", nargs="*", default=["full", "sampled", "in_batch"])
    parser.add_argument("--optimisers", nargs="*", default=["dense", "sparse"], choices=["dense", "sparse"])
    parser.add_argument("--paths", nargs="*", default=["loop", "pipeline"], choices=["loop", "pipeline"],
                        help="the hand loop, and/or PretrainModule through a Lightning Trainer")  # fmt: skip
    parser.add_argument("--steps", type=int, default=5, help="steps per timed repeat (best of 3 repeats)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--table-only", action="store_true", help="only the item table's own CPU cost per step")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    from ssl_ads.hardware import describe_cpu

    console = Console()
    console.print(describe_cpu())
    console.print(f"torch {torch.__version__}, capability {torch.backends.cpu.get_cpu_capability()}, "
                  f"{args.threads} threads per run, load average {os.getloadavg()}")  # fmt: skip
    if args.table_only:
        torch.set_num_threads(args.threads)
        table = Table(title=f"item table work per step (batch {args.batch_size} x 50, CPU ms, {args.threads} threads)")
        for column in ("items", "dense AdamW", "SparseAdam"):
            table.add_column(column, justify="right")
        for items in (int(n) for n in args.items):
            dense, sparse = (table_step_cpu_ms(items, flag, args.batch_size) for flag in (False, True))
            table.add_row(f"{items:,}", f"{dense:,.1f}", f"{sparse:,.1f}")
        console.print(table)
        return
    results = []
    for items, negatives, optimiser in plan([int(n) for n in args.items], args.losses, args.optimisers):
        for path in args.paths:
            results.append(measure(items, negatives, optimiser, args.steps, args.batch_size, args.threads, path))
            console.print(json.dumps(results[-1]), highlight=False)
    table = Table(title=f"next-item pretraining by catalogue size (batch {args.batch_size} x 50 targets)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in table_rows(results):
        table.add_row(name, value)
    console.print(table)
    console.print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
