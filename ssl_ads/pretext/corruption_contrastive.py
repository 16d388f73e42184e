"""`pretext=corruption_contrastive`: SCARF (Bahri et al., 2022).

The original row and a corrupted copy (a share of fields replaced from their empirical marginals) are
two views; a projection head maps both and InfoNCE pulls each pair together against the other rows of
the batch. Under DDP the negatives are this process's batch only.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_ads.config.ranges import Range
from ssl_ads.encoders.tabular_base import TabularEncoder
from ssl_ads.errors import ConfigError
from ssl_ads.pretext.base import Pretext
from ssl_ads.pretext.field_corruption import corrupt_fields


class CorruptionContrastive(Pretext):
    modality = "tabular"

    def __init__(
        self,
        corruption_rate: Annotated[float, Range(0, 1, min_inclusive=False, max_inclusive=False)] = 0.6,
        temperature: Annotated[float, Range(min=0, min_inclusive=False)] = 0.5,
        projection_dim: Annotated[int, Range(min=1)] = 64,
    ) -> None:
        super().__init__()
        if not 0.0 < corruption_rate < 1.0:
            raise ConfigError(f"pretext.corruption_rate must be in (0, 1), got {corruption_rate}")
        if temperature <= 0:
            raise ConfigError(f"pretext.temperature must be > 0, got {temperature}")
        self.corruption_rate = corruption_rate
        self.temperature = temperature
        self.projection_dim = projection_dim

    def attach(self, encoder: TabularEncoder) -> None:
        self.projection = nn.Sequential(
            nn.Linear(encoder.dim, encoder.dim), nn.ReLU(), nn.Linear(encoder.dim, self.projection_dim)
        )

    def loss(self, encoder: TabularEncoder, batch: dict[str, Tensor]) -> Tensor:
        cat, num = batch["cat"].long(), batch["num"].float()
        _, _, cat_c, num_c = corrupt_fields(cat, num, self.corruption_rate)
        anchor = self.projection(encoder.embed({**batch, "cat": cat, "num": num}))
        positive = self.projection(encoder.embed({**batch, "cat": cat_c, "num": num_c}))
        return info_nce(anchor, positive, self.temperature)


def info_nce(anchor: Tensor, positive: Tensor, temperature: float) -> Tensor:
    """Symmetric InfoNCE: row i of each view must pick row i of the other among all rows of the batch."""
    anchor, positive = F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)
    logits = anchor @ positive.T / temperature
    targets = torch.arange(len(anchor), device=anchor.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))
