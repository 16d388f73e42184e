"""Full-catalogue ranking metrics (HR@K, NDCG@K, MRR@K) from the target's rank, vectorized over a batch.

One score per catalogue item and one target per row: the target's rank is the number of items scored
above it (ties broken towards the lower item id, as a stable top-k does), so no `[B, V]` sort is needed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ssl_ads.data.vocab_ids import OOV_ID, PAD_ID

DEFAULT_KS = (5, 10, 20)


def mask_scores(scores: Tensor, history: Tensor | None = None, targets: Tensor | None = None) -> Tensor:
    """Pad and OOV ids can never be recommended; with `history`, already seen items are excluded too.

    The target itself is never excluded (it may repeat an earlier item).
    """
    scores = scores.clone()
    lowest = torch.finfo(scores.dtype).min
    scores[:, PAD_ID] = lowest
    scores[:, OOV_ID] = lowest
    if history is not None:
        kept = scores.gather(1, targets[:, None]) if targets is not None else None
        scores.scatter_(1, history.clamp_max(scores.shape[1] - 1), lowest)
        scores[:, PAD_ID] = lowest
        if kept is not None:
            scores.scatter_(1, targets[:, None], kept)
    return scores


def target_ranks(scores: Tensor, targets: Tensor) -> Tensor:
    """0-based rank of each row's target among all columns of `scores` `[B, V]`."""
    target_scores = scores.gather(1, targets[:, None])
    above = (scores > target_scores).sum(1)
    ids = torch.arange(scores.shape[1], device=scores.device)
    tied_before = ((scores == target_scores) & (ids[None, :] < targets[:, None])).sum(1)
    return above + tied_before


def ranking_metrics(ranks: Tensor, ks: tuple[int, ...] | list[int] = DEFAULT_KS) -> dict[str, Tensor]:
    """Per-row `hr@K`, `ndcg@K`, `mrr@K` (one relevant item: NDCG@K = 1/log2(rank+2) inside the top K)."""
    ranks = ranks.to(torch.float64)
    out = {}
    for k in ks:
        hit = ranks < k
        out[f"hr@{k}"] = hit.double()
        out[f"ndcg@{k}"] = torch.where(hit, 1.0 / torch.log2(ranks + 2.0), 0.0)
        out[f"mrr@{k}"] = torch.where(hit, 1.0 / (ranks + 1.0), 0.0)
    return out
