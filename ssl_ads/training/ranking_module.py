"""LightningModule for next-item ranking: trains with a next-item loss, validates/tests by full ranking."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

from ssl_ads.encoders.sequence_base import SequenceEncoder
from ssl_ads.pretext.base import Pretext
from ssl_ads.pretext.scoring import next_item_scores
from ssl_ads.tasks.ranking_metrics import mask_scores, ranking_metrics, target_ranks
from ssl_ads.training.downstream_module import gathered


class RankingModule(pl.LightningModule):
    """`loss_pretext` trains (None = evaluation only); `score_pretext` scores (None = tied embeddings)."""

    def __init__(
        self,
        encoder: SequenceEncoder,
        loss_pretext: Pretext | None,
        score_pretext: Pretext | None,
        ks: list[int],
        exclude_seen: bool,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.loss_pretext = loss_pretext
        self.score_pretext = score_pretext
        self.ks = list(ks)
        self.exclude_seen = exclude_seen
        self.lr = lr
        self.weight_decay = weight_decay
        self._test_values: dict[str, list[Tensor]] = {}  # per test user, by metric (their intervals need them)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = self.loss_pretext.loss(self.encoder, batch)
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=batch["items"].shape[0])
        return loss

    def ranks(self, batch: dict[str, Tensor]) -> Tensor:
        """0-based rank of each row's target among all catalogue items."""
        history = {k: v for k, v in batch.items() if k not in ("target", "seen")}
        scores = next_item_scores(self.score_pretext, self.encoder, history)
        seen = batch["seen"] if self.exclude_seen else None
        return target_ranks(mask_scores(scores.float(), seen, batch["target"]), batch["target"])

    def _log_ranking(self, batch: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
        metrics = ranking_metrics(self.ranks(batch), self.ks)
        size = batch["target"].shape[0]
        for name, values in metrics.items():
            self.log(f"{prefix}_{name}", values.mean().float(), prog_bar=name == "ndcg@10", batch_size=size)
        return metrics

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._log_ranking(batch, "val")

    def on_test_epoch_start(self) -> None:
        self._test_values = {}

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        for name, values in self._log_ranking(batch, "test").items():
            self._test_values.setdefault(name, []).append(gathered(self, values))

    def test_values(self) -> dict[str, np.ndarray]:
        """Per test user, each metric of the last test run (its mean is the logged value; intervals resample it)."""
        return {name: torch.cat(parts).cpu().numpy() for name, parts in self._test_values.items()}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
