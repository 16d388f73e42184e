"""A transformer pretrained as usual whose user vector is the mean of its item embeddings (item2vec-style).

Why: for user-level tasks (audience segments) the question is *which* items a user engaged with, not their
order. The pretext (masked-item, next-item) shapes the item table so that co-engaged items lie close; the mean
of a user's item vectors is then a dense, low-dimensional bag of items that a probe reads with few labels, and
fine-tuning it costs one embedding lookup per event instead of a transformer pass. `user_vector=items+states`
puts the transformer's mean-pooled states beside it. Pretraining is unchanged: the pretext reads `forward`.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from ssl_ads.config.ranges import DivisibleBy, Range
from ssl_ads.encoders.sequence_transformer import SequenceTransformer
from ssl_ads.errors import ConfigError

USER_VECTORS = ("items", "items+states")


class ItemMeanTransformer(SequenceTransformer):
    """`SequenceTransformer` (same weights, same checkpoint keys) with the item-mean user vector."""

    def __init__(
        self,
        num_items: int,
        max_len: int,
        side_vocab_sizes: dict[str, int] | None = None,
        dim: Annotated[int, Range(min=1), DivisibleBy("heads")] = 64,
        layers: Annotated[int, Range(min=1)] = 2,
        heads: Annotated[int, Range(min=1)] = 2,
        ff_dim: Annotated[int, Range(min=1)] = 256,
        dropout: Annotated[float, Range(0, 1, max_inclusive=False)] = 0.1,
        attn_dropout: Annotated[float, Range(0, 1, max_inclusive=False)] = 0.0,
        causal: bool = False,
        pooling: str = "mean",
        repeat_bias: bool = False,
        item_inputs: list[str] | None = None,
        item_fields: dict[str, list[int]] | None = None,
        item_text_dim: int | None = None,
        item_id_dropout: Annotated[float, Range(0, 1, max_inclusive=False)] = 0.0,
        user_vector: str = "items",
    ) -> None:
        # the full signature, not **kwargs: the config schema is read from it (ssl_ads.config.validate)
        super().__init__(
            num_items, max_len, side_vocab_sizes, dim, layers, heads, ff_dim, dropout, attn_dropout, causal, pooling,
            repeat_bias, item_inputs, item_fields, item_text_dim, item_id_dropout,
        )  # fmt: skip
        if user_vector not in USER_VECTORS:
            raise ConfigError(f"encoder.user_vector must be one of {USER_VECTORS}, got {user_vector!r}")
        self.user_vector = user_vector
        self.feature_dim = self.dim * (2 if user_vector == "items+states" else 1)

    def item_mean(self, batch: dict[str, Tensor]) -> Tensor:
        """Mean of the item vectors (id row and any side fields / title: `encoder.item_inputs`) of the real
        (unpadded) positions, `[B, D]`."""
        vectors = self.item_vectors(batch["items"])
        mask = batch["mask"].unsqueeze(-1).to(vectors.dtype)
        return (vectors * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """The item-mean user vector (what `ssl-ads embed` writes and a task head reads by default)."""
        return self.item_mean(batch)

    def features(self, batch: dict[str, Tensor]) -> Tensor:
        """The head's input: the item mean, or the item mean beside the mean-pooled transformer states."""
        if self.user_vector == "items":
            return self.item_mean(batch)
        return torch.cat([self.item_mean(batch), super().embed(batch)], dim=-1)
