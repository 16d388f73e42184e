"""Row splits (users for sequences, impressions for tables) and stratified label-fraction sampling.

Pretraining only ever reads train-split rows, so no example a downstream test scores is seen by the
pretext objective. `split_groups` keeps every group (e.g. all impressions of one user) in one split, for
tasks whose label belongs to the group rather than the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
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
    column. Called once per run (`SplitSettings.apply`): by the featurizer that fits on this split's train rows
    (tables, texts: it stores the split with its cache entry and hands it to the stages on `Featurized.split`),
    else by the stage context on the featurized rows (sequences)."""
    if not split_by:
        return split_rows(rows.height, val_share, test_share, seed)
    if split_by not in rows.columns:
        raise DataError(
            f"{source or 'data'}: task.split_by='{split_by}' is not a column of the data's rows; "
            f"available: {', '.join(rows.columns)}"
        )
    return split_groups(rows.get_column(split_by).to_numpy(), val_share, test_share, seed)


# Modalities whose rows a task may group (`task.split_by`, e.g. the impressions of one user). A sequence
# dataset's rows are its users already, so its split is always by row.
GROUPED_MODALITIES = ("tabular", "text")


@dataclass(frozen=True)
class SplitSettings:
    """How a run splits its rows: the arguments of `final_split`, passed to `Dataset.featurize` (tables and
    texts fit on its train rows; the settings are part of their cache key)."""

    val_share: float = 0.1
    test_share: float = 0.1
    seed: int = 0
    split_by: str | None = None

    @classmethod
    def of_run(cls, cfg: Mapping[str, Any], modality: str) -> SplitSettings:
        """A run's settings from its config (`val_share`, `test_share`, `seed`, the task's `split_by`): the stages
        and `monitor reference=<run>` read them here, so both split the same rows the same way."""
        task = cfg.get("task") or {}
        split_by = task.get("split_by") if modality in GROUPED_MODALITIES else None
        return cls(float(cfg["val_share"]), float(cfg["test_share"]), int(cfg["seed"]), split_by or None)

    def record(self) -> dict[str, Any]:
        """As plain values (cache keys, bundles); a row split records no `split_by`, as before groups existed."""
        settings: dict[str, Any] = {"val_share": self.val_share, "test_share": self.test_share, "seed": self.seed}
        return {**settings, "split_by": self.split_by} if self.split_by else settings

    def apply(self, rows: pl.DataFrame, source: str = "") -> RowSplit:
        return final_split(rows, **self.record(), source=source)


DEFAULT_SPLIT = SplitSettings()  # the config's defaults (val_share, test_share, seed), for featurizing outside a run
SPLIT_FILE = "split.npy"  # in a featurized cache entry: every row's part (0 train, 1 validation, 2 test), int8


def write_split(directory: Path, split: RowSplit, n_rows: int) -> None:
    """Store the split beside the arrays fitted on it, so a cached featurization keeps its split."""
    parts = np.full(n_rows, -1, dtype=np.int8)
    parts[split.train], parts[split.val], parts[split.test] = 0, 1, 2
    np.save(directory / SPLIT_FILE, parts)


def read_split(directory: Path) -> RowSplit | None:
    """The split `write_split` stored (each part's row positions, ascending, as `split_rows` and `split_groups`
    give them); None for an entry without one (sequences; entries written before splits were stored)."""
    if not (directory / SPLIT_FILE).is_file():
        return None
    parts = np.load(directory / SPLIT_FILE)
    return RowSplit(*(np.flatnonzero(parts == part) for part in (0, 1, 2)))


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
