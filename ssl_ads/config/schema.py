"""Typed schema of the run-level config, registered in Hydra's ConfigStore.

Group nodes (dataset, encoder, pretext, task) are validated against their `_target_`'s constructor
signature instead (see `ssl_ads.config.validate`), so a new encoder needs no schema of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class LoopConfig:
    """One training loop's optimisation settings (pretext pretraining, probe head, fine-tuning)."""

    max_epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    # Early stopping on the validation metric; 0 turns it off.
    patience: int = 0
    # Exponential moving average of the weights (e.g. 0.99), validated, checkpointed and kept; null = off.
    ema_decay: float | None = None


@dataclass
class TrainerConfig:
    """The Lightning Trainer arguments a user may change from the command line."""

    accelerator: str = "cpu"
    devices: Any = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    log_every_n_steps: int = 10
    enable_progress_bar: bool = True
    deterministic: bool = False
    limit_train_batches: Any = None
    gradient_clip_val: float | None = None


@dataclass
class OnlineProbeConfig:
    """Linear probe on a small labeled subset during pretraining (pipeline/benchmark); 0 steps turns it off."""

    every_n_steps: int = 20
    # Labeled train rows the probe fits on, and validation rows it scores (each capped at this many).
    max_rows: int = 1000


@dataclass
class RunConfig:
    stage: str = MISSING
    seed: int = 0
    # Featurized arrays and simulator output, keyed by a hash of the data config.
    cache_dir: str = ".ssl_ads_cache"
    # A pretrained encoder checkpoint for `probe` / `finetune` (null: a randomly initialised encoder).
    encoder_ckpt: str | None = None
    # Resume `pretrain` from the last checkpoint in this run directory.
    resume_from: str | None = None
    label_fractions: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0])
    # Share of users held out for validation and for test (by user, seeded).
    val_share: float = 0.1
    test_share: float = 0.1
    # Rows whose inputs the pretext objective reads: "train", or "train_val" (the validation rows' inputs as
    # well: more unlabeled data, never a label; test rows are never read either way).
    pretrain_rows: str = "train"
    pretrain: LoopConfig = field(default_factory=lambda: LoopConfig(max_epochs=20, batch_size=128))
    probe: LoopConfig = field(
        default_factory=lambda: LoopConfig(max_epochs=200, batch_size=512, lr=1e-2, weight_decay=1e-3, patience=20)
    )
    finetune: LoopConfig = field(
        default_factory=lambda: LoopConfig(max_epochs=20, batch_size=64, lr=5e-4, weight_decay=1e-2, patience=5)
    )
    dataset: Any = MISSING
    encoder: Any = MISSING
    pretext: Any = MISSING
    task: Any = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    online_probe: OnlineProbeConfig = field(default_factory=OnlineProbeConfig)


def register_configs() -> None:
    """Make the run schema available to `configs/config.yaml`'s defaults list."""
    ConfigStore.instance().store(name="run_schema", node=RunConfig)
