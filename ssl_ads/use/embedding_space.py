"""The space lookalike cosines are taken in: the vectors as they are, centred, or whitened by the whole population.

Why: an encoder's user vectors are anisotropic. A few directions carry most of the variance, and raw cosines follow
those. On the demo's encoder, whose pretext also forecasts each user's activity, the top two principal components
hold 71 % of the variance and encode how active a user is, so raw cosines find users as active as the seeds
rather than users who like what they like (`scripts/bench_lookalike.py`). Whitening (as in BERT-whitening, Su et
al. 2021) maps x to (x - mean) W, with W from the eigenvectors E and eigenvalues L of the population covariance,
W = E L^(-1/2): every direction then has unit variance, and a cosine weighs them alike. Centring only subtracts the
mean, which removes the one direction every user shares. Whitening needs many more users than dimensions: with
about as many (a bag of items over the catalogue) the covariance's small directions are noise, and whitening
amplifies them; centring is then the better space. `auto` takes whitened from `USERS_PER_DIMENSION` users per
dimension, else centred: on the benchmark's encoders (64 dimensions, 943 to 5,000 users) whitened was the best or
within its spread in every segment, and on TF-IDF bags (800 to 1,682 dimensions) centred was.

The statistics are float64 sums over every user's vector, gathered a block at a time (`PopulationStats`), so the
population can be streamed from a file as the search itself is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

SPACES = ("raw", "centred", "whitened")
CHOICES = ("auto", *SPACES)
USERS_PER_DIMENSION = 10
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

    def resolve(self, kind: str) -> str:
        """`kind`, with `auto` made whitened or centred by the users seen per dimension."""
        if kind not in CHOICES:
            raise ValueError(f"space must be one of {', '.join(CHOICES)}, got {kind!r}")
        if kind != "auto":
            return kind
        dims = 0 if self.total is None else len(self.total)
        return "whitened" if self.count >= USERS_PER_DIMENSION * dims else "centred"

    def space(self, kind: str) -> Space:
        """The map of `kind` (one of CHOICES) fitted on the vectors seen."""
        kind = self.resolve(kind)
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
    """The map of `kind` (one of CHOICES) fitted on `vectors` held in memory."""
    stats = PopulationStats()
    if kind != "raw":
        stats.add(vectors)
    return stats.space(kind)
