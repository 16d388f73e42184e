"""Training time in fp32 against bf16-mixed by encoder width: where `trainer.precision: auto` should switch.

`auto` trains in bf16-mixed on a CPU with bf16 units only from `CPU_BF16_MIN_WIDTH` (ssl_ads/hardware.py) up,
because narrow models lose more to autocast's casts than they gain from bf16 matmuls. This measures it: the demo's
pretraining (`experiment=demo`: masked items and the activity forecast; the online probe off), a few epochs, at
each width (`encoder.dim`, `encoder.ff_dim` = 2 x dim) in both precisions, through the `ssl-ads` entry point, the
order of the two flipped every repeat. Prints the pretraining seconds each run records (mean ± std over repeats),
their ratio, and what `auto` picks at that width here. On a CPU without bf16 units bf16 crawls (about
1 GFLOP/s): the script says so and stops unless --force.

    python scripts/bench_train_precision.py                        # dims 64 128 192 256, 3 epochs, 2 repeats
    python scripts/bench_train_precision.py --dims 96 160 --repeats 3
    python scripts/bench_train_precision.py pretext.future_days=0  # Hydra overrides: masked items alone
    python scripts/bench_train_precision.py pretext.future_days=0 --dims 128  # overrides before --dims
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

PRECISIONS = ("32-true", "bf16-mixed")


def pretrain_seconds(dim: int, precision: str, epochs: int, workdir: Path, overrides: list[str]) -> float:
    """One `ssl-ads pretrain` run in its own folder; the pretraining seconds its metrics.json records."""
    run = Path(tempfile.mkdtemp(dir=workdir))
    command = [
        sys.executable, "-m", "ssl_ads", "pretrain", "experiment=demo", f"pretrain.max_epochs={epochs}",
        "pretrain.patience=0",  # every run trains all its epochs: the time per epoch is what is compared
        f"encoder.dim={dim}", f"encoder.ff_dim={2 * dim}", f"trainer.precision={precision}",
        "online_probe.every_n_steps=0", "trainer.enable_progress_bar=false", *overrides,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=run, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[2:])} failed:\n{result.stderr[-2000:]}")
    (metrics,) = (run / "outputs" / "pretrain").glob("*/metrics.json")
    return float(json.loads(metrics.read_text())["pretrain"]["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 128, 192, 256])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--force", action="store_true", help="time bf16 even where the CPU has no bf16 units")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides after experiment=demo")
    args = parser.parse_args()

    from ssl_ads.hardware import CPU_BF16_MIN_WIDTH, bf16_fast, describe_cpu, load_average, resolve_trainer_precision

    print(describe_cpu(), flush=True)
    if not bf16_fast("cpu") and not args.force:
        sys.exit("this CPU has no bf16 units: bf16-mixed would take minutes per run and auto picks fp32 anyway")
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"experiment=demo, {args.epochs} epochs of pretraining per run, {args.repeats} repeats, "
          f"OMP_NUM_THREADS={threads}; CPU_BF16_MIN_WIDTH={CPU_BF16_MIN_WIDTH}; "
          f"overrides: {' '.join(args.overrides) or 'none'}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench_train_precision-") as workdir:
        for dim in args.dims:
            seconds: dict[str, list[float]] = {p: [] for p in PRECISIONS}
            for repeat in range(args.repeats):
                for precision in PRECISIONS if repeat % 2 == 0 else PRECISIONS[::-1]:
                    seconds[precision].append(
                        pretrain_seconds(dim, precision, args.epochs, Path(workdir), args.overrides)
                    )
            fp32, bf16 = (np.asarray(seconds[p]) for p in PRECISIONS)
            auto = resolve_trainer_precision("auto", "cpu", dim)
            faster = "bf16-mixed" if bf16.mean() < fp32.mean() else "32-true"
            print(f"  dim {dim:4d}: fp32 {fp32.mean():6.1f} ± {fp32.std():4.1f} s, bf16-mixed {bf16.mean():6.1f} ± "
                  f"{bf16.std():4.1f} s, fp32/bf16 {fp32.mean() / bf16.mean():.2f}; faster here: {faster}; "
                  f"auto picks {auto}", flush=True)  # fmt: skip
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
