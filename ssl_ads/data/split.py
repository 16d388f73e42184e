"""Row splits (users for sequences, impressions for tables) and stratified label-fraction sampling.

Pretraining only ever reads train-split rows, so no example a downstream test scores is seen by the
pretext objective. `split_groups` keeps every group (e.g. all impressions of one user) in one split, for
tasks whose label belongs to the group rather than the row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssl_ads.errors import DataError


@dataclass(frozen=True)
class RowSplit:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_rows(n_users: int, val_share: float, test_share: float, seed: int) -> RowSplit:
    """Shuffle row indices once and cut them into train / val / test."""
    if not (0 < val_share < 1 and 0 < test_share < 1 and val_share + test_share < 1):
        raise DataError(f"val_share ({val_share}) and test_share ({test_share}) must be in (0, 1) and sum below 1")
    order = np.random.default_rng(seed).permutation(n_users)
    n_val, n_test = round(n_users * val_share), round(n_users * test_share)
    if n_val == 0 or n_test == 0 or n_users - n_val - n_test == 0:
        raise DataError(f"{n_users} rows are too few for a train/val/test split")
    return RowSplit(
        train=np.sort(order[n_val + n_test :]), val=np.sort(order[:n_val]), test=np.sort(order[n_val : n_val + n_test])
    )


def split_groups(groups: np.ndarray, val_share: float, test_share: float, seed: int) -> RowSplit:
    """Like `split_rows`, but whole groups go to one split: groups are shuffled once (seeded) and cut where
    their cumulative row count reaches the validation and test shares of the rows."""
    if not (0 < val_share < 1 and 0 < test_share < 1 and val_share + test_share < 1):
        raise DataError(f"val_share ({val_share}) and test_share ({test_share}) must be in (0, 1) and sum below 1")
    _, inverse, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(counts))
    ends = np.cumsum(counts[order])
    n_val = int(np.searchsorted(ends, val_share * len(inverse), side="left")) + 1
    n_test = int(np.searchsorted(ends, (val_share + test_share) * len(inverse), side="left")) + 1 - n_val
    if n_test < 1 or len(counts) - n_val - n_test < 1:
        raise DataError(f"{len(counts)} groups are too few for a train/val/test split by group")
    part = np.empty(len(counts), dtype=np.int8)
    part[order[:n_val]], part[order[n_val : n_val + n_test]], part[order[n_val + n_test :]] = 1, 2, 0
    of_row = part[inverse]
    train, val, test = (np.flatnonzero(of_row == part_id) for part_id in (0, 1, 2))
    return RowSplit(train=train, val=val, test=test)


def sample_fraction(indices: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A stratified, seeded subset of `indices` holding `fraction` of each class (at least one each).

    Subsets are nested: the 1 % sample is contained in the 10 % sample for the same seed.
    """
    if not 0 < fraction <= 1:
        raise DataError(f"label fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    keys = rng.random(len(indices))
    chosen = []
    for cls in np.unique(labels[indices]):
        members = np.flatnonzero(labels[indices] == cls)
        members = members[np.argsort(keys[members], kind="stable")]
        take = max(1, round(fraction * len(members)))
        chosen.append(indices[members[:take]])
    return np.sort(np.concatenate(chosen))
