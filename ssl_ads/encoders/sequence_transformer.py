"""Transformer over item sequences (SASRec when causal, BERT4Rec when bidirectional)."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_ads.config.ranges import DivisibleBy, Range
from ssl_ads.encoders.sequence_base import SequenceEncoder, attention_mask
from ssl_ads.errors import ConfigError


class SequenceTransformer(SequenceEncoder):
    """Item + learned position (+ optional side-field) embeddings, pre-norm transformer blocks.

    Attention runs through `scaled_dot_product_attention` so PyTorch picks a fused kernel.
    """

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
        user_vector: str = "states",
        side_fields_as: str = "inputs",
        read_ages: bool = False,
    ) -> None:
        super().__init__(
            num_items=num_items, dim=dim, pooling=pooling, repeat_bias=repeat_bias, item_inputs=item_inputs,
            item_fields=item_fields, item_text_dim=item_text_dim, item_id_dropout=item_id_dropout,
            user_vector=user_vector, side_vocab_sizes=side_vocab_sizes, side_fields_as=side_fields_as,
            read_ages=read_ages,
        )  # fmt: skip
        if dim % heads:
            raise ConfigError(f"encoder.dim ({dim}) must be divisible by encoder.heads ({heads})")
        self.max_len = max_len
        self.causal = causal
        self.position_embedding = nn.Embedding(max_len, dim)
        self.side_embeddings = self.build_side_embeddings()
        self.input_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, ff_dim, dropout, attn_dropout) for _ in range(layers))
        self.output_norm = nn.LayerNorm(dim)
        self.apply(_init_weights)

    def forward(self, batch: dict[str, Tensor], causal: bool | None = None) -> Tensor:
        """States `[B, L, D]`; `causal` overrides the configured attention direction (a pretext may need one)."""
        items, mask = batch["items"], batch["mask"]
        length = items.shape[1]
        if length > self.max_len:
            raise ValueError(f"sequence length {length} exceeds encoder max_len {self.max_len}")
        positions = torch.arange(self.max_len - length, self.max_len, device=items.device)
        hidden = self.item_vectors(items) + self.position_embedding(positions)
        hidden = hidden + self.side_vectors(batch)
        hidden = self.dropout(self.input_norm(hidden))
        attn_mask = attention_mask(mask, self.causal if causal is None else causal)
        for block in self.blocks:
            hidden = block(hidden, attn_mask)
        return self.output_norm(hidden)


class TransformerBlock(nn.Module):
    """Pre-norm self-attention + feed-forward block."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.heads = heads
        # Attention dropout draws a [B, H, L, L] Bernoulli mask: on CPU that costs a third of a step.
        self.attn_dropout = attn_dropout
        self.attn_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ff_norm = nn.LayerNorm(dim)
        # No dropout inside the feed-forward: on CPU a Bernoulli draw over [B, L, ff_dim] costs more than the matmuls.
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.GELU(), nn.Linear(ff_dim, dim))
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, hidden: Tensor, attn_mask: Tensor) -> Tensor:
        batch, length, dim = hidden.shape
        qkv = self.qkv(self.attn_norm(hidden)).view(batch, length, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.attn_dropout if self.training else 0.0
        )
        hidden = hidden + self.resid_dropout(self.out(attended.transpose(1, 2).reshape(batch, length, dim)))
        return hidden + self.resid_dropout(self.ff(self.ff_norm(hidden)))


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()
