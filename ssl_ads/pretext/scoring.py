"""Next-item scores straight from a pretrained model: the pretext's own head, or the tied item embeddings.

Every pretext answers `score_next(encoder, history)` (`ssl_ads.pretext.base`): by default the last causal
state against the tied item embeddings; masked-item models predict an appended [MASK] after the history, as
BERT4Rec evaluates. Without a pretext (an encoder loaded without its pretext head) the last causal state too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from ssl_ads.encoders.repeat_bias import seen_in_history
from ssl_ads.encoders.sequence_base import SequenceEncoder

if TYPE_CHECKING:  # the base imports this module for its default hook
    from ssl_ads.pretext.base import Pretext


def next_item_scores(pretext: Pretext | None, encoder: SequenceEncoder, history: dict[str, Tensor]) -> Tensor:
    """`[B, num_items]` scores of the item that follows each left-padded history."""
    if pretext is None:
        return last_state_scores(encoder, history)
    return pretext.score_next(encoder, history)


def last_state_scores(encoder: SequenceEncoder, history: dict[str, Tensor]) -> Tensor:
    """Next-item scores from the last causal state, with the repeat bias over the whole history."""
    states = encoder(history, causal=True)[:, -1]
    seen = seen_in_history(history["items"], encoder.num_items) if encoder.repeat_weight is not None else None
    return encoder.item_logits(states, seen)
