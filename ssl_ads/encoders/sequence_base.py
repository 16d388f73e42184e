"""What every sequence encoder provides: per-position states and a pooled user representation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ssl_ads.data.vocab_ids import PAD_ID
from ssl_ads.encoders.base import Encoder
from ssl_ads.errors import ConfigError


class SequenceEncoder(Encoder):
    """Maps a batch of left-padded item sequences to states `[B, L, D]` and a pooled `[B, D]`.

    Sequences are left-padded so the most recent event always sits at position -1.
    `num_items` counts pad and OOV ids; the encoder owns one extra id, `mask_id`, for masked pretexts.
    """

    modality = "sequence"

    def __init__(self, num_items: int, dim: int, pooling: str, repeat_bias: bool = False) -> None:
        super().__init__()
        if pooling not in ("mean", "last"):
            raise ConfigError(f"encoder.pooling must be 'mean' or 'last', got {pooling!r}")
        self.num_items = num_items
        self.dim = dim
        self.pooling = pooling
        self.item_embedding = nn.Embedding(num_items + 1, dim, padding_idx=PAD_ID)
        # Learned score shift for items already in the history read (see ssl_ads.encoders.repeat_bias).
        self.repeat_weight = nn.Parameter(torch.zeros(())) if repeat_bias else None

    @property
    def mask_id(self) -> int:
        return self.num_items

    def forward(self, batch: dict[str, Tensor]) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """The user representation a probe or a task head reads."""
        states = self(batch)
        if self.pooling == "last":
            return states[:, -1]
        mask = batch["mask"].unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def item_logits(self, states: Tensor, seen: Tensor | None = None) -> Tensor:
        """Scores of every catalogue item (pad/OOV/mask excluded later by the caller), tied embeddings.

        `seen [N, num_items]` marks items already in the history each state read (repeat bias, if enabled).
        """
        return self.repeat_adjusted(states @ self.item_embedding.weight[: self.num_items].T, seen)

    def repeat_adjusted(self, scores: Tensor, seen: Tensor | None) -> Tensor:
        """`scores` plus the learned repeat weight wherever `seen` is true (unchanged when disabled)."""
        if self.repeat_weight is None or seen is None:
            return scores
        return scores + self.repeat_weight.to(scores.dtype) * seen.to(scores.dtype)


def attention_mask(mask: Tensor, causal: bool) -> Tensor:
    """Boolean `[B, 1, L, L]` mask for SDPA: real keys only (and the past, if causal), self always allowed.

    Allowing each position to see itself keeps fully padded rows from producing NaNs.
    """
    length = mask.shape[1]
    allowed = mask[:, None, None, :].expand(-1, 1, length, -1)
    # comparisons of positions rather than eye()/tril() on booleans: the same masks, and exportable (ONNX Runtime
    # has no boolean EyeLike)
    position = torch.arange(length, device=mask.device)
    eye = position[:, None] == position[None, :]
    if causal:
        allowed = allowed & (position[:, None] >= position[None, :])
    return allowed | eye
