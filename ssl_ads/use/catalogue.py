"""A new catalogue for an id-free encoder: its items numbered, and their field codes (and title vectors) computed
with the encoder's fitted item-table spec (`TrainedEncoder.for_catalogue`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ssl_ads.data.item_table import align, check_columns, embed_texts, item_texts
from ssl_ads.data.vocab_ids import FIRST_ID
from ssl_ads.errors import DataError


def catalogue_arrays(
    items: pl.DataFrame, fitted: dict[str, Any], where: str
) -> tuple[pl.DataFrame, dict[str, np.ndarray], dict[str, list[int]]]:
    """`item_vocab` (item_id → idx from 2, in the frame's order), the buffers' arrays (`codes_<field>`, `text`)
    and the `item_fields` shapes `[size, slots]`; `fitted` is the checkpoint's `data_state["item_table"]`."""
    fields, text = list(fitted["fields"]), fitted.get("text")
    if "item_id" not in items.columns:
        raise DataError(f"for_catalogue: the item table has no item_id column; its columns: {', '.join(items.columns)}")
    check_columns(items, fields, text, f"passed to for_catalogue ({where} was trained with {fields or [text]})")
    items = items.filter(pl.col("item_id").is_not_null()).unique("item_id", keep="first", maintain_order=True)
    if items.height == 0:
        raise DataError("for_catalogue: the item table has no item with an item_id")
    vocab = items.select("item_id", (pl.int_range(pl.len(), dtype=pl.Int64) + FIRST_ID).alias("idx"))
    num_items = FIRST_ID + vocab.height
    codes, spec, _ = align(items, vocab, num_items, fields, 1, fitted["fields"])
    arrays = {f"codes_{name}": array for name, array in codes.items()}
    if text:
        arrays["text"] = embed_texts(item_texts(items, vocab, num_items, text))
    shapes = {name: [int(spec[name]["size"]), int(codes[name].shape[1])] for name in fields}
    return vocab, arrays, shapes
