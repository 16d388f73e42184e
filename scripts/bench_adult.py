"""UCI Adult benchmark for the tabular path: does pretraining beat from-scratch networks and GBDT?

Runs `ssl-ads pipeline experiment=adult dataset.path=<parquet> seed=<s>` once per seed (each run
pretrains on the train rows, then probes / fine-tunes the scratch and pretrained encoders and fits
HistGradientBoosting at 1 %, 10 % and 100 % of the train labels), then prints test AUROC as mean ± std
over seeds, with the pretraining time and the command that reproduces every row.

    bash /work/shared/data/get_public_data.sh /tmp/pubdata
    python scripts/bench_adult.py --data /tmp/pubdata/adult/adult.parquet

Seeds whose run directory already holds a metrics.json are read, not rerun (`--out` keeps them).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
METHODS = [
    ("gbdt", "baseline", "HistGradientBoosting, labeled rows only"),
    ("scratch", "probe", "scratch encoder, linear probe"),
    ("scratch", "finetune", "scratch encoder, trained end to end"),
    ("pretrained", "probe", "pretrained encoder, linear probe"),
    ("pretrained", "finetune", "pretrained encoder, fine-tuned"),
]


def command(data: str, seed: int, run_dir: Path, overrides: list[str]) -> list[str]:
    return [
        "ssl-ads", "pipeline", "experiment=adult", f"dataset.path={data}", f"seed={seed}",
        f"hydra.run.dir={run_dir}", *overrides,
    ]  # fmt: skip


def run_seed(data: str, seed: int, out: Path, overrides: list[str]) -> dict:
    run_dir = out / f"seed{seed}"
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        args = command(data, seed, run_dir, overrides)
        print(f"[seed {seed}] {shlex.join(args)}", flush=True)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        started = time.perf_counter()
        log = out / f"seed{seed}.log"
        with log.open("w") as handle:
            done = subprocess.run([sys.executable, "-m", "ssl_ads", *args[1:]], env=env, stdout=handle, stderr=handle)
        if done.returncode != 0:
            sys.exit(f"seed {seed} failed (exit {done.returncode}); see {log}")
        print(f"[seed {seed}] finished in {time.perf_counter() - started:.0f} s", flush=True)
    return json.loads(metrics.read_text())


def summarise(results: list[dict]) -> tuple[list[str], dict]:
    fractions = sorted({r["label_fraction"] for res in results for r in res["results"]})
    lines = []
    for encoder, mode, label in METHODS:
        cells = []
        for fraction in fractions:
            values = [
                r["metrics"]["test_auroc"]
                for res in results
                for r in res["results"]
                if (r["encoder"], r["mode"], r["label_fraction"]) == (encoder, mode, fraction)
            ]
            cells.append("–" if not values else f"{np.mean(values):.3f} ± {np.std(values):.3f}")
        lines.append(f"| {label} ({encoder}-{mode}) | " + " | ".join(cells) + " |")
    labels = {r["label_fraction"]: r["n_labels"] for r in results[0]["results"] if r["encoder"] == "gbdt"}
    header = "| method | " + " | ".join(f"{f:.0%} ({labels.get(f, '?')} labels)" for f in fractions) + " |"
    pretrain = [res["pretrain"].get("seconds") for res in results if res.get("pretrain")]
    return [header, "|---|" + "---|" * len(fractions), *lines], {"pretrain_seconds": pretrain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="adult.parquet from get_public_data.sh")
    parser.add_argument(
        "--seeds", type=lambda text: [int(x) for x in text.split(",")], default=[0, 1, 2], help="e.g. 0,1,2"
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_adult"))
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides (e.g. encoder=field_transformer)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = [run_seed(args.data, seed, args.out, args.overrides) for seed in args.seeds]
    table, extra = summarise(results)
    print("\nUCI Adult, test AUROC, mean ± std over seeds", args.seeds)
    print("protocol:", results[0]["protocol"]["split"])
    print("\n".join(table))
    seconds = extra["pretrain_seconds"]
    print(f"\npretraining seconds per seed: {seconds} (mean {np.mean(seconds):.1f} s)")
    print(f"load average now: {os.getloadavg()}")
    print("\nreproduce one seed:")
    for seed in args.seeds:
        print("  " + shlex.join(command(args.data, seed, args.out / f"seed{seed}", args.overrides)))


if __name__ == "__main__":
    main()
