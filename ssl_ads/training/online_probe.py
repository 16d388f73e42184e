"""Online linear probe (solo-learn style): every N pretraining steps, how linearly decodable is the label?

The pretext loss alone cannot show when the encoder starts overfitting its own objective; a cheap logistic
regression on frozen features of a small labeled subset, scored on held-out validation rows, can. The value
is logged next to the pretext loss (`online_probe_<metric>`) so both curves land in the same CSV log.
Probing never moves torch's global random state (each DataLoader iteration draws a seed from it), so turning
the probe on or off leaves the pretrained encoder bit-identical.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytorch_lightning as pl
import torch
from sklearn.linear_model import LogisticRegression

from ssl_ads.data.batches import batch_loader
from ssl_ads.tasks.base import LabeledTask


class OnlineLinearProbe(pl.Callback):
    """Fits a fresh logistic regression on detached features at step 0 and every `every_n_steps` steps."""

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        fit_rows: np.ndarray,
        eval_rows: np.ndarray,
        labels: np.ndarray,
        task: LabeledTask,
        every_n_steps: int,
        batch_size: int = 512,
    ) -> None:
        if every_n_steps < 1:
            raise ValueError("every_n_steps must be >= 1")
        self.arrays = arrays
        self.fit_rows = np.asarray(fit_rows)
        self.eval_rows = np.asarray(eval_rows)
        self.labels = np.asarray(labels)
        self.task = task
        self.every_n_steps = every_n_steps
        self.batch_size = batch_size
        self.name = f"online_probe_{task.primary_metric}"
        self.history: list[tuple[int, float]] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._probe(trainer, pl_module)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args, **kwargs) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self._probe(trainer, pl_module)

    def _probe(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or (self.history and self.history[-1][0] == trainer.global_step):
            return
        with torch.random.fork_rng(devices=[]):  # an observer: pretraining draws the same numbers with or without it
            value = self.score(pl_module.encoder)
        self.history.append((trainer.global_step, value))
        for logger in trainer.loggers:
            logger.log_metrics({self.name: value}, step=trainer.global_step)
        trainer.callback_metrics[self.name] = torch.tensor(value)

    def score(self, encoder: torch.nn.Module) -> float:
        """The task's primary metric of a linear probe on the encoder's current (frozen) features."""
        was_training = encoder.training
        encoder.eval()
        try:
            fit_x, eval_x = self._embed(encoder, self.fit_rows), self._embed(encoder, self.eval_rows)
        finally:
            encoder.train(was_training)
        mean, std = fit_x.mean(0), fit_x.std(0) + 1e-6
        model = LogisticRegression(max_iter=300).fit((fit_x - mean) / std, self.labels[self.fit_rows])
        logits = torch.as_tensor(model.decision_function((eval_x - mean) / std), dtype=torch.float32)
        if logits.ndim == 1:
            logits = logits.unsqueeze(-1)
        metric = self.task.metrics()[self.task.primary_metric]
        target = torch.as_tensor(self.labels[self.eval_rows]).long()
        return float(metric(self.task.predictions(logits), target))

    def _embed(self, encoder: torch.nn.Module, rows: np.ndarray) -> np.ndarray:
        device = next(encoder.parameters()).device
        with torch.no_grad():
            chunks = [
                encoder.embed({k: v.to(device) for k, v in batch.items()}).detach().cpu()
                for batch in batch_loader(self.arrays, rows, self.batch_size, shuffle=False)
            ]
        return torch.cat(chunks).numpy().astype(np.float64)


def probe_subset(rows: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """At most `max_rows` of `rows`, seeded, sorted (for memory-map locality)."""
    if len(rows) <= max_rows:
        return np.sort(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=max_rows, replace=False))
