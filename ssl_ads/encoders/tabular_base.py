"""Field tokens shared by the tabular encoders: one embedding per categorical field, one map per numeric.

Every field becomes a `[d]` token (FT-Transformer's feature tokenizer), so the MLP and the transformer
read the same inputs and a pretext can treat any tabular encoder alike (`embed`, `cardinalities`,
`num_numeric`, `dim`).

A numeric field's token (`numeric_embedding`, Gorishniy et al. 2022, "On Embeddings for Numerical Features
in Tabular Deep Learning"):

- `linear`: `x * w + b`, one direction per field (the FT-Transformer tokenizer);
- `piecewise_linear`: PLE, `x` encoded against `numeric_bins` quantile bins of the train rows (1 for bins
  below `x`, the fraction covered for the bin holding it, 0 above), then a per-field linear map: any
  piecewise-linear function of `x`, so a few large values (capital gains) get their own direction;
- `periodic`: PLR, `[cos(2π c x), sin(2π c x)]` with `frequencies` trainable `c ~ N(0, frequency_scale)`,
  then a per-field linear map and ReLU.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

NUMERIC_EMBEDDINGS = ("linear", "piecewise_linear", "periodic")


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


class FieldTokenizer(nn.Module):
    """`cat [B, Fc]` ids and `num [B, Fn]` values → tokens `[B, Fc + Fn, d]`."""

    def __init__(
        self,
        cardinalities: list[int],
        num_numeric: int,
        token_dim: int,
        numeric_embedding: str = "linear",
        numeric_bins: int = 16,
        frequencies: int = 16,
        frequency_scale: float = 1.0,
        numeric_quantiles: list[list[float]] | None = None,
    ) -> None:
        super().__init__()
        if numeric_embedding not in NUMERIC_EMBEDDINGS:
            raise ValueError(
                f"encoder.numeric_embedding must be one of {NUMERIC_EMBEDDINGS}, got {numeric_embedding!r}"
            )
        cards = torch.tensor([0, *cardinalities], dtype=torch.long)
        # One table for all categorical fields; each field's ids start at its offset.
        self.register_buffer("offsets", cards.cumsum(0)[:-1], persistent=False)
        self.categorical = nn.Embedding(max(int(cards.sum()), 1), token_dim)
        nn.init.normal_(self.categorical.weight, std=token_dim**-0.5)
        self.numeric_embedding = numeric_embedding
        self.numeric: nn.Module | None = None
        if numeric_embedding == "linear" or num_numeric == 0:
            self.num_weight = nn.Parameter(torch.randn(num_numeric, token_dim) / token_dim**0.5)
            self.num_bias = nn.Parameter(torch.zeros(num_numeric, token_dim))
        elif numeric_embedding == "piecewise_linear":
            if numeric_quantiles is None or len(numeric_quantiles) != num_numeric:
                raise ValueError(
                    "encoder.numeric_embedding=piecewise_linear needs the train quantiles of every numeric field "
                    "(numeric_quantiles, passed by the tabular featurizer)"
                )
            if numeric_bins < 1:
                raise ValueError(f"encoder.numeric_bins must be >= 1, got {numeric_bins}")
            self.numeric = PiecewiseLinearEmbedding(numeric_quantiles, numeric_bins, token_dim)
        else:
            if frequencies < 1 or frequency_scale <= 0:
                raise ValueError(
                    "encoder.frequencies must be >= 1 and encoder.frequency_scale > 0 "
                    f"({frequencies}, {frequency_scale})"
                )
            self.numeric = PeriodicEmbedding(num_numeric, frequencies, frequency_scale, token_dim)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        tokens = [self.categorical(batch["cat"].long() + self.offsets)]
        num = batch["num"].float()
        if self.numeric is not None:
            tokens.append(self.numeric(num))
        elif self.num_weight.shape[0]:
            tokens.append(num.unsqueeze(-1) * self.num_weight + self.num_bias)
        return torch.cat(tokens, dim=1)


class TabularEncoder(nn.Module):
    """Base of the tabular encoders: `embed(batch) -> [B, dim]` from field tokens.

    `numeric_quantiles` comes from the featurizer (train quantiles of every numeric column, for
    `numeric_embedding=piecewise_linear`); the other numeric-embedding knobs are the encoder's config.
    """

    modality = "tabular"

    def __init__(
        self,
        cardinalities: list[int],
        num_numeric: int,
        dim: int,
        token_dim: int,
        numeric_embedding: str = "linear",
        numeric_bins: int = 16,
        frequencies: int = 16,
        frequency_scale: float = 1.0,
        numeric_quantiles: list[list[float]] | None = None,
    ) -> None:
        super().__init__()
        if not cardinalities and num_numeric == 0:
            raise ValueError("a tabular encoder needs at least one categorical or numeric field")
        if min(cardinalities, default=2) < 2:
            raise ValueError(f"every categorical field needs >= 2 ids (missing, OOV); got {cardinalities}")
        self.cardinalities = list(cardinalities)
        self.num_numeric = num_numeric
        self.num_fields = len(cardinalities) + num_numeric
        self.dim = dim
        self.feature_dim = dim  # width of `features()`, what downstream heads read
        self.tokenizer = FieldTokenizer(
            self.cardinalities,
            num_numeric,
            token_dim,
            numeric_embedding,
            numeric_bins,
            frequencies,
            frequency_scale,
            numeric_quantiles,
        )

    def embed(self, batch: dict[str, Tensor]) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def features(self, batch: dict[str, Tensor]) -> Tensor:
        """What a probe or fine-tuning head reads; the embedding unless an encoder offers more (`readout`)."""
        return self.embed(batch)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.embed(batch)
