"""Next-item pretraining speed and memory at realistic catalogue sizes (20k / 200k / 1M items).

    python scripts/bench_catalogue.py                        # every catalogue, every loss, both optimisers
    python scripts/bench_catalogue.py --items 1e6 --steps 5  # one size
    python scripts/bench_throughput.py                       # prints these rows beside its SASRec-size row

Each row is a fresh subprocess (so its peak RSS is its own): the SASRec-size causal transformer (d=64, 2 layers,
2 heads, ff 256) trains on windows of 50 next-item targets, batch 256, with item ids drawn from a Zipf
popularity (exponent 1.0) over the catalogue. Targets/s is the best of 3 timed repeats (the machine is
shared: other processes only ever slow a repeat down). Losses: `full` softmax (only where its `[12,800 x V]`
logits fit: 20k items; 200k would need ~10 GB for logits and their gradient, 1M ~50 GB), `sampled` (1,000
negatives from the streaming popularity, log-Q corrected) and `in_batch`.

Optimisers: `dense` is the pipeline's AdamW over every parameter: each step it zeroes and updates the whole
`[V, 64]` item table and its two moment tables, O(V) work however few rows the batch touched, which dominates
at 1M items. `sparse` makes the item table `sparse=True` and updates it with SparseAdam (lazy Adam: only the
rows the step read move), AdamW for the rest, so a step costs O(rows read). The moments are still dense
`[V, 64]` tables: memory grows with the catalogue by table + 2 moments, and nothing else should. The
`rss - table state` column subtracts exactly that (weights, gradient if dense, moments) from the peak RSS.
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
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for i in range(n_steps):
            step(batches[i % len(batches)])
        best = min(best, time.perf_counter() - started)
    targets = size * SIZES["max_len"] * n_steps
    table_mb = table.numel() * table.element_size() / 2**20
    moments = 2 if optimiser == "sparse" else 3  # exp_avg, exp_avg_sq (+ the dense gradient, kept between steps)
    return {
        "items": n_items,
        "negatives": negatives,
        "optimiser": optimiser,
        "targets_per_s": targets / best,
        "step_s": best / n_steps,
        "table_mb": table_mb,
        "table_state_mb": table_mb * (1 + moments),
        "peak_rss_built_mb": rss_built,
        "peak_rss_mb": _peak_rss_mb(),
        "sampler_rebuilds": pretext.sampler.rebuilds,
    }


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(num_items: int, negatives: str, optimiser: str, steps: int, batch_size: int, threads: int) -> dict:
    """One row, measured in a fresh subprocess with `threads` torch threads."""
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_catalogue as b; "
    arguments = [str(num_items), negatives, optimiser, str(steps), str(batch_size)]
    code += f"print(json.dumps(b.catalogue_child(*{arguments!r})))"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        return {"items": num_items, "negatives": negatives, "optimiser": optimiser, "error": out.stderr[-500:]}
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
        if "error" in r:
            rows.append((f"{tag}: failed", r["error"].strip().splitlines()[-1] if r["error"].strip() else "?"))
            continue
        rows.append((f"{tag}: targets/s", f"{r['targets_per_s']:,.0f}"))
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
    parser.add_argument("--steps", type=int, default=5, help="steps per timed repeat (best of 3 repeats)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    from ssl_ads.hardware import describe_cpu

    console = Console()
    console.print(describe_cpu())
    console.print(f"torch {torch.__version__}, capability {torch.backends.cpu.get_cpu_capability()}, "
                  f"{args.threads} threads per run, load average {os.getloadavg()}")  # fmt: skip
    results = []
    for items, negatives, optimiser in plan([int(n) for n in args.items], args.losses, args.optimisers):
        results.append(measure(items, negatives, optimiser, args.steps, args.batch_size, args.threads))
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
