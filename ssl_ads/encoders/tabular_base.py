"""Field tokens shared by the tabular encoders: one embedding per categorical field, one token per numeric.

Every field becomes a `[d]` token (FT-Transformer's feature tokenizer), so the MLP and the transformer
read the same inputs and a pretext can treat any tabular encoder alike (`embed`, `cardinalities`,
`num_numeric`, `dim`). How a numeric value becomes its token is `numeric_embeddings.py`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ssl_ads.encoders.base import Encoder
from ssl_ads.encoders.numeric_embeddings import NumericEmbeddingSpec

# Parameter names of the linear numeric map before it became a module (encoders saved by ssl-ads 0.1).
_RENAMED = {"num_weight": "numeric.weight", "num_bias": "numeric.bias"}


class FieldTokenizer(nn.Module):
    """`cat [B, Fc]` ids and `num [B, Fn]` values → tokens `[B, Fc + Fn, d]`."""

    def __init__(
        self, cardinalities: list[int], num_numeric: int, token_dim: int, numeric: NumericEmbeddingSpec
    ) -> None:
        super().__init__()
        cards = torch.tensor([0, *cardinalities], dtype=torch.long)
        # One table for all categorical fields; each field's ids start at its offset.
        self.register_buffer("offsets", cards.cumsum(0)[:-1], persistent=False)
        self.categorical = nn.Embedding(max(int(cards.sum()), 1), token_dim)
        nn.init.normal_(self.categorical.weight, std=token_dim**-0.5)
        self.num_numeric = num_numeric
        self.numeric = numeric.build(num_numeric, token_dim)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        tokens = [self.categorical(batch["cat"].long() + self.offsets)]
        if self.num_numeric:
            tokens.append(self.numeric(batch["num"].float()))
        return torch.cat(tokens, dim=1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        for old, new in _RENAMED.items():
            if prefix + old in state_dict:
                state_dict[prefix + new] = state_dict.pop(prefix + old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class TabularEncoder(Encoder):
    """Base of the tabular encoders: `embed(batch) -> [B, dim]` from field tokens.

    `numeric` holds the numeric-embedding knobs of the encoder's config and the train quantiles the
    featurizer passes as `numeric_quantiles` (see `NumericEmbeddingSpec`).
    """

    modality = "tabular"

    def __init__(
        self, cardinalities: list[int], num_numeric: int, dim: int, token_dim: int, numeric: NumericEmbeddingSpec
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
        self.tokenizer = FieldTokenizer(self.cardinalities, num_numeric, token_dim, numeric)

    def embed(self, batch: dict[str, Tensor]) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.embed(batch)
