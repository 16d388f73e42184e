"""ML-100k new-item cold start: can a next-item model recommend films it never saw in training?

Protocol (printed with the table):
- timeline cut at t = min + (1 - cold_share) * (max - min) of the rating timestamps (cold_share 0.10);
  **cold items** are the films first rated at or after t. Training reads only ratings before t, so a cold
  item is never a training input, target or softmax negative: the training catalogue is the warm items.
- model: SASRec-style causal transformer (`SequenceTransformer`, dim 32, 2 layers, dropout 0.5) trained by
  the `next_item` pretext (full softmax over the warm catalogue) through ssl-ads' `PretrainModule` and a
  Lightning Trainer, fixed epochs (no model selection: nothing is tuned on the test targets), windows of 51
  events with stride 50 over each user's pre-cut history.
- then the catalogue grows to every film: warm rows keep their trained id vectors, each cold item gets a
  freshly initialised id row (what a new item gets) and its own field codes / title vector; field
  embeddings and the title projection are shared, so a content-aware model scores a cold film by its
  genres / year / title.
- test targets: every rating at or after t of a cold film (**cold**), and, as a check that content does
  not hurt, of a warm film (**warm**); input = the user's 50 previous ratings (any time, any film). Full
  ranking over all 1,682 films (pad/OOV excluded; films already in the input history excluded: ML users
  never rate a film twice), HR@10 and NDCG@10, mean ± std over seeds. Random ranking: HR@10 ~ 10/1,682.
- `item_inputs`: id only (today's model) vs `[id, fields]` (plain, and with `item_id_dropout` 0.5: half the
  item occurrences of a training step read without their id vector) vs `[fields]` (genres multi-hot, release
  year in 8 quantile buckets) and, with the text extra, `[id, fields, text]` (frozen MiniLM title vectors).

    OMP_NUM_THREADS=2 python scripts/bench_cold_start.py --data /work/pubdata/ml-100k
    OMP_NUM_THREADS=2 python scripts/bench_cold_start.py --data ... --inputs id fields id,fields,text/0.5
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytorch_lightning as lightning
import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ssl_ads.data.batches import batch_loader
from ssl_ads.data.item_file import read_item_file
from ssl_ads.data.item_table import align, embed_texts, item_texts
from ssl_ads.data.sequence_features import fit_item_vocab, left_pad
from ssl_ads.data.sources.movielens import MovieLens
from ssl_ads.data.vocab_ids import FIRST_ID
from ssl_ads.encoders.sequence_transformer import SequenceTransformer
from ssl_ads.pretext.next_item import NextItem
from ssl_ads.pretext.scoring import last_state_scores
from ssl_ads.tasks.ranking_metrics import mask_scores, ranking_metrics, target_ranks
from ssl_ads.training.pretrain_module import PretrainModule

FIELDS = ["genres", "year"]
MODEL = {"dim": 32, "layers": 2, "heads": 2, "ff_dim": 128, "dropout": 0.5, "causal": True, "pooling": "last"}


def cold_split(events: pl.DataFrame, cold_share: float) -> tuple[int, pl.DataFrame, pl.DataFrame]:
    """The cut time, the items with their first rating time and cold flag, and the ordered events."""
    t_min, t_max = events.get_column("timestamp").min(), events.get_column("timestamp").max()
    cut = int(t_min + (1.0 - cold_share) * (t_max - t_min))
    first = events.group_by("item_id").agg(pl.col("timestamp").min().alias("first"))
    items = first.with_columns((pl.col("first") >= cut).alias("cold"))
    return cut, items, events.sort(["user_id", "timestamp"], maintain_order=True)


def vocabulary(train: pl.DataFrame, items: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Warm items by training frequency from id 2 (as the featurizer numbers them), then the cold ones."""
    warm = fit_item_vocab(train, 1)
    cold = items.filter(pl.col("cold")).sort("item_id").select("item_id")
    cold = cold.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + FIRST_ID + warm.height).alias("idx"))
    return pl.concat([warm, cold]), FIRST_ID + warm.height


def windows(train: pl.DataFrame, window: int, stride: int) -> np.ndarray:
    """`[W, window + 1]` left-padded windows over each user's training history, counted from its end."""
    ranked = train.with_columns((pl.len().over("user_id") - 1 - pl.int_range(pl.len()).over("user_id")).alias("p"))
    own = ranked.with_columns((pl.col("p") // stride).alias("w"))
    shared = ranked.filter((pl.col("p") % stride == 0) & (pl.col("p") > 0)).with_columns(
        (pl.col("p") // stride - 1).alias("w")
    )  # the event that ends one window is the first input of the next older one
    both = pl.concat([own, shared]).sort(["user_id", "w", "p"], descending=[False, False, True])
    lists = both.group_by(["user_id", "w"], maintain_order=True).agg("idx").filter(pl.col("idx").list.len() >= 2)
    lengths = lists.get_column("idx").list.len().to_numpy().astype(np.int32)
    return left_pad(lists.get_column("idx"), lengths, window + 1)


def test_cases(events: pl.DataFrame, cut: int, window: int) -> dict[str, dict[str, np.ndarray]]:
    """Histories (previous `window` events) and targets of every rating after the cut, cold and warm."""
    ranked = events.with_columns(pl.int_range(pl.len()).over("user_id").alias("k"))
    lists = ranked.group_by("user_id", maintain_order=True).agg(pl.col("idx").alias("all"))
    after = ranked.filter((pl.col("timestamp") >= cut) & (pl.col("k") > 0))  # a first rating has no history
    rows = after.join(lists, on="user_id", maintain_order="left")
    start = (pl.col("k") - window).clip(lower_bound=0)
    rows = rows.with_columns(pl.col("all").list.slice(start, pl.col("k") - start).alias("history"))
    out = {}
    for name, flag in (("cold", True), ("warm", False)):
        part = rows.filter(pl.col("cold") == flag)
        lengths = part.get_column("history").list.len().to_numpy().astype(np.int32)
        out[name] = {
            "items": left_pad(part.get_column("history"), lengths, window),
            "target": part.get_column("idx").to_numpy().astype(np.int64),
        }
    return out


def item_arrays(frame: pl.DataFrame, vocab: pl.DataFrame, num_items: int, inputs: list[str], text: np.ndarray | None):
    """Field codes (and title vectors) for the full catalogue, in the layout `ItemContent` keeps."""
    codes, spec, report = align(frame, vocab, num_items, FIELDS, buckets=8)
    arrays = {f"codes_{name}": codes[name] for name in FIELDS} if "fields" in inputs else {}
    if "text" in inputs and text is not None:
        arrays["text_vectors"] = text
    shapes = {name: [spec[name]["size"], codes[name].shape[1]] for name in FIELDS}
    return arrays, shapes, report


def for_catalogue(arrays: dict[str, np.ndarray], num_items: int) -> dict[str, torch.Tensor]:
    """The rows of the first `num_items` ids plus the [MASK] row (the last), as an encoder of that size holds."""
    return {k: torch.from_numpy(np.concatenate([a[:num_items], a[-1:]])) for k, a in arrays.items()}


def parse_inputs(spec: str) -> tuple[list[str], float]:
    """`id,fields/0.5` → (["id", "fields"], item_id_dropout 0.5)."""
    names, _, dropout = spec.partition("/")
    return names.split(","), float(dropout or 0.0)


def build(num_items: int, window: int, spec: str, shapes: dict, text_dim: int | None, seed: int):
    torch.manual_seed(seed)
    inputs, dropout = parse_inputs(spec)
    fields = shapes if "fields" in inputs else None
    return SequenceTransformer(
        num_items=num_items, max_len=window + 1, item_inputs=inputs, item_fields=fields,
        item_text_dim=text_dim if "text" in inputs else None, item_id_dropout=dropout, **MODEL,
    )  # fmt: skip


def set_buffers(encoder: SequenceTransformer, tensors: dict[str, torch.Tensor]) -> None:
    for name, value in tensors.items():
        buffer = getattr(encoder.item_content, name, None)
        if buffer is not None:  # an encoder without text has no title buffer, one without fields no codes
            buffer.copy_(value.to(buffer.dtype))


def grow(trained: SequenceTransformer, full: SequenceTransformer, warm_items: int) -> SequenceTransformer:
    """`full` (the whole catalogue, freshly initialised) with every trained weight of `trained`; id rows of
    the warm items and of [MASK] are copied, cold ones keep their fresh initialisation."""
    state = {k: v for k, v in trained.state_dict().items() if k != "item_embedding.weight" and "codes_" not in k}
    state = {k: v for k, v in state.items() if k != "item_content.text_vectors"}
    full.load_state_dict(state, strict=False)
    if trained.item_embedding is not None:
        with torch.no_grad():
            full.item_embedding.weight[:warm_items] = trained.item_embedding.weight[:warm_items]
            full.item_embedding.weight[full.mask_id] = trained.item_embedding.weight[trained.mask_id]
    return full.eval()


@torch.no_grad()
def evaluate(encoder: SequenceTransformer, cases: dict[str, np.ndarray]) -> dict[str, float]:
    sums, n = {}, len(cases["target"])
    for start in range(0, n, 256):
        items = torch.from_numpy(cases["items"][start : start + 256]).long()
        targets = torch.from_numpy(cases["target"][start : start + 256])
        scores = last_state_scores(encoder, {"items": items, "mask": items != 0})
        ranks = target_ranks(mask_scores(scores, items, targets), targets)
        for key, value in ranking_metrics(ranks, (10,)).items():
            sums[key] = sums.get(key, 0.0) + float(value.sum())
    return {key: value / n for key, value in sums.items()}


def run_one(data: dict, inputs: str, seed: int, args: argparse.Namespace) -> dict:
    shapes, text_dim = data["shapes"], data["text_dim"]
    encoder = build(data["warm_items"], args.window, inputs, shapes, text_dim, seed)
    if encoder.item_content is not None:
        set_buffers(encoder, for_catalogue(data["arrays"], data["warm_items"]))
    module = PretrainModule(encoder, NextItem(), args.lr, 0.0, {})
    trainer = lightning.Trainer(
        max_epochs=args.epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, deterministic=True,
    )  # fmt: skip
    rows = np.arange(len(data["windows"]))
    started = time.perf_counter()
    lightning.seed_everything(seed, verbose=False)
    trainer.fit(module, batch_loader({"items": data["windows"]}, rows, args.batch_size, shuffle=True, seed=seed))
    seconds = time.perf_counter() - started
    full = build(data["num_items"], args.window, inputs, shapes, text_dim, seed + 1000)
    if full.item_content is not None:
        set_buffers(full, for_catalogue(data["arrays"], data["num_items"]))
    full = grow(module.encoder, full, data["warm_items"])
    result = {name: evaluate(full, cases) for name, cases in data["tests"].items()}
    return {"inputs": inputs, "seed": seed, "train_seconds": round(seconds, 1), **result}


def prepare(args: argparse.Namespace, console: Console) -> dict:
    dataset = MovieLens(path=str(args.data / "ml-100k.inter"), min_user_interactions=0, min_item_interactions=0)
    events = dataset.source(args.out / "cache").events.collect().select("user_id", "item_id", "timestamp")
    cut, items, events = cold_split(events, args.cold_share)
    train = events.filter(pl.col("timestamp") < cut)
    vocab, warm_items = vocabulary(train, items)
    num_items = FIRST_ID + vocab.height
    events = events.join(vocab, on="item_id", maintain_order="left")
    events = events.join(items.select("item_id", "cold"), on="item_id", maintain_order="left")
    frame = read_item_file(str(args.data / "ml-100k.item"))
    text = None
    if any("text" in parse_inputs(spec)[0] for spec in args.inputs):
        cache = args.out / "title_vectors.npy"
        if not cache.is_file():
            np.save(cache, embed_texts(item_texts(frame, vocab, num_items, "title")))
        text = np.load(cache)
    arrays, shapes, report = item_arrays(frame, vocab, num_items, ["fields", "text"], text)
    tests = test_cases(events, cut, args.window)
    train_windows = windows(events.filter(pl.col("timestamp") < cut), args.window, args.window)
    protocol = {
        "data": str(args.data / "ml-100k.inter"),
        "cut": f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(cut))} UTC (last {args.cold_share:.0%} of the timeline)",
        "cold items": f"{items.get_column('cold').sum()} of {items.height} films (never in training)",
        "train": f"{train.height:,} ratings before the cut -> {len(train_windows):,} windows of {args.window + 1}",
        "test targets": f"cold {len(tests['cold']['target'])} ratings "
        f"({events.filter(pl.col('cold')).get_column('user_id').n_unique()} users), warm "
        f"{len(tests['warm']['target']):,}; history = previous {args.window} ratings",
        "ranking": f"full: {num_items - FIRST_ID} films, pad/OOV and history excluded; HR@10, NDCG@10",
        "item table": f"fields {FIELDS} (genres multi-hot, year 8 quantile buckets); items without a row "
        f"{report['items_without_row']}; title text {'MiniLM (frozen)' if text is not None else 'not used'}",
        "model": f"SequenceTransformer {MODEL}, pretext next_item (full softmax over warm items), "
        f"{args.epochs} epochs, lr {args.lr}, batch {args.batch_size}, no model selection",
        "seeds": args.seeds,
    }
    return {
        "tests": tests, "windows": train_windows, "arrays": arrays, "shapes": shapes, "num_items": num_items,
        "warm_items": warm_items, "text_dim": None if text is None else text.shape[1], "protocol": protocol,
    }  # fmt: skip


def show(console: Console, protocol: dict, results: list[dict], inputs_list: list[str]) -> None:
    console.print("[bold]protocol[/]")
    for key, value in protocol.items():
        console.print(f"  {key}: {value}", highlight=False)
    table = Table(title="ML-100k new-item cold start (mean ± std over seeds)")
    for column in ("item_inputs", "cold HR@10", "cold NDCG@10", "warm HR@10", "warm NDCG@10", "train s"):
        table.add_column(column, justify="left" if column == "item_inputs" else "right")
    for inputs in inputs_list:
        rows = [r for r in results if r["inputs"] == inputs]
        cells = []
        for part in ("cold", "warm"):
            for metric in ("hr@10", "ndcg@10"):
                values = np.array([r[part][metric] for r in rows])
                cells.append(f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}")
        seconds = np.mean([r["train_seconds"] for r in rows])
        table.add_row(label(inputs), *cells, f"{seconds:.0f}")
    console.print(table)
    console.print(f"random ranking: HR@10 ≈ {10 / 1682:.4f}")


def label(spec: str) -> str:
    inputs, dropout = parse_inputs(spec)
    return escape(f"[{', '.join(inputs)}]") + (f" id dropout {dropout:g}" if dropout else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/work/pubdata/ml-100k"))
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_cold_start"))
    parser.add_argument(
        "--inputs",
        nargs="+",
        default=["id", "id,fields", "id,fields/0.5", "fields"],
        help="item_inputs per row, comma-separated; /p sets encoder.item_id_dropout",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--cold-share", type=float, default=0.10)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    console = Console()
    data = prepare(args, console)
    results = []
    for inputs in args.inputs:
        for seed in args.seeds:
            results.append(run_one(data, inputs, seed, args))
            last = results[-1]
            console.print(
                f"{label(inputs)} seed {seed}: cold HR@10 {last['cold']['hr@10']:.4f} NDCG@10 "
                f"{last['cold']['ndcg@10']:.4f}; warm HR@10 {last['warm']['hr@10']:.4f} ({last['train_seconds']} s)",
                highlight=False,
            )
    (args.out / "results.json").write_text(json.dumps({"protocol": data["protocol"], "results": results}, indent=2))
    show(console, data["protocol"], results, args.inputs)


if __name__ == "__main__":
    main()
