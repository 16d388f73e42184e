"""Item side tables: reading MovieLens item files, alignment to the item vocabulary, OOV counts, config errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ssl_ads.data.item_file import read_item_file
from ssl_ads.data.item_table import align, check_columns, item_texts
from ssl_ads.data.sources.movielens import MovieLens
from ssl_ads.data.vocab_ids import OOV_ID, PAD_ID
from ssl_ads.errors import ConfigError

ITEMS = pl.DataFrame(
    {
        "item_id": [10, 11, 12, 14],
        "genres": [["Action", "Comedy"], ["Drama"], ["Comedy"], []],
        "year": [1990.0, 1995.0, None, 1999.0],
        "studio": ["a", "b", "a", "c"],
        "title": ["Ten", "Eleven", "Twelve", "Fourteen"],
    }
)
# vocabulary ids 2.. as the featurizer numbers them; item 13 has no row in the table, 12 is not in the vocabulary
VOCAB = pl.DataFrame({"item_id": [11, 10, 13, 14], "idx": [2, 3, 4, 5]})
NUM_ITEMS = 6  # pad, OOV, 4 items; row 6 is [MASK]


def test_fields_are_aligned_to_the_vocabulary_with_unknowns_counted():
    codes, spec, report = align(ITEMS, VOCAB, NUM_ITEMS, ["genres", "year", "studio"], buckets=2)
    assert report["items_without_row"] == 1 and report["table_rows_not_in_vocabulary"] == 1
    assert spec["genres"]["kind"] == "multi_hot" and spec["studio"]["kind"] == "categorical"
    assert spec["year"]["kind"] == "numeric"
    genres = dict(zip(spec["genres"]["values"], range(2, 10), strict=False))  # value -> code
    assert set(genres) == {"Action", "Comedy", "Drama"}  # item 12 is not in the vocabulary, only its genre is shared
    table = codes["genres"]
    assert table.shape == (NUM_ITEMS + 1, 2)
    assert sorted(table[3]) == sorted([genres["Action"], genres["Comedy"]])  # item 10: both genres
    assert list(table[2]) == [genres["Drama"], PAD_ID]  # item 11: one genre, then padding
    assert table[4, 0] == OOV_ID  # item 13: no row in the table -> unknown
    assert table[5, 0] == OOV_ID  # item 14: an empty genre list -> unknown
    assert list(table[PAD_ID]) == [0, 0] and table[OOV_ID, 0] == OOV_ID
    assert table[NUM_ITEMS, 0] == spec["genres"]["size"] - 1  # the [MASK] id reads the mask code
    assert codes["studio"][4, 0] == OOV_ID and codes["studio"][3, 0] != codes["studio"][2, 0]
    # year: a number, bucketed; a missing year (and a missing row) is unknown
    assert codes["year"][3, 0] < codes["year"][5, 0]
    assert report["unknown_values"]["genres"] == 2


def test_a_fitted_spec_maps_unseen_values_to_unknown():
    _, spec, _ = align(ITEMS, VOCAB, NUM_ITEMS, ["studio"], buckets=2)
    renamed = ITEMS.with_columns(pl.when(pl.col("item_id") == 10).then(pl.lit("z")).otherwise("studio").alias("studio"))
    codes, again, report = align(renamed, VOCAB, NUM_ITEMS, ["studio"], buckets=2, fitted=spec)
    assert again["studio"]["values"] == spec["studio"]["values"] and again["studio"]["size"] == spec["studio"]["size"]
    assert codes["studio"][3, 0] == OOV_ID  # "z" was not seen when fitted
    assert report["unknown_values"]["studio"] == 2  # item 10's new value and item 13 without a row


def test_titles_line_up_with_item_ids():
    texts = item_texts(ITEMS, VOCAB, NUM_ITEMS, "title")
    assert len(texts) == NUM_ITEMS + 1
    assert texts[2] == "Eleven" and texts[3] == "Ten" and texts[4] == "" and texts[PAD_ID] == ""


def test_an_unknown_column_names_the_key_and_lists_the_columns():
    with pytest.raises(ConfigError, match=r"dataset.item_fields: no column 'genre'.*genres, year, studio, title"):
        check_columns(ITEMS, ["genre"], None, "items.csv")
    with pytest.raises(ConfigError, match=r"dataset.item_text: no column 'name'"):
        check_columns(ITEMS, [], "name", "items.csv")


def _write_movielens(directory: Path) -> tuple[Path, Path]:
    """A small RecBole ml-100k: 30 users rating 12 films, the item file missing film 12 and listing film 99."""
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(1, 31), 6)
    films = rng.integers(1, 13, len(users))
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    lines += [f"{u}\t{f}\t4\t{880000000 + i}" for i, (u, f) in enumerate(zip(users, films, strict=True))]
    ratings = directory / "ml-100k.inter"
    ratings.write_text("\n".join(lines) + "\n")
    genres = ["Action Comedy", "Drama", "Comedy", "Horror"]
    rows = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    rows += [f"{i}\tFilm {i}\t{1980 + i}\t{genres[i % 4]}" for i in [*range(1, 12), 99]]
    items = directory / "ml-100k.item"
    items.write_text("\n".join(rows) + "\n")
    return ratings, items


def test_movielens_item_files_read_to_the_same_columns(tmp_path):
    _, items = _write_movielens(tmp_path)
    recbole = read_item_file(str(items))
    assert recbole.columns == ["item_id", "title", "year", "genres"]
    assert recbole.schema["year"] == pl.Float64 and recbole.schema["genres"] == pl.List(pl.String)
    u_item = tmp_path / "u.item"
    flags = "|".join(["0"] * 19)
    u_item.write_bytes(f"1|Toy Story (1995)|01-Jan-1995||http://x|{'0|0|0|1|1|1|' + flags[12:]}\n".encode("latin-1"))
    original = read_item_file(str(u_item))
    assert original.columns == recbole.columns
    assert original.row(0) == (1, "Toy Story", 1995.0, ["Animation", "Children's", "Comedy"])


def test_movielens_featurizes_its_item_table_and_refuses_an_unknown_column(tmp_path):
    ratings, items = _write_movielens(tmp_path)
    common = {"path": str(ratings), "min_user_interactions": 0, "min_item_interactions": 0, "item_file": str(items)}
    data = MovieLens(**common, item_fields=["genres", "year"]).featurize(tmp_path / "cache")
    assert set(data.encoder_kwargs["item_fields"]) == {"genres", "year"}
    assert data.meta["item_table"]["items_without_row"] == 1  # film 12
    assert data.meta["item_table"]["table_rows_not_in_vocabulary"] == 1  # film 99
    assert data.state["item_table"]["fields"]["genres"]["kind"] == "multi_hot"
    with pytest.raises(ConfigError, match=r"dataset.item_fields: no column 'genre'.*title, year, genres"):
        MovieLens(**common, item_fields=["genre"]).featurize(tmp_path / "cache")
    with pytest.raises(ConfigError, match=r"dataset.item_file"):
        MovieLens(**{**common, "item_file": None}, item_fields=["genres"]).featurize(tmp_path / "cache")


def test_title_vectors_are_zero_for_items_without_a_title():
    """Blank titles are not embedded (zero rows); the others get MiniLM's unit-length vector, in their own row."""
    from ssl_ads.data.item_table import embed_texts

    vectors = embed_texts(["", "A soft wool sweater", "  ", "Running shoes"])
    assert vectors.shape == (4, 384)
    assert not vectors[[0, 2]].any()
    np.testing.assert_allclose(np.linalg.norm(vectors[[1, 3]], axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[1], vectors[3])
