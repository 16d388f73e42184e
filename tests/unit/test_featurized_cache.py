"""The featurized cache is memory-mapped on load, and training batches read from it equal in-memory ones.

Why: the stages slice batches straight out of the cache's memory maps (`batch_loader`), so a dataset
larger than RAM trains; that must not change a single value the model sees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ssl_ads.data.batches import batch_loader
from ssl_ads.data.sources.synthetic_sequences import SyntheticSequences
from ssl_ads.data.split import split_rows

SMALL = {"n_users": 200, "n_items": 60, "n_topics": 4, "n_advertisers": 6, "max_len": 12}


def _batches(arrays: dict[str, np.ndarray], rows: np.ndarray, epochs: int) -> list[dict[str, torch.Tensor]]:
    loader = batch_loader(arrays, rows, batch_size=16, shuffle=True, seed=3)
    return [batch for _ in range(epochs) for batch in loader]


def test_cached_arrays_are_memory_mapped_and_give_the_in_memory_batches(tmp_path: Path) -> None:
    dataset = SyntheticSequences(**SMALL, side_fields=["action", "category"])
    built = dataset.featurize(tmp_path)  # builds the cache
    cached = dataset.featurize(tmp_path)  # reads it back
    assert cached.meta["cache_dir"] == built.meta["cache_dir"]
    cache_dir = Path(cached.meta["cache_dir"])
    assert set(cached.inputs) == {"items", "age_days", "action", "category"}
    for name, array in cached.inputs.items():
        assert isinstance(array, np.memmap), name
        assert Path(array.filename).parent == cache_dir.resolve(), name
        assert not array.flags.writeable  # read-only map: a batch can never write into the cache
    in_memory = {name: np.array(array) for name, array in cached.inputs.items()}
    assert not any(isinstance(array, np.memmap) for array in in_memory.values())

    train = split_rows(cached.num_rows, 0.1, 0.1, seed=0).train
    mapped_batches, memory_batches = _batches(cached.inputs, train, 2), _batches(in_memory, train, 2)
    assert len(mapped_batches) == len(memory_batches) == 2 * -(-len(train) // 16)
    for mapped, memory in zip(mapped_batches, memory_batches, strict=True):
        assert mapped.keys() == memory.keys() == {"items", "age_days", "action", "category", "mask"}
        for name in mapped:
            assert mapped[name].dtype == memory[name].dtype, name
            assert torch.equal(mapped[name], memory[name]), name
    # the batches are real data: every training row's non-empty sequence is read once per epoch
    seen = torch.cat([b["items"] for b in mapped_batches[: len(mapped_batches) // 2]])
    assert seen.shape == (len(train), SMALL["max_len"]) and bool(seen.ne(0).any(dim=1).all())
