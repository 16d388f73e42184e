"""The online linear probe tracks how linearly decodable the label is while the encoder trains."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytorch_lightning as pl_lightning
import torch
from pytorch_lightning.loggers import CSVLogger
from torch import nn

from ssl_ads.data.batches import batch_loader
from ssl_ads.tasks.user_binary import UserBinaryTask
from ssl_ads.training.online_probe import OnlineLinearProbe, probe_subset


class ToyEncoder(nn.Module):
    """Starts blind to the one informative input column; the pretext teaches it to read that column."""

    def __init__(self) -> None:
        super().__init__()
        self.dim = 2
        self.linear = nn.Linear(8, 2)
        with torch.no_grad():
            self.linear.weight[:, 0] = 0.0

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.linear(batch["x"])


class ReconstructColumn(pl_lightning.LightningModule):
    """Pretext stand-in: regress input column 0 from the embedding, so the representation improves."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = ToyEncoder()

    def training_step(self, batch, batch_idx):
        loss = nn.functional.mse_loss(self.encoder.embed(batch)[:, 0], batch["x"][:, 0])
        self.log("pretext_loss", loss, on_step=True, batch_size=len(batch["x"]))
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.05)


def test_online_probe_metric_improves_as_the_representation_improves(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 8)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(np.float32)
    arrays = {"x": x}
    fit_rows, eval_rows = probe_subset(np.arange(400), 300, seed=0), np.arange(400, 600)
    assert len(fit_rows) == 300 and np.all(np.diff(fit_rows) > 0)
    probe = OnlineLinearProbe(arrays, fit_rows, eval_rows, labels, UserBinaryTask("conversion"), every_n_steps=10)
    module = ReconstructColumn()
    trainer = pl_lightning.Trainer(
        max_epochs=8, logger=CSVLogger(tmp_path, name="logs"), callbacks=[probe], enable_progress_bar=False,
        enable_checkpointing=False, enable_model_summary=False, log_every_n_steps=1,
    )  # fmt: skip
    trainer.fit(module, batch_loader(arrays, np.arange(400), 64, shuffle=True, seed=0))

    steps = [step for step, _ in probe.history]
    first, last = probe.history[0][1], probe.history[-1][1]
    assert steps[0] == 0 and steps == sorted(steps) and len(steps) >= 5
    assert first < 0.65, probe.history  # the blind encoder: about chance
    assert last > 0.95, probe.history  # after pretraining the label is linearly decodable
    assert module.encoder.training  # the probe restores train mode
    logged = pl.read_csv(next(tmp_path.glob("logs/*/metrics.csv"))).select("step", "online_probe_auroc").drop_nulls()
    assert logged.height == len(probe.history)
    assert logged.get_column("online_probe_auroc").to_list()[-1] > 0.95


class NoisyReconstructColumn(ReconstructColumn):
    """The same pretext with input noise: every step draws from torch's global generator, as dropout does."""

    def training_step(self, batch, batch_idx):
        noisy = {"x": batch["x"] + 0.3 * torch.randn_like(batch["x"])}
        return nn.functional.mse_loss(self.encoder.embed(noisy)[:, 0], batch["x"][:, 0])


def _pretrain_noisy(callbacks: list) -> torch.Tensor:
    rng = np.random.default_rng(1)
    arrays = {"x": rng.normal(size=(300, 8)).astype(np.float32)}
    pl_lightning.seed_everything(0, verbose=False)
    module = NoisyReconstructColumn()
    trainer = pl_lightning.Trainer(
        max_epochs=3, logger=False, callbacks=callbacks, enable_progress_bar=False, enable_checkpointing=False,
        enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(module, batch_loader(arrays, np.arange(300), 32, shuffle=True, seed=0))
    return module.encoder.linear.weight.detach().clone()


def test_the_online_probe_observes_without_changing_what_pretraining_draws():
    """Pretraining with the probe on must give the encoder it gives with the probe off (same seed): the
    probe's own data loading and fitting may not consume the random numbers that dropout and masking use."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(np.float32)
    probe = OnlineLinearProbe({"x": x}, np.arange(150), np.arange(150, 200), labels, UserBinaryTask("conversion"), 3)
    without = _pretrain_noisy([])
    with_probe = _pretrain_noisy([probe])
    assert len(probe.history) >= 5
    assert torch.equal(without, with_probe)
