"""`encoder=field_transformer`: FT-Transformer (Gorishniy et al., 2021): each field a token, plus CLS.

Pre-norm transformer layers over `[CLS, field tokens]`; the normalised CLS state is the row's
representation. Field order is fixed, so no positional encoding is needed: each field's embedding
table (or numeric weight) already identifies it.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor, nn

from ssl_ads.config.ranges import DivisibleBy, Range
from ssl_ads.encoders.numeric_embeddings import NumericEmbeddingSpec
from ssl_ads.encoders.tabular_base import TabularEncoder
from ssl_ads.errors import ConfigError


class FieldTransformer(TabularEncoder):
    def __init__(
        self,
        cardinalities: list[int],
        num_numeric: int,
        dim: Annotated[int, Range(min=1), DivisibleBy("heads")] = 64,
        layers: Annotated[int, Range(min=1)] = 2,
        heads: Annotated[int, Range(min=1)] = 4,
        ff_dim: Annotated[int, Range(min=1)] = 128,
        dropout: Annotated[float, Range(0, 1, max_inclusive=False)] = 0.1,
        numeric_embedding: str = "linear",
        numeric_bins: Annotated[int, Range(min=1)] = 16,
        frequencies: Annotated[int, Range(min=1)] = 16,
        frequency_scale: Annotated[float, Range(min=0, min_inclusive=False)] = 1.0,
        numeric_quantiles: list[list[float]] | None = None,
    ) -> None:
        numeric = NumericEmbeddingSpec(numeric_embedding, numeric_bins, frequencies, frequency_scale, numeric_quantiles)
        super().__init__(cardinalities, num_numeric, dim, dim, numeric)
        if dim % heads:
            raise ConfigError(f"encoder.dim ({dim}) must be divisible by encoder.heads ({heads})")
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * dim**-0.5)
        layer = nn.TransformerEncoderLayer(
            dim, heads, ff_dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        tokens = self.tokenizer(batch)
        states = self.body(torch.cat([self.cls.expand(len(tokens), -1, -1), tokens], dim=1))
        return self.norm(states[:, 0])
