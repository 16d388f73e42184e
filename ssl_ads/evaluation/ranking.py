"""The evaluator of ranking tasks (`kind = "ranking"`, e.g. `task=next_item`): probe / finetune / pipeline.

Leave-one-out replaces the user split: every user is trained on (events before its validation target),
validated on its second-to-last event and tested on its last. Rows of the results table:
- `*-probe`: a zero-shot score, not a fitted probe: the frozen model scores the catalogue as it is (the
  pretext's own head or the tied item embeddings), nothing is trained — for `scratch` this is the
  random-initialisation floor (`Ranker.zero_shot`; the rows keep mode "probe" so stages and reports line
  them up with the labeled tasks' probe rows);
- `*-finetune`: the encoder trained further with the next-item loss on the training windows of a
  fraction of the users, model selection by validation NDCG.
"""

from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np
import polars as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only
from rich.console import Console

from ssl_ads.data.batches import batch_loader
from ssl_ads.data.cleaning_report import REPORT_KEY, add_step, explain_shortage, short_history_step
from ssl_ads.data.split import RowSplit, sample_fraction
from ssl_ads.encoders.bundle import safe_load
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.evaluation.context import StageContext, featurize_run, make_trainer, run_dir, selected_checkpoint
from ssl_ads.evaluation.evaluator import Evaluator
from ssl_ads.evaluation.labeled import elapsed
from ssl_ads.evaluation.model_output import save_ranking_model
from ssl_ads.evaluation.pretraining import pretrain
from ssl_ads.pretext.base import Pretext
from ssl_ads.pretext.next_item import NextItem
from ssl_ads.report.protocol import interval_protocol, numerics, pretraining_selection
from ssl_ads.report.tracking import finish_tracking
from ssl_ads.report.write_results import write_results
from ssl_ads.results import ResultRow, best_row_objective
from ssl_ads.tasks.intervals import RESAMPLES, mean_intervals
from ssl_ads.tasks.leave_one_out import MIN_EVENTS, LeaveOneOut, leave_one_out
from ssl_ads.tasks.next_item import NextItemTask
from ssl_ads.training.ranking_module import RankingModule


class RankingEvaluator(Evaluator):
    """Tasks of kind "ranking" (`task=next_item`): leave-one-out, the encoder scores the whole catalogue."""

    kind = "ranking"

    def pretrain_context(self) -> StageContext:
        # Pretraining reads leave-one-out training windows, never a validation or test target.
        if self.cfg.pretrain_rows != "train":
            raise ConfigError(
                "pretrain_rows=train_val: a next-item task's validation windows end in its validation "
                "targets; ranking pretrains on training windows only (pretrain_rows=train)"
            )
        return ranking_context(self.cfg)[0]

    def run(self, stage: str) -> float:
        return run_ranking(self.cfg, stage)


def ranking_context(cfg: DictConfig) -> tuple[StageContext, LeaveOneOut, NextItemTask]:
    """Featurize, split by leave-one-out, and make the training windows the context's data (pretraining reads
    them): no user split is made, the windows replace the users' histories as the examples."""
    task: NextItemTask = instantiate(cfg.task)
    users, _ = featurize_run(cfg, cfg.encoder_ckpt)
    lengths = users.rows.get_column("length").to_numpy()
    short = int((lengths < MIN_EVENTS).sum())
    if short == len(lengths):  # name the cleaning step behind it, if one removed events
        outcome = f"no user has {MIN_EVENTS} or more events; leave-one-out needs that many"
        raise DataError(f"{users.source}: {explain_shortage(users.meta.get(REPORT_KEY), outcome)}")
    add_step(users.meta, short_history_step(short, MIN_EVENTS), show=rank_zero_only.rank == 0)
    loo = leave_one_out(users.inputs, lengths, task.window, task.stride, users.source)
    arrays, train_rows, val_rows = loo.pretrain_arrays()
    split = RowSplit(train=train_rows, val=val_rows, test=np.array([], dtype=np.int64))
    windows = dataclasses.replace(  # same featurizer state and data report; windows of `window + 1` events
        users,
        inputs=arrays,
        rows=pl.DataFrame({"user_row": np.concatenate([loo.train_user, loo.users])}),
        encoder_kwargs={**users.encoder_kwargs, "max_len": task.window + 1},
        meta={**users.meta, "window": task.window},
        split=split,
    )
    return StageContext(cfg=cfg, run_dir=run_dir(), data=windows, split=split), loo, task


class Ranker:
    """Scores and fine-tunes encoders under one leave-one-out split."""

    def __init__(self, ctx: StageContext, loo: LeaveOneOut, task: NextItemTask) -> None:
        self.ctx, self.loo, self.task = ctx, loo, task
        size = task.eval_batch_size
        self.val = batch_loader(loo.val, np.arange(len(loo.users)), size, shuffle=False)
        self.test = batch_loader(loo.test, np.arange(len(loo.users)), size, shuffle=False)

    def _module(self, encoder, loss_pretext: Pretext | None, score_pretext: Pretext | None) -> RankingModule:
        loop = self.ctx.cfg.finetune
        return RankingModule(
            encoder, loss_pretext, score_pretext, self.task.ks, self.task.exclude_seen, loop.lr, loop.weight_decay
        )

    def zero_shot(self, encoder, encoder_name: str, pretext: Pretext | None) -> list[ResultRow]:
        """The frozen model, scored as it is (no training)."""
        started = time.perf_counter()
        module = self._module(encoder, None, pretext).eval()
        trainer = make_trainer(self.ctx.cfg, self.ctx.run_dir, f"{encoder_name}-probe", 1, "val_loss", "min", 0, False)
        val = trainer.validate(module, self.val, verbose=False)[0]
        tested = trainer.test(module, self.test, verbose=False)[0]
        metrics = {**{k: float(v) for k, v in tested.items()}, **{k: float(v) for k, v in val.items()}}
        return [self._row(encoder_name, "probe", 1.0, 0, metrics, elapsed(started), module)]

    def _row(
        self, encoder: str, mode: str, fraction: float, n: int, metrics: dict, seconds: float, module: RankingModule
    ) -> ResultRow:
        """The row with the 95 % interval of each test metric: a bootstrap over the test users' own values."""
        cfg = self.ctx.cfg
        resamples = int(cfg.get("interval_resamples", RESAMPLES))
        intervals = mean_intervals(module.test_values(), int(cfg.seed), metrics, resamples=resamples)
        counts = {"n_test": len(self.loo.users)}
        return ResultRow(encoder, mode, fraction, n, metrics, seconds, intervals, counts)

    def finetune(self, encoder, encoder_name: str, fractions: list[float]) -> list[ResultRow]:
        """Train a copy of the encoder with the next-item loss on the windows of a fraction of the users."""
        cfg = self.ctx.cfg
        loop = cfg.finetune
        monitor = f"val_{self.task.primary_metric}"
        users = self.loo.users
        rows = []
        for fraction in fractions:
            started = time.perf_counter()
            chosen = sample_fraction(users, np.zeros(users.max() + 1), fraction, cfg.seed)
            windows = np.flatnonzero(np.isin(self.loo.train_user, chosen))
            torch.manual_seed(cfg.seed)
            loss = NextItem(self.task.negatives, self.task.num_negatives)
            module = self._module(copy.deepcopy(encoder).train(), loss, loss)
            name = f"{encoder_name}-finetune-{fraction:g}"
            trainer = make_trainer(
                cfg, self.ctx.run_dir, name, loop.max_epochs, monitor, "max", loop.patience, ema_decay=loop.ema_decay
            )
            size = min(loop.batch_size, len(windows))
            train = batch_loader(self.loo.train, windows, size, shuffle=True, seed=cfg.seed)
            trainer.fit(module, train, self.val)
            val_score, selected = selected_checkpoint(trainer, monitor)
            tested = trainer.test(module, self.test, ckpt_path=selected, verbose=False)[0]
            metrics = {**{k: float(v) for k, v in tested.items()}, monitor: val_score, "epochs": trainer.current_epoch}
            chosen_items = self.loo.train["items"][windows]
            n_targets = int(((chosen_items[:, :-1] != 0) & (chosen_items[:, 1:] != 0)).sum())
            rows.append(self._row(encoder_name, "finetune", fraction, n_targets, metrics, elapsed(started), module))
            proto = ranking_protocol(cfg, self.ctx, self.loo, self.task)  # model.pt by model_output's rule
            save_ranking_model(self.ctx, module.encoder, rows[-1], self.task, proto)
        return rows


def pretext_with_head(cfg: DictConfig, encoder, run_dir) -> Pretext | None:
    """The pretext of this run with its trained head restored from the last pretraining checkpoint."""
    last = run_dir / "checkpoints" / "pretrain" / "last.ckpt"
    pretext: Pretext = instantiate(cfg.pretext)
    pretext.attach(encoder)
    if last.is_file():
        state = safe_load(last, "pretext head")["state_dict"]
        heads = {k.removeprefix("pretext."): v for k, v in state.items() if k.startswith("pretext.")}
        pretext.load_state_dict(heads)
    return pretext


def _loaded_encoder(cfg: DictConfig, ctx: StageContext, task: NextItemTask):
    encoder = ctx.checkpoint_encoder(cfg.encoder_ckpt)
    if getattr(encoder, "max_len", task.window + 1) < task.window + 1:
        raise ConfigError(
            f"encoder_ckpt: the encoder reads at most {encoder.max_len} positions; task.window={task.window} needs "
            f"{task.window + 1}"
        )
    return encoder


def run_ranking(cfg: DictConfig, stage: str) -> float:
    """`stage` is probe, finetune or pipeline, as for the labeled tasks; returns the sweep objective."""
    ctx, loo, task = ranking_context(cfg)
    ranker = Ranker(ctx, loo, task)
    fractions = list(cfg.label_fractions)
    pretrained, head, pretrain_info = None, None, None
    if cfg.encoder_ckpt:
        pretrained = _loaded_encoder(cfg, ctx, task)
        pretrain_info = {"encoder_ckpt": cfg.encoder_ckpt}
    elif stage == "pipeline":
        path, pretrain_info = pretrain(ctx)
        if "epochs" in pretrain_info:
            pretrained = ctx.checkpoint_encoder(path)
            head = pretext_with_head(cfg, pretrained, ctx.run_dir)
        else:
            Console().print("[yellow]pretext=none: only the from-scratch rows are computed[/]")
    rows: list[ResultRow] = []
    if stage == "pipeline" or pretrained is None:
        scratch = ctx.fresh_encoder()
        if stage in ("pipeline", "probe"):
            rows += ranker.zero_shot(scratch, "scratch", None)
        if stage in ("pipeline", "finetune"):
            rows += ranker.finetune(scratch, "scratch", fractions)
    if pretrained is not None:
        if stage in ("pipeline", "probe"):
            rows += ranker.zero_shot(pretrained, "pretrained", head)
        if stage in ("pipeline", "finetune"):
            rows += ranker.finetune(pretrained, "pretrained", fractions)
    proto = ranking_protocol(cfg, ctx, loo, task)
    report = ctx.data.meta.get(REPORT_KEY)
    write_results(ctx.run_dir, stage, rows, proto, task.primary_metric, pretrain_info, data_report=report)
    finish_tracking(cfg, ctx.run_dir)
    return best_row_objective(rows, task.primary_metric)


def ranking_protocol(cfg: DictConfig, ctx: StageContext, loo: LeaveOneOut, task: NextItemTask) -> dict:
    meta = ctx.data.meta
    return {
        "dataset": meta["source"],
        "task": task.name,
        "metric": f"test {task.primary_metric}",
        "split": (
            f"leave-one-out on time-ordered histories: last event test, second-to-last validation, the rest train "
            f"({len(loo.users)} users with >= 3 events; {loo.truncated_users} histories cut at dataset.max_len="
            f"{meta['max_len']})"
        ),
        "inputs": f"the {task.window} events before the target; training windows of {task.window + 1}, stride "
        f"{task.stride}",
        "ranking": f"full catalogue ({meta['num_items'] - 2} items; pad/OOV excluded), seen items "
        + ("excluded" if task.exclude_seen else "kept")
        + f", K in {task.ks}",
        "label_fractions": list(cfg.label_fractions),
        "label_sampling": "fine-tuning reads the training windows of a seeded, nested share of users; probe = "
        "the frozen model's own scores, no training",
        "model_selection": f"fine-tuning: best epoch by val {task.primary_metric}; {pretraining_selection(cfg)}",
        "intervals": interval_protocol(cfg, "users (each user's own HR / NDCG / MRR)", delong=False, positives=False),
        "numerics": numerics(cfg),
        "seeds": [int(cfg.seed)],
    }
