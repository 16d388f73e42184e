"""Featurizing events into left-padded arrays: values, vocabulary, cache, label-window cut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ssl_ads.data.sequence_dataset import SequenceDataset, SequenceSource
from ssl_ads.data.sequence_features import featurize_sequences as featurize
from ssl_ads.data.sequence_features import left_pad
from ssl_ads.errors import DataError
from ssl_ads.use.featurize import Counts, sequence_chunks


class FrameDataset(SequenceDataset):
    """A sequence dataset over an in-memory frame (the featurizer's real input type)."""

    def __init__(self, events: pl.DataFrame, labels: pl.DataFrame | None, cutoff: int | None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.events, self.labels, self.cutoff = events, labels, cutoff

    def source(self, cache_dir: Path) -> SequenceSource:
        return SequenceSource(self.events.lazy(), self.labels, self.cutoff, "frame")

    def fingerprint(self) -> dict:
        return {"rows": self.events.hash_rows().sum(), "cutoff": self.cutoff, "max_len": self.max_len}


EVENTS = pl.DataFrame(
    {
        "user_id": ["b", "a", "a", "a", "b", "c", "a"],
        "item_id": [10, 10, 20, 30, 20, 10, 40],
        "timestamp": [5, 1, 2, 3, 4, 1, 100],
        "action": ["click", "click", "cart", "click", "click", "purchase", "click"],
    }
)


def test_left_pad_places_the_latest_items_last():
    lists = pl.Series([[1, 2, 3], [4], []], dtype=pl.List(pl.Int64))
    padded = left_pad(lists, np.array([3, 1, 0]), 4)
    assert padded.tolist() == [[0, 1, 2, 3], [0, 0, 0, 4], [0, 0, 0, 0]]


def test_featurize_orders_by_time_truncates_and_cuts_the_label_window(tmp_path):
    labels = pl.DataFrame({"user_id": ["a", "b", "c"], "conversion": [1, 0, 1]})
    data = featurize(FrameDataset(EVENTS, labels, cutoff=50, max_len=2, side_fields=["action"]), tmp_path)
    vocab = dict(zip(data.state["item_vocab"]["item_id"], data.state["item_vocab"]["idx"], strict=True))
    # 10 is the most frequent item, so it gets the first real id (2).
    assert vocab[10] == 2
    assert data.rows.get_column("user_id").to_list() == ["a", "b", "c"]
    assert data.rows.get_column("conversion").to_list() == [1, 0, 1]
    rows = {u: list(r) for u, r in zip(data.rows.get_column("user_id"), data.inputs["items"].tolist(), strict=True)}
    # User a: events 10, 20, 30 before the cutoff (40 at t=100 is in the label window), last two kept.
    assert rows["a"] == [vocab[20], vocab[30]]
    assert rows["b"] == [vocab[20], vocab[10]]
    assert rows["c"] == [0, vocab[10]]
    assert data.rows.get_column("length").to_list() == [2, 2, 1]
    assert data.inputs["action"].shape == (3, 2)
    assert data.meta["num_events"] == 6


def test_featurize_reuses_the_cache_and_maps_unknown_items_to_oov(tmp_path):
    dataset = FrameDataset(EVENTS, None, cutoff=None, max_len=4)
    first = featurize(dataset, tmp_path)
    again = featurize(dataset, tmp_path)
    assert first.meta["cache_dir"] == again.meta["cache_dir"]
    assert isinstance(again.inputs["items"], np.memmap)
    state = {"item_vocab": {"item_id": [10], "idx": [2]}}
    mapped = featurize(dataset, tmp_path, state)
    assert set(np.unique(mapped.inputs["items"])) == {0, 1, 2}
    assert mapped.encoder_kwargs["num_items"] == 3


def test_empty_input_is_a_clear_error_and_leaves_no_cache(tmp_path):
    dataset = FrameDataset(EVENTS, None, cutoff=0, max_len=4)
    with pytest.raises(DataError, match="empty"):
        featurize(dataset, tmp_path)
    leftovers = list((tmp_path / "sequences").iterdir())
    assert leftovers == []


def test_a_checkpoints_side_vocabulary_is_read_not_refitted(tmp_path):
    """Data without 'cart' must not renumber 'click' and 'purchase' under the embeddings an encoder learned."""
    trained = featurize(FrameDataset(EVENTS, None, cutoff=None, max_len=4, side_fields=["action"]), tmp_path)
    codes = dict(zip(*trained.state["side_vocabs"]["action"].values(), strict=True))
    assert codes == {"cart": 1, "click": 2, "purchase": 3}
    no_cart = EVENTS.with_columns(pl.col("action").replace({"cart": "view"}))  # 'view': unknown to the encoder
    data = featurize(FrameDataset(no_cart, None, cutoff=None, max_len=4, side_fields=["action"]), tmp_path,
                     trained.state)  # fmt: skip
    actions = dict(zip(data.rows.get_column("user_id"), data.inputs["action"].tolist(), strict=True))
    assert actions["a"] == [2, 0, 2, 2]  # click, view (padding: unknown), click, click
    assert actions["c"] == [0, 0, 0, 3]  # purchase keeps its code
    assert data.encoder_kwargs["side_vocab_sizes"] == {"action": 4}
    # what refitting on this data does (no checkpoint): click 1, purchase 2, view 3
    refitted = featurize(FrameDataset(no_cart, None, cutoff=None, max_len=4, side_fields=["action"]), tmp_path)
    assert dict(zip(*refitted.state["side_vocabs"]["action"].values(), strict=True))["purchase"] == 2


def test_every_event_carries_its_age_in_days_before_the_label_window_or_the_last_event(tmp_path):
    day = 86_400
    events = pl.DataFrame(
        {"user_id": ["a", "a", "a", "b"], "item_id": [1, 2, 3, 1], "timestamp": [0, 7 * day, 30 * day, 9 * day]}
    )
    cut = featurize(FrameDataset(events, None, cutoff=10 * day, max_len=3), tmp_path / "cut")
    ages = {u: list(r) for u, r in zip(cut.rows.get_column("user_id"), cut.inputs["age_days"].tolist(), strict=True)}
    assert ages == {"a": [0.0, 10.0, 3.0], "b": [0.0, 0.0, 1.0]}  # a's day-30 event is in the label window
    assert cut.meta["age_reference_timestamp"] == 10 * day
    whole = featurize(FrameDataset(events, None, cutoff=None, max_len=3), tmp_path / "whole")
    assert whole.inputs["age_days"].tolist()[0] == [30.0, 23.0, 0.0]  # from the last event in the data
    assert whole.inputs["age_days"].dtype == np.float32


def test_serving_ages_count_from_the_files_last_event_as_the_pipeline_does_without_a_label_window(tmp_path):
    day = 86_400
    events = pl.DataFrame(
        {"user_id": [1, 1, 2, 2, 2], "item_id": [5, 6, 5, 7, 6], "timestamp": [0, 3 * day, day, 9 * day, 10 * day]}
    )
    pipeline = featurize(FrameDataset(events, None, cutoff=None, max_len=4), tmp_path)
    chunks = sequence_chunks(events, pipeline.state, [], 4, 10, Counts(), "events")
    (chunk,) = list(chunks.batches)
    assert chunk.inputs["age_days"].tolist() == pipeline.inputs["age_days"].tolist()
    assert chunk.inputs["age_days"].tolist() == [[0, 0, 10, 7], [0, 9, 1, 0]]


def test_serving_ages_count_from_as_of_as_the_pipeline_does_from_its_label_window(tmp_path):
    """Scoring with `as_of` = the label window's start gives the pipeline's ages exactly; the events at or after it
    are set aside and counted, as training leaves the window out (the `embed` stage passes the dataset's cutoff)."""
    day = 86_400
    events = pl.DataFrame(
        {"user_id": [1, 1, 1, 2, 2], "item_id": [5, 6, 7, 5, 6], "timestamp": [0, 3 * day, 12 * day, day, 9 * day]}
    )
    pipeline = featurize(FrameDataset(events, None, cutoff=10 * day, max_len=4), tmp_path)
    counts = Counts()
    (chunk,) = list(sequence_chunks(events, pipeline.state, [], 4, 10, counts, "events", as_of=10 * day).batches)
    assert chunk.inputs["age_days"].tolist() == pipeline.inputs["age_days"].tolist() == [[0, 0, 10, 7], [0, 0, 9, 1]]
    assert chunk.inputs["items"].tolist() == pipeline.inputs["items"].tolist()
    assert counts.set_aside == {"events at or after as_of": 1}
    (by_date,) = list(sequence_chunks(events, pipeline.state, [], 4, 10, Counts(), "e", as_of="1970-01-11").batches)
    assert by_date.inputs["age_days"].tolist() == chunk.inputs["age_days"].tolist()
