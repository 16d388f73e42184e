"""The stages' entry points: each looks up the evaluator of the task's kind here and runs with it.

The one place task kinds are told apart: a task class declares `kind` (`ssl_ads.tasks.base.Task`) and
`EVALUATORS` maps it to the evaluator that builds its context and scores encoders on it.
"""

from __future__ import annotations

import logging

from hydra.utils import get_class
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only
from rich.console import Console

from ssl_ads.data.cleaning_report import REPORT_KEY
from ssl_ads.data.io import write_json_atomic
from ssl_ads.errors import ConfigError
from ssl_ads.evaluation.evaluator import Evaluator
from ssl_ads.evaluation.label_evaluator import LabelEvaluator
from ssl_ads.evaluation.pretraining import pretrain, summary_table
from ssl_ads.evaluation.ranking import RankingEvaluator
from ssl_ads.report.tracking import finish_tracking

EVALUATORS: dict[str, type[Evaluator]] = {"labels": LabelEvaluator, "ranking": RankingEvaluator}


def evaluator_for(cfg: DictConfig) -> Evaluator:
    """The evaluator of `cfg.task`'s kind (its class is read, nothing is built yet)."""
    kind = get_class(cfg.task._target_).kind
    if kind not in EVALUATORS:
        known = ", ".join(sorted(EVALUATORS))
        raise ConfigError(f"task._target_={cfg.task._target_}: kind {kind!r} has no evaluator (known: {known})")
    return EVALUATORS[kind](cfg)


def run_pretrain(cfg: DictConfig) -> None:
    """`ssl-ads pretrain`: the pretext on the data and split the task's evaluator prepares, then `encoder.pt`."""
    ctx = evaluator_for(cfg).pretrain_context()
    path, metrics = pretrain(ctx)
    if rank_zero_only.rank != 0:
        return
    report = ctx.data.meta.get(REPORT_KEY)  # what cleaning removed before the pretext saw the data
    outputs = {"stage": "pretrain", "encoder": str(path), "pretrain": metrics, "data_report": report}
    write_json_atomic(ctx.run_dir / "metrics.json", outputs)
    finish_tracking(cfg, ctx.run_dir, outputs)  # the logger group's tracked run: final metrics and outputs
    # Hydra's job log (cli.log and the console), under the logger name it has always had
    logging.getLogger("ssl_ads.evaluation.pretraining").info("encoder saved to %s", path)
    Console().print(summary_table(metrics))


def run_probe(cfg: DictConfig) -> float:
    return evaluator_for(cfg).run("probe")


def run_finetune(cfg: DictConfig) -> float:
    return evaluator_for(cfg).run("finetune")


def run_pipeline(cfg: DictConfig) -> float:
    """Pretrain (unless `encoder_ckpt` is given), then probe and fine-tune beside the scratch baseline."""
    return evaluator_for(cfg).run("pipeline")
