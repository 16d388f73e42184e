"""`encoder=field_mlp`: field tokens concatenated, then an MLP (the TabMlp / DeepFM-deep-part shape)."""

from __future__ import annotations

import itertools

from torch import Tensor, nn

from ssl_ads.encoders.tabular_base import TabularEncoder


class FieldMLP(TabularEncoder):
    def __init__(
        self,
        cardinalities: list[int],
        num_numeric: int,
        token_dim: int = 16,
        hidden: list[int] | None = None,
        dim: int = 128,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(cardinalities, num_numeric, dim, token_dim)
        widths = [self.num_fields * token_dim, *(hidden if hidden is not None else [256]), dim]
        layers: list[nn.Module] = []
        for i, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(width_in, width_out))
            if i < len(widths) - 2:
                layers += [nn.LayerNorm(width_out), nn.ReLU(), nn.Dropout(dropout)]
        self.mlp = nn.Sequential(*layers)

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        return self.mlp(self.tokenizer(batch).flatten(1))
