"""Sentence embeddings computed once per (model, inference settings, texts) and memory-mapped afterwards.

The key hashes the model's files and the texts themselves, so changing either recomputes and nothing
stale is ever served; the second run reads an `.npy` file instead of running the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from ssl_ads.data.cache_entry import open_file
from ssl_ads.data.io import stable_hash
from ssl_ads.data.sentence_model import fast_encode, load_sentence_model, model_fingerprint, resolve_model_dir
from ssl_ads.data.text_features import text_hash
from ssl_ads.hardware import resolve_precision
from ssl_ads.progress import progress

CHUNK_ROWS = 1024


def embedding_path(cache_dir: Path, model: str, texts: pl.Series, precision: str, max_length: int) -> Path:
    """Where the embeddings of `texts` by `model` at these settings live (whether or not they exist yet)."""
    key = {
        "model": model_fingerprint(resolve_model_dir(model)),
        "precision": resolve_precision(precision),  # `auto` shares the entry of what it picks here
        "max_length": max_length,
        "texts": text_hash(texts),
        "n": texts.len(),
    }
    return Path(cache_dir) / "text_embeddings" / f"{stable_hash(key)}.npy"


def cached_embeddings(
    cache_dir: Path, model: str, texts: pl.Series, precision: str, max_length: int, batch_size: int
) -> np.ndarray:
    """`[N, D]` float32 embeddings of `texts`, read from the cache or computed and written atomically.

    Work is saved per chunk of `CHUNK_ROWS` texts, so an interrupted run resumes where it stopped; the
    chunks are then joined into one memory-mapped file. Chunks and the joined file are verified entries
    (`cache_entry.open_file`): a damaged one is reported in one line and recomputed, never served.
    """
    path = embedding_path(cache_dir, model, texts, precision, max_length)
    st_model = None

    def encode_chunk(tmp: Path, part: pl.Series) -> None:
        nonlocal st_model
        st_model = st_model or load_sentence_model(model)
        _write_npy(tmp, fast_encode(st_model, part.to_list(), batch_size, max_length, precision))

    def join_chunks(tmp: Path) -> None:
        chunks = []
        with progress(f"sentence embeddings of {texts.len():,} texts (cached)", total=texts.len()) as bar:
            for start in range(0, texts.len(), CHUNK_ROWS):
                part = texts.slice(start, CHUNK_ROWS)
                chunk_path = embedding_path(cache_dir, model, part, precision, max_length).with_suffix(".chunk.npy")
                chunks.append(open_file(chunk_path, lambda t, p=part: encode_chunk(t, p)))
                bar.advance(part.len())
        _write_npy(tmp, np.concatenate([np.load(c) for c in chunks]) if chunks else np.zeros((0, 0), np.float32))

    return np.load(open_file(path, join_chunks), mmap_mode="r")


def _write_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as handle:  # a handle, so numpy does not append ".npy" to the temp name
        np.save(handle, array)
