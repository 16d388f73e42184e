"""`pretrain.sparse_item_table`: whether pretraining updates the item id table sparsely (SparseAdam).

Dense AdamW zeroes and updates the whole `[V, D]` item table and its two moment tables on every step, O(V) work
however few rows the batch read; at 1 M items that is most of a step (scripts/bench_catalogue.py). A sparse table
(`nn.Embedding(sparse=True)`, trained by `torch.optim.SparseAdam`) costs O(rows read) per step instead. That only
works when the loss reads rows, never the whole table: a full softmax multiplies by every row, so its gradient is
dense and SparseAdam refuses it. `auto` turns the sparse path on where it pays: batch-sized negatives (`sampled`,
`in_batch`) and a catalogue of at least AUTO_MIN_ITEMS ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ssl_ads.errors import ConfigError

SPARSE_ITEM_TABLE = ("auto", "true", "false")
# The item table's own work per step (`python scripts/bench_catalogue.py --table-only --threads 1`, CPU ms, batch
# 256 x 50, load ~7.7 on 2 cores): dense AdamW 10.5 / 14.7 / 46.7 / 72.6 / 210 / 1,016 at 10k / 20k / 50k / 100k /
# 200k / 1M items, SparseAdam 18.4 / 13.8 / 17.6 / 21.6 / 22.3 / 25.5. They cross near 20k; from 50k sparse saves
# ~30 ms per step (~4 % of a batch-256 step, ~8 % at the default batch 128: the table's cost does not shrink with
# the batch), growing linearly. Below that the gain is noise and dense keeps AdamW's weight decay on the table.
AUTO_MIN_ITEMS = 50_000
ROW_NEGATIVES = ("sampled", "in_batch")


@dataclass(frozen=True)
class SparseDecision:
    """The resolved setting and the reason, printed in the pretraining summary (so `auto` is never a mystery)."""

    sparse: bool
    reason: str


def normalize_choice(value: object) -> str:
    """`true`/`false` arrive as booleans from the command line and as strings from YAML: one spelling."""
    choice = str(value).lower()
    if choice not in SPARSE_ITEM_TABLE:
        raise ConfigError(f"pretrain.sparse_item_table must be one of {SPARSE_ITEM_TABLE}, got {value!r}")
    return choice


def decide_sparse_item_table(
    value: object,
    negatives: str | None,
    gradient_clip_val: float | None,
    num_items: int | None = None,
    has_item_table: bool = True,
) -> SparseDecision:
    """Resolve `pretrain.sparse_item_table`; `true` with a combination that cannot work is a ConfigError naming both
    keys, `auto` falls back to the dense table and says why.

    `negatives` is the pretext's `negatives` (None: the pretext scores no catalogue); `num_items` the catalogue
    size (None at start-up, before the data is read: only the pairs are checked then).
    """
    choice = normalize_choice(value)
    if choice == "false":
        return SparseDecision(False, "pretrain.sparse_item_table=false")
    conflict = None
    if not has_item_table:
        conflict = "the encoder has no item id table (encoder.item_embedding): only sequence encoders do"
    elif negatives not in ROW_NEGATIVES:
        conflict = (
            f"pretext.negatives={negatives!r} scores the whole catalogue, a dense gradient on every row that "
            f"SparseAdam cannot take; use pretext.negatives=sampled or in_batch"
        )
    elif gradient_clip_val is not None:
        conflict = (
            f"trainer.gradient_clip_val={gradient_clip_val}: torch's gradient clipping has no kernel for sparse "
            "gradients; unset it (trainer.gradient_clip_val=null)"
        )
    if conflict is not None:
        if choice == "true":
            raise ConfigError(f"pretrain.sparse_item_table=true: {conflict}, or set pretrain.sparse_item_table=false")
        return SparseDecision(False, f"auto -> dense: {conflict.split(';')[0]}")
    if choice == "true":
        return SparseDecision(True, "pretrain.sparse_item_table=true")
    if num_items is None or num_items < AUTO_MIN_ITEMS:
        size = "unknown" if num_items is None else f"{num_items:,}"
        return SparseDecision(False, f"auto -> dense: {size} item ids < {AUTO_MIN_ITEMS:,}")
    return SparseDecision(True, f"auto -> sparse: pretext.negatives={negatives}, {num_items:,} item ids")


def decide_for_pretraining(
    choice: object, encoder: object, pretext: object, gradient_clip_val: float | None
) -> SparseDecision:
    """The decision for a built encoder and pretext (read by attribute: this layer knows no model classes).

    A pretext that trains nothing (`pretext=none`) makes the setting moot, whatever it says."""
    if not getattr(pretext, "trains", True):
        return SparseDecision(False, "the pretext trains nothing")
    table = getattr(encoder, "item_embedding", None)
    num_items = getattr(encoder, "num_items", None)
    negatives = getattr(pretext, "negatives", None)
    return decide_sparse_item_table(choice, negatives, gradient_clip_val, num_items, table is not None)


def check_at_start(cfg: Any) -> None:
    """Start-up check of the value and, for a pretext that scores the item catalogue (it has `negatives`), of the
    pairs that cannot work with `true`; the catalogue-size rule of `auto` waits for the data."""
    pretrain = cfg.get("pretrain") or {}
    choice = normalize_choice(pretrain.get("sparse_item_table", "auto"))
    pretext = cfg.get("pretext") or {}
    if choice == "true" and "negatives" in pretext:
        decide_sparse_item_table(choice, pretext.get("negatives"), (cfg.get("trainer") or {}).get("gradient_clip_val"))
