"""Typed schema of the run-level config, registered in Hydra's ConfigStore.

Group nodes (dataset, encoder, pretext, task) are validated against their `_target_`'s constructor
signature instead (see `ssl_ads.config.validate`), so a new encoder needs no schema of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from ssl_ads.config.ranges import Range, SumAtMost

POSITIVE = Range(min=0, min_inclusive=False)
OPEN_UNIT = Range(0, 1, min_inclusive=False, max_inclusive=False)


@dataclass
class LoopConfig:
    """One training loop's optimisation settings (pretext pretraining, probe head, fine-tuning)."""

    max_epochs: Annotated[int, Range(min=1)] = 10
    batch_size: Annotated[int, Range(min=1)] = 128
    lr: Annotated[float, POSITIVE] = 1e-3
    weight_decay: Annotated[float, Range(min=0)] = 0.0
    # Early stopping on the validation metric; 0 turns it off.
    patience: Annotated[int, Range(min=0)] = 0
    # Exponential moving average of the weights (e.g. 0.99), validated, checkpointed and kept; null = off.
    ema_decay: Annotated[float | None, OPEN_UNIT] = None


@dataclass
class TrainerConfig:
    """The Lightning Trainer arguments a user may change from the command line."""

    accelerator: str = "cpu"
    # an integer ≥ 1, "auto" or a list of device indices
    devices: Annotated[Any, Range(min=1)] = 1
    strategy: str = "auto"
    num_nodes: Annotated[int, Range(min=1)] = 1
    # "auto": "bf16-mixed" where the accelerator computes bf16 natively (ssl_ads.hardware), else "32-true";
    # or any Lightning precision ("32-true", "bf16-mixed", "16-mixed", ...).
    precision: str = "auto"
    log_every_n_steps: Annotated[int, Range(min=1)] = 10
    enable_progress_bar: bool = True
    deterministic: bool = False
    limit_train_batches: Any = None
    gradient_clip_val: Annotated[float | None, Range(min=0)] = None
    # Lightning passthroughs at Lightning's defaults (null = Lightning's own: every batch, no time limit).
    # fast_dev_run (true or n batches) is a smoke test: one batch per fit, no checkpoint, no logger.
    fast_dev_run: Any = False
    limit_val_batches: Any = None
    limit_test_batches: Any = None
    # "DD:HH:MM:SS" or {days: .., hours: ..}: stop fitting after this long (each fit has its own budget).
    max_time: Any = None


@dataclass
class OnlineProbeConfig:
    """Linear probe on a small labeled subset during pretraining (pipeline/benchmark); 0 steps turns it off."""

    every_n_steps: Annotated[int, Range(min=0)] = 20
    # Labeled train rows the probe fits on, and validation rows it scores (each capped at this many).
    max_rows: Annotated[int, Range(min=1)] = 1000


@dataclass
class EmbedConfig:
    """`ssl-ads embed`: where the vectors go and how many entities are featurized and embedded at a time."""

    # Folder of the parquet files (users.parquet + items.parquet, rows.parquet or texts.parquet); null = run dir.
    out_dir: str | None = None
    # Entities per batch: memory holds one batch's inputs and vectors, whatever the data's size.
    batch_size: Annotated[int, Range(min=1)] = 1024
    # Sequence encoders: also write the item embedding table (items.parquet, with the original item ids).
    items: bool = True


@dataclass
class RunConfig:
    stage: str = MISSING
    seed: Annotated[int, Range(min=0)] = 0
    # Featurized arrays and simulator output, keyed by a hash of the data config.
    cache_dir: str = ".ssl_ads_cache"
    # A pretrained encoder checkpoint for `probe` / `finetune` (null: a randomly initialised encoder), and the
    # encoder `embed` applies (required there).
    encoder_ckpt: str | None = None
    # Resume `pretrain` from the last checkpoint in this run directory.
    resume_from: str | None = None
    label_fractions: Annotated[list[float], Range(0, 1, min_inclusive=False)] = field(
        default_factory=lambda: [0.01, 0.1, 1.0]
    )
    # Share of users held out for validation and for test (by user, seeded); together less than all of them.
    val_share: Annotated[float, OPEN_UNIT, SumAtMost(("test_share",), 1.0, inclusive=False)] = 0.1
    test_share: Annotated[float, OPEN_UNIT] = 0.1
    # Rows whose inputs the pretext objective reads: "train", or "train_val" (the validation rows' inputs as
    # well: more unlabeled data, never a label; test rows are never read either way).
    pretrain_rows: str = "train"
    # Binary tasks: a warning (terminal, report.md, metrics.json `warnings`) when the test split or a label
    # budget holds fewer positives than this; a metric resting on a handful of positives is noise.
    min_positives: Annotated[int, Range(min=0)] = 30
    # Bootstrap resamples behind each 95 % test interval (binary AUROC uses DeLong and draws none); the cost
    # grows with resamples × test rows, so a test split of millions may want fewer.
    interval_resamples: Annotated[int, Range(min=1)] = 1000
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
    # Experiment tracking (configs/logger/: csv, tensorboard, mlflow, wandb), a Lightning logger's `_target_`
    # node, built once per fit by ssl_ads.report.tracking; null = csv.
    logger: Any = None
    online_probe: OnlineProbeConfig = field(default_factory=OnlineProbeConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)


def register_configs() -> None:
    """Make the run schema available to `configs/config.yaml`'s defaults list."""
    ConfigStore.instance().store(name="run_schema", node=RunConfig)
