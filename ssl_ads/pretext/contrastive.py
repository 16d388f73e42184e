"""Contrastive sequence views, following CL4SRec (Xie et al., 2022).

Two views per sequence, each made by one of crop / mask / reorder; the encoder's last state of each
view is pulled towards its twin and away from the other 2N-2 views of the batch (InfoNCE with in-batch
negatives at a temperature). With `next_item_weight > 0` the objective is CL4SRec's joint loss:
next-item cross-entropy + `contrastive_weight` × InfoNCE. Views are read causally, as CL4SRec's SASRec.
Note: under DDP the in-batch negatives are this process's batch only (no all-gather yet).
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from ssl_ads.config.ranges import Range
from ssl_ads.encoders.sequence_base import SequenceEncoder
from ssl_ads.errors import ConfigError
from ssl_ads.pretext.base import Pretext
from ssl_ads.pretext.next_item import causal_seen, shift
from ssl_ads.pretext.sampled_softmax import check_negatives, item_loss
from ssl_ads.pretext.sequence_augment import AUGMENTATIONS, augment


class Contrastive(Pretext):
    modality = "sequence"

    def __init__(
        self,
        augmentations: list[str] | None = None,
        crop_ratio: Annotated[float, Range(0, 1)] = 0.6,
        mask_ratio: Annotated[float, Range(0, 1)] = 0.3,
        reorder_ratio: Annotated[float, Range(0, 1)] = 0.6,
        temperature: Annotated[float, Range(min=0, min_inclusive=False)] = 1.0,
        similarity: str = "dot",
        contrastive_weight: Annotated[float, Range(min=0)] = 1.0,
        next_item_weight: Annotated[float, Range(min=0)] = 0.0,
        negatives: str = "full",
        num_negatives: Annotated[int, Range(min=1)] = 1000,
    ) -> None:
        super().__init__()
        self.augmentations = list(augmentations or AUGMENTATIONS)
        unknown = sorted(set(self.augmentations) - set(AUGMENTATIONS))
        if unknown or not self.augmentations:
            raise ConfigError(f"pretext.augmentations must be a non-empty subset of {AUGMENTATIONS}, got {unknown}")
        for key, value in (("crop_ratio", crop_ratio), ("mask_ratio", mask_ratio), ("reorder_ratio", reorder_ratio)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"pretext.{key} must be in [0, 1], got {value}")
        if temperature <= 0:
            raise ConfigError(f"pretext.temperature must be > 0, got {temperature}")
        if similarity not in ("dot", "cosine"):
            raise ConfigError(f"pretext.similarity must be 'dot' or 'cosine', got {similarity!r}")
        if contrastive_weight < 0 or next_item_weight < 0 or contrastive_weight + next_item_weight == 0:
            raise ConfigError("pretext.contrastive_weight and pretext.next_item_weight must be >= 0, not both 0")
        check_negatives(negatives, num_negatives)
        self.crop_ratio, self.mask_ratio, self.reorder_ratio = crop_ratio, mask_ratio, reorder_ratio
        self.temperature = temperature
        self.similarity = similarity
        self.contrastive_weight = contrastive_weight
        self.next_item_weight = next_item_weight
        self.negatives = negatives
        self.num_negatives = num_negatives

    def loss(self, encoder: SequenceEncoder, batch: dict[str, Tensor]) -> Tensor:
        inputs, targets, valid = shift(batch)
        total = torch.zeros((), device=batch["items"].device)
        if self.next_item_weight > 0:
            states = encoder(inputs, causal=True)
            seen = causal_seen(inputs["items"], valid)
            loss = item_loss(encoder, states[valid], targets[valid], self.negatives, self.num_negatives, seen)
            total = total + self.next_item_weight * loss
        if self.contrastive_weight > 0:
            total = total + self.contrastive_weight * self.view_loss(encoder, inputs)
        return total

    def view_loss(self, encoder: SequenceEncoder, batch: dict[str, Tensor]) -> Tensor:
        """InfoNCE between two augmented views of each non-empty sequence."""
        batch = {k: v[batch["mask"].any(1)] for k, v in batch.items()}
        views = [
            augment(batch, self.augmentations, self.crop_ratio, self.mask_ratio, self.reorder_ratio, encoder.mask_id)
            for _ in range(2)
        ]
        first, second = (encoder(view, causal=True)[:, -1] for view in views)
        return info_nce(first, second, self.temperature, self.similarity)


def info_nce(first: Tensor, second: Tensor, temperature: float, similarity: str = "dot") -> Tensor:
    """NT-Xent over 2N views: row i's positive is its twin, the other 2N-2 views are its negatives."""
    views = torch.cat([first, second])
    if similarity == "cosine":
        views = F.normalize(views, dim=-1)
    logits = views @ views.T / temperature
    logits.fill_diagonal_(torch.finfo(logits.dtype).min)
    n = first.shape[0]
    twins = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(first.device)
    return F.cross_entropy(logits, twins)
