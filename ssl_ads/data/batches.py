"""Batch-at-a-time loading: one fancy index per batch over (memory-mapped) arrays, no per-row collate."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler


class ArrayBatches(Dataset):
    """Indexes every array with a whole list of row ids and returns a dict of tensors."""

    def __init__(self, arrays: Mapping[str, np.ndarray], rows: np.ndarray) -> None:
        self.arrays = dict(arrays)
        self.rows = np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, positions: list[int]) -> dict[str, torch.Tensor]:
        rows = self.rows[np.sort(np.asarray(positions))]
        batch = {name: torch.from_numpy(np.ascontiguousarray(array[rows])) for name, array in self.arrays.items()}
        if "items" in batch:
            batch["items"] = batch["items"].long()
            batch["mask"] = batch["items"] != 0
        return batch


def batch_loader(
    arrays: Mapping[str, np.ndarray], rows: np.ndarray, batch_size: int, shuffle: bool, seed: int = 0
) -> DataLoader:
    """A DataLoader yielding ready batches (rows are sorted within a batch for memory-map locality)."""
    dataset = ArrayBatches(arrays, rows)
    generator = torch.Generator().manual_seed(seed)
    base = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
    sampler = BatchSampler(base, batch_size=batch_size, drop_last=False)
    return DataLoader(dataset, sampler=sampler, batch_size=None)
