"""Which featurized rows of a run were its training rows: what `monitor reference=<run>` compares new data with.

The split has one owner, `ssl_ads.data.split.final_split`, called with the run's settings
(`SplitSettings.of_run`: `val_share`, `test_share`, `seed`, and for tables and texts the task's `split_by`) by the
featurizer or the stage context. Calling it again on the same cached rows with the same settings gives the same
split. The settings come from the checkpoint (`model.pt` records them) or, for an `encoder.pt`, from the run's
resolved config (`.hydra/config.yaml` beside it). A next-item run splits each history by leave-one-out instead,
so every user is a training user (their last two events are validation and test targets).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from omegaconf import OmegaConf

from ssl_ads.data.split import SplitSettings
from ssl_ads.errors import DataError

LEAVE_ONE_OUT = "leave-one-out"
RANKING_TASK = "ssl_ads.tasks.next_item.NextItemTask"


def split_record(cfg: Mapping[str, Any], modality: str) -> dict[str, Any]:
    """The run's split as plain values: `{"scheme": "rows", "settings": final_split's keywords}` or leave-one-out."""
    task = cfg.get("task") or {}
    if task.get("_target_") == RANKING_TASK:
        return {"scheme": LEAVE_ONE_OUT}
    return {"scheme": "rows", "settings": SplitSettings.of_run(cfg, modality).record()}


def state_modality(state: Mapping[str, Any]) -> str:
    """The modality a fitted featurizer state belongs to (its distinctive keys)."""
    return "sequence" if "item_vocab" in state else "tabular" if "categorical" in state else "text"


def recorded_split(bundle: dict[str, Any], checkpoint: Path, modality: str, where: str) -> dict[str, Any]:
    """The split a checkpoint was trained under: its own record, else its run's `.hydra/config.yaml`."""
    if isinstance(bundle.get("split"), dict):
        return bundle["split"]
    config = checkpoint.resolve().parent / ".hydra" / "config.yaml"
    if not config.is_file():
        raise DataError(
            f"{where}: cannot tell which rows were the run's training rows ({checkpoint} records no split and "
            f"{config} is missing); pass reference=<the training data file> with model= or encoder_ckpt="
        )
    cfg = OmegaConf.load(config)  # only the split's keys are read (each resolved on access)
    task = cfg.get("task") or {}
    keys = {"task": {"_target_": task.get("_target_"), "split_by": task.get("split_by")},
            "val_share": cfg.val_share, "test_share": cfg.test_share, "seed": cfg.seed}  # fmt: skip
    return split_record(keys, modality)


def training_rows(record: dict[str, Any], rows: pl.DataFrame, source: str) -> np.ndarray:
    """Positions of the training rows among a run's featurized `rows` (all of them under leave-one-out)."""
    if record.get("scheme") == LEAVE_ONE_OUT:
        return np.arange(rows.height)
    return SplitSettings(**record["settings"]).apply(rows, source).train
