"""A small transformer over the corpus tokenizer's pieces, pretrained here (masked tokens, SimCSE views).

Token + learned position embeddings and the same pre-norm blocks as the sequence transformer; the
text representation is the mean of the real tokens' states (or the [CLS] state). Token logits share
the input embedding matrix, so masked-token modelling needs no extra vocabulary-sized layer.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor, nn

from ssl_ads.config.ranges import DivisibleBy, Range
from ssl_ads.data.text_tokenizer import PAD_ID
from ssl_ads.encoders.base import Encoder
from ssl_ads.encoders.sequence_base import attention_mask
from ssl_ads.encoders.sequence_transformer import TransformerBlock, _init_weights
from ssl_ads.errors import ConfigError


class TextTransformer(Encoder):
    modality = "text"

    def __init__(
        self,
        vocab_size: int,
        max_len: int,
        dim: Annotated[int, Range(min=1), DivisibleBy("heads")] = 128,
        layers: Annotated[int, Range(min=1)] = 2,
        heads: Annotated[int, Range(min=1)] = 4,
        ff_dim: Annotated[int, Range(min=1)] = 256,
        dropout: Annotated[float, Range(0, 1, max_inclusive=False)] = 0.1,
        attn_dropout: Annotated[float, Range(0, 1, max_inclusive=False)] = 0.0,
        pooling: str = "mean",
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"encoder.dim ({dim}) must be divisible by encoder.heads ({heads})")
        if pooling not in ("mean", "cls"):
            raise ConfigError(f"encoder.pooling must be 'mean' or 'cls', got {pooling!r}")
        self.vocab_size = vocab_size
        self.max_len = max_len
        self.dim = dim
        self.pooling = pooling
        self.token_embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        self.position_embedding = nn.Embedding(max_len, dim)
        self.input_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, ff_dim, dropout, attn_dropout) for _ in range(layers))
        self.output_norm = nn.LayerNorm(dim)
        self.apply(_init_weights)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """States `[B, L', D]` over the batch's tokens, trimmed to its longest text."""
        tokens = self._trimmed(batch["tokens"])
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        hidden = self.dropout(self.input_norm(self.token_embedding(tokens) + self.position_embedding(positions)))
        attn_mask = attention_mask(tokens != PAD_ID, causal=False)
        for block in self.blocks:
            hidden = block(hidden, attn_mask)
        return self.output_norm(hidden)

    @staticmethod
    def _trimmed(tokens: Tensor) -> Tensor:
        """Drop the padding columns every row of the batch shares (texts are right-padded)."""
        width = int((tokens != PAD_ID).sum(1).max().clamp_min(1))
        return tokens[:, :width].long()

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        states = self(batch)
        if self.pooling == "cls":
            return states[:, 0]
        real = (self._trimmed(batch["tokens"]) != PAD_ID).unsqueeze(-1).to(states.dtype)
        return (states * real).sum(1) / real.sum(1).clamp_min(1.0)

    def token_logits(self, states: Tensor) -> Tensor:
        """Scores over the vocabulary with the (tied) input embeddings."""
        return states @ self.token_embedding.weight.T
