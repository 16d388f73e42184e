"""Copy → token-id arrays with a corpus-trained tokenizer, cached on disk (keyed by settings + text hash).

Null and empty texts are counted and set aside (listed in `empty_texts.parquet` beside the arrays): they
are never tokenized or embedded as if they were copy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from rich.console import Console

from ssl_ads.data.cache_entry import open_directory
from ssl_ads.data.featurized import Featurized
from ssl_ads.data.io import stable_hash
from ssl_ads.data.split import SplitSettings, read_split, write_split
from ssl_ads.data.text_tokenizer import PAD_ID, encode_texts, tokenizer_from_json, train_tokenizer
from ssl_ads.errors import DataError
from ssl_ads.progress import progress

if TYPE_CHECKING:
    from ssl_ads.data.text_dataset import TextDataset, TextSource

FEATURIZER_VERSION = 2  # 2: the WordPiece vocabulary is deterministic (text_tokenizer)


def text_hash(texts: pl.Series) -> str:
    """Content hash of the texts in order, joined by a record separator (sha256: stable across versions)."""
    joined = texts.fill_null("").str.replace_all("\x1e", " ", literal=True).str.join("\x1e").item()
    digest = hashlib.sha256(joined.encode())
    return digest.hexdigest()[:16]


def split_empty(source: TextSource) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows with copy, rows whose text is null or only whitespace)."""
    empty = pl.col("text").is_null() | (pl.col("text").str.strip_chars().str.len_chars() == 0)
    frame = source.frame.with_columns(pl.col("text").cast(pl.String))
    return frame.filter(~empty), frame.filter(empty).select("id")


def featurize_text(
    dataset: TextDataset, cache_dir: Path, state: dict[str, Any] | None, split: SplitSettings
) -> Featurized:
    """Load the cached token arrays for this data, building them once if absent (or damaged: see cache_entry).

    `state` (from a pretrained encoder's bundle) carries the tokenizer the encoder was trained with. The split
    is computed once, when the entry is built (the tokenizer trains on its train texts), and stored with it.
    """
    with progress("reading texts"):
        source = dataset.source(Path(cache_dir))
    kept, empty = split_empty(source)
    if kept.height == 0:
        raise DataError(f"{source.name}: every text is null or empty; nothing to featurize")
    key = {"dataset": dataset.fingerprint(), "split": split.record(), "texts": text_hash(kept["text"])}
    key["version"] = FEATURIZER_VERSION
    if state:
        key["tokenizer"] = stable_hash(state["tokenizer"])
    directory = Path(cache_dir) / "text" / stable_hash(key)
    open_directory(directory, lambda tmp: _build(source, kept, empty, dataset, tmp, state, split))
    featurized = load_arrays(directory)
    if featurized.meta["empty_texts"]:
        Console(stderr=True).print(
            f"[yellow]{source.name}: {featurized.meta['empty_texts']} null/empty texts set aside (not embedded); "
            f"ids in {directory / 'empty_texts.parquet'}[/]"
        )
    return featurized


def _build(
    source: TextSource,
    kept: pl.DataFrame,
    empty: pl.DataFrame,
    dataset: TextDataset,
    out: Path,
    state: dict | None,
    split: SplitSettings,
) -> None:
    """`build_arrays` under a progress line: tokenizer training and tokenizing take seconds on large corpora."""
    with progress(f"tokenizing {kept.height:,} texts and writing the cache") as bar:
        build_arrays(source, kept, empty, dataset, out, state, split)
        bar.advance()


def build_arrays(
    source: TextSource,
    kept: pl.DataFrame,
    empty: pl.DataFrame,
    dataset: TextDataset,
    out: Path,
    state: dict | None,
    settings: SplitSettings,
) -> None:
    texts = kept["text"].to_list()
    split = settings.apply(kept, source.name)  # the run's one split: the tokenizer trains on its train texts
    write_split(out, split, kept.height)
    if state:
        tokenizer = tokenizer_from_json(state["tokenizer"])
    else:
        tokenizer = train_tokenizer(
            [texts[i] for i in split.train], dataset.vocab_size, dataset.min_frequency, dataset.lowercase
        )
    tokens = encode_texts(tokenizer, texts, dataset.max_len)
    np.save(out / "tokens.npy", tokens)
    rows = kept.with_columns(pl.Series("length", (tokens != PAD_ID).sum(1).astype(np.int32)))
    rows.write_parquet(out / "rows.parquet")
    empty.write_parquet(out / "empty_texts.parquet")
    (out / "tokenizer.json").write_text(tokenizer.to_str())
    meta = {
        "modality": "text",
        "source": source.name,
        "inputs": f"{source.description}; first {dataset.max_len} WordPiece tokens; {empty.height} null/empty "
        "texts set aside",
        "labels": source.labels,
        "rows": kept.height,
        "empty_texts": empty.height,
        "vocab_size": tokenizer.get_vocab_size(),
        "max_len": dataset.max_len,
        "truncated_texts": int((rows["length"] == dataset.max_len).sum()),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load_arrays(directory: Path) -> Featurized:
    """Memory-map the token ids; the rows table keeps ids, texts and labels aligned with them."""
    meta = json.loads((directory / "meta.json").read_text())
    return Featurized(
        inputs={"tokens": np.load(directory / "tokens.npy", mmap_mode="r")},
        rows=pl.read_parquet(directory / "rows.parquet"),
        encoder_kwargs={"vocab_size": int(meta["vocab_size"]), "max_len": int(meta["max_len"])},
        state={"tokenizer": (directory / "tokenizer.json").read_text()},
        meta={**meta, "cache_dir": str(directory)},
        split=read_split(directory),
    )
