"""encoder=sentence_tfidf: TF-IDF beside the weighted, cached MiniLM embedding, read unstandardised by the probe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_ads.data.sources.synthetic_texts import SyntheticCopy
from ssl_ads.encoders.bag_of_words import BagOfWords
from ssl_ads.encoders.sentence_pretrained import EMBEDDING_FIELD
from ssl_ads.encoders.sentence_tfidf import SentenceTfidf
from ssl_ads.errors import ConfigError
from ssl_ads.evaluation.labeled import probe_features


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A few dozen simulated ad copies, featurized with the corpus tokenizer, and a train/held-out split."""
    cache = tmp_path_factory.mktemp("cache")
    data = SyntheticCopy(n_users=20, n_items=40, n_advertisers=4, vocab_size=200, max_len=24).featurize(cache)
    return data, cache, np.arange(data.num_rows)[: data.num_rows * 3 // 4]


def _embed(encoder, data, inputs) -> np.ndarray:
    batch = {"tokens": torch.from_numpy(np.asarray(data.inputs["tokens"]).astype(np.int64)), **inputs}
    with torch.no_grad():
        return encoder.embed({k: torch.as_tensor(np.array(v)) for k, v in batch.items()}).numpy()


def test_features_are_tfidf_then_the_weighted_cached_embedding(corpus):
    data, cache, train = corpus
    encoder = SentenceTfidf(vocab_size=data.encoder_kwargs["vocab_size"], max_features=64, sentence_weight=0.7)
    inputs = encoder.prepare_inputs(data, cache, train)
    assert set(inputs) == {EMBEDDING_FIELD} and inputs[EMBEDDING_FIELD].shape == (data.num_rows, 384)
    assert list((cache / "text_embeddings").glob("*.npy"))  # the sentence encoder's cache, reused as is
    features = _embed(encoder, data, inputs)
    assert features.shape == (data.num_rows, encoder.dim) and encoder.dim == 64 + 384
    # the TF-IDF block is exactly encoder=tfidf fitted on the same train rows
    tfidf = BagOfWords(data.encoder_kwargs["vocab_size"], max_features=64, tfidf=True)
    tfidf.prepare_inputs(data, cache, train)
    np.testing.assert_allclose(features[:, :64], _embed(tfidf, data, {}), atol=1e-6)
    # the embedding block is the cached MiniLM vector (unit norm) times the weight
    np.testing.assert_allclose(features[:, 64:], 0.7 * np.asarray(inputs[EMBEDDING_FIELD]), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(features[:, 64:], axis=1), 0.7, atol=1e-3)
    # distinct copies embed differently (a real model, not zeros)
    assert np.abs(features[0, 64:] - features[1, 64:]).max() > 1e-3


def test_the_probe_keeps_the_weighting_other_encoders_are_z_scored(corpus):
    data = corpus[0]
    rng = np.random.default_rng(0)
    features = rng.normal(3.0, [0.1, 5.0], size=(50, 2)).astype(np.float32)
    mine = SentenceTfidf(vocab_size=data.encoder_kwargs["vocab_size"], max_features=8)
    assert probe_features(mine, features, np.arange(40)) is features
    scaled = probe_features(BagOfWords(data.encoder_kwargs["vocab_size"], max_features=8), features, np.arange(40))
    np.testing.assert_allclose(scaled[:40].mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(scaled[:40].std(0), 1.0, atol=1e-3)


def test_negative_weight_is_refused_naming_the_key(corpus):
    with pytest.raises(ConfigError, match=r"encoder\.sentence_weight"):
        SentenceTfidf(vocab_size=corpus[0].encoder_kwargs["vocab_size"], sentence_weight=-1.0)
