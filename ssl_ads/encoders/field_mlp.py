"""`encoder=field_mlp`: field tokens concatenated, then an MLP (the TabMlp / DeepFM-deep-part shape).

`readout` sets what downstream heads (probe, fine-tuning) read: `embedding` (the output, what the pretext
trains), `hidden_layers` (every hidden layer's activations concatenated with the output: the hidden layers
of a reconstruction-pretrained MLP keep detail the last layer has compressed away) or `all_layers` (those
and the field tokens, the input layer: learned per-field embeddings of every value).
"""

from __future__ import annotations

import itertools
from typing import Annotated

import torch
from torch import Tensor, nn

from ssl_ads.config.ranges import Range
from ssl_ads.encoders.numeric_embeddings import NumericEmbeddingSpec
from ssl_ads.encoders.tabular_base import TabularEncoder
from ssl_ads.errors import ConfigError

READOUTS = ("embedding", "hidden_layers", "all_layers")


class FieldMLP(TabularEncoder):
    def __init__(
        self,
        cardinalities: list[int],
        num_numeric: int,
        token_dim: Annotated[int, Range(min=1)] = 16,
        hidden: Annotated[list[int] | None, Range(min=1)] = None,
        dim: Annotated[int, Range(min=1)] = 128,
        dropout: Annotated[float, Range(0, 1, max_inclusive=False)] = 0.1,
        numeric_embedding: str = "linear",
        numeric_bins: Annotated[int, Range(min=1)] = 16,
        frequencies: Annotated[int, Range(min=1)] = 16,
        frequency_scale: Annotated[float, Range(min=0, min_inclusive=False)] = 1.0,
        numeric_quantiles: list[list[float]] | None = None,
        readout: str = "embedding",
    ) -> None:
        numeric = NumericEmbeddingSpec(numeric_embedding, numeric_bins, frequencies, frequency_scale, numeric_quantiles)
        super().__init__(cardinalities, num_numeric, dim, token_dim, numeric)
        if readout not in READOUTS:
            raise ConfigError(f"encoder.readout must be one of {READOUTS}, got {readout!r}")
        self.readout = readout
        widths = [self.num_fields * token_dim, *(hidden if hidden is not None else [256]), dim]
        layers: list[nn.Module] = []
        for i, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(width_in, width_out))
            if i < len(widths) - 2:
                layers += [nn.LayerNorm(width_out), nn.ReLU(), nn.Dropout(dropout)]
        self.mlp = nn.Sequential(*layers)
        layers_read = {"embedding": [], "hidden_layers": widths[1:-1], "all_layers": widths[:-1]}[readout]
        self.feature_dim = dim + sum(layers_read)

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        return self.mlp(self.tokenizer(batch).flatten(1))

    def features(self, batch: dict[str, Tensor]) -> Tensor:
        """What downstream heads read (`readout`), `[B, feature_dim]`."""
        if self.readout == "embedding":
            return self.embed(batch)
        x = self.tokenizer(batch).flatten(1)
        read = [x] if self.readout == "all_layers" else []
        for layer in self.mlp:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                read.append(x)
        return torch.cat([*read, x], dim=1)
