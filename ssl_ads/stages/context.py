"""What every stage needs first: the featurized data, the user split, encoders and Lightning trainers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import EarlyStopping, EMAWeightAveraging, ModelCheckpoint, RichProgressBar
from pytorch_lightning.loggers import CSVLogger
from torch import nn

from ssl_ads.data.featurized import Featurized
from ssl_ads.data.split import RowSplit, split_rows
from ssl_ads.errors import ConfigError
from ssl_ads.stages.encoder_bundle import load_encoder, make_bundle


@dataclass
class StageContext:
    cfg: DictConfig
    run_dir: Path
    data: Featurized
    split: RowSplit

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Model inputs by batch field name."""
        return self.data.inputs

    def encoder_config(self) -> dict[str, Any]:
        """The encoder's config plus the constructor arguments that come from the data (vocab sizes...)."""
        return {**OmegaConf.to_container(self.cfg.encoder, resolve=True), **self.data.encoder_kwargs}

    def fresh_encoder(self) -> nn.Module:
        """A randomly initialised encoder (seeded by the run's seed)."""
        pl.seed_everything(self.cfg.seed, verbose=False)
        return self.prepare(instantiate(self.encoder_config()))

    def prepare(self, encoder: nn.Module) -> nn.Module:
        """Let an encoder add inputs computed once per dataset (optional hook `prepare_inputs(data, cache_dir,
        train_rows) -> dict[str, np.ndarray]`, e.g. cached sentence embeddings); other encoders pass through."""
        hook = getattr(encoder, "prepare_inputs", None)
        if hook is not None:
            self.data.inputs.update(hook(self.data, Path(self.cfg.cache_dir), self.split.train))
        return encoder

    def bundle(self, extra: dict[str, Any]) -> dict[str, Any]:
        return make_bundle(
            self.encoder_config(),
            self.data.state,
            OmegaConf.to_container(self.cfg.dataset, resolve=True),
            {"featurized": self.data.meta, **extra},
        )


def build_context(cfg: DictConfig, encoder_ckpt: str | None = None, directory: Path | None = None) -> StageContext:
    """Featurize (from cache when possible) with the checkpoint's featurizer state if one is given.

    `directory` replaces the Hydra run directory (the benchmark stage runs many cases in one process).
    """
    dataset = instantiate(cfg.dataset)
    state = load_encoder(encoder_ckpt)[1]["data_state"] if encoder_ckpt else None
    dataset.use_split(cfg.val_share, cfg.test_share, cfg.seed)
    data = dataset.featurize(Path(cfg.cache_dir), state)
    split = split_rows(data.num_rows, cfg.val_share, cfg.test_share, cfg.seed)
    return StageContext(cfg=cfg, run_dir=directory or run_dir(), data=data, split=split)


def run_dir() -> Path:
    """The Hydra run (or multirun job) directory every output of this run goes to."""
    return Path(HydraConfig.get().runtime.output_dir)


def make_trainer(
    cfg: DictConfig,
    directory: Path,
    name: str,
    max_epochs: int,
    monitor: str,
    mode: str,
    patience: int = 0,
    progress: bool = True,
    extra_callbacks: tuple[pl.Callback, ...] = (),
    ema_decay: float | None = None,
) -> pl.Trainer:
    """A Lightning Trainer with checkpoints (best + last), CSV logs and a rich progress bar under `directory`.

    With `ema_decay`, validation, checkpoints and the final weights use an exponential moving average of
    the weights: it smooths the epoch-to-epoch noise that model selection would otherwise pick from.
    """
    callbacks: list[pl.Callback] = [
        ModelCheckpoint(dirpath=directory / "checkpoints" / name, monitor=monitor, mode=mode, save_last=True)
    ]
    if ema_decay is not None:
        if not 0.0 < ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1) or null, got {ema_decay}")
        callbacks.append(EMAWeightAveraging(decay=ema_decay))
    if patience > 0:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=patience))
    callbacks.extend(extra_callbacks)
    show_progress = bool(cfg.trainer.enable_progress_bar and progress)
    if show_progress:
        callbacks.append(RichProgressBar(leave=False))
    trainer_args = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_args["enable_progress_bar"] = show_progress
    return pl.Trainer(
        **trainer_args,
        max_epochs=max_epochs,
        callbacks=callbacks,
        logger=CSVLogger(directory, name="logs", version=name),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        # Our batch sampler shards rows by rank itself (ssl_ads.data.batches).
        use_distributed_sampler=False,
    )
