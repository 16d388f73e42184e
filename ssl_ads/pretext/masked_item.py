"""Masked-item modelling, following BERT4Rec (Sun et al., 2019).

A share of the real positions is chosen; of those, most become a [MASK] id, some a random item and some
stay unchanged (BERT's 80/10/10 recipe); the encoder reads the corrupted sequence bidirectionally and
predicts the original items at the chosen positions over the full catalogue (tied item embeddings).
Only the chosen positions are projected, so memory is `[masked positions, catalogue]`, not `[B, L, V]`.
Side fields (category, action...) are hidden at the chosen positions too, so they cannot leak the item,
and with `side_weight > 0` they are predicted as well (BERT-style multi-field masking): the
representation then has to carry the user's action pattern, not only which items co-occur. With
`encoder.side_fields_as=targets` the encoder never reads them and they are only predicted. With
`future_days > 0` the pooled user vector also forecasts the counts of the user's events in the last
`future_days` of the history from the events before them (`ssl_ads.pretext.future_window`).
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_ads.config.ranges import Range, SumAtMost
from ssl_ads.data.vocab_ids import OOV_ID, PAD_ID
from ssl_ads.encoders.repeat_bias import seen_by_position, seen_in_history
from ssl_ads.encoders.sequence_base import SequenceEncoder
from ssl_ads.errors import ConfigError
from ssl_ads.pretext.base import Pretext
from ssl_ads.pretext.future_window import FutureWindow
from ssl_ads.pretext.future_window import check_head as check_future_head
from ssl_ads.pretext.negative_sampler import NegativeSampler
from ssl_ads.pretext.sampled_softmax import check_negatives, item_loss


class MaskedItem(Pretext):
    modality = "sequence"

    def __init__(
        self,
        mask_prob: Annotated[float, Range(0, 1, min_inclusive=False, max_inclusive=False)] = 0.2,
        replace_prob: Annotated[float, Range(0, 1), SumAtMost(("keep_prob",), 1.0)] = 0.1,
        keep_prob: Annotated[float, Range(0, 1)] = 0.1,
        side_weight: Annotated[float, Range(min=0)] = 0.5,
        negatives: str = "full",
        num_negatives: Annotated[int, Range(min=1)] = 1000,
        sampling: str = "uniform",
        logq: bool = True,
        future_days: Annotated[float, Range(min=0)] = 0.0,
        future_weight: Annotated[float, Range(min=0)] = 1.0,
        future_head: str = "linear",
    ) -> None:
        super().__init__()
        if not 0.0 < mask_prob < 1.0:
            raise ConfigError(f"pretext.mask_prob must be in (0, 1), got {mask_prob}")
        if replace_prob < 0 or keep_prob < 0 or replace_prob + keep_prob > 1.0:
            raise ConfigError("pretext.replace_prob and pretext.keep_prob must be >= 0 and sum to at most 1")
        self.mask_prob = mask_prob
        self.replace_prob = replace_prob
        self.keep_prob = keep_prob
        self.side_weight = side_weight
        check_negatives(negatives, num_negatives)  # full, or batch-sized memory: ssl_ads.pretext.sampled_softmax
        self.negatives, self.num_negatives, self.logq = negatives, num_negatives, logq
        self.sampler = NegativeSampler(sampling)
        check_future_head(future_head)
        self.future_days, self.future_weight, self.future_head = future_days, future_weight, future_head

    def attach(self, encoder: SequenceEncoder) -> None:
        self.transform = nn.Sequential(nn.Linear(encoder.dim, encoder.dim), nn.GELU(), nn.LayerNorm(encoder.dim))
        self.output_bias = nn.Parameter(torch.zeros(encoder.num_items))
        sizes = getattr(encoder, "side_vocab_sizes", {})  # read or not (encoder.side_fields_as), predicted alike
        self.side_heads = nn.ModuleDict({name: nn.Linear(encoder.dim, size) for name, size in sizes.items()})
        self.future = (
            FutureWindow(encoder.dim, sizes, self.future_days, self.future_head) if self.future_days > 0 else None
        )

    def loss(self, encoder: SequenceEncoder, batch: dict[str, Tensor]) -> Tensor:
        items, mask = batch["items"], batch["mask"]
        chosen, corrupted = corrupt(
            items, mask, self.mask_prob, self.replace_prob, self.keep_prob, encoder.mask_id, encoder.num_items
        )
        inputs = {**batch, "items": corrupted}
        for name in encoder.side_embeddings:  # 0 is the side fields' padding id: "unknown" at a masked position
            inputs[name] = batch[name].masked_fill(chosen, 0)
        hidden = self.transform(encoder(inputs)[chosen])
        seen = None
        if encoder.repeat_weight is not None:  # the items the encoder could read: not the [MASK]ed ones
            visible = corrupted.masked_fill(corrupted == encoder.mask_id, PAD_ID)
            seen = lambda candidates: seen_by_position(visible, chosen, candidates, causal=False)  # noqa: E731
        loss = item_loss(
            encoder, hidden, items[chosen], self.negatives, self.num_negatives, seen, self.sampler, self.logq,
            self.output_bias,
        )  # fmt: skip
        if self.side_weight > 0:
            for name, head in self.side_heads.items():
                loss = loss + self.side_weight * F.cross_entropy(head(hidden), batch[name][chosen].long())
        if self.future is not None and self.future_weight > 0:
            loss = loss + self.future_weight * self.future.loss(encoder, batch)
        return loss

    def score_next(self, encoder: SequenceEncoder, history: dict[str, Tensor]) -> Tensor:
        """The item an appended [MASK] after the history is predicted to be, as BERT4Rec evaluates."""
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
        return encoder.item_logits(self.transform(states), seen) + self.output_bias


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
