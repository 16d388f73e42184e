"""`ssl-ads pretrain`: fit an encoder with the pretext objective on train-split users only."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only
from rich.console import Console

from ssl_ads.data.batches import batch_loader
from ssl_ads.data.io import write_json_atomic
from ssl_ads.errors import ConfigError
from ssl_ads.stages.context import StageContext, build_context, make_trainer
from ssl_ads.stages.encoder_bundle import save_encoder
from ssl_ads.training.pretrain_module import PretrainModule


def pretrain(ctx: StageContext, callbacks: tuple[pl.Callback, ...] = ()) -> tuple[Path, dict]:
    """Train (or, for `pretext=none`, only initialise) the encoder; returns `encoder.pt` and metrics.

    `callbacks` join the trainer's own (e.g. the online linear probe the pipeline attaches).
    """
    cfg = ctx.cfg
    encoder = ctx.fresh_encoder()
    pretext = instantiate(cfg.pretext)
    bundle = ctx.bundle({"pretext_config": OmegaConf.to_container(cfg.pretext, resolve=True)})
    module = PretrainModule(encoder, pretext, cfg.pretrain.lr, cfg.pretrain.weight_decay, bundle)
    metrics: dict = {"pretext": type(pretext).__name__, "train_users": len(pretext_rows(ctx))}
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
        trainer.fit(module, train, val, ckpt_path=resume_checkpoint(cfg, ctx.run_dir))
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
        metrics["epochs"] = trainer.current_epoch
        metrics["world_size"] = trainer.world_size
        if not trainer.is_global_zero:  # under DDP only rank 0 writes the run's outputs
            return ctx.run_dir / "encoder.pt", metrics
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    path = ctx.run_dir / "encoder.pt"
    save_encoder(path, module.encoder, bundle)
    return path, metrics


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
    return str(last)


def run(cfg: DictConfig) -> None:
    from ssl_ads.stages.evaluate import apply_task_split
    from ssl_ads.stages.ranking import is_ranking, ranking_context

    # A ranking task (task=next_item) pretrains on leave-one-out training windows, never on its targets.
    if is_ranking(cfg) and cfg.pretrain_rows != "train":
        raise ConfigError("pretrain_rows=train_val: a next-item task's validation windows end in its validation "
                          "targets; ranking pretrains on training windows only (pretrain_rows=train)")
    ctx = ranking_context(cfg)[0] if is_ranking(cfg) else build_context(cfg)
    if not is_ranking(cfg):  # a task that splits by group (fraud: by user) pretrains on its train groups only
        apply_task_split(ctx, instantiate(cfg.task))
    path, metrics = pretrain(ctx)
    if rank_zero_only.rank != 0:
        return
    write_json_atomic(ctx.run_dir / "metrics.json", {"stage": "pretrain", "encoder": str(path), "pretrain": metrics})
    Console().print(f"[green]encoder saved to[/] {path}  ({metrics})")
