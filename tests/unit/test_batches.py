"""Batch loading: whole batches sliced at once, shuffled per epoch, sharded per DDP rank."""

from __future__ import annotations

import numpy as np
import torch

from ssl_ads.data.batches import ShardedBatchSampler, batch_loader


class FixedRankSampler(ShardedBatchSampler):
    """The sampler as rank `rank` of `world` sees it (the real DDP run is in tests/integration)."""

    def __init__(self, rank: int, world: int, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rank, self.world = rank, world

    def _rank_world(self) -> tuple[int, int]:
        return self.rank, self.world


def test_loader_yields_every_row_once_per_epoch_with_masks():
    items = np.arange(1, 41, dtype=np.int32).reshape(20, 2)
    items[3] = 0
    loader = batch_loader({"items": items}, np.arange(20), batch_size=6, shuffle=True, seed=1)
    for _ in range(2):
        seen = np.concatenate([b["items"][:, 1].numpy() for b in loader])
        assert sorted(seen) == sorted(items[:, 1])
    first = next(iter(loader))
    assert first["mask"].dtype == torch.bool
    assert (first["mask"] == (first["items"] != 0)).all()


def test_shuffle_changes_between_epochs_and_is_seeded():
    sampler = ShardedBatchSampler(50, 50, shuffle=True, seed=3)
    first, second = next(iter(sampler)), next(iter(sampler))
    assert not np.array_equal(first, second)
    again = ShardedBatchSampler(50, 50, shuffle=True, seed=3)
    assert np.array_equal(next(iter(again)), first)


def test_ranks_get_disjoint_shards_of_equal_length():
    shards = [np.concatenate(list(FixedRankSampler(r, 2, 11, 4, shuffle=True, seed=0))) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 6
    # 11 rows over 2 ranks: one row is repeated to even the shards, all others appear exactly once.
    together = np.concatenate(shards)
    assert set(together) == set(range(11))
    assert len(set(shards[0]) & set(shards[1])) <= 1
