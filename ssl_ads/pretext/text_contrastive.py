"""Contrastive views by dropout (SimCSE, Gao et al., 2021): the same copy encoded twice is a positive pair.

The loss is a plain function of the two view embeddings (InfoNCE over the in-batch texts). Under DDP,
other ranks' texts are not gathered as negatives: this objective is meant for single-process runs.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_ads.config.ranges import Range
from ssl_ads.errors import ConfigError
from ssl_ads.pretext.base import Pretext


def info_nce(first: Tensor, second: Tensor, temperature: float) -> Tensor:
    """Symmetric cross-entropy where row i of `first` must pick row i of `second` among the batch."""
    logits = F.normalize(first, dim=-1) @ F.normalize(second, dim=-1).T / temperature
    targets = torch.arange(len(first), device=first.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


class TextContrastive(Pretext):
    modality = "text"

    def __init__(
        self,
        temperature: Annotated[float, Range(min=0, min_inclusive=False)] = 0.05,
        mlm_weight: Annotated[float, Range(min=0)] = 0.0,
        mask_prob: Annotated[float, Range(0, 1, min_inclusive=False, max_inclusive=False)] = 0.15,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ConfigError(f"pretext.temperature must be > 0, got {temperature}")
        if mlm_weight < 0:
            raise ConfigError(f"pretext.mlm_weight must be >= 0, got {mlm_weight}")
        self.temperature = temperature
        self.mlm_weight = mlm_weight
        self.mask_prob = mask_prob

    def attach(self, encoder: nn.Module) -> None:
        if self.mlm_weight > 0:
            from ssl_ads.pretext.masked_token import MaskedToken

            self.masked = MaskedToken(mask_prob=self.mask_prob)
            self.masked.attach(encoder)

    def loss(self, encoder: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        """Two forward passes in train mode draw two dropout masks: the views."""
        loss = info_nce(encoder.embed(batch), encoder.embed(batch), self.temperature)
        if self.mlm_weight > 0:
            loss = loss + self.mlm_weight * self.masked.loss(encoder, batch)
        return loss
