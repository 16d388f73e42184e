"""`pretext=masked_feature`: VIME-style self-supervision (Yoon et al., 2020).

A share of the fields is replaced with values drawn from their empirical marginals; from the corrupted
row's representation the model predicts which fields were replaced (mask estimation, BCE) and the
original value of every field (cross-entropy per categorical field, MSE per numeric field).

With `contrastive_weight > 0` the SCARF objective joins in: the clean row and its corrupted copy are two
views, and InfoNCE (`temperature`, in-batch negatives) on a projection of their embeddings is added to the
loss with that weight (one more encoder pass per batch).
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
from ssl_ads.pretext.corruption_contrastive import info_nce
from ssl_ads.pretext.field_corruption import corrupt_fields


class MaskedFeature(Pretext):
    modality = "tabular"

    def __init__(
        self,
        corruption_rate: Annotated[float, Range(0, 1, min_inclusive=False, max_inclusive=False)] = 0.3,
        mask_weight: Annotated[float, Range(min=0)] = 1.0,
        hidden: Annotated[int, Range(min=1)] = 128,
        contrastive_weight: Annotated[float, Range(min=0)] = 0.0,
        temperature: Annotated[float, Range(min=0, min_inclusive=False)] = 0.5,
        projection_dim: Annotated[int, Range(min=1)] = 64,
    ) -> None:
        super().__init__()
        if not 0.0 < corruption_rate < 1.0:
            raise ConfigError(f"pretext.corruption_rate must be in (0, 1), got {corruption_rate}")
        if contrastive_weight < 0 or temperature <= 0:
            raise ConfigError(
                "pretext.contrastive_weight must be >= 0 and pretext.temperature > 0 "
                f"({contrastive_weight}, {temperature})"
            )
        self.corruption_rate = corruption_rate
        self.mask_weight = mask_weight
        self.hidden = hidden
        self.contrastive_weight = contrastive_weight
        self.temperature = temperature
        self.projection_dim = projection_dim

    def attach(self, encoder: TabularEncoder) -> None:
        self.cardinalities = list(encoder.cardinalities)
        self.trunk = nn.Sequential(nn.Linear(encoder.dim, self.hidden), nn.ReLU())
        self.mask_head = nn.Linear(self.hidden, encoder.num_fields)
        self.cat_head = nn.Linear(self.hidden, max(sum(self.cardinalities), 1))
        self.num_head = nn.Linear(self.hidden, encoder.num_numeric)
        if self.contrastive_weight > 0:
            self.projection = nn.Sequential(
                nn.Linear(encoder.dim, encoder.dim), nn.ReLU(), nn.Linear(encoder.dim, self.projection_dim)
            )

    def loss(self, encoder: TabularEncoder, batch: dict[str, Tensor]) -> Tensor:
        cat, num = batch["cat"].long(), batch["num"].float()
        cat_mask, num_mask, cat_c, num_c = corrupt_fields(cat, num, self.corruption_rate)
        corrupted = encoder.embed({**batch, "cat": cat_c, "num": num_c})
        hidden = self.trunk(corrupted)
        loss = masked_feature_loss(
            self.mask_head(hidden),
            torch.cat([cat_mask, num_mask], dim=1),
            self.cat_head(hidden),
            cat,
            self.cardinalities,
            self.num_head(hidden),
            num,
            self.mask_weight,
        )
        if self.contrastive_weight > 0:
            clean = encoder.embed({**batch, "cat": cat, "num": num})
            contrastive = info_nce(self.projection(clean), self.projection(corrupted), self.temperature)
            loss = loss + self.contrastive_weight * contrastive
        return loss


def masked_feature_loss(
    mask_logits: Tensor,
    mask: Tensor,
    cat_logits: Tensor,
    cat: Tensor,
    cardinalities: list[int],
    num_pred: Tensor,
    num: Tensor,
    mask_weight: float,
) -> Tensor:
    """Mask BCE (weighted) + mean over fields of (per-field CE for categorical, MSE for numeric)."""
    loss = mask_weight * F.binary_cross_entropy_with_logits(mask_logits, mask.float())
    per_field = [
        F.cross_entropy(logits, cat[:, i])
        for i, logits in enumerate(torch.split(cat_logits[:, : sum(cardinalities)], cardinalities, dim=1))
    ]
    if num.shape[1]:
        per_field.append(F.mse_loss(num_pred, num, reduction="none").mean(0).sum())
    return loss + torch.stack(per_field).sum() / max(len(cardinalities) + num.shape[1], 1)
