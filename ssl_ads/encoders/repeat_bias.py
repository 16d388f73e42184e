"""Which candidate items a sequence has already consumed, for a learned repeat-consumption bias.

Next-item scores from tied item embeddings favour the items a user has just consumed: the state of a
sequence lies close to the embeddings of its own items. Whether people re-consume (groceries, ads they
click again) or never do (films they have rated) is a property of the data, so the encoder learns one
scalar added to the score of every item present in the history it reads (as repeat-aware recommenders
such as RepeatNet, Ren et al. 2019, model re-consumption explicitly). It only looks at the model's input,
never at events outside it, and the ranking protocol stays the same: every item remains a candidate.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ssl_ads.data.vocab_ids import PAD_ID


def first_positions(items: Tensor, candidates: Tensor) -> Tensor:
    """`[B, C]` position of each candidate's first occurrence in each `[B, L]` row (L when absent).

    `candidates` must be sorted and unique; padding never counts as an occurrence.
    """
    batch, length = items.shape
    n_candidates = candidates.shape[0]
    slot = torch.searchsorted(candidates, items.contiguous()).clamp(max=n_candidates - 1)
    found = (candidates[slot] == items) & (items != PAD_ID)
    slot = torch.where(found, slot, n_candidates)  # an extra column collects everything else
    first = torch.full((batch, n_candidates + 1), length, dtype=torch.long, device=items.device)
    positions = torch.arange(length, device=items.device).expand(batch, length)
    first.scatter_reduce_(1, slot, positions, reduce="amin")
    return first[:, :n_candidates]


def seen_by_position(items: Tensor, rows: Tensor, candidates: Tensor, causal: bool) -> Tensor:
    """`[N, C]` bool: candidate present in the history read at each of the N positions `rows [B, L]` selects.

    Causal: the history at position t is `items[:, : t + 1]`; otherwise it is the whole row.
    """
    first = first_positions(items, candidates)
    if causal:
        steps = torch.arange(items.shape[1], device=items.device)
        return (first[:, None, :] <= steps[None, :, None])[rows]
    return (first < items.shape[1])[:, None, :].expand(-1, items.shape[1], -1)[rows]


def seen_in_history(items: Tensor, num_items: int) -> Tensor:
    """`[B, num_items]` bool: item present anywhere in each (left-padded) history row."""
    return first_positions(items, torch.arange(num_items, device=items.device)) < items.shape[1]
