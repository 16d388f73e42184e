"""Next-item cross-entropy over the full catalogue, sampled negatives, or in-batch negatives.

`full` builds `[N, V]` logits (fine up to ~100k items). `sampled` scores the target against
`num_negatives` uniform draws shared by the batch (Jean et al., 2015; accidental hits removed), and
`in_batch` against the other distinct targets of the batch (Covington et al., 2016; Yi et al., 2019):
memory is set by the batch, not the catalogue, so a 1 M-item catalogue trains in the same RAM.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ssl_ads.encoders.sequence_base import OOV_ID, PAD_ID, SequenceEncoder

NEGATIVES = ("full", "sampled", "in_batch")


def check_negatives(negatives: str, num_negatives: int) -> None:
    if negatives not in NEGATIVES:
        raise ValueError(f"pretext.negatives must be one of {', '.join(NEGATIVES)}, got {negatives!r}")
    if negatives == "sampled" and num_negatives < 1:
        raise ValueError(f"pretext.num_negatives must be >= 1 for sampled negatives, got {num_negatives}")


def item_loss(
    encoder: SequenceEncoder,
    states: Tensor,
    targets: Tensor,
    negatives: str = "full",
    num_negatives: int = 1000,
    seen: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """Mean cross-entropy of `targets [N]` given `states [N, D]`, scored with the tied item embeddings.

    `seen(candidates)` gives `[N, C]` bool for sorted unique candidate ids: the candidate is in the history
    the state read. It feeds the encoder's repeat bias (ssl_ads.encoders.repeat_bias); None leaves it out.
    """
    if states.shape[0] == 0:
        return states.sum() * 0.0
    use_seen = seen is not None and encoder.repeat_weight is not None
    if negatives == "full":
        catalogue = torch.arange(encoder.num_items, device=states.device)
        logits = encoder.item_logits(states, seen(catalogue) if use_seen else None)
        logits[:, PAD_ID] = torch.finfo(logits.dtype).min
        return F.cross_entropy(logits, targets)
    table = encoder.item_embedding.weight
    if negatives == "sampled":
        high = max(encoder.num_items, OOV_ID + 2)
        sampled = torch.randint(OOV_ID + 1, high, (num_negatives,), device=states.device)
        positive = (states * table[targets]).sum(-1, keepdim=True)
        negative = states @ table[sampled].T
        if use_seen:
            candidates = torch.unique(torch.cat([targets, sampled]))
            flags = seen(candidates)
            target_slot = torch.searchsorted(candidates, targets)[:, None]
            positive = encoder.repeat_adjusted(positive, flags.gather(1, target_slot))
            negative = encoder.repeat_adjusted(negative, flags[:, torch.searchsorted(candidates, sampled)])
        negative = negative.masked_fill(sampled[None, :] == targets[:, None], torch.finfo(negative.dtype).min)
        logits = torch.cat([positive, negative], dim=1)
        return F.cross_entropy(logits, torch.zeros_like(targets))
    candidates, label = torch.unique(targets, return_inverse=True)
    logits = encoder.repeat_adjusted(states @ table[candidates].T, seen(candidates) if use_seen else None)
    return F.cross_entropy(logits, label)
