"""`ssl-ads pretrain`: fit an encoder with the pretext objective on train-split users only."""

from __future__ import annotations

import time
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from ssl_ads.data.batches import batch_loader
from ssl_ads.data.io import write_json_atomic
from ssl_ads.errors import ConfigError
from ssl_ads.stages.context import StageContext, build_context, make_trainer
from ssl_ads.stages.encoder_bundle import save_encoder
from ssl_ads.training.pretrain_module import PretrainModule


def pretrain(ctx: StageContext) -> tuple[Path, dict]:
    """Train (or, for `pretext=none`, only initialise) the encoder; returns `encoder.pt` and metrics."""
    cfg = ctx.cfg
    encoder = ctx.fresh_encoder()
    pretext = instantiate(cfg.pretext)
    bundle = ctx.bundle({"pretext_config": OmegaConf.to_container(cfg.pretext, resolve=True)})
    module = PretrainModule(encoder, pretext, cfg.pretrain.lr, cfg.pretrain.weight_decay, bundle)
    metrics: dict = {"pretext": type(pretext).__name__, "train_users": len(ctx.split.train)}
    started = time.perf_counter()
    if pretext.trains:
        loop = cfg.pretrain
        trainer = make_trainer(cfg, ctx.run_dir, "pretrain", loop.max_epochs, "val_pretext_loss", "min", loop.patience)
        train = batch_loader(ctx.arrays, ctx.split.train, loop.batch_size, shuffle=True, seed=cfg.seed)
        val = batch_loader(ctx.arrays, ctx.split.val, loop.batch_size, shuffle=False)
        trainer.fit(module, train, val, ckpt_path=resume_checkpoint(cfg, ctx.run_dir))
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
        metrics["epochs"] = trainer.current_epoch
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    path = ctx.run_dir / "encoder.pt"
    save_encoder(path, module.encoder, bundle)
    return path, metrics


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    """`resume_from=<run dir>` continues from that run's last checkpoint (or fails naming the file)."""
    if cfg.resume_from is None:
        return None
    last = Path(cfg.resume_from) / "checkpoints" / "pretrain" / "last.ckpt"
    if not last.is_file():
        raise ConfigError(f"resume_from: no checkpoint at {last}")
    return str(last)


def run(cfg: DictConfig) -> None:
    ctx = build_context(cfg)
    path, metrics = pretrain(ctx)
    write_json_atomic(ctx.run_dir / "metrics.json", {"stage": "pretrain", "encoder": str(path), "pretrain": metrics})
    Console().print(f"[green]encoder saved to[/] {path}  ({metrics})")
