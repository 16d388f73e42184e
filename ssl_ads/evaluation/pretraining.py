"""Pretraining: fit an encoder with the pretext objective on train-split rows only (`ssl-ads pretrain` runs it
through `ssl_ads.stages.dispatch`, on the context the task kind's evaluator builds)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.exceptions import SIGTERMException
from rich.console import Console
from rich.table import Table

from ssl_ads.config.sparse_item_table import decide_for_pretraining
from ssl_ads.data.batches import batch_loader
from ssl_ads.encoders.bundle import safe_load, save_encoder
from ssl_ads.errors import ConfigError
from ssl_ads.evaluation.context import StageContext, make_trainer
from ssl_ads.training.pretrain_module import PretrainModule


def pretrain(ctx: StageContext, callbacks: tuple[pl.Callback, ...] = ()) -> tuple[Path, dict]:
    """Train (or, for `pretext=none`, only initialise) the encoder; returns `encoder.pt` and metrics.

    `callbacks` join the trainer's own (e.g. the online linear probe the pipeline attaches).
    """
    cfg = ctx.cfg
    encoder = ctx.fresh_encoder()
    pretext = instantiate(cfg.pretext)
    bundle = ctx.bundle({"pretext_config": OmegaConf.to_container(cfg.pretext, resolve=True)})
    choice, clip = cfg.pretrain.get("sparse_item_table", "auto"), cfg.trainer.get("gradient_clip_val")
    sparse = decide_for_pretraining(choice, encoder, pretext, clip)
    module = PretrainModule(encoder, pretext, cfg.pretrain.lr, cfg.pretrain.weight_decay, bundle, sparse.sparse)
    metrics: dict = {"pretext": type(pretext).__name__, "train_users": len(pretext_rows(ctx))}
    metrics["sparse_item_table"] = sparse.reason
    started = time.perf_counter()
    if pretext.trains:
        loop = cfg.pretrain
        monitor = "val_pretext_loss"
        trainer = make_trainer(
            cfg, ctx.run_dir, "pretrain", loop.max_epochs, monitor, "min", loop.patience, True, callbacks,
            loop.ema_decay,
        )  # fmt: skip
        train = batch_loader(ctx.arrays, pretext_rows(ctx), loop.batch_size, shuffle=True, seed=cfg.seed)
        val = batch_loader(ctx.arrays, ctx.split.val, loop.batch_size, shuffle=False)
        try:
            # weights_only: a resumed checkpoint is read as tensors and plain containers, never as code
            trainer.fit(module, train, val, ckpt_path=resume_checkpoint(cfg, ctx.run_dir), weights_only=True)
        except SIGTERMException:
            exit_after_sigterm(ctx, trainer)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
        metrics["epochs"] = trainer.current_epoch
        metrics["world_size"] = trainer.world_size
        if loop.get("keep", "last") == "best":
            metrics.update(keep_best_epoch(trainer, module, monitor))
        if not trainer.is_global_zero:  # under DDP only rank 0 writes the run's outputs
            return ctx.run_dir / "encoder.pt", metrics
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    path = ctx.run_dir / "encoder.pt"
    save_encoder(path, module.encoder, bundle)
    return path, metrics


def keep_best_epoch(trainer: pl.Trainer, module: PretrainModule, monitor: str) -> dict[str, float | str]:
    """Load the weights of the epoch with the best `monitor` (the checkpoint Lightning kept; EMA weights when
    averaging) into `module`; returns what to record: which epoch, and `monitor` as the kept encoder scores it
    (the last epoch's is kept as `<monitor>_last`). Under `fast_dev_run` nothing was checkpointed: the last weights
    stay."""
    callback = trainer.checkpoint_callback
    path = getattr(callback, "best_model_path", "") if callback else ""
    if not path:
        return {"kept": "last epoch (no checkpoint was kept)"}
    checkpoint = safe_load(Path(path), "the best pretraining checkpoint")
    module.load_state_dict(checkpoint["state_dict"])
    score = float(callback.best_model_score)  # the best over the whole run, also when resumed (RunCheckpoint)
    last = float(trainer.callback_metrics.get(monitor, float("nan")))
    epoch = f"epoch {int(checkpoint['epoch']) + 1} of {trainer.current_epoch}, lowest {monitor}"
    return {"kept": epoch, monitor: score, f"{monitor}_last": last}


def exit_after_sigterm(ctx: StageContext, trainer: pl.Trainer) -> NoReturn:
    """A preempted job (SIGTERM) leaves a checkpoint (ResumableState wrote it) and says how to continue;
    the exit code is the shell's for SIGTERM (128 + 15), so a scheduler sees the job did not finish."""
    last = ctx.run_dir / "checkpoints" / "pretrain" / "last.ckpt"
    Console(stderr=True).print(
        f"[yellow]interrupted by SIGTERM at epoch {trainer.current_epoch}, step {trainer.global_step}; "
        f"checkpoint {last}; continue with: ssl-ads pretrain resume_from={ctx.run_dir} (and the same overrides)[/]"
    )
    sys.exit(128 + signal.SIGTERM)


PRETRAIN_ROWS = ("train", "train_val")


def pretext_rows(ctx: StageContext) -> np.ndarray:
    """The rows the pretext objective trains on (`pretrain_rows`): the train split, or train and validation
    (their inputs only; `val_pretext_loss` is then no longer a held-out figure). Test rows never."""
    choice = ctx.cfg.pretrain_rows
    if choice not in PRETRAIN_ROWS:
        raise ConfigError(f"pretrain_rows must be one of {PRETRAIN_ROWS}, got {choice!r}")
    if choice == "train":
        return ctx.split.train
    return np.sort(np.concatenate([ctx.split.train, ctx.split.val]))


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    """`resume_from=<run dir>` continues from that run's last checkpoint (or fails naming the file)."""
    if cfg.resume_from is None:
        return None
    last = Path(cfg.resume_from) / "checkpoints" / "pretrain" / "last.ckpt"
    if not last.is_file():
        raise ConfigError(f"resume_from: no checkpoint at {last}")
    safe_load(last, "resume_from")  # a one-line error (not Lightning's traceback) when it holds more than data
    return str(last)


def summary_table(metrics: dict) -> Table:
    """What pretraining did, one metric a row (floats to 4 significant digits)."""
    table = Table(title="pretraining", title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    return table
