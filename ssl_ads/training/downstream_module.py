"""LightningModule for a downstream task: encoder (frozen features or fine-tuned) + the task's head.

Options (the recipe: `wide_head`, `finetune.*`): a wide & deep head that also reads the featurized inputs
(`WideInputs`), a smaller learning rate for the encoder than for the head, and a first few epochs with the
encoder frozen (the head settles on the pretrained features before they move).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from ssl_ads.encoders.base import Encoder
from ssl_ads.tasks.base import LabeledTask


def head_features(encoder: Encoder, batch: dict[str, Tensor]) -> Tensor:
    """What a downstream head reads from an encoder (`Encoder.features`)."""
    return encoder.features(batch)


class FeatureInput(Encoder):
    """Stands in for the encoder when the probe trains on features embedded once beforehand."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        return batch["features"]


class WideInputs(nn.Module):
    """The tabular inputs as a wide model reads them: one-hot categorical ids and the numeric values."""

    def __init__(self, cardinalities: list[int], num_numeric: int) -> None:
        super().__init__()
        cards = torch.tensor([0, *cardinalities], dtype=torch.long)
        self.register_buffer("offsets", cards.cumsum(0)[:-1], persistent=False)
        self.num_ids = int(cards.sum())
        self.dim = self.num_ids + num_numeric

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        ids = batch["cat"].long() + self.offsets
        one_hot = torch.zeros(len(ids), self.num_ids, device=ids.device).scatter_(1, ids, 1.0)
        return torch.cat([one_hot, batch["num"].float()], dim=1)


def wide_features(wide: WideInputs, arrays: Mapping[str, np.ndarray], batch_size: int = 8192) -> np.ndarray:
    """`WideInputs` of every row, as the probe's extra features."""
    n = len(arrays["cat"])
    chunks = []
    for start in range(0, n, batch_size):
        part = {k: torch.from_numpy(np.asarray(arrays[k][start : start + batch_size])) for k in ("cat", "num")}
        chunks.append(wide(part).numpy())
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, wide.dim), np.float32)


def gathered(module: pl.LightningModule, values: Tensor) -> Tensor:
    """`values` of this batch from every rank (DDP shards are padded to equal batches, so they stack; a row
    padded onto two shards appears twice)."""
    if module.trainer.world_size <= 1:
        return values
    stacked = module.all_gather(values)  # [world, batch, ...]
    return stacked.transpose(0, 1).reshape(-1, *values.shape[1:])


class DownstreamModule(pl.LightningModule):
    def __init__(
        self,
        encoder: Encoder,
        task: LabeledTask,
        lr: float,
        weight_decay: float,
        wide: WideInputs | None = None,
        encoder_lr_scale: float = 1.0,
        freeze_epochs: int = 0,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.task = task
        self.wide = wide
        self.head = task.make_head(encoder.feature_dim + (wide.dim if wide is not None else 0))
        self.lr = lr
        self.weight_decay = weight_decay
        self.encoder_lr_scale = encoder_lr_scale
        self.freeze_epochs = freeze_epochs
        self.val_metrics = task.metrics().clone(prefix="val_")
        self.test_metrics = task.metrics().clone(prefix="test_")
        # the predictions and labels behind test_metrics (their intervals need them)
        self._test_outputs: list[tuple[Tensor, Tensor]] = []

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        features = head_features(self.encoder, batch)
        if self.wide is not None:
            features = torch.cat([features, self.wide(batch)], dim=1)
        # The head scores in its own dtype (fp32 unless bf16-true) even under bf16-mixed autocast (`auto` on a CPU
        # with bf16 units): a bf16 logit keeps 3 significant digits, so test scores would tie, and the metrics'
        # intervals read the scores with numpy, which has no bf16. The head is tiny: fp32 costs nothing here.
        with torch.autocast(features.device.type, enabled=False):
            return self.head(features.to(self.head_dtype)).float()

    @property
    def head_dtype(self) -> torch.dtype:
        return next(self.head.parameters()).dtype

    def on_train_epoch_start(self) -> None:
        # Parameters without a gradient are skipped by AdamW (no step, no weight decay) while frozen.
        trainable = self.current_epoch >= self.freeze_epochs
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(trainable)

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

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        predictions, target = self.task.predictions(self(batch)), batch["label"].long()
        self.test_metrics.update(predictions, target)
        self._test_outputs.append((gathered(self, predictions.detach()), gathered(self, target)))

    def test_outputs(self) -> tuple[Tensor, Tensor]:
        """`(predictions, labels)` of the last test run, one per test row (every rank's shard under DDP)."""
        if not self._test_outputs:
            return torch.zeros(0), torch.zeros(0, dtype=torch.long)
        return tuple(torch.cat(part).cpu() for part in zip(*self._test_outputs, strict=True))

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        encoder = list(self.encoder.parameters())
        others = [p for name, p in self.named_parameters() if not name.startswith("encoder.")]
        groups = [{"params": others, "lr": self.lr}]
        if encoder:
            groups.append({"params": encoder, "lr": self.lr * self.encoder_lr_scale})
        return torch.optim.AdamW(groups, weight_decay=self.weight_decay)
