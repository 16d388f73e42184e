"""`ssl-ads probe`, `ssl-ads finetune` and `ssl-ads pipeline`: downstream evaluation stages."""

from __future__ import annotations

from omegaconf import DictConfig
from rich.console import Console

from ssl_ads.report.protocol import protocol
from ssl_ads.report.write_results import write_results
from ssl_ads.stages.context import build_context
from ssl_ads.stages.encoder_bundle import load_encoder
from ssl_ads.stages.evaluate import Downstream
from ssl_ads.stages.pretrain import pretrain


def _encoder_for(cfg: DictConfig, ctx):
    """The checkpoint's encoder when `encoder_ckpt` is set, otherwise a fresh (scratch) one."""
    if cfg.encoder_ckpt:
        return load_encoder(cfg.encoder_ckpt)[0], "pretrained"
    return ctx.fresh_encoder(), "scratch"


def _single_mode(cfg: DictConfig, mode: str) -> None:
    ctx = build_context(cfg, cfg.encoder_ckpt)
    downstream = Downstream(ctx)
    encoder, name = _encoder_for(cfg, ctx)
    fractions = list(cfg.label_fractions)
    evaluate = downstream.probe if mode == "probe" else downstream.finetune
    rows = evaluate(encoder, name, fractions)
    task = downstream.task
    proto = protocol(cfg, ctx.data.meta, task.name, task.primary_metric)
    write_results(ctx.run_dir, mode, rows, proto, task.primary_metric)


def run_probe(cfg: DictConfig) -> None:
    _single_mode(cfg, "probe")


def run_finetune(cfg: DictConfig) -> None:
    _single_mode(cfg, "finetune")


def run_pipeline(cfg: DictConfig) -> None:
    """Pretrain (unless `encoder_ckpt` is given), then probe and fine-tune beside the scratch baseline."""
    ctx = build_context(cfg, cfg.encoder_ckpt)
    downstream = Downstream(ctx)  # validates labels before any training starts
    fractions = list(cfg.label_fractions)
    pretrained = None
    if cfg.encoder_ckpt:
        pretrained = load_encoder(cfg.encoder_ckpt)[0]
        pretrain_info = {"encoder_ckpt": cfg.encoder_ckpt}
    else:
        path, pretrain_info = pretrain(ctx)
        if "epochs" in pretrain_info:
            pretrained = load_encoder(path)[0]
        else:
            Console().print("[yellow]pretext=none: only the from-scratch rows are computed[/]")
    scratch = ctx.fresh_encoder()
    rows = downstream.probe(scratch, "scratch", fractions) + downstream.finetune(scratch, "scratch", fractions)
    if pretrained is not None:
        rows += downstream.probe(pretrained, "pretrained", fractions)
        rows += downstream.finetune(pretrained, "pretrained", fractions)
    task = downstream.task
    proto = protocol(cfg, ctx.data.meta, task.name, task.primary_metric)
    write_results(ctx.run_dir, "pipeline", rows, proto, task.primary_metric, pretrain_info)
