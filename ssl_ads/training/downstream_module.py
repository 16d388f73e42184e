"""LightningModule for a downstream task: encoder (frozen features or fine-tuned) + the task's head."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from ssl_ads.tasks.base import Task


class FeatureInput(nn.Module):
    """Stands in for the encoder when the probe trains on features embedded once beforehand."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        return batch["features"]


class DownstreamModule(pl.LightningModule):
    def __init__(self, encoder: nn.Module, task: Task, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.task = task
        self.head = task.make_head(encoder.dim)
        self.lr = lr
        self.weight_decay = weight_decay
        self.val_metrics = task.metrics().clone(prefix="val_")
        self.test_metrics = task.metrics().clone(prefix="test_")

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.head(self.encoder.embed(batch))

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = self.task.loss(self(batch), batch["label"])
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(batch["label"]))
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        logits = self(batch)
        self.log("val_loss", self.task.loss(logits, batch["label"]), batch_size=len(batch["label"]))
        self.val_metrics.update(self.task.predictions(logits), batch["label"].long())

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.val_metrics.compute(), prog_bar=True)
        self.val_metrics.reset()

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.test_metrics.update(self.task.predictions(self(batch)), batch["label"].long())

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
