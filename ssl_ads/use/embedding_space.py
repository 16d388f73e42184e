"""The space lookalike cosines are taken in: the vectors as they are, centred, or whitened by the whole population.

Why: an encoder's user vectors are anisotropic. A few directions carry most of the variance, and raw cosines follow
those. On the demo's encoder, whose pretext also forecasts each user's activity, the top two principal components
hold 71 % of the variance and encode how active a user is, so raw cosines find users as active as the seeds
rather than users who like what they like (`scripts/bench_lookalike.py`). Whitening (as in BERT-whitening, Su et
al. 2021) maps x to (x - mean) W, with W from the eigenvectors E and eigenvalues L of the population covariance,
W = E L^(-1/2): every direction then has unit variance, and a cosine weighs them alike. Centring only subtracts the
mean, which removes the one direction every user shares.

The statistics are float64 sums over every user's vector, gathered a block at a time (`PopulationStats`), so the
population can be streamed from a file as the search itself is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

SPACES = ("raw", "centred", "whitened")
# eigenvalues below this share of the largest are raised to it: a direction with no variance (a constant
# dimension, fewer users than dimensions) would otherwise be scaled by 1 / sqrt(0)
EIGENVALUE_FLOOR = 1e-6


@dataclass(frozen=True)
class Space:
    """An affine map applied to every vector before the cosine: minus `shift`, then times `matrix`."""

    shift: Tensor | None = None
    matrix: Tensor | None = None

    def apply(self, vectors: Tensor) -> Tensor:
        out = vectors.float()
        if self.shift is not None:
            out = out - self.shift
        return out if self.matrix is None else out @ self.matrix


class PopulationStats:
    """Count, sum and sum of outer products of the vectors seen (float64), for the mean and the covariance."""

    def __init__(self) -> None:
        self.count = 0
        self.total: Tensor | None = None
        self.outer: Tensor | None = None

    def add(self, block: Tensor) -> None:
        block = block.double()
        self.count += len(block)
        total, outer = block.sum(0), block.T @ block
        self.total = total if self.total is None else self.total + total
        self.outer = outer if self.outer is None else self.outer + outer

    def space(self, kind: str) -> Space:
        """The map of `kind` (one of SPACES) fitted on the vectors seen."""
        if kind not in SPACES:
            raise ValueError(f"space must be one of {', '.join(SPACES)}, got {kind!r}")
        if kind == "raw":
            return Space()
        if self.total is None or self.outer is None or self.count == 0:
            raise ValueError("no vectors seen")
        mean = self.total / self.count
        if kind == "centred":
            return Space(mean.float())
        covariance = (self.outer - self.count * torch.outer(mean, mean)) / max(self.count - 1, 1)
        values, vectors = torch.linalg.eigh((covariance + covariance.T) / 2)
        values = values.clamp_min(float(values.max().clamp_min(1e-300)) * EIGENVALUE_FLOOR)
        return Space(mean.float(), (vectors * values.rsqrt()).float())


def population_space(vectors: Tensor, kind: str) -> Space:
    """The map of `kind` fitted on `vectors` held in memory."""
    stats = PopulationStats()
    if kind != "raw":
        stats.add(vectors)
    return stats.space(kind)
