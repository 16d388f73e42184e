"""Where sampled negatives come from, and how likely each was: the proposal Q that log-Q correction divides out.

`uniform` draws item ids uniformly. `popularity` draws them in proportion to a streaming count of the
training targets seen so far (Yi et al., 2019 estimate item frequencies from the stream rather than from a
pass over the data), smoothed by one pseudo-count per item so every item keeps a non-zero probability, which
the correction needs to stay unbiased. A draw is a `torch.searchsorted` into a cumulative table: O(S log V)
for S samples, never O(V) per step. The table is rebuilt (O(V)) only after another V targets have been
counted, so its cost per target stays constant at any catalogue size; between rebuilds Q is the table's,
and the log-probabilities returned with a draw come from that same table, so the correction matches the
distribution really sampled.

The counts also give the in-batch objective its popularity estimate. They are not saved in checkpoints
(non-persistent buffers): they are a training-time statistic, rebuilt in a few steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ssl_ads.data.vocab_ids import OOV_ID

SAMPLINGS = ("uniform", "popularity")


def check_sampling(sampling: str) -> None:
    if sampling not in SAMPLINGS:
        raise ValueError(f"pretext.sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")


class NegativeSampler(nn.Module):
    """Proposal over the real item ids `[OOV_ID + 1, num_items)`; counts training targets while in train mode."""

    counts: Tensor | None
    cumulative: Tensor | None

    def __init__(self, sampling: str = "uniform") -> None:
        super().__init__()
        check_sampling(sampling)
        self.sampling = sampling
        self.register_buffer("counts", None, persistent=False)
        self.register_buffer("cumulative", None, persistent=False)
        self.counted_since_rebuild = 0
        self.rebuilds = 0

    def observe(self, targets: Tensor, num_items: int) -> None:
        """Add this batch's targets to the popularity counts: O(len(targets))."""
        if self.counts is None or self.counts.shape[0] != num_items:
            self.counts = torch.ones(num_items, dtype=torch.float64, device=targets.device)
            self.counts[: OOV_ID + 1] = 0.0  # padding and OOV are never candidates
            self.cumulative = None
        self.counts.index_add_(0, targets, torch.ones_like(targets, dtype=torch.float64))
        self.counted_since_rebuild += targets.numel()

    def frequency(self, items: Tensor, num_items: int) -> Tensor:
        """Estimated share of training targets that are each of `items` (uniform before anything was counted)."""
        if self.counts is None or self.counts.shape[0] != num_items:
            return torch.full(items.shape, 1.0 / _real_items(num_items), dtype=torch.float64, device=items.device)
        return self.counts[items] / self.counts.sum()

    def draw(self, n: int, num_items: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """`n` item ids drawn with replacement from Q, and `log Q` of each (float32)."""
        if self.sampling == "uniform" or self.counts is None or self.counts.shape[0] != num_items:
            ids = torch.randint(OOV_ID + 1, max(num_items, OOV_ID + 2), (n,), device=device)
            return ids, torch.full((n,), -math.log(_real_items(num_items)), device=device)
        if self.cumulative is None or self.counted_since_rebuild >= num_items:
            self.cumulative = torch.cumsum(self.counts, 0)
            self.counted_since_rebuild = 0
            self.rebuilds += 1
        total = self.cumulative[-1]
        u = torch.rand(n, dtype=torch.float64, device=device) * total
        ids = torch.searchsorted(self.cumulative, u, right=True).clamp_(OOV_ID + 1, num_items - 1)
        mass = self.cumulative[ids] - self.cumulative[ids - 1]
        return ids, (mass / total).log().float()


def _real_items(num_items: int) -> int:
    return max(num_items - OOV_ID - 1, 1)
