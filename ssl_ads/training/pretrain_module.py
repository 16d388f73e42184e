"""LightningModule that trains an encoder with a pretext objective; it only wires the two together."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from ssl_ads.pretext.base import Pretext


class PretrainModule(pl.LightningModule):
    def __init__(
        self, encoder: nn.Module, pretext: Pretext, lr: float, weight_decay: float, bundle: dict[str, Any]
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.pretext = pretext
        self.pretext.attach(encoder)
        self.lr = lr
        self.weight_decay = weight_decay
        # Everything needed to rebuild and reuse the encoder; stored inside every checkpoint.
        self.bundle = bundle

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = self.pretext.loss(self.encoder, batch)
        self.log("pretext_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=_batch_size(batch))
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        loss = self.pretext.loss(self.encoder, batch)
        self.log("val_pretext_loss", loss, prog_bar=True, batch_size=_batch_size(batch))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ssl_ads"] = self.bundle


def _batch_size(batch: dict[str, Tensor]) -> int:
    """Rows in a batch of any modality (every field's first dimension)."""
    return len(next(iter(batch.values())))
