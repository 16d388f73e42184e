"""The evaluator of labeled tasks (`kind = "labels"`): `ssl-ads probe`, `finetune` and `pipeline` on them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig
from rich.console import Console

from ssl_ads.baselines.bag_of_items import bag_of_items_rows
from ssl_ads.baselines.gbdt import gbdt_rows
from ssl_ads.data.cleaning_report import REPORT_KEY
from ssl_ads.encoders.registry import fresh_encoder_label
from ssl_ads.evaluation.context import StageContext, build_context
from ssl_ads.evaluation.evaluator import Evaluator
from ssl_ads.evaluation.labeled import Downstream
from ssl_ads.evaluation.pretraining import pretrain
from ssl_ads.report.protocol import protocol
from ssl_ads.report.tracking import finish_tracking
from ssl_ads.report.write_results import write_results
from ssl_ads.results import ResultRow, sweep_objective
from ssl_ads.training.online_probe import OnlineLinearProbe, probe_subset


def _encoder_for(cfg: DictConfig, ctx):
    """The checkpoint's encoder when `encoder_ckpt` is set, otherwise a fresh (scratch) one."""
    if cfg.encoder_ckpt:
        return ctx.checkpoint_encoder(cfg.encoder_ckpt), "pretrained"
    encoder = ctx.fresh_encoder()
    return encoder, fresh_encoder_label(encoder)  # scratch, or frozen-pretrained (MiniLM)


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


class LabelEvaluator(Evaluator):
    """Tasks of kind "labels" (user / row / text classification): a head on each row's representation."""

    kind = "labels"

    def pretrain_context(self) -> StageContext:
        # A task that splits by group (fraud: by user) pretrains on its train groups only: build_context's split.
        return build_context(self.cfg)

    def run(self, stage: str) -> float:
        if stage == "pipeline":
            return _pipeline(self.cfg)
        return _single_mode(self.cfg, stage)


def _pipeline(cfg: DictConfig) -> float:
    """Pretrain (unless `encoder_ckpt` is given), then probe and fine-tune beside the scratch baseline."""
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
        pretrained = ctx.checkpoint_encoder(cfg.encoder_ckpt)
        pretrain_info = {"encoder_ckpt": cfg.encoder_ckpt}
    else:
        probe = online_probe(cfg, ctx, downstream)
        path, pretrain_info = pretrain(ctx, (probe,) if probe else ())
        if probe is not None and probe.history:
            pretrain_info[f"{probe.name}_first"] = probe.history[0][1]
            pretrain_info[f"{probe.name}_last"] = probe.history[-1][1]
        if "epochs" in pretrain_info:
            pretrained = ctx.checkpoint_encoder(path)
        else:
            Console().print("[yellow]pretext=none: only the from-scratch rows are computed[/]")
    rows: list[ResultRow] = []
    fresh = ctx.fresh_encoder()  # labelled scratch, or frozen-pretrained for a model that arrives pretrained
    encoders = [(fresh_encoder_label(fresh), fresh)] + ([("pretrained", pretrained)] if pretrained is not None else [])
    for name, encoder in encoders:
        if "probe" in modes:
            rows += downstream.probe(encoder, name, fractions)
        if "finetune" in modes:
            rows += downstream.finetune(encoder, name, fractions)
    if ctx.data.meta.get("modality") == "tabular":  # tabular users always ask "does this beat GBDT?"
        rows += gbdt_rows(downstream, fractions)
    if ctx.data.meta.get("modality", "sequence") == "sequence":  # and sequence users: "does it beat bag-of-items?"
        rows += bag_of_items_rows(downstream, fractions)
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
