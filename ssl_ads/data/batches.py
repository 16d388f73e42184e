"""Batch-at-a-time loading: one fancy index per batch over (memory-mapped) arrays, no per-row collate.

Under DDP each rank reads its own shard of the rows (decided when iteration starts, so the same loader
works in one process and in many).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler


class ArrayBatches(Dataset):
    """Indexes every array with a whole list of row ids and returns a dict of tensors."""

    def __init__(self, arrays: Mapping[str, np.ndarray], rows: np.ndarray) -> None:
        self.arrays = dict(arrays)
        self.rows = np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, positions: list[int] | np.ndarray) -> dict[str, torch.Tensor]:
        rows = self.rows[np.sort(np.asarray(positions))]
        batch = {name: torch.from_numpy(np.ascontiguousarray(array[rows])) for name, array in self.arrays.items()}
        if "items" in batch:
            batch["items"] = batch["items"].long()
            batch["mask"] = batch["items"] != 0
        return batch


class ShardedBatchSampler(Sampler[np.ndarray]):
    """Yields arrays of positions; shuffled per epoch (seed + epoch) and sharded by rank under DDP.

    Every rank gets the same number of batches (the shard is padded by wrapping around), as DDP needs.
    """

    def __init__(self, n_rows: int, batch_size: int, shuffle: bool, seed: int = 0) -> None:
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def _rank_world(self) -> tuple[int, int]:
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def _shard(self) -> np.ndarray:
        order = np.arange(self.n_rows)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n_rows)
        rank, world = self._rank_world()
        if world > 1:
            per_rank = -(-self.n_rows // world)
            order = np.resize(order, per_rank * world)[rank::world]
        return order

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this before each epoch: a run resumed at epoch k shuffles as the uninterrupted one."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[np.ndarray]:
        order = self._shard()
        self.epoch += 1
        for start in range(0, len(order), self.batch_size):
            yield order[start : start + self.batch_size]

    def __len__(self) -> int:
        return -(-len(self._shard()) // self.batch_size)


def batch_loader(
    arrays: Mapping[str, np.ndarray], rows: np.ndarray, batch_size: int, shuffle: bool, seed: int = 0
) -> DataLoader:
    """A DataLoader yielding ready batches (rows are sorted within a batch for memory-map locality)."""
    dataset = ArrayBatches(arrays, rows)
    sampler = ShardedBatchSampler(len(dataset), batch_size, shuffle, seed)
    return DataLoader(dataset, sampler=sampler, batch_size=None)
