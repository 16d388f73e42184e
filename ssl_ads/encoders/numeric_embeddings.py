"""Numeric-field embeddings (Gorishniy et al. 2022, "On Embeddings for Numerical Features in Tabular Deep
Learning"): each maps `values [B, F]` to one token per field, `[B, F, d]`.

- `linear`: `x * w + b`, one direction per field (the FT-Transformer tokenizer);
- `piecewise_linear`: PLE, `x` encoded against `bins` quantile bins of the train rows (1 for bins below `x`,
  the fraction covered for the bin holding it, 0 above), then a per-field linear map: any piecewise-linear
  function of `x`, so a few large values (capital gains) get their own direction;
- `periodic`: PLR, `[cos(2π c x), sin(2π c x)]` with `frequencies` trainable `c ~ N(0, frequency_scale)`,
  then a per-field linear map and ReLU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ssl_ads.errors import ConfigError

NUMERIC_EMBEDDINGS = ("linear", "piecewise_linear", "periodic")


@dataclass(frozen=True)
class NumericEmbeddingSpec:
    """The `encoder.numeric_embedding` knobs, plus the train quantiles the featurizer passes (for PLE)."""

    kind: str = "linear"
    bins: int = 16
    frequencies: int = 16
    frequency_scale: float = 1.0
    quantiles: list[list[float]] | None = None

    def build(self, num_numeric: int, token_dim: int) -> nn.Module:
        """The embedding module, or a ConfigError naming the encoder key that is wrong (a ValueError when the
        featurizer passed no quantiles: a programming error, not a setting)."""
        if self.kind not in NUMERIC_EMBEDDINGS:
            raise ConfigError(f"encoder.numeric_embedding must be one of {NUMERIC_EMBEDDINGS}, got {self.kind!r}")
        if self.kind == "linear" or num_numeric == 0:
            return LinearEmbedding(num_numeric, token_dim)
        if self.kind == "piecewise_linear":
            if self.quantiles is None or len(self.quantiles) != num_numeric:
                raise ValueError(
                    "encoder.numeric_embedding=piecewise_linear needs the train quantiles of every numeric field "
                    "(numeric_quantiles, passed by the tabular featurizer)"
                )
            if self.bins < 1:
                raise ConfigError(f"encoder.numeric_bins must be >= 1, got {self.bins}")
            return PiecewiseLinearEmbedding(self.quantiles, self.bins, token_dim)
        if self.frequencies < 1 or self.frequency_scale <= 0:
            raise ConfigError(
                "encoder.frequencies must be >= 1 and encoder.frequency_scale > 0 "
                f"({self.frequencies}, {self.frequency_scale})"
            )
        return PeriodicEmbedding(num_numeric, self.frequencies, self.frequency_scale, token_dim)


class LinearEmbedding(nn.Module):
    """`x * w + b` per field."""

    def __init__(self, num_numeric: int, token_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_numeric, token_dim) / token_dim**0.5)
        self.bias = nn.Parameter(torch.zeros(num_numeric, token_dim))

    def forward(self, values: Tensor) -> Tensor:
        return values.unsqueeze(-1) * self.weight + self.bias


def bin_edges(quantiles: list[float], bins: int) -> np.ndarray:
    """`bins` + 1 edges picked evenly (by quantile level) from a field's train quantiles; ties removed."""
    levels = np.asarray(quantiles, dtype=np.float64)
    picked = np.unique(levels[np.linspace(0, len(levels) - 1, bins + 1).round().astype(int)])
    if len(picked) < 2:  # a constant field: one bin of width 1 above its value
        picked = np.array([picked[0] if len(picked) else 0.0, (picked[0] if len(picked) else 0.0) + 1.0])
    return picked


def piecewise_linear_encoding(values: Tensor, left: Tensor, width: Tensor, valid: Tensor) -> Tensor:
    """`values [B, F]` → `[B, F, T]`; the first bin extends below the lowest edge and the last above the top."""
    position = (values.unsqueeze(-1) - left) / width
    bins = left.shape[-1]
    index = torch.arange(bins, device=values.device)
    last = valid.sum(-1, keepdim=True) - 1  # each field's last real bin
    lower = torch.where(index == 0, -math.inf, 0.0)
    upper = torch.where(index == last, math.inf, 1.0)
    return torch.maximum(torch.minimum(position, upper), lower.expand_as(position)) * valid


class PiecewiseLinearEmbedding(nn.Module):
    """PLE of each numeric field against its own quantile bins, then a per-field linear map to `[d]`."""

    def __init__(self, quantiles: list[list[float]], bins: int, token_dim: int) -> None:
        super().__init__()
        edges = [bin_edges(q, bins) for q in quantiles]
        most = max(len(e) - 1 for e in edges)
        left, width, valid = np.zeros((len(edges), most)), np.ones((len(edges), most)), np.zeros((len(edges), most))
        for i, e in enumerate(edges):
            n = len(e) - 1
            left[i, :n], width[i, :n], valid[i, :n] = e[:-1], np.diff(e), 1.0
        for name, array in (("left", left), ("width", width), ("valid", valid)):
            self.register_buffer(name, torch.tensor(array, dtype=torch.float32))
        bound = most**-0.5
        self.weight = nn.Parameter(torch.empty(len(edges), most, token_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(len(edges), token_dim))

    def forward(self, values: Tensor) -> Tensor:
        encoded = piecewise_linear_encoding(values, self.left, self.width, self.valid)
        return torch.einsum("bft,ftd->bfd", encoded, self.weight) + self.bias


class PeriodicEmbedding(nn.Module):
    """PLR: trainable frequencies per field, cos/sin features, a per-field linear map and ReLU."""

    def __init__(self, num_numeric: int, frequencies: int, scale: float, token_dim: int) -> None:
        super().__init__()
        self.coefficients = nn.Parameter(torch.randn(num_numeric, frequencies) * scale)
        bound = (2 * frequencies) ** -0.5
        self.weight = nn.Parameter(torch.empty(num_numeric, 2 * frequencies, token_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(num_numeric, token_dim))

    def forward(self, values: Tensor) -> Tensor:
        angles = 2 * math.pi * self.coefficients * values.unsqueeze(-1)
        features = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
        return torch.relu(torch.einsum("bfk,fkd->bfd", features, self.weight) + self.bias)
