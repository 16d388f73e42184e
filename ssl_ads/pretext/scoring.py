"""Next-item scores straight from a pretrained model: the pretext's own head, or the tied item embeddings.

Pretexts with a `score_next(encoder, history)` method use it (next-item, contrastive read the last
causal state). Masked-item models predict an appended [MASK] after the history, as BERT4Rec evaluates.
Anything else (no pretext, an encoder loaded without its pretext head) reads the last causal state.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ssl_ads.encoders.repeat_bias import seen_in_history
from ssl_ads.encoders.sequence_base import SequenceEncoder
from ssl_ads.pretext.base import Pretext
from ssl_ads.pretext.masked_item import MaskedItem
from ssl_ads.pretext.next_item import last_state_scores


def next_item_scores(pretext: Pretext | None, encoder: SequenceEncoder, history: dict[str, Tensor]) -> Tensor:
    """`[B, num_items]` scores of the item that follows each left-padded history."""
    if pretext is not None and hasattr(pretext, "score_next"):
        return pretext.score_next(encoder, history)
    if isinstance(pretext, MaskedItem):
        return masked_item_scores(pretext, encoder, history)
    return last_state_scores(encoder, history)


def masked_item_scores(pretext: MaskedItem, encoder: SequenceEncoder, history: dict[str, Tensor]) -> Tensor:
    items = history["items"]
    extended = {
        name: torch.cat([value, torch.zeros_like(value[:, :1])], dim=1)
        if value.dim() == 2 and value.shape == items.shape
        else value
        for name, value in history.items()
    }
    extended["items"][:, -1] = encoder.mask_id
    extended["mask"] = extended["items"] != 0
    states = encoder(extended)[:, -1]
    seen = seen_in_history(items, encoder.num_items) if encoder.repeat_weight is not None else None
    return encoder.item_logits(pretext.transform(states), seen) + pretext.output_bias
