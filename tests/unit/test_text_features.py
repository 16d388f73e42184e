"""Text loading and featurizing: joined columns, empty texts set aside, cache, errors, bag-of-words."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from ssl_ads.data.sources.text_file import TextFile
from ssl_ads.data.text_tokenizer import CLS_ID, PAD_ID
from ssl_ads.encoders.bag_of_words import BagOfWords
from ssl_ads.errors import DataError


def _reviews(path):
    rng = np.random.default_rng(0)
    words = np.array(["soft", "lovely", "tight", "returned", "fits", "great", "poor", "fabric", "dress", "top"])
    bodies = [" ".join(rng.choice(words, size=6)) for _ in range(60)]
    frame = pl.DataFrame(
        {
            "Title": ["Nice"] * 58 + [None, "  "],
            "Review Text": [*bodies[:58], None, None],
            "Recommended IND": rng.integers(0, 2, size=60),
        }
    )
    frame.write_csv(path)
    return path


def test_text_file_joins_columns_sets_empty_texts_aside_and_caches(tmp_path, capsys):
    path = _reviews(tmp_path / "reviews.csv")
    dataset = TextFile(path=str(path), text_cols=["Title", "Review Text"], label_col="Recommended IND", max_len=12)
    data = dataset.featurize(tmp_path / "cache")
    assert data.num_rows == 58 and data.meta["empty_texts"] == 2
    assert "2 null/empty texts set aside" in " ".join(capsys.readouterr().err.split())
    assert data.rows["text"][0].startswith("Nice. ")
    assert data.inputs["tokens"].shape == (58, 12) and (data.inputs["tokens"][:, 0] == CLS_ID).all()
    empty_ids = pl.read_parquet(f"{data.meta['cache_dir']}/empty_texts.parquet")["id"].to_list()
    assert empty_ids == [58, 59]
    again = dataset.featurize(tmp_path / "cache")
    assert again.meta["cache_dir"] == data.meta["cache_dir"]
    # the tokenizer travels as state: another file maps with the same vocabulary
    other = TextFile(path=str(path), text_cols=["Review Text"], max_len=12).featurize(tmp_path / "cache", data.state)
    assert other.encoder_kwargs["vocab_size"] == data.encoder_kwargs["vocab_size"]


def test_text_file_errors_name_the_file_and_column(tmp_path):
    path = _reviews(tmp_path / "reviews.csv")
    with pytest.raises(DataError, match=r"reviews.csv: dataset.text_cols names missing column\(s\) \['Body'\]"):
        TextFile(path=str(path), text_cols=["Body"]).featurize(tmp_path / "cache")
    with pytest.raises(DataError, match=r"dataset\.path: no such file or folder"):
        TextFile(path=str(tmp_path / "none.csv"), text_cols=["Title"]).featurize(tmp_path / "cache")


def test_bag_of_words_counts_and_idf_by_hand():
    tokens = torch.tensor([[CLS_ID, 5, 5, 6, PAD_ID], [CLS_ID, 6, 7, PAD_ID, PAD_ID]])
    bow = BagOfWords(vocab_size=8, max_features=3, tfidf=True, sublinear_tf=False)
    bow.fit(tokens)
    assert sorted(bow.column[[5, 6, 7]].tolist()) == [0, 1, 2] and bow.column[[PAD_ID, CLS_ID]].tolist() == [-1, -1]
    idf = {t: float(bow.idf[bow.column[t]]) for t in (5, 6, 7)}
    assert idf[6] == pytest.approx(np.log(3 / 3) + 1) and idf[5] == pytest.approx(np.log(3 / 2) + 1)
    features = bow.embed({"tokens": tokens})
    raw = torch.zeros(3)
    raw[bow.column[5]], raw[bow.column[6]] = 2 * idf[5], idf[6]
    assert torch.allclose(features[0], raw / raw.norm())


def test_bigrams_compete_with_pieces_for_the_feature_budget():
    # the pair (5, 6) is in three texts, piece 7 in one: with three features, 5, 6 and (5, 6) win
    tokens = torch.tensor([[CLS_ID, 5, 6, 7, PAD_ID], [CLS_ID, 5, 6, PAD_ID, PAD_ID], [CLS_ID, 6, 5, 6, PAD_ID]])
    bow = BagOfWords(vocab_size=8, max_features=3, tfidf=True, sublinear_tf=False, bigrams=True)
    bow.fit(tokens)
    assert bow.column[7] == -1 and bow.pair_key[0] == 5 * 8 + 6
    assert bow.pair_key[1:].eq(torch.iinfo(torch.long).max).all()  # padding past the one selected pair
    pair_column = int(bow.pair_column[0])
    assert {pair_column, *bow.column[[5, 6]].tolist()} == {0, 1, 2}
    assert float(bow.idf[pair_column]) == pytest.approx(np.log(4 / 4) + 1)
    # (6, 5) was not selected and no pair spans the padding or the [CLS] piece
    features = bow.embed({"tokens": torch.tensor([[CLS_ID, 6, 5, 6, 5], [CLS_ID, 5, PAD_ID, 6, PAD_ID]])})
    raw = torch.zeros(2, 3)
    raw[0, bow.column[5]], raw[0, bow.column[6]], raw[0, pair_column] = 2 * bow.idf[bow.column[5]], 2, 1
    raw[1, bow.column[5]], raw[1, bow.column[6]] = bow.idf[bow.column[5]], 1
    assert torch.allclose(features, torch.nn.functional.normalize(raw, dim=-1))


def test_bigram_features_survive_a_state_dict_round_trip():
    rng = np.random.default_rng(0)
    tokens = torch.from_numpy(np.concatenate([np.full((40, 1), CLS_ID), rng.integers(4, 30, (40, 12))], 1))
    fitted = BagOfWords(vocab_size=30, max_features=50, tfidf=True, bigrams=True)
    fitted.fit(tokens)
    assert (fitted.pair_column >= 0).sum() > 0 and fitted.column.ge(0).sum() + fitted.pair_column.ge(0).sum() == 50
    loaded = BagOfWords(vocab_size=30, max_features=50, tfidf=True, bigrams=True)
    loaded.load_state_dict(fitted.state_dict())
    assert torch.equal(loaded.embed({"tokens": tokens}), fitted.embed({"tokens": tokens}))
    # a unigram encoder's checkpoint has no pair buffers, so older checkpoints load as they were saved
    assert "pair_key" not in BagOfWords(vocab_size=30, max_features=20).state_dict()
