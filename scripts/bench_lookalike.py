"""Lookalike expansion measured where the true segments are known (issue 15, item 3).

Protocol (printed with the figures):
- (a) the simulator (`experiment=demo`: 5,000 users, 800 items, 12 interest topics). `ssl-ads pretrain` trains the
  demo's transformer with masked-item modelling for `--sim-epochs` epochs; `ssl-ads embed` embeds every user from
  the events before the label window. A user's true segment is the simulator's `dominant_topic` (argmax of the
  latent interests that drive its clicks). For each of the 12 segments and each of `--seeds` draws, 50 seed users
  are drawn from the segment and expanded to k = |segment| - 50 other users; precision@k = share of the expanded
  users in the segment (k = the number still to find, so precision = recall).
- (b) ML-100k (`ml-100k.inter`, `ml-100k.user`). `experiment=movielens_masked_item` pretrained for `--ml-epochs`
  epochs, once with its own `encoder.pooling=last` (the latest event's state) and once with `mean` (the history's
  mean state; pooling changes only what `embed` returns); segments gender = F, age >= 35, occupation = student;
  50 seeds per draw, k = |segment| - 50.
- Beside each: the same expansion on bag-of-items TF-IDF vectors of the same users (sklearn TfidfTransformer over
  user x item counts of the same events: the simulator's events before the label window, all of ML-100k's ratings)
  and a random expansion (its expected precision is the segment's base rate among the candidates). Both scorers of
  `ssl-ads lookalike` are reported: `centroid` (cosine to the seeds' mean direction) and `max` (to the nearest
  seed), each in the three spaces of `space=`: raw (the vectors as they are), centred (minus the mean of all the
  users' vectors) and whitened (by their mean and covariance: every direction at unit variance).
  Figures are mean ± std over the seed draws (for (a), of the mean over the 12 segments).
- (c) exact search's cost, which decides whether an approximate index (FAISS, hnswlib) earns its place: the blocked
  top-k on `--timing-rows` random 64-dim vectors, 50 seeds, k = 10,000.

    bash /work/shared/data/get_public_data.sh /tmp/pubdata
    python scripts/bench_lookalike.py --data /tmp/pubdata --threads 1

Runs whose files already exist under `--work` are read, not rerun.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer

from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.schema import register_configs
from ssl_ads.data.sources.synthetic_tables import load_or_simulate
from ssl_ads.use.embedding_space import SPACES, Space, population_space
from ssl_ads.use.lookalike import top_k

REPO = Path(__file__).resolve().parents[1]
N_SEEDS = 50
SCORERS = ("centroid", "max")
# ML-100k: the experiment's own pooling (`last`: the state of the latest event, what next-item ranking reads) and
# the mean over the history, a profile of the whole history
POOLINGS = ("last", "mean")


def load() -> str:
    """The 1, 5 and 15-minute load averages (the machine is shared: timings mean little without them)."""
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "n/a"


def cli(args: list[str], log: Path, threads: int) -> float:
    """Run `ssl-ads <args>` (output to `log`); its wall time in seconds. Exits naming the log on failure."""
    print(f"  $ {shlex.join(['ssl-ads', *args])}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    with log.open("w") as handle:
        # run where the log is: a stage without a Hydra run dir (lookalike) writes its outputs/ there
        done = subprocess.run(
            [sys.executable, "-m", "ssl_ads", *args], env=env, stdout=handle, stderr=handle, cwd=log.parent
        )
    if done.returncode != 0:
        sys.exit(f"ssl-ads {args[0]} failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - started


def pretrain_and_embed(name: str, overrides: list[str], epochs: int, work: Path, threads: int) -> tuple[Path, dict]:
    """`ssl-ads pretrain` then `ssl-ads embed` with the same data overrides; users.parquet and the wall times."""
    run = work / name
    run.mkdir(parents=True, exist_ok=True)
    ckpt, users = run / "pretrain" / "encoder.pt", run / "embed" / "users.parquet"
    common = [*overrides, f"cache_dir={work / 'cache'}", "trainer.enable_progress_bar=false"]
    seconds = {}
    if not ckpt.is_file():
        seconds["pretrain"] = cli(["pretrain", *common, f"pretrain.max_epochs={epochs}",
                                   f"hydra.run.dir={run / 'pretrain'}"], run / "pretrain.log", threads)  # fmt: skip
    if not users.is_file():
        seconds["embed"] = cli(["embed", *common, f"encoder_ckpt={ckpt}", f"embed.out_dir={run / 'embed'}",
                                f"hydra.run.dir={run / 'embed'}"], run / "embed.log", threads)  # fmt: skip
    return users, {stage: round(value) for stage, value in seconds.items()}


def dataset_of(overrides: list[str], work: Path):
    """The dataset object the CLI builds from these overrides (for its source and simulator settings)."""
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["stage=embed", *overrides, f"cache_dir={work / 'cache'}"])
    return instantiate(cfg.dataset)


def tfidf_vectors(events: pl.DataFrame, user_ids: pl.Series) -> torch.Tensor:
    """Bag-of-items TF-IDF (sklearn's defaults: smooth idf, l2 norm) of each user's item counts, in `user_ids` order."""
    items = events.select(pl.col("item_id").unique().sort()).with_row_index("col")
    users = user_ids.to_frame("user_id").with_row_index("row")
    cells = events.join(users, on="user_id").join(items, on="item_id").group_by("row", "col").len()
    counts = sparse.csr_matrix(
        (cells["len"].to_numpy().astype(np.float32), (cells["row"].to_numpy(), cells["col"].to_numpy())),
        shape=(users.height, items.height),
    )
    return torch.from_numpy(TfidfTransformer().fit_transform(counts).toarray().astype(np.float32))


def precision_at_k(vectors: torch.Tensor, members: np.ndarray, seeds: np.ndarray, scorer: str, space: Space) -> float:
    """Share of the k = |segment| - |seeds| expanded users that are in the segment."""
    k = int(members.sum()) - len(seeds)
    rows, _ = top_k(vectors, torch.from_numpy(seeds), k, scorer, space=space)
    return float(members[rows.numpy()].mean())


def expand_segments(
    representations: dict[str, torch.Tensor], segments: dict[str, np.ndarray], n_draws: int
) -> dict[str, np.ndarray]:
    """precision@k per (method, draw), averaged over the segments: `{method: [n_draws]}`, random included."""
    results: dict[str, list[list[float]]] = {}
    n = len(next(iter(segments.values())))
    spaces = {rep: {kind: population_space(v, kind) for kind in SPACES} for rep, v in representations.items()}
    for s_index, members in enumerate(segments.values()):
        for draw in range(n_draws):
            rng = np.random.default_rng([draw, s_index])
            seeds = rng.choice(np.flatnonzero(members), N_SEEDS, replace=False)
            for rep, vectors in representations.items():
                for scorer, kind in itertools.product(SCORERS, SPACES):
                    value = precision_at_k(vectors, members, seeds, scorer, spaces[rep][kind])
                    name = f"{rep}, {scorer}, {kind}"
                    results.setdefault(name, [[] for _ in range(n_draws)])[draw].append(value)
            base = (members.sum() - N_SEEDS) / (n - N_SEEDS)
            results.setdefault("random expansion (base rate)", [[] for _ in range(n_draws)])[draw].append(base)
    return {name: np.array([np.mean(v) for v in per_draw]) for name, per_draw in results.items()}


def show(title: str, table: dict[str, dict[str, np.ndarray]]) -> None:
    columns = list(table)
    print(f"\n{title}\n")
    print("| method | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for method in next(iter(table.values())):
        cells = [f"{table[c][method].mean():.3f} ± {table[c][method].std():.3f}" for c in columns]
        print(f"| {method} | " + " | ".join(cells) + " |")


def simulator(work: Path, epochs: int, draws: int, threads: int, extra: list[str]) -> None:
    # items only and a fixed number of epochs, the last kept, as the README figure was measured
    overrides = ["experiment=demo", "dataset.side_fields=[]", "pretrain.keep=last", "pretrain.patience=0", *extra]
    name = "simulator" + ("-" + hashlib.sha1(json.dumps(extra).encode()).hexdigest()[:8] if extra else "")
    users_path, seconds = pretrain_and_embed(name, overrides, epochs, work, threads)
    dataset = dataset_of(overrides, work)
    truth = pl.read_parquet(load_or_simulate(dataset.settings, work / "cache") / "users.parquet")
    users = pl.read_parquet(users_path).join(truth.select("user_id", "dominant_topic"), on="user_id", how="left")
    source = dataset.source(work / "cache")
    events = source.events.filter(pl.col("timestamp") < source.cutoff_timestamp).select("user_id", "item_id").collect()
    representations = {
        "ssl-ads encoder": torch.from_numpy(users["embedding"].to_numpy(writable=True)),
        "bag-of-items TF-IDF": tfidf_vectors(events, users["user_id"]),
    }
    topic = users["dominant_topic"].to_numpy()
    segments = {f"topic {t}": topic == t for t in np.unique(topic)}
    sizes = sorted(int(m.sum()) for m in segments.values())
    print(f"  {users.height} users embedded; {len(sizes)} segments of {sizes[0]}-{sizes[-1]} users; times {seconds} s")
    check_cli(users_path, segments, representations["ssl-ads encoder"], users["user_id"], work, threads)
    show("(a) simulator: precision@k, k = |segment| - 50, mean ± std over seed draws of the mean over 12 segments",
         {"12 interest segments": expand_segments(representations, segments, draws)})  # fmt: skip


def check_cli(users_path: Path, segments: dict, vectors: torch.Tensor, ids: pl.Series, work: Path, threads: int):
    """`ssl-ads lookalike` on one audience returns what the library call here returns (same ids, same order)."""
    members = next(iter(segments.values()))
    seeds = np.random.default_rng(0).choice(np.flatnonzero(members), N_SEEDS, replace=False)
    k = int(members.sum()) - N_SEEDS
    run = users_path.parents[1]
    seeds_csv, out = run / "seeds.csv", run / "audience.parquet"
    ids.gather(seeds).to_frame("user_id").write_csv(seeds_csv)
    cli(["lookalike", f"embeddings={users_path}", f"seeds={seeds_csv}", f"k={k}", f"out={out}"],
        run / "lookalike.log", threads)  # fmt: skip
    rows, _ = top_k(vectors, torch.from_numpy(seeds), k, space=population_space(vectors, "whitened"))  # the default
    same = pl.read_parquet(out)["user_id"].to_list() == ids.gather(rows.numpy()).to_list()
    print(f"  ssl-ads lookalike (CLI, streamed blocks) equals the in-memory top-k: {same}")


def movielens(data: Path, work: Path, epochs: int, draws: int, threads: int) -> None:
    inter = data / "ml-100k" / "ml-100k.inter"
    overrides = ["experiment=movielens_masked_item", f"dataset.path={inter}"]
    table = pl.read_csv(data / "ml-100k" / "ml-100k.user", separator="\t")
    table = table.rename({c: c.split(":")[0] for c in table.columns}).with_columns(pl.col("user_id").cast(pl.Int64))
    representations, seconds = {}, {}
    for pooling in POOLINGS:  # pooling shapes only `embed`: the masked-item pretext reads every position's state
        name = f"ssl-ads encoder, pooling={pooling}"
        path, seconds[pooling] = pretrain_and_embed(f"ml-100k-{pooling}", [*overrides, f"encoder.pooling={pooling}"],
                                                    epochs, work, threads)  # fmt: skip
        users = pl.read_parquet(path).join(table, on="user_id", how="left")
        representations[name] = torch.from_numpy(users["embedding"].to_numpy(writable=True))
    events = dataset_of(overrides, work).source(work / "cache").events.select("user_id", "item_id").collect()
    representations["bag-of-items TF-IDF"] = tfidf_vectors(events, users["user_id"])
    segments = {
        "gender = F": (users["gender"] == "F").to_numpy(),
        "age >= 35": (users["age"].cast(pl.Int64) >= 35).to_numpy(),
        "occupation = student": (users["occupation"] == "student").to_numpy(),
    }
    sizes = {name: int(m.sum()) for name, m in segments.items()}
    print(f"  {users.height} users embedded; segment sizes {sizes}; times {seconds} s")
    results = {f"{name} ({sizes[name]})": expand_segments(representations, {name: m}, draws)
               for name, m in segments.items()}  # fmt: skip
    show("(b) ML-100k: precision@k, k = |segment| - 50, mean ± std over seed draws", results)


def timing(rows: int, threads: int) -> None:
    """Exact blocked top-k on random vectors: the cost an approximate index would have to beat."""
    torch.set_num_threads(threads)
    vectors = torch.randn(rows, 64, generator=torch.Generator().manual_seed(0))
    seeds = torch.arange(N_SEEDS)
    for scorer in SCORERS:
        started = time.perf_counter()
        top_k(vectors, seeds, 10_000, scorer)
        print(f"  exact top-k, {rows:,} x 64, {N_SEEDS} seeds, k = 10,000, {scorer}: "
              f"{time.perf_counter() - started:.2f} s on {threads} thread(s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="folder of get_public_data.sh (holds ml-100k/); needed for (b)")
    parser.add_argument("--work", type=Path, default=Path("outputs/bench_lookalike"))
    parser.add_argument("--threads", type=int, default=1, help="torch / OpenMP threads (the machine is shared)")
    parser.add_argument("--sim-epochs", type=int, default=8)
    parser.add_argument("--ml-epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5, help="seed-audience draws per segment")
    parser.add_argument("--timing-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--sim-overrides",
        nargs="*",
        default=[],
        help="Hydra overrides for (a)'s encoder, after "
        "experiment=demo (e.g. pretext.future_days=0: the demo without its activity forecast)",
    )
    parser.add_argument("--parts", nargs="+", default=["a", "b", "c"], choices=["a", "b", "c"])
    args = parser.parse_args()
    if "b" in args.parts and args.data is None:
        parser.error("--data is needed for part b (ML-100k)")
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    args.work = args.work.resolve()
    args.data = args.data.resolve() if args.data else None
    started = time.perf_counter()
    print(__doc__.split("\n\n    bash")[0])
    print(f"\nload average at start: {load()}")
    if "a" in args.parts:
        print(f"\n(a) simulator {' '.join(args.sim_overrides)}")
        simulator(args.work, args.sim_epochs, args.seeds, args.threads, args.sim_overrides)
    if "b" in args.parts:
        print("\n(b) ML-100k")
        movielens(args.data, args.work, args.ml_epochs, args.seeds, args.threads)
    if "c" in args.parts:
        print("\n(c) exact search cost")
        timing(args.timing_rows, args.threads)
    print(f"\nload average at end: {load()}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
