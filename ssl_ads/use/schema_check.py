"""Does a frame fit a trained checkpoint's input schema? One line naming the missing columns, or the modality the
frame looks like when it is not the checkpoint's (shared by `predict`, `monitor` and the ranking model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssl_ads.data.sequence_dataset import EVENT_COLUMNS
from ssl_ads.encoders.bundle import dataset_label
from ssl_ads.errors import DataError


def check_schema(
    columns: list[str], required: list[str], modality: str, bundle: dict[str, Any], path: Path, where: str, kind: str
) -> None:
    """One line when a frame cannot be read by a `kind` ("model", "checkpoint"): data of another modality (named),
    or the training schema's missing columns (named), with the dataset the checkpoint was trained on."""
    missing = [c for c in required if c not in columns]
    if not missing:
        return
    guessed = data_modality(columns)
    trained_on = dataset_label(bundle["dataset_config"].get("_target_"))
    if guessed is not None and guessed != modality:
        raise DataError(
            f"{where}: holds {guessed} data ({listed(columns, 8)}) but {path} is a {modality} {kind} "
            f"(dataset {trained_on}); it reads columns {', '.join(required)}"
        )
    raise DataError(
        f"{where}: lacks column(s) {', '.join(missing)} of the {kind}'s training schema (dataset {trained_on}: "
        f"{', '.join(required)}); it has {listed(columns) or 'no columns'}"
    )


def listed(columns: list[str], most: int = 30) -> str:
    """Column names for a one-line message: at most `most`, each at most 40 characters, unprintable ones quoted
    (a binary file read as CSV has a "header" of bytes)."""
    shown = [c if c.isprintable() and len(c) <= 40 else repr(c[:40]) + ("…" if len(c) > 40 else "")
             for c in columns[:most]]  # fmt: skip
    more = f" … ({len(columns)} columns)" if len(columns) > most else ""
    return ", ".join(shown) + more


def data_modality(columns: list[str]) -> str | None:
    """Which modality a frame's columns look like (events, copy), when it is clear; None otherwise."""
    if set(EVENT_COLUMNS) <= set(columns):
        return "sequence"
    if "text" in columns and len(columns) <= 4:
        return "text"
    return None
