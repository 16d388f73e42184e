"""Field tokens shared by the tabular encoders: one embedding per categorical field, one linear map per numeric.

Every field becomes a `[d]` token (FT-Transformer's feature tokenizer), so the MLP and the transformer
read the same inputs and a pretext can treat any tabular encoder alike (`embed`, `cardinalities`,
`num_numeric`, `dim`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class FieldTokenizer(nn.Module):
    """`cat [B, Fc]` ids and `num [B, Fn]` values → tokens `[B, Fc + Fn, d]`."""

    def __init__(self, cardinalities: list[int], num_numeric: int, token_dim: int) -> None:
        super().__init__()
        cards = torch.tensor([0, *cardinalities], dtype=torch.long)
        # One table for all categorical fields; each field's ids start at its offset.
        self.register_buffer("offsets", cards.cumsum(0)[:-1], persistent=False)
        self.categorical = nn.Embedding(max(int(cards.sum()), 1), token_dim)
        self.num_weight = nn.Parameter(torch.randn(num_numeric, token_dim) / token_dim**0.5)
        self.num_bias = nn.Parameter(torch.zeros(num_numeric, token_dim))
        nn.init.normal_(self.categorical.weight, std=token_dim**-0.5)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        tokens = [self.categorical(batch["cat"].long() + self.offsets)]
        if self.num_weight.shape[0]:
            tokens.append(batch["num"].float().unsqueeze(-1) * self.num_weight + self.num_bias)
        return torch.cat(tokens, dim=1)


class TabularEncoder(nn.Module):
    """Base of the tabular encoders: `embed(batch) -> [B, dim]` from field tokens."""

    modality = "tabular"

    def __init__(self, cardinalities: list[int], num_numeric: int, dim: int, token_dim: int) -> None:
        super().__init__()
        if not cardinalities and num_numeric == 0:
            raise ValueError("a tabular encoder needs at least one categorical or numeric field")
        if min(cardinalities, default=2) < 2:
            raise ValueError(f"every categorical field needs >= 2 ids (missing, OOV); got {cardinalities}")
        self.cardinalities = list(cardinalities)
        self.num_numeric = num_numeric
        self.num_fields = len(cardinalities) + num_numeric
        self.dim = dim
        self.tokenizer = FieldTokenizer(self.cardinalities, num_numeric, token_dim)

    def embed(self, batch: dict[str, Tensor]) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.embed(batch)
