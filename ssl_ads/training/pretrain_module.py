"""LightningModule that trains an encoder with a pretext objective; it only wires the two together."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from ssl_ads.errors import ConfigError
from ssl_ads.pretext.base import Pretext
from ssl_ads.training.sparse_table_optimizer import STATE_KEYS, SparseTableAdam


class PretrainModule(pl.LightningModule):
    """AdamW over every parameter; with `sparse_item_table` (pretrain.sparse_item_table, resolved by
    `ssl_ads.config.sparse_item_table`) the encoder's item id table gives sparse gradients and is trained by
    SparseAdam, which has no weight decay (`weight_decay` then reaches only the other parameters)."""

    def __init__(
        self,
        encoder: nn.Module,
        pretext: Pretext,
        lr: float,
        weight_decay: float,
        bundle: dict[str, Any],
        sparse_item_table: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.pretext = pretext
        self.pretext.attach(encoder)
        self.lr = lr
        self.weight_decay = weight_decay
        self.sparse_item_table = sparse_item_table
        if sparse_item_table:
            table = getattr(encoder, "item_embedding", None)
            if not isinstance(table, nn.Embedding):
                raise ConfigError(
                    f"pretrain.sparse_item_table=true: {type(encoder).__name__} has no item_embedding table"
                )
            # Set on this training module's encoder only: the encoder's config (and so every encoder loaded from
            # encoder.pt for probing or fine-tuning, where AdamW refuses sparse gradients) keeps a dense table.
            table.sparse = True
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
        if not self.sparse_item_table:
            return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        table = self.encoder.item_embedding.weight
        dense = [p for p in self.parameters() if p is not table]
        return SparseTableAdam(table, dense, self.lr, self.weight_decay)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ssl_ads"] = self.bundle

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A resumed run needs the optimiser that wrote the checkpoint (called before Lightning restores it)."""
        states = checkpoint.get("optimizer_states") or []
        written_sparse = bool(states) and set(states[0]) == set(STATE_KEYS)
        if states and written_sparse != self.sparse_item_table:
            raise ConfigError(
                f"resume_from: the checkpoint was written with pretrain.sparse_item_table resolved to "
                f"{str(written_sparse).lower()}, this run resolves it to {str(self.sparse_item_table).lower()}: "
                f"resume with pretrain.sparse_item_table={str(written_sparse).lower()}"
            )


def _batch_size(batch: dict[str, Tensor]) -> int:
    """Rows in a batch of any modality (every field's first dimension)."""
    return len(next(iter(batch.values())))
