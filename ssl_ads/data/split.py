"""Row splits (users for sequences, impressions for tables) and stratified label-fraction sampling.

Pretraining only ever reads train-split rows, so no example a downstream test scores is seen by the
pretext objective. `split_groups` keeps every group (e.g. all impressions of one user) in one split, for
tasks whose label belongs to the group rather than the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from ssl_ads.errors import DataError


class TooFewRows(DataError):
    """Too few rows (or groups) for a train/val/test split; a caller that knows the cleaning history (the
    stage context) re-raises it naming the step that removed the rest."""

    def __init__(self, message: str, n_rows: int, unit: str = "rows") -> None:
        super().__init__(message)
        self.n_rows = n_rows
        self.unit = unit  # "rows" (the data's examples: users, impressions...) or "groups"


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
        raise TooFewRows(f"{n_users} rows are too few for a train/val/test split", n_users)
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
        raise TooFewRows(f"{len(counts)} groups are too few for a train/val/test split by group", len(counts), "groups")
    part = np.empty(len(counts), dtype=np.int8)
    part[order[:n_val]], part[order[n_val : n_val + n_test]], part[order[n_val + n_test :]] = 1, 2, 0
    of_row = part[inverse]
    train, val, test = (np.flatnonzero(of_row == part_id) for part_id in (0, 1, 2))
    return RowSplit(train=train, val=val, test=test)


def final_split(
    rows: pl.DataFrame, val_share: float, test_share: float, seed: int, split_by: str | None = None, source: str = ""
) -> RowSplit:
    """The run's one train / validation / test split: by row, or by group when the task names a `split_by`
    column. The featurizer fits its statistics on this split's train rows and the stages evaluate on it, so
    both call this function with the same settings (`split_settings`) on the same rows."""
    if not split_by:
        return split_rows(rows.height, val_share, test_share, seed)
    if split_by not in rows.columns:
        raise DataError(
            f"{source or 'data'}: task.split_by='{split_by}' is not a column of the data's rows; "
            f"available: {', '.join(rows.columns)}"
        )
    return split_groups(rows.get_column(split_by).to_numpy(), val_share, test_share, seed)


def split_settings(val_share: float, test_share: float, seed: int, split_by: str | None = None) -> dict[str, Any]:
    """The keyword arguments of `final_split` (what a featurizer's cache key records about the split; a row
    split records no `split_by`, so its key is what it was before groups existed)."""
    settings: dict[str, Any] = {"val_share": val_share, "test_share": test_share, "seed": seed}
    return {**settings, "split_by": split_by} if split_by else settings


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
