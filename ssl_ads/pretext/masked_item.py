"""Masked-item modelling, following BERT4Rec (Sun et al., 2019).

A share of the real positions is chosen; of those, most become a [MASK] id, some a random item and some
stay unchanged (BERT's 80/10/10 recipe); the encoder reads the corrupted sequence bidirectionally and
predicts the original items at the chosen positions over the full catalogue (tied item embeddings).
Only the chosen positions are projected, so memory is `[masked positions, catalogue]`, not `[B, L, V]`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_ads.encoders.sequence_base import OOV_ID, PAD_ID, SequenceEncoder
from ssl_ads.pretext.base import Pretext


class MaskedItem(Pretext):
    modality = "sequence"

    def __init__(self, mask_prob: float = 0.2, replace_prob: float = 0.1, keep_prob: float = 0.1) -> None:
        super().__init__()
        if not 0.0 < mask_prob < 1.0:
            raise ValueError(f"pretext.mask_prob must be in (0, 1), got {mask_prob}")
        if replace_prob < 0 or keep_prob < 0 or replace_prob + keep_prob > 1.0:
            raise ValueError("pretext.replace_prob and pretext.keep_prob must be >= 0 and sum to at most 1")
        self.mask_prob = mask_prob
        self.replace_prob = replace_prob
        self.keep_prob = keep_prob

    def attach(self, encoder: SequenceEncoder) -> None:
        self.transform = nn.Sequential(nn.Linear(encoder.dim, encoder.dim), nn.GELU(), nn.LayerNorm(encoder.dim))
        self.output_bias = nn.Parameter(torch.zeros(encoder.num_items))

    def loss(self, encoder: SequenceEncoder, batch: dict[str, Tensor]) -> Tensor:
        items, mask = batch["items"], batch["mask"]
        chosen, corrupted = corrupt(
            items, mask, self.mask_prob, self.replace_prob, self.keep_prob, encoder.mask_id, encoder.num_items
        )
        states = encoder({**batch, "items": corrupted})
        logits = encoder.item_logits(self.transform(states[chosen])) + self.output_bias
        logits[:, PAD_ID] = torch.finfo(logits.dtype).min
        return F.cross_entropy(logits, items[chosen])


def corrupt(
    items: Tensor, mask: Tensor, mask_prob: float, replace_prob: float, keep_prob: float, mask_id: int, num_items: int
) -> tuple[Tensor, Tensor]:
    """Choose positions to predict and corrupt them; every non-empty sequence gets at least one.

    Returns the boolean `chosen [B, L]` and the corrupted item ids. Padding is never chosen or changed.
    """
    chosen = (torch.rand(items.shape, device=items.device) < mask_prob) & mask
    # Sequences where nothing was drawn predict their last (most recent) item, as BERT4Rec's eval does.
    needs_one = ~chosen.any(dim=1) & mask[:, -1]
    chosen[:, -1] |= needs_one
    action = torch.rand(items.shape, device=items.device)
    to_random = chosen & (action < replace_prob)
    to_mask = chosen & (action >= replace_prob + keep_prob)
    corrupted = torch.where(to_mask, torch.full_like(items, mask_id), items)
    random_items = torch.randint(OOV_ID + 1, max(num_items, OOV_ID + 2), items.shape, device=items.device)
    corrupted = torch.where(to_random, random_items, corrupted)
    return chosen, corrupted
