"""Linear probe (on features embedded once) and fine-tuning, at each label fraction, scored on test users."""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
import torch
from hydra.utils import instantiate
from torch import nn

from ssl_ads.data.batches import batch_loader
from ssl_ads.data.split import sample_fraction
from ssl_ads.errors import DataError
from ssl_ads.stages.context import StageContext, make_trainer
from ssl_ads.tasks.base import Task
from ssl_ads.tasks.quality_gate import test_decisions, write_decisions
from ssl_ads.training.downstream_module import DownstreamModule, FeatureInput


@dataclass
class ResultRow:
    encoder: str  # "scratch" or "pretrained"
    mode: str  # "probe" or "finetune"
    label_fraction: float
    n_labels: int
    metrics: dict[str, float]
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


class Downstream:
    """The labeled side of a run: labels, which users carry them, and the task object."""

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self.task: Task = instantiate(ctx.cfg.task)
        self.decisions: list[pl.DataFrame] = []  # quality-gate decisions (tasks with a `gate_threshold`)
        users = ctx.data.rows
        source = ctx.data.source
        if self.task.label not in users.columns:
            self.task.extract_labels(users, source)  # raises, naming the column and the available ones
        labeled = users.get_column(self.task.label).is_not_null().to_numpy()
        if not labeled.any():
            raise DataError(f"{source}: no user has a value in label column '{self.task.label}' (task.label)")
        self.labels = np.zeros(users.height, dtype=np.float32)
        self.labels[labeled] = self.task.extract_labels(users.filter(pl.Series(labeled)), source)
        keep = labeled
        self.train = ctx.split.train[keep[ctx.split.train]]
        self.val = ctx.split.val[keep[ctx.split.val]]
        self.test = ctx.split.test[keep[ctx.split.test]]
        for name, rows in (("validation", self.val), ("test", self.test)):
            if len(np.unique(self.labels[rows])) < 2:
                raise DataError(
                    f"{source}: the {name} users hold a single class of '{self.task.label}'; add data or change"
                    " the split"
                )

    def labeled_rows(self, fraction: float) -> np.ndarray:
        return sample_fraction(self.train, self.labels, fraction, self.ctx.cfg.seed)

    def probe(self, encoder: nn.Module, encoder_name: str, fractions: list[float]) -> list[ResultRow]:
        """Embed every user once with the frozen encoder, then train one linear head per fraction."""
        cfg = self.ctx.cfg
        features = embed_all(self.ctx.prepare(encoder), self.ctx.arrays, batch_size=512)
        train_features = features[self.ctx.split.train]
        features = (features - train_features.mean(0)) / (train_features.std(0) + 1e-6)
        arrays = {"features": features, "label": self.labels}
        rows = []
        for fraction in fractions:
            started = time.perf_counter()
            labeled = self.labeled_rows(fraction)
            torch.manual_seed(cfg.seed)
            head_input = FeatureInput(features.shape[1])
            module = DownstreamModule(head_input, self.task, cfg.probe.lr, cfg.probe.weight_decay)
            name = f"{encoder_name}-probe-{fraction:g}"
            metrics = self._fit_and_test(module, arrays, labeled, cfg.probe, name, progress=False)
            rows.append(ResultRow(encoder_name, "probe", fraction, len(labeled), metrics, elapsed(started)))
        return rows

    def finetune(self, encoder: nn.Module, encoder_name: str, fractions: list[float]) -> list[ResultRow]:
        """Train a copy of the encoder end to end with the task head, per fraction."""
        cfg = self.ctx.cfg
        self.ctx.prepare(encoder)
        arrays = {**self.ctx.arrays, "label": self.labels}
        rows = []
        for fraction in fractions:
            started = time.perf_counter()
            labeled = self.labeled_rows(fraction)
            torch.manual_seed(cfg.seed)
            # .train(): a loaded checkpoint comes in eval mode and Lightning keeps modules' modes (dropout off).
            module = DownstreamModule(
                copy.deepcopy(encoder).train(), self.task, cfg.finetune.lr, cfg.finetune.weight_decay
            )
            name = f"{encoder_name}-finetune-{fraction:g}"
            metrics = self._fit_and_test(module, arrays, labeled, cfg.finetune, name, progress=True)
            rows.append(ResultRow(encoder_name, "finetune", fraction, len(labeled), metrics, elapsed(started)))
        return rows

    def _fit_and_test(self, module, arrays, labeled, loop, name: str, progress: bool) -> dict[str, float]:
        cfg = self.ctx.cfg
        monitor = f"val_{self.task.primary_metric}"
        trainer = make_trainer(
            cfg, self.ctx.run_dir, name, loop.max_epochs, monitor, "max", loop.patience, progress,
            ema_decay=loop.ema_decay,
        )  # fmt: skip
        batch_size = min(loop.batch_size, len(labeled))
        train = batch_loader(arrays, labeled, batch_size, shuffle=True, seed=cfg.seed)
        val = batch_loader(arrays, self.val, 1024, shuffle=False)
        trainer.fit(module, train, val)
        val_score = float(trainer.checkpoint_callback.best_model_score)
        test = batch_loader(arrays, self.test, 1024, shuffle=False)
        tested = trainer.test(module, test, ckpt_path="best", verbose=False)[0]
        if hasattr(self.task, "gate_threshold"):  # per-item forward/review decisions on the test rows
            self.decisions.append(test_decisions(module, self.task, arrays, self.test, self.ctx.data.rows, name))
            write_decisions(self.ctx.run_dir / "decisions.parquet", self.decisions)
        return {**{k: float(v) for k, v in tested.items()}, monitor: val_score}


def embed_all(encoder: nn.Module, arrays: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
    """Frozen-encoder features for every row, in eval mode and without gradients."""
    encoder.eval()
    rows = np.arange(len(next(iter(arrays.values()))))
    with torch.inference_mode():
        chunks = [encoder.embed(batch) for batch in batch_loader(arrays, rows, batch_size, shuffle=False)]
    return torch.cat(chunks).numpy().astype(np.float32)


def elapsed(started: float) -> float:
    return round(time.perf_counter() - started, 2)
