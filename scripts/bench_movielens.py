"""MovieLens next-item benchmark under RecBole's protocol: one `ssl-ads pipeline` run per configuration.

Protocol (RecBole 1.2.1's SASRec/BERT4Rec defaults on ml-100k): every rating is an interaction, ordered
by time per user, leave-one-out (last event test, second-to-last validation), full-catalogue ranking
with seen items kept, 50 events of history. Each row prints test HR@10 / NDCG@10 / MRR@10, the wall time
of the whole run and of its training, and the exact command that reproduces it.

    python scripts/bench_movielens.py --data /tmp/pubdata/ml-100k
    python scripts/bench_movielens.py --data /tmp/pubdata/ml-100k --configs next_item --set pretrain.max_epochs=40
    python scripts/bench_movielens.py --data /tmp/pubdata/ml-100k --out DIR --reuse   # report finished runs
    python scripts/bench_movielens.py --data /tmp/pubdata/ml-100k --configs none --set encoder.repeat_bias=false
        # the ablation: the same SASRec without the learned repeat bias
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

CONFIGS = ("next_item", "contrastive", "masked_item", "gru", "none")
# `none` repeats the scratch rows every other configuration prints beside its pretrained rows.
DEFAULT_CONFIGS = ("next_item", "contrastive", "masked_item", "gru")
TARGET = {"test_ndcg@10": 0.070, "test_hr@10": 0.146}  # RecBole SASRec (0.0636 / 0.1326) + 10 %


def ratings_file(data: Path) -> Path:
    if data.is_file():
        return data
    for name in ("ml-100k.inter", "u.data", "ratings.dat"):
        if (data / name).is_file():
            return data / name
    sys.exit(f"no ml-100k.inter, u.data or ratings.dat under {data}; run get_public_data.sh first")


def command(config: str, path: Path, out: Path, extra: list[str]) -> list[str]:
    return [
        "ssl-ads", "pipeline", f"experiment=movielens_{config}", f"dataset.path={path}",
        f"hydra.run.dir={out / config}", f"cache_dir={out / 'cache'}", "trainer.enable_progress_bar=false", *extra,
    ]  # fmt: skip


def run_one(config: str, path: Path, out: Path, extra: list[str], threads: int, reuse: bool) -> list[dict]:
    cmd = command(config, path, out, extra)
    wall = None
    if reuse and (out / config / "metrics.json").is_file():
        # The overrides that run was really started with, as Hydra recorded them.
        overrides = yaml.safe_load((out / config / ".hydra" / "overrides.yaml").read_text())
        cmd = ["ssl-ads", "pipeline", *(o for o in overrides if not o.startswith("stage="))]
    else:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "ssl_ads", *cmd[1:]], env=env, capture_output=True, text=True)
        wall = round(time.perf_counter() - started, 1)
        if done.returncode:
            print(done.stderr[-3000:], file=sys.stderr)
            return [{"config": config, "error": done.returncode, "command": shlex.join(cmd)}]
    results = json.loads((out / config / "metrics.json").read_text())
    pretrain_seconds = (results.get("pretrain") or {}).get("seconds", 0.0)
    rows = []
    for row in results["results"]:
        metrics = row["metrics"]
        seconds = row["seconds"] + (pretrain_seconds if row["encoder"] == "pretrained" else 0.0)
        rows.append(
            {
                "config": config,
                "row": f"{row['encoder']}-{row['mode']}",
                **{k: metrics.get(f"test_{k}") for k in ("hr@10", "ndcg@10", "mrr@10")},
                "val_ndcg@10": metrics.get("val_ndcg@10"),
                "train_seconds": round(seconds, 1),
                "run_wall_seconds": wall,
                "command": f"OMP_NUM_THREADS={threads} " + shlex.join(cmd),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder holding ml-100k.inter (or the file itself)")
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), choices=CONFIGS)
    parser.add_argument("--out", type=Path, default=Path("bench_movielens_out"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (OMP_NUM_THREADS)")
    parser.add_argument("--set", nargs="*", default=[], help="extra Hydra overrides for every run")
    parser.add_argument("--reuse", action="store_true", help="report runs already in --out instead of re-running")
    parser.add_argument("--jobs", type=int, default=1, help="configurations run at once (each with --threads)")
    args = parser.parse_args()
    path = ratings_file(args.data).resolve()
    out = args.out.resolve()
    from ssl_ads.hardware import describe_cpu

    print(describe_cpu(), flush=True)  # what the figures below ran on
    print(f"load average before: {os.getloadavg()}  cpus: {os.cpu_count()}")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = pool.map(lambda config: run_one(config, path, out, args.set, args.threads, args.reuse), args.configs)
        rows = [row for config_rows in runs for row in config_rows]
    print(f"load average after: {os.getloadavg()}; {args.jobs} configuration(s) at once, {args.threads} thread(s) each")
    header = f"{'config':<12} {'row':<20} {'HR@10':>7} {'NDCG@10':>8} {'MRR@10':>7} {'train s':>8} {'run s':>7}"
    print(header)
    for row in rows:
        if "error" in row:
            print(f"{row['config']:<12} failed (exit {row['error']}): {row['command']}")
            continue
        print(
            f"{row['config']:<12} {row['row']:<20} {row['hr@10']:>7.4f} {row['ndcg@10']:>8.4f} {row['mrr@10']:>7.4f}"
            f" {row['train_seconds']:>8.1f} {row['run_wall_seconds'] or float('nan'):>7.1f}"
        )
    print("\ncommands:")
    for command_line in dict.fromkeys(row["command"] for row in rows):
        print(f"  {command_line}")
    scored = [r for r in rows if "error" not in r]
    if scored:
        best = max(scored, key=lambda r: r["ndcg@10"])
        reached = all(best[k.removeprefix("test_")] >= v for k, v in TARGET.items())
        print(
            f"\nbest: {best['config']} {best['row']} NDCG@10 {best['ndcg@10']:.4f} HR@10 {best['hr@10']:.4f} in "
            f"{best['train_seconds']} s; target NDCG@10 >= 0.070 and HR@10 >= 0.146: {'met' if reached else 'not met'}"
        )
    (out / "bench_movielens.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
