"""Events → left-padded item-id arrays with their vocabularies, cached on disk and memory-mapped.

Everything is polars expressions and numpy indexing: no Python loop per event or per user.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from ssl_ads.data.cache_entry import open_directory
from ssl_ads.data.featurized import Featurized
from ssl_ads.data.io import stable_hash
from ssl_ads.data.item_table import attach_item_table
from ssl_ads.data.vocab_ids import FIRST_ID, OOV_ID, PAD_ID
from ssl_ads.errors import DataError
from ssl_ads.progress import Bar, progress

if TYPE_CHECKING:
    from ssl_ads.data.sequence_dataset import SequenceDataset, SequenceSource

FEATURIZER_VERSION = 2  # 2: every event's age in days (age_days.npy), for time-aware pretexts
SECONDS_PER_DAY = 86_400
AGE_KEY = "age_days"  # the input (and cache file) of each event's age in days
FIRST_ITEM_ID = FIRST_ID


def featurize_sequences(dataset: SequenceDataset, cache_dir: Path, state: dict[str, Any] | None = None) -> Featurized:
    """Load the cached arrays for this data config, building them once if absent (or damaged: see cache_entry).

    `state` (from a pretrained encoder's bundle) maps items exactly as the encoder was trained.
    """
    # without one (an id-free encoder's checkpoint: `reads_any_catalogue`) the run's items are numbered afresh
    item_vocab = pl.DataFrame(state["item_vocab"]) if state and "item_vocab" in state else None
    # a checkpoint's side-field vocabularies are read, never refitted: refitting on other data would renumber
    # the values (an action missing here shifts every later one) under the embeddings the encoder learned
    side_vocabs = {name: pl.DataFrame(v) for name, v in ((state or {}).get("side_vocabs") or {}).items()} or None
    key = {"dataset": dataset.fingerprint(), "version": FEATURIZER_VERSION}
    if item_vocab is not None:
        key["item_vocab"] = stable_hash(item_vocab.hash_rows().to_list())
    if side_vocabs is not None:
        key["side_vocabs"] = {name: stable_hash(v.hash_rows().to_list()) for name, v in side_vocabs.items()}
    directory = Path(cache_dir) / "sequences" / stable_hash(key)
    open_directory(directory, lambda tmp: _build(dataset, Path(cache_dir), tmp, item_vocab, side_vocabs))
    # the item side table (dataset.item_fields / item_text), aligned to this vocabulary; unchanged without one
    return attach_item_table(load_arrays(directory), dataset, Path(cache_dir), state)


def _build(
    dataset: SequenceDataset,
    cache_dir: Path,
    out: Path,
    item_vocab: pl.DataFrame | None,
    side_vocabs: dict[str, pl.DataFrame] | None = None,
) -> None:
    """Read, build the windows and write the entry, with a progress bar through the three steps."""
    with progress("reading events", total=3) as bar:
        build_arrays(dataset.source(cache_dir), dataset, out, item_vocab, bar, side_vocabs)


def build_arrays(
    source: SequenceSource,
    dataset: SequenceDataset,
    out: Path,
    item_vocab: pl.DataFrame | None,
    bar: Bar | None = None,
    fitted_side_vocabs: dict[str, pl.DataFrame] | None = None,
) -> None:
    """`fitted_side_vocabs` (a checkpoint's): side values outside them read padding (0), as in `ssl_ads.use`."""
    bar = bar or Bar()
    events = source.events
    if source.cutoff_timestamp is not None:
        events = events.filter(pl.col("timestamp") < source.cutoff_timestamp)
    columns = ["user_id", "item_id", "timestamp", *dataset.side_fields]
    events = events.select(columns).sort(["user_id", "timestamp"], maintain_order=True).collect()
    if events.height == 0:
        raise DataError(f"{source.name}: no events before the label window; the data set is empty")
    bar.advance()
    bar.step(f"building windows of {events.height:,} events")

    if item_vocab is None:
        item_vocab = fit_item_vocab(events, dataset.min_item_count)
    num_items = FIRST_ITEM_ID + item_vocab.height
    events = events.join(item_vocab, on="item_id", how="left").with_columns(pl.col("idx").fill_null(OOV_ID))

    if fitted_side_vocabs is None:
        side_vocabs = {name: fit_side_vocab(events, name) for name in dataset.side_fields}
    else:
        side_vocabs = {name: fitted_side_vocabs[name] for name in dataset.side_fields}  # check_matches: all there
    for name, vocab in side_vocabs.items():
        events = events.with_columns(pl.col(name).cast(vocab.schema[name], strict=False))
        events = events.join(vocab.rename({"idx": f"{name}_idx"}), on=name, how="left", maintain_order="left")
        events = events.with_columns(pl.col(f"{name}_idx").fill_null(PAD_ID))

    # Age of each event in days before the reference time: the label window's start, or the last event when the
    # data has none (timestamps are unix seconds; a file without timestamps numbers events, so ages are ordinal)
    reference = source.cutoff_timestamp if source.cutoff_timestamp is not None else events["timestamp"].max()
    events = events.with_columns(age_in_days(pl.col("timestamp"), reference).alias("age"))
    tails = (
        events.group_by("user_id", maintain_order=True)
        .agg(
            pl.col("idx").tail(dataset.max_len).alias("items"),
            pl.col("age").tail(dataset.max_len).alias(AGE_KEY),
            *[pl.col(f"{n}_idx").tail(dataset.max_len).alias(n) for n in dataset.side_fields],
        )
        .sort("user_id")
    )
    lengths = tails.get_column("items").list.len().to_numpy().astype(np.int32)
    bar.advance()
    bar.step(f"writing the cache ({tails.height:,} users)")
    np.save(out / "items.npy", left_pad(tails.get_column("items"), lengths, dataset.max_len))
    for name in dataset.side_fields:
        np.save(out / f"side_{name}.npy", left_pad(tails.get_column(name), lengths, dataset.max_len))
    np.save(out / f"{AGE_KEY}.npy", left_pad(tails.get_column(AGE_KEY), lengths, dataset.max_len, np.float32))
    np.save(out / "lengths.npy", lengths)

    users = tails.select("user_id")
    n_unlabeled = 0
    if source.labels is not None:
        users = users.join(source.labels, on="user_id", how="left", maintain_order="left")
        n_unlabeled = users.height - source.labels.join(users.select("user_id"), on="user_id").height
    users.write_parquet(out / "users.parquet")
    item_vocab.write_parquet(out / "item_vocab.parquet")
    for name, vocab in side_vocabs.items():
        vocab.write_parquet(out / f"side_vocab_{name}.parquet")
    meta = {
        "source": source.name,
        "num_users": users.height,
        "num_events": events.height,
        "num_items": num_items,
        "oov_events": int((events.get_column("idx") == OOV_ID).sum()),
        "users_without_labels": n_unlabeled,
        "max_len": dataset.max_len,
        "side_fields": dataset.side_fields,
        "side_vocab_sizes": {name: vocab.height + 1 for name, vocab in side_vocabs.items()},
        "cutoff_timestamp": source.cutoff_timestamp,
        "age_reference_timestamp": int(reference),
        "quarantine": source.quarantine,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    bar.advance()


def age_in_days(seconds: pl.Expr, reference: int) -> pl.Expr:
    """Float32 days from each event (unix `seconds`) to `reference`: the pipeline's and the serving featurizer's."""
    return ((pl.lit(reference) - seconds) / SECONDS_PER_DAY).cast(pl.Float32)


def fit_item_vocab(events: pl.DataFrame, min_count: int) -> pl.DataFrame:
    """Items seen at least `min_count` times, most frequent first, numbered from 2 (0 pad, 1 OOV)."""
    counts = events.group_by("item_id").len().filter(pl.col("len") >= min_count)
    counts = counts.sort(["len", "item_id"], descending=[True, False])
    return counts.select("item_id", (pl.int_range(pl.len(), dtype=pl.Int64) + FIRST_ITEM_ID).alias("idx"))


def fit_side_vocab(events: pl.DataFrame, name: str) -> pl.DataFrame:
    values = events.select(pl.col(name).unique().sort())
    return values.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + 1).alias("idx"))


def left_pad(lists: pl.Series, lengths: np.ndarray, max_len: int, dtype: type = np.int32) -> np.ndarray:
    """A list column → `[N, max_len]` (int32 unless told), right-aligned, by one scatter (no per-row loop)."""
    flat = lists.explode().to_numpy().astype(dtype)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    cols = max_len - np.repeat(lengths, lengths) + (np.arange(len(flat)) - starts)
    out = np.zeros((len(lengths), max_len), dtype=dtype)
    out[rows, cols] = flat
    return out


def load_arrays(directory: Path) -> Featurized:
    """Memory-map the arrays so the dataset's size does not set the process's RAM."""
    meta = json.loads((directory / "meta.json").read_text())
    inputs = {"items": np.load(directory / "items.npy", mmap_mode="r")}
    inputs |= {name: np.load(directory / f"side_{name}.npy", mmap_mode="r") for name in meta["side_fields"]}
    inputs[AGE_KEY] = np.load(directory / f"{AGE_KEY}.npy", mmap_mode="r")
    side_vocabs = {name: pl.read_parquet(directory / f"side_vocab_{name}.parquet") for name in meta["side_fields"]}
    item_vocab = pl.read_parquet(directory / "item_vocab.parquet")
    return Featurized(
        inputs=inputs,
        rows=pl.read_parquet(directory / "users.parquet").with_columns(
            pl.Series("length", np.load(directory / "lengths.npy"))
        ),
        encoder_kwargs={
            "num_items": int(meta["num_items"]),
            "max_len": int(meta["max_len"]),
            "side_vocab_sizes": {name: int(size) for name, size in meta["side_vocab_sizes"].items()},
        },
        state={
            "item_vocab": item_vocab.to_dict(as_series=False),
            "side_vocabs": {name: vocab.to_dict(as_series=False) for name, vocab in side_vocabs.items()},
        },
        meta={**meta, "cache_dir": str(directory)},
    )
