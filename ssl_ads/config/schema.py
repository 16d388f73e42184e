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
from ssl_ads.config.sparse_item_table import check_at_start as check_sparse_item_table
from ssl_ads.errors import ConfigError

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


PROBE_SOLVERS = ("adamw", "lbfgs")
HEAD_INITS = ("random", "probe")
PRETRAIN_KEEPS = ("last", "best")
CLASS_WEIGHTS = (None, "balanced", "auto")
VALIDATION_LABELS = ("full", "matched")


@dataclass
class ProbeLoopConfig(LoopConfig):
    """The linear probe's recipe: the loop above (solver adamw), or an exact L2 head, and its class weights."""

    # adamw: the loop's epochs and early stopping | lbfgs: the exact L2 head per strength of a grid, the strength
    # chosen on the validation labels (or by cross-validation, below)
    solver: str = "adamw"
    # lbfgs only: 0 = strength chosen on validation; k >= 2 = by stratified k-fold cross-validation over the
    # fraction's label budget (its train labels, plus the matched validation labels), then refitted on it
    cv_folds: Annotated[int, Range(min=0)] = 0
    # balanced: each class's loss weighted n / (k * n_c) over the fit's labels (sklearn's class_weight); null:
    # the plain mean; auto (needs cv_folds): per fit, whichever of the two has the better out-of-fold accuracy
    class_weight: str | None = None


@dataclass
class FinetuneLoopConfig(LoopConfig):
    """The fine-tuning recipe for a pretrained encoder (the scratch baseline always trains plainly)."""

    # random head, or the exact L2 probe's solution (probe: LP-FT, Kumar et al. 2022), so early updates do
    # not distort the features to fit a random head
    head_init: str = "random"
    # the encoder's learning rate is lr times this; it is frozen for the first freeze_epochs
    encoder_lr_scale: Annotated[float, Range(min=0)] = 1.0
    freeze_epochs: Annotated[int, Range(min=0)] = 0
    # balanced or null, as probe.class_weight (every fine-tuning fit, scratch included)
    class_weight: str | None = None


@dataclass
class PretrainLoopConfig(LoopConfig):
    """The pretext loop; its item id table may train sparsely (ssl_ads.config.sparse_item_table)."""

    # auto | true | false: SparseAdam on the item table (O(rows read) per step, no weight decay on the table),
    # AdamW for the rest; auto = true with pretext.negatives sampled/in_batch and a large catalogue
    sparse_item_table: str = "auto"
    # last | best: the encoder saved is the last epoch's, or the epoch's with the lowest validation pretext loss
    # (label-free: the validation users' own events); with `patience`, training stops that many epochs after it
    keep: str = "last"


# Keys a task config held before the training recipe moved to the loops (and the run level): where they are now.
MOVED_TASK_KEYS = {
    "probe_solver": "probe.solver",
    "probe_cv_folds": "probe.cv_folds",
    "class_weight": "probe.class_weight (and finetune.class_weight; auto is the probe's only)",
    "finetune_head_init": "finetune.head_init",
    "encoder_lr_scale": "finetune.encoder_lr_scale",
    "freeze_epochs": "finetune.freeze_epochs",
    "validation_labels": "validation_labels (run level: the probe and fine-tuning both select with it)",
    "wide": "wide_head (run level: the probe and fine-tuning heads both read it)",
}


def moved_task_key(key: str) -> str | None:
    """The error for a `task.<key>` that is now a loop or run setting, or None for any other key."""
    if key not in MOVED_TASK_KEYS:
        return None
    return f"task.{key} is a training-recipe setting and has moved: set {MOVED_TASK_KEYS[key]} instead"


def check_recipe(cfg: Any) -> None:
    """The recipe's named choices and the pairs that only work together (ranges are checked with the rest)."""
    probe, finetune = cfg.probe, cfg.finetune
    for key, value, allowed in (
        ("probe.solver", probe.get("solver", "adamw"), PROBE_SOLVERS),
        ("probe.class_weight", probe.get("class_weight"), CLASS_WEIGHTS),
        ("finetune.head_init", finetune.get("head_init", "random"), HEAD_INITS),
        ("finetune.class_weight", finetune.get("class_weight"), CLASS_WEIGHTS[:2]),
        ("validation_labels", cfg.get("validation_labels", "full"), VALIDATION_LABELS),
        ("pretrain.keep", cfg.pretrain.get("keep", "last"), PRETRAIN_KEEPS),
    ):
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {allowed}, got {value!r}")
    folds = probe.get("cv_folds", 0)
    if folds == 1:
        raise ConfigError(f"probe.cv_folds must be 0 (off) or >= 2, got {folds}")
    if folds and probe.get("solver") != "lbfgs":
        raise ConfigError(f"probe.cv_folds={folds} needs probe.solver=lbfgs (got {probe.get('solver')!r})")
    if probe.get("class_weight") == "auto" and not folds:
        raise ConfigError("probe.class_weight=auto is chosen by cross-validation: it needs probe.cv_folds >= 2")
    check_sparse_item_table(cfg)  # pretrain.sparse_item_table's value, and true with a full softmax or clipping


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
    # Sequence encoders: the time event ages count from (encoder.read_ages), unix seconds or an ISO date / datetime
    # (UTC); events at or after it are set aside and counted. null: the label window's start (dataset cutoff), as in
    # training, else the data's last event.
    as_of: str | None = None


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
    # Labels that select the probe's and fine-tuning's epoch (or L2 strength) at label fraction f: "full" (every
    # validation row) or "matched" (a stratified fraction f of them, so a 1 % run also selects with 1 % of the
    # validation labels; they count in the run's label budget). One key: both loops spend the same budget.
    validation_labels: str = "full"
    # A wide & deep head (tabular): the probe's and fine-tuning's heads also read the featurized inputs (one-hot
    # ids, numeric values) beside the embedding.
    wide_head: bool = False
    # Binary tasks: a warning (terminal, report.md, metrics.json `warnings`) when the test split or a label
    # budget holds fewer positives than this; a metric resting on a handful of positives is noise.
    min_positives: Annotated[int, Range(min=0)] = 30
    # Bootstrap resamples behind each 95 % test interval (binary AUROC uses DeLong and draws none); the cost
    # grows with resamples × test rows, so a test split of millions may want fewer.
    interval_resamples: Annotated[int, Range(min=1)] = 1000
    pretrain: PretrainLoopConfig = field(default_factory=lambda: PretrainLoopConfig(max_epochs=20, batch_size=128))
    probe: ProbeLoopConfig = field(
        default_factory=lambda: ProbeLoopConfig(max_epochs=200, batch_size=512, lr=1e-2, weight_decay=1e-3, patience=20)
    )
    finetune: FinetuneLoopConfig = field(
        default_factory=lambda: FinetuneLoopConfig(max_epochs=20, batch_size=64, lr=5e-4, weight_decay=1e-2, patience=5)
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
