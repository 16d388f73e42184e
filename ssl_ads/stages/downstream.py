"""`ssl-ads probe`, `ssl-ads finetune` and `ssl-ads pipeline`: downstream evaluation stages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig
from rich.console import Console

from ssl_ads.baselines.gbdt import gbdt_rows
from ssl_ads.data.cleaning_report import REPORT_KEY
from ssl_ads.report.protocol import protocol
from ssl_ads.report.tracking import finish_tracking
from ssl_ads.report.write_results import write_results
from ssl_ads.stages.context import build_context
from ssl_ads.stages.encoder_bundle import load_encoder
from ssl_ads.stages.evaluate import Downstream, ResultRow
from ssl_ads.stages.pretrain import pretrain
from ssl_ads.stages.ranking import is_ranking, run_ranking
from ssl_ads.training.online_probe import OnlineLinearProbe, probe_subset


def _encoder_for(cfg: DictConfig, ctx):
    """The checkpoint's encoder when `encoder_ckpt` is set, otherwise a fresh (scratch) one."""
    if cfg.encoder_ckpt:
        return load_encoder(cfg.encoder_ckpt)[0], "pretrained"
    return ctx.fresh_encoder(), "scratch"


def _single_mode(cfg: DictConfig, mode: str) -> float:
    ctx = build_context(cfg, cfg.encoder_ckpt)
    downstream = Downstream(ctx)
    encoder, name = _encoder_for(cfg, ctx)
    fractions = list(cfg.label_fractions)
    evaluate = downstream.probe if mode == "probe" else downstream.finetune
    rows = evaluate(encoder, name, fractions)
    task = downstream.task
    proto = protocol(cfg, ctx.data.meta, task.name, task.primary_metric)
    report = ctx.data.meta.get(REPORT_KEY)
    write_results(
        ctx.run_dir, mode, rows, proto, task.primary_metric, data_report=report, min_positives=cfg.min_positives
    )
    finish_tracking(cfg, ctx.run_dir)
    return sweep_objective(rows, task.primary_metric)


def run_probe(cfg: DictConfig) -> float:
    if is_ranking(cfg):
        return run_ranking(cfg, "probe")
    return _single_mode(cfg, "probe")


def run_finetune(cfg: DictConfig) -> float:
    if is_ranking(cfg):
        return run_ranking(cfg, "finetune")
    return _single_mode(cfg, "finetune")


def run_pipeline(cfg: DictConfig) -> float:
    """Pretrain (unless `encoder_ckpt` is given), then probe and fine-tune beside the scratch baseline."""
    if is_ranking(cfg):
        return run_ranking(cfg, "pipeline")
    outcome = pipeline_rows(cfg)
    write_results(
        outcome.run_dir, "pipeline", outcome.rows, outcome.protocol, outcome.metric, outcome.pretrain_info,
        data_report=outcome.data_report, min_positives=cfg.min_positives,
    )  # fmt: skip
    finish_tracking(cfg, outcome.run_dir)
    return sweep_objective(outcome.rows, outcome.metric)


@dataclass
class PipelineOutcome:
    """What one pipeline run produced, before anything is written (the benchmark aggregates many)."""

    rows: list[ResultRow]
    protocol: dict
    metric: str
    pretrain_info: dict
    run_dir: Path
    data_report: dict | None = None  # what cleaning removed (Featurized.meta["data_report"])


def pipeline_rows(
    cfg: DictConfig, directory: Path | None = None, modes: tuple[str, ...] = ("probe", "finetune")
) -> PipelineOutcome:
    """The pipeline's result rows for the chosen downstream `modes` (outputs go under `directory`)."""
    ctx = build_context(cfg, cfg.encoder_ckpt, directory)
    downstream = Downstream(ctx)  # validates labels before any training starts
    fractions = list(cfg.label_fractions)
    pretrained = None
    if cfg.encoder_ckpt:
        pretrained = load_encoder(cfg.encoder_ckpt)[0]
        pretrain_info = {"encoder_ckpt": cfg.encoder_ckpt}
    else:
        probe = online_probe(cfg, ctx, downstream)
        path, pretrain_info = pretrain(ctx, (probe,) if probe else ())
        if probe is not None and probe.history:
            pretrain_info[f"{probe.name}_first"] = probe.history[0][1]
            pretrain_info[f"{probe.name}_last"] = probe.history[-1][1]
        if "epochs" in pretrain_info:
            pretrained = load_encoder(path)[0]
        else:
            Console().print("[yellow]pretext=none: only the from-scratch rows are computed[/]")
    rows: list[ResultRow] = []
    encoders = [("scratch", ctx.fresh_encoder())] + ([("pretrained", pretrained)] if pretrained is not None else [])
    for name, encoder in encoders:
        if "probe" in modes:
            rows += downstream.probe(encoder, name, fractions)
        if "finetune" in modes:
            rows += downstream.finetune(encoder, name, fractions)
    if ctx.data.meta.get("modality") == "tabular":  # tabular users always ask "does this beat GBDT?"
        rows += gbdt_rows(downstream, fractions)
    task = downstream.task
    proto = protocol(cfg, ctx.data.meta, task.name, task.primary_metric)
    return PipelineOutcome(rows, proto, task.primary_metric, pretrain_info, ctx.run_dir, ctx.data.meta.get(REPORT_KEY))


def online_probe(cfg: DictConfig, ctx, downstream: Downstream) -> OnlineLinearProbe | None:
    """The pretraining callback that tracks a linear probe on labeled train rows, scored on validation rows."""
    if cfg.online_probe.every_n_steps <= 0:
        return None
    limit = cfg.online_probe.max_rows
    return OnlineLinearProbe(
        ctx.arrays,
        probe_subset(downstream.train, limit, cfg.seed),
        probe_subset(downstream.val, limit, cfg.seed),
        downstream.labels,
        downstream.task,
        cfg.online_probe.every_n_steps,
    )


def sweep_objective(rows: list[ResultRow], metric: str) -> float:
    """What a Hydra sweeper maximises: mean validation metric of the pretrained (else scratch) probe rows.

    Validation, never test: a search that reads the test split would report an optimistic number.
    """
    for encoder in ("pretrained", "scratch"):
        for mode in ("probe", "finetune"):
            chosen = [r.metrics[f"val_{metric}"] for r in rows if r.encoder == encoder and r.mode == mode]
            if chosen:
                return float(sum(chosen) / len(chosen))
    return float("nan")
