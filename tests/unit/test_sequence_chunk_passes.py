"""`sequence_chunks` reads an events file in passes over user ranges (bounded memory): whatever the pass size, the
batches, ids and counts are those of one pass, and from a lazily scanned file as from a frame in memory."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ssl_ads.data.vocab_ids import OOV_ID
from ssl_ads.use.featurize import Counts, sequence_chunks, user_passes

MAX_LEN = 6


def events(n_users: int = 97, seed: int = 0) -> pl.DataFrame:
    """Shuffled events: users with 1..15 events, some timestamps tied, some items and actions unseen, a null user."""
    rng = np.random.default_rng(seed)
    per_user = rng.integers(1, 16, n_users)
    users = np.repeat(np.arange(n_users) * 7 + 3, per_user)
    frame = pl.DataFrame({
        "user_id": users, "item_id": rng.integers(0, 40, len(users)), "timestamp": rng.integers(0, 20, len(users)),
        "action": rng.choice(["view", "click", "buy", "share"], len(users)),
    })  # fmt: skip
    frame = frame[rng.permutation(frame.height)]
    return pl.concat([frame, pl.DataFrame({"user_id": [None], "item_id": [1], "timestamp": [0], "action": ["view"]},
                                          schema=frame.schema)])  # fmt: skip


STATE = {
    "item_vocab": {"item_id": list(range(30)), "idx": list(range(2, 32))},  # items 30..39 unseen
    "side_vocabs": {"action": {"action": ["view", "click", "buy"], "idx": [1, 2, 3]}},  # "share" unseen
}


def run(frame, batch_size: int, events_per_pass: int) -> tuple[list, Counts]:
    counts = Counts()
    chunks = sequence_chunks(frame, STATE, ["action"], MAX_LEN, batch_size, counts, "events", events_per_pass)
    assert chunks.total == 97
    return list(chunks.batches), counts


@pytest.mark.parametrize("events_per_pass", [1, 50, 200, 10**9])
def test_passes_give_the_batches_and_counts_of_one_pass(events_per_pass, tmp_path):
    frame = events()
    whole, whole_counts = run(frame, 16, 10**9)
    frame.write_parquet(tmp_path / "events.parquet", row_group_size=64)
    parts, counts = run(pl.scan_parquet(tmp_path / "events.parquet"), 16, events_per_pass)
    assert [p.ids.height for p in parts] == [p.ids.height for p in whole] == [16] * 6 + [1]
    for mine, theirs in zip(parts, whole, strict=True):
        assert mine.ids.equals(theirs.ids)
        for name in ("items", "action"):
            assert np.array_equal(mine.inputs[name], theirs.inputs[name])
    assert counts == whole_counts
    assert counts.set_aside == {"events without user_id": 1} and counts.unseen["item_id"] > 0
    assert counts.unseen["action"] > 0 and counts.truncated > 0


def test_a_users_tail_is_its_latest_events_in_file_order_on_ties():
    frame = pl.DataFrame({"user_id": [5, 5, 5, 9], "item_id": [3, 4, 35, 2], "timestamp": [2, 1, 2, 0],
                          "action": ["view", "click", "share", "buy"]})  # fmt: skip
    (chunk,) = sequence_chunks(frame, STATE, ["action"], 4, 8, Counts(), "e").batches
    assert chunk.ids["user_id"].to_list() == [5, 9]
    assert chunk.inputs["items"].tolist() == [[0, 6, 5, OOV_ID], [0, 0, 0, 4]]  # time 1, then the tie in file order
    assert chunk.inputs["action"].tolist() == [[0, 2, 1, 0], [0, 0, 0, 3]]


def test_user_passes_cut_at_whole_batches_within_the_budget():
    assert user_passes(np.full(10, 5), 3, 31) == [(0, 6), (6, 10)]
    assert user_passes(np.full(10, 5), 3, 1) == [(0, 3), (3, 6), (6, 9), (9, 10)]  # at least one batch a pass
    assert user_passes(np.array([], dtype=np.int64), 3, 31) == []


@pytest.mark.parametrize("events_per_pass", [50, 10**9])
def test_text_user_ids_are_read_as_ids_in_every_pass(events_per_pass):
    """Ad logs key users by text (hashed ids): the passes' user ranges compare ids, never read them as names."""
    numbered = events()
    named = numbered.with_columns(("U" + pl.col("user_id").cast(pl.String).str.zfill(4)).alias("user_id"))
    parts, counts = run(named, 16, events_per_pass)
    whole, whole_counts = run(numbered, 16, 10**9)
    assert pl.concat([p.ids for p in parts])["user_id"].to_list() == [
        f"U{u:04d}" for u in pl.concat([p.ids for p in whole])["user_id"]
    ]
    assert all(np.array_equal(a.inputs["items"], b.inputs["items"]) for a, b in zip(parts, whole, strict=True))
    assert counts == whole_counts
