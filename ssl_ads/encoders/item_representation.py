"""What an item is to a sequence encoder: its id embedding, its side fields, its title, or a sum of them.

`encoder.item_inputs` picks any non-empty subset of `id`, `fields`, `text`. The item vector is the SUM of the
parts: the id row (`encoder.item_embedding`), one EmbeddingBag per side field (mean over a multi-hot field's
values) and a linear projection of the item's frozen MiniLM title vector. Why a sum and not concat + linear:
`[id]` stays exactly today's model (same parameters, same numbers, same checkpoints); every part lives in
the one `dim` space the transformer input already sums (positions, event side fields) and the tied output
table scores in; and an item's vector decomposes into shared parts, so an item never seen in training still
gets the vector of its fields and title, which is the point (new items, another retailer's catalogue).

The per-item codes and title vectors are buffers (saved in every checkpoint); a fresh encoder is given them
by `fill` from the featurized item table (`ssl_ads.data.item_table`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ssl_ads.data.vocab_ids import PAD_ID
from ssl_ads.errors import ConfigError, DataError

ITEM_INPUTS = ("id", "fields", "text")


def check_item_inputs(
    item_inputs: list[str] | tuple[str, ...] | None, item_fields: dict | None, item_text_dim: int | None
) -> tuple[str, ...]:
    """The validated `encoder.item_inputs`; ConfigError naming what is wrong and what the data offers."""
    chosen = tuple(item_inputs) if item_inputs is not None else ("id",)
    unknown = [name for name in chosen if name not in ITEM_INPUTS]
    if not chosen or unknown or len(set(chosen)) != len(chosen):
        raise ConfigError(
            f"encoder.item_inputs must be a non-empty list of distinct values among {', '.join(ITEM_INPUTS)}, "
            f"got {list(chosen)}"
        )
    if "fields" in chosen and not item_fields:
        raise ConfigError(
            "encoder.item_inputs includes fields but the data set declares no item fields: set dataset.item_fields "
            "(and dataset.item_file for MovieLens / event files)"
        )
    if "text" in chosen and not item_text_dim:
        raise ConfigError(
            "encoder.item_inputs includes text but the data set declares no item text: set dataset.item_text "
            "(a title column of the item table; needs the text extra)"
        )
    return chosen


def check_id_dropout(item_id_dropout: float, item_inputs: tuple[str, ...]) -> float:
    """`encoder.item_id_dropout` in [0, 1), and only where there is content to fall back on."""
    if not 0.0 <= item_id_dropout < 1.0:
        raise ConfigError(f"encoder.item_id_dropout must be in [0, 1), got {item_id_dropout}")
    if item_id_dropout > 0 and (item_inputs == ("id",) or "id" not in item_inputs):
        raise ConfigError(
            f"encoder.item_id_dropout={item_id_dropout} needs encoder.item_inputs with id and fields or text, "
            f"got {list(item_inputs)}"
        )
    return float(item_id_dropout)


class ItemContent(nn.Module):
    """The content part of item vectors: field embeddings plus the projected title vector, by item id."""

    def __init__(
        self,
        num_items: int,
        dim: int,
        fields: dict[str, list[int]] | None,
        text_dim: int | None,
    ) -> None:
        super().__init__()
        self.field_names = list(fields or {})
        self.bags = nn.ModuleDict(
            {
                name: nn.EmbeddingBag(int(size), dim, mode="mean", padding_idx=PAD_ID)
                for name, (size, _) in fields.items()
            }
            if fields
            else {}
        )
        for name, (_, slots) in (fields or {}).items():
            self.register_buffer(f"codes_{name}", torch.zeros(num_items + 1, int(slots), dtype=torch.long))
        self.text_projection = nn.Linear(int(text_dim), dim, bias=False) if text_dim else None
        if text_dim:
            self.register_buffer("text_vectors", torch.zeros(num_items + 1, int(text_dim)))
        for bag in self.bags.values():
            nn.init.normal_(bag.weight, std=0.02)
            with torch.no_grad():
                bag.weight[PAD_ID].zero_()

    def forward(self, ids: Tensor) -> Tensor:
        """`[..., dim]` content vectors of item ids of any shape (padding id → zeros)."""
        flat = ids.reshape(-1)
        out = None
        for name, bag in self.bags.items():
            part = bag(getattr(self, f"codes_{name}")[flat])
            out = part if out is None else out + part
        if self.text_projection is not None:
            part = self.text_projection(self.text_vectors[flat])
            out = part if out is None else out + part
        return out.reshape(*ids.shape, -1)

    def fill(self, directory: str | Path) -> None:
        """Copy the featurized item table (`attach_item_table`'s cache entry) into the buffers."""
        from ssl_ads.data.item_table import load_item_arrays

        self.fill_arrays(load_item_arrays(directory, self.field_names, self.text_projection is not None), directory)

    def fill_arrays(self, arrays: dict[str, np.ndarray], directory: str | Path = "the item table") -> None:
        """Copy `codes_<field>` (and `text`) arrays, one row per item id, into the buffers."""
        for name, array in arrays.items():
            buffer = getattr(self, "text_vectors" if name == "text" else name)
            if tuple(buffer.shape) != array.shape:
                raise DataError(
                    f"the item table in {directory} has {name} of shape {array.shape}, the encoder expects "
                    f"{tuple(buffer.shape)} (a checkpoint trained with other dataset.item_fields or items?)"
                )
            buffer.copy_(torch.from_numpy(np.ascontiguousarray(array)).to(buffer.dtype))
