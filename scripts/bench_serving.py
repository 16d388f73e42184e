"""Serving figures (issue 15): ONNX Runtime vs eager PyTorch latency, and `ssl-ads predict` on large files.

    python scripts/bench_serving.py [--model outputs/.../model.pt] [--rows 100000 1000000] [--repeats 2000]

Without `--model`, a tabular model is fine-tuned first (`ssl-ads finetune experiment=tabular_tiny`, one epoch, in
a temporary folder). Latency: the exported graph (probabilities from featurized inputs) at batch 1 and 256, one
intra-op thread each, median over `--repeats` calls after a warm-up (batch 256: a tenth as many). Predict: impression
rows resampled from the simulator's log (the model's training schema) into a parquet file of N rows, scored by
`ssl-ads predict` in a fresh process that reports its wall time (imports included), the scoring time `predict.json`
records (read, featurize, score, write) and its peak RSS (`resource.getrusage`). The load
average is printed beside every figure: on a shared machine it explains the spread.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "n/a"


def fine_tuned_model(work: Path) -> Path:
    """A tabular model.pt from a one-epoch fine-tuning run (the tiny preset's field MLP)."""
    command = [sys.executable, "-m", "ssl_ads", "finetune", "experiment=tabular_tiny", "finetune.max_epochs=1",
               "label_fractions=[1.0]"]  # fmt: skip
    print("$", " ".join(command[2:]), flush=True)
    subprocess.run(command, cwd=work, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    (run,) = (work / "outputs" / "finetune").iterdir()
    return run / "model.pt"


def latency(model_path: Path, work: Path, repeats: int) -> None:
    import numpy as np
    import torch

    from ssl_ads.use import export as ex
    from ssl_ads.use.predict import load_model

    torch.set_num_threads(1)
    model = load_model(model_path)
    specs = ex.input_specs(model.scorer.encoder, model.bundle)
    graph = ex.model_graph(model.scorer, model.task, specs)
    length = ex.max_length(model.bundle)
    path = ex.export(graph, specs, "onnx", work / "model.onnx", length)
    run_onnx = ex.runner("onnx", path, threads=1)
    print(f"\nlatency (one thread, median of N calls after warm-up; {model_path}), load {load()}")
    print("| batch | eager PyTorch (ms) | ONNX Runtime (ms) | speed-up | calls |")
    print("|---:|---:|---:|---:|---:|")
    for batch in (1, 256):
        inputs = ex.random_inputs(specs, batch, length, seed=batch)
        calls = repeats if batch == 1 else max(repeats // 10, 20)

        def eager(inputs=inputs):
            with torch.inference_mode():
                return graph(*inputs)

        timings = {}
        for name, fn in (("eager", eager), ("onnx", lambda inputs=inputs: run_onnx(inputs))):
            for _ in range(min(50, calls)):
                fn()
            samples = []
            for _ in range(calls):
                started = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - started)
            timings[name] = statistics.median(samples) * 1e3
        assert np.allclose(eager().numpy(), run_onnx(inputs), atol=1e-4)
        print(f"| {batch} | {timings['eager']:.3f} | {timings['onnx']:.3f} | "
              f"{timings['eager'] / timings['onnx']:.2f}x | {calls} | load {load()}", flush=True)  # fmt: skip


def impressions(model_path: Path, rows: int, path: Path) -> None:
    """`rows` impressions resampled (seeded) from the simulator's log of the model's training data."""
    import numpy as np
    from hydra.utils import instantiate

    from ssl_ads.use.model_bundle import read_model

    bundle = read_model(model_path)
    dataset = instantiate(bundle["dataset_config"])
    frame = dataset.source(Path(tempfile.gettempdir()) / "ssl_ads_bench_cache").frame
    columns = [s["name"] for s in [*bundle["data_state"]["categorical"], *bundle["data_state"]["numeric"]]]
    picked = np.random.default_rng(0).integers(0, frame.height, rows)
    frame.select(columns)[picked].write_parquet(path, row_group_size=65_536)


def child_predict(args: list[str]) -> None:
    """Run `ssl-ads predict` in this process and print its wall time and peak RSS as JSON (last line)."""
    from ssl_ads.cli import main

    started = time.perf_counter()
    try:
        main(["predict", *args])
    except SystemExit as stop:
        if stop.code:
            raise
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    out = Path(next(a for a in args if a.startswith("out=")).split("=", 1)[1])
    scoring = json.loads((out / "predict.json").read_text())["seconds"]  # read, featurize, score, write
    print(json.dumps({"seconds": round(time.perf_counter() - started, 2), "scoring": scoring,
                      "peak_rss_mb": round(peak / 2**20)}))  # fmt: skip


def predict_scaling(model_path: Path, work: Path, sizes: list[int]) -> None:
    print(f"\n`ssl-ads predict` on simulated impression rows ({model_path}); one process per size")
    print("| rows | process wall (s) | scoring (s) | rows / s scored | peak RSS (MB) | load |")
    print("|---:|---:|---:|---:|---:|---|")
    for rows in sizes:
        data = work / f"impressions_{rows}.parquet"
        impressions(model_path, rows, data)
        command = [sys.executable, __file__, "--child-predict", f"model={model_path}", f"dataset.path={data}",
                   f"out={work / f'pred_{rows}'}"]  # fmt: skip
        before = load()
        done = subprocess.run(command, check=True, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {rows:,} | {figures['seconds']} | {figures['scoring']} | {rows / figures['scoring']:,.0f} | "
              f"{figures['peak_rss_mb']:,} | {before} → {load()} |", flush=True)  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-predict":
        child_predict(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a model.pt (default: fine-tune a tiny tabular one first)")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=2000, help="latency calls at batch 1 (a tenth at 256)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        work = Path(tmp)
        model = args.model.resolve() if args.model else fine_tuned_model(work)
        latency(model, work, args.repeats)
        predict_scaling(model, work, args.rows)


if __name__ == "__main__":
    main()
