"""Causal next-item prediction, following SASRec (Kang & McAuley, 2018) and GPT-style language modelling.

Every position of a window is trained at once: the encoder reads `items[:, :-1]` with a causal mask and
each state predicts the item that follows it (`items[:, 1:]`). One window of L+1 events yields L
training targets in a single forward pass, where a prefix-at-a-time trainer needs L passes.
"""

from __future__ import annotations

from typing import Annotated

from torch import Tensor

from ssl_ads.config.ranges import Range
from ssl_ads.data.vocab_ids import OOV_ID
from ssl_ads.encoders.repeat_bias import seen_by_position
from ssl_ads.encoders.sequence_base import SequenceEncoder
from ssl_ads.pretext.base import Pretext
from ssl_ads.pretext.negative_sampler import NegativeSampler
from ssl_ads.pretext.sampled_softmax import check_negatives, item_loss


class NextItem(Pretext):
    modality = "sequence"

    def __init__(
        self,
        negatives: str = "full",
        num_negatives: Annotated[int, Range(min=1)] = 1000,
        sampling: str = "uniform",
        logq: bool = True,
    ) -> None:
        super().__init__()
        check_negatives(negatives, num_negatives)
        self.negatives = negatives
        self.num_negatives = num_negatives
        self.sampler = NegativeSampler(sampling)  # proposal + popularity counts (ssl_ads.pretext.sampled_softmax)
        self.logq = logq

    def loss(self, encoder: SequenceEncoder, batch: dict[str, Tensor]) -> Tensor:
        inputs, targets, valid = shift(batch)
        states = encoder(inputs, causal=True)
        seen = causal_seen(inputs["items"], valid)
        return item_loss(
            encoder, states[valid], targets[valid], self.negatives, self.num_negatives, seen, self.sampler, self.logq
        )


def causal_seen(items: Tensor, valid: Tensor):
    """`candidates -> [N, C]` flags of items in each valid position's causal history (for `item_loss`)."""
    return lambda candidates: seen_by_position(items, valid, candidates, causal=True)


def shift(batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """Inputs = every `[B, L]` field without its last column; targets = items without the first.

    `valid [B, L-1]` marks positions whose input and target are both real and whose target is in vocabulary.
    """
    items = batch["items"]
    inputs = {
        name: value[:, :-1] if value.dim() == 2 and value.shape == items.shape else value
        for name, value in batch.items()
    }
    inputs["mask"] = inputs["items"] != 0
    targets = items[:, 1:]
    valid = inputs["mask"] & (targets != 0) & (targets != OOV_ID)
    return inputs, targets, valid
