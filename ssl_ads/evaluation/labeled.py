"""Linear probe (on features embedded once) and fine-tuning, at each label fraction, scored on test users."""

from __future__ import annotations

import copy
import time

import numpy as np
import polars as pl
import torch
from hydra.utils import instantiate
from pytorch_lightning.utilities import rank_zero_only
from torch import nn

from ssl_ads.data.batches import batch_loader
from ssl_ads.data.cleaning_report import add_step, unlabeled_step
from ssl_ads.data.split import sample_fraction
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.evaluation.context import StageContext, make_trainer, selected_checkpoint
from ssl_ads.evaluation.model_output import save_finetuned
from ssl_ads.results import PRETRAINED, ResultRow
from ssl_ads.tasks.base import LabeledTask
from ssl_ads.tasks.intervals import RESAMPLES, metric_intervals
from ssl_ads.tasks.positive_counts import count_positive_groups, count_positives
from ssl_ads.tasks.quality_gate import test_decisions, write_decisions
from ssl_ads.training.downstream_module import (
    DownstreamModule,
    FeatureInput,
    WideInputs,
    head_features,
    wide_features,
)
from ssl_ads.training.lbfgs_probe import fit_l2_probe, fit_l2_probe_cv, score_head


class Downstream:
    """The labeled side of a run: labels, which users carry them, and the task object."""

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self.task: LabeledTask = instantiate(ctx.cfg.task)
        check_class_weights(self.task, ctx.cfg)
        self.decisions: list[pl.DataFrame] = []  # quality-gate decisions (tasks with a `gate_threshold`)
        self.balanced_choice: bool | None = None  # the last cross-validated probe's class weighting (auto)
        # the last fit's test predictions and their labels, one per test row (what its intervals resample)
        self.test_scored: tuple[torch.Tensor, torch.Tensor] | None = None
        users = ctx.data.rows
        source = ctx.data.source
        if self.task.label not in users.columns:
            self.task.extract_labels(users, source)  # raises, naming the column and the available ones
        labeled = users.get_column(self.task.label).is_not_null().to_numpy()
        if not labeled.any():
            raise DataError(f"{source}: no user has a value in label column '{self.task.label}' (task.label)")
        unlabeled = unlabeled_step(self.task.label, int((~labeled).sum()), ctx.data.meta)
        add_step(ctx.data.meta, unlabeled, show=rank_zero_only.rank == 0)  # counted in the data report
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

    def validation_rows(self, fraction: float) -> np.ndarray:
        """Rows that select the epoch: every validation row, or (`validation_labels=matched`) the same
        stratified, seeded, nested fraction of them as of the train labels."""
        if self.ctx.cfg.validation_labels == "matched":
            return sample_fraction(self.val, self.labels, fraction, self.ctx.cfg.seed)
        return self.val

    def budget_rows(self, fraction: float) -> np.ndarray:
        """Every labeled row a fit at `fraction` may read: the train labels, plus the matched validation labels
        (`validation_labels=matched`), so a model that selects by cross-validation (the cross-validated
        probe, GBDT's defaults) spends the same label budget as one that selects on the validation rows."""
        labeled = self.labeled_rows(fraction)
        if self.ctx.cfg.validation_labels == "matched":
            return np.concatenate([labeled, self.validation_rows(fraction)])
        return labeled

    def budget_size(self, fraction: float) -> int:
        """The labels a row at `fraction` reads (what its `n_labels` reports)."""
        return len(self.budget_rows(fraction))

    def result_row(
        self,
        encoder: str,
        mode: str,
        fraction: float,
        n_labels: int,
        metrics: dict[str, float],
        seconds: float,
        scored: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> ResultRow:
        """The row of one fit, with the 95 % interval of each test metric computed from the test predictions
        behind it (`scored`: `task.predictions` and labels of the test rows; default: the last fit's) and the
        counts the intervals rest on, so no number is reported without the uncertainty of its test split."""
        cfg = self.ctx.cfg
        preds, target = scored or self.test_scored
        aligned = len(target) == len(self.test)  # False under DDP: padded shards, rows out of order
        column = self.group_column()
        groups = column[self.test] if column is not None and aligned else None
        resamples = int(cfg.get("interval_resamples", RESAMPLES))
        intervals = metric_intervals(
            self.task.metrics(), preds, target, int(cfg.seed), metrics, groups=groups, resamples=resamples
        )
        counts = {"n_test": len(self.test)}
        if column is not None:
            counts["n_test_groups"] = len(np.unique(column[self.test]))
        if preds.ndim == 1:  # binary: the positives behind the test metrics, and behind the fit
            budget = self.budget_rows(fraction)
            counts["n_test_pos"] = count_positives(self.labels[self.test])
            counts["n_budget_pos"] = count_positives(self.labels[budget])
            if column is not None:  # grouped rows: the positive groups are what the data holds independently
                counts["n_test_pos_groups"] = count_positive_groups(self.labels[self.test], column[self.test])
                counts["n_budget_pos_groups"] = count_positive_groups(self.labels[budget], column[budget])
        return ResultRow(encoder, mode, fraction, n_labels, metrics, seconds, intervals, counts)

    def group_column(self) -> np.ndarray | None:
        """Every row's `task.split_by` value (None without one): rows of one group are not independent, so the
        bootstrap draws whole groups and the positives warning counts groups."""
        column = self.task.split_by
        rows = self.ctx.data.rows
        if not column or column not in rows.columns:
            return None
        return rows.get_column(column).to_numpy()

    def wide_inputs(self) -> WideInputs | None:
        """The featurized inputs a wide & deep head reads beside the embedding (`wide_head`), tabular only."""
        if not self.ctx.cfg.wide_head:
            return None
        if self.ctx.data.meta.get("modality") != "tabular":
            raise ConfigError("wide_head=true needs tabular data (one-hot ids and numeric values)")
        kwargs = self.ctx.data.encoder_kwargs
        return WideInputs(kwargs["cardinalities"], kwargs["num_numeric"])

    def probe(self, encoder: nn.Module, encoder_name: str, fractions: list[float]) -> list[ResultRow]:
        """Embed every user once with the frozen encoder, then train one linear head per fraction."""
        cfg = self.ctx.cfg
        features = embed_all(self.ctx.prepare(encoder), self.ctx.arrays, batch_size=512)
        wide = self.wide_inputs()
        if wide is not None:
            features = np.hstack([features, wide_features(wide, self.ctx.arrays)])
        features = probe_features(encoder, features, self.ctx.split.train)
        arrays = {"features": features, "label": self.labels}
        rows = []
        for fraction in fractions:
            started = time.perf_counter()
            labeled, n_labels = self.labeled_rows(fraction), self.budget_size(fraction)
            self.task.fit_class_weights(self.labels[labeled], cfg.probe.class_weight == "balanced")
            if cfg.probe.solver == "lbfgs":
                metrics = self._fit_l2_probe(features, labeled, fraction)
                rows.append(self.result_row(encoder_name, "probe", fraction, n_labels, metrics, elapsed(started)))
                continue
            torch.manual_seed(cfg.seed)
            head_input = FeatureInput(features.shape[1])
            module = DownstreamModule(head_input, self.task, cfg.probe.lr, cfg.probe.weight_decay)
            name = f"{encoder_name}-probe-{fraction:g}"
            metrics = self._fit_and_test(module, arrays, labeled, fraction, cfg.probe, name, progress=False)
            rows.append(self.result_row(encoder_name, "probe", fraction, n_labels, metrics, elapsed(started)))
        return rows

    def _fit_l2_probe(self, features: np.ndarray, labeled: np.ndarray, fraction: float) -> dict[str, float]:
        """`probe.solver=lbfgs`: the exact L2-regularised linear head, its strength chosen on validation
        (or, with `probe.cv_folds`, by cross-validation: then `val_*` is the out-of-fold metric)."""
        monitor = f"val_{self.task.primary_metric}"
        head, l2, val_score = self.l2_probe(features, labeled, fraction)
        test = torch.as_tensor(features[self.test], dtype=torch.float32)
        metrics = score_head(self.task, head, test, torch.as_tensor(self.labels[self.test]))
        with torch.no_grad():
            self.test_scored = (self.task.predictions(head(test)), torch.as_tensor(self.labels[self.test]).long())
        chosen = {"probe_balanced": float(self.balanced_choice)} if self.balanced_choice is not None else {}
        return {**{f"test_{k}": v for k, v in metrics.items()}, monitor: val_score, "probe_l2": l2, **chosen}

    def l2_probe(self, features: np.ndarray, labeled: np.ndarray, fraction: float) -> tuple[nn.Module, float, float]:
        """The exact L2 probe of one fraction: `(head, l2, selection score)`. With `probe.cv_folds = k`, the
        strength is chosen by k-fold cross-validation over the fraction's label budget (`budget_rows`) and the
        head refitted on all of it; otherwise the head fits `labeled` and the strength is chosen on validation."""
        folds = self.ctx.cfg.probe.cv_folds
        self.balanced_choice = None
        if not folds:
            return fit_l2_probe(self.task, features, self.labels, labeled, self.validation_rows(fraction))
        budget = self.budget_rows(fraction)
        weighting = self.ctx.cfg.probe.class_weight
        options = (False, True) if weighting == "auto" else (weighting == "balanced",)
        fits = {}
        for balanced in options:
            self.task.fit_class_weights(self.labels[budget], balanced)
            fits[balanced] = fit_l2_probe_cv(self.task, features, self.labels, budget, folds, self.ctx.cfg.seed)
        # `probe.class_weight=auto`: the weighting with the better out-of-fold accuracy (the plain mean on ties)
        best = max(options, key=lambda b: fits[b][3].get("accuracy", fits[b][2]))
        self.balanced_choice = best if weighting == "auto" else None
        self.task.fit_class_weights(self.labels[budget], best)
        return fits[best][:3]

    def finetune(self, encoder: nn.Module, encoder_name: str, fractions: list[float]) -> list[ResultRow]:
        """Train a copy of the encoder end to end with the task head, per fraction."""
        cfg = self.ctx.cfg
        self.ctx.prepare(encoder)
        arrays = {**self.ctx.arrays, "label": self.labels}
        # A smaller encoder learning rate and frozen first epochs protect pretrained features; a randomly
        # initialised encoder has none to protect, so the scratch baseline trains with the plain recipe.
        loop = cfg.finetune
        recipe = {"encoder_lr_scale": 1.0, "freeze_epochs": 0}
        if encoder_name == PRETRAINED:  # a checkpoint of ours (frozen-pretrained MiniLM: the plain recipe)
            recipe = {"encoder_lr_scale": loop.encoder_lr_scale, "freeze_epochs": loop.freeze_epochs}
        probe_start = None
        if encoder_name == PRETRAINED and loop.head_init == "probe":
            probe_start = self._head_features(encoder)
        rows = []
        for fraction in fractions:
            started = time.perf_counter()
            labeled, n_labels = self.labeled_rows(fraction), self.budget_size(fraction)
            self.task.fit_class_weights(self.labels[labeled], loop.class_weight == "balanced")
            torch.manual_seed(cfg.seed)
            # .train(): a loaded checkpoint comes in eval mode and Lightning keeps modules' modes (dropout off).
            module = DownstreamModule(
                copy.deepcopy(encoder).train(),
                self.task,
                cfg.finetune.lr,
                cfg.finetune.weight_decay,
                wide=self.wide_inputs(),
                **recipe,
            )
            if probe_start is not None:
                self._start_from_probe(module.head, *probe_start, labeled, fraction)
            name = f"{encoder_name}-finetune-{fraction:g}"
            metrics = self._fit_and_test(module, arrays, labeled, fraction, cfg.finetune, name, progress=True)
            rows.append(self.result_row(encoder_name, "finetune", fraction, n_labels, metrics, elapsed(started)))
            save_finetuned(self, module, rows[-1])  # models/<name>.pt, and model.pt by its rule (model_output.py)
        return rows

    def _head_features(self, encoder: nn.Module) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the fine-tuning head reads (encoder features, wide inputs), with its train-row mean and scale."""
        features = embed_all(encoder, self.ctx.arrays, batch_size=512)
        wide = self.wide_inputs()
        if wide is not None:
            features = np.hstack([features, wide_features(wide, self.ctx.arrays)])
        train = features[self.ctx.split.train]
        return features, train.mean(0), train.std(0) + 1e-6

    def _start_from_probe(
        self, head: nn.Module, features: np.ndarray, mean: np.ndarray, scale: np.ndarray, labeled, fraction: float
    ) -> None:
        """LP-FT (`finetune.head_init=probe`): the head starts at the exact L2 probe fitted on the same
        labels and selected on the same validation rows, mapped from z-scored features back to raw ones."""
        if not isinstance(head, nn.Linear):
            raise ConfigError("finetune.head_init=probe needs a linear task head")
        scaled = (features - mean) / scale
        probe, _, _ = self.l2_probe(scaled, labeled, fraction)
        # fine-tuning itself trains on `labeled`, with its own weighting
        self.task.fit_class_weights(self.labels[labeled], self.ctx.cfg.finetune.class_weight == "balanced")
        # Columns constant on the train rows carry no weight (dividing by their ~0 scale would only add noise).
        weight = probe.weight.detach().double() * torch.as_tensor(scale > 1e-5)
        weight = weight / torch.as_tensor(scale, dtype=torch.float64)
        with torch.no_grad():
            head.weight.copy_(weight)
            head.bias.copy_(probe.bias.double() - weight @ torch.as_tensor(mean, dtype=torch.float64))

    def _fit_and_test(
        self, module, arrays, labeled, fraction: float, loop, name: str, progress: bool
    ) -> dict[str, float]:
        cfg = self.ctx.cfg
        monitor = f"val_{self.task.primary_metric}"
        trainer = make_trainer(
            cfg, self.ctx.run_dir, name, loop.max_epochs, monitor, "max", loop.patience, progress,
            ema_decay=loop.ema_decay,
        )  # fmt: skip
        batch_size = min(loop.batch_size, len(labeled))
        train = batch_loader(arrays, labeled, batch_size, shuffle=True, seed=cfg.seed)
        val = batch_loader(arrays, self.validation_rows(fraction), 1024, shuffle=False)
        trainer.fit(module, train, val)
        val_score, selected = selected_checkpoint(trainer, monitor)
        test = batch_loader(arrays, self.test, 1024, shuffle=False)
        tested = trainer.test(module, test, ckpt_path=selected, verbose=False)[0]
        self.test_scored = module.test_outputs()
        if self.task.gate_threshold is not None:  # per-item forward/review decisions on the test rows
            self.decisions.append(test_decisions(module, self.task, arrays, self.test, self.ctx.data.rows, name))
            write_decisions(self.ctx.run_dir / "decisions.parquet", self.decisions)
        return {**{k: float(v) for k, v in tested.items()}, monitor: val_score}


def probe_features(encoder: nn.Module, features: np.ndarray, train_rows: np.ndarray) -> np.ndarray:
    """Features z-scored with train-row statistics (one L2 strength then suits every column), unless the
    encoder sets `standardize_probe_features = False` because the relative scale of its columns is meant."""
    if not encoder.standardize_probe_features:
        return features
    train_features = features[train_rows]
    return (features - train_features.mean(0)) / (train_features.std(0) + 1e-6)


def check_class_weights(task: LabeledTask, cfg) -> None:
    """`probe.class_weight` / `finetune.class_weight` need a task whose loss weighs classes."""
    for key in ("probe", "finetune"):
        if cfg[key].class_weight and not task.supports_class_weight:
            raise ConfigError(
                f"{key}.class_weight={cfg[key].class_weight}: task={task.name} ({type(task).__name__}) has no "
                "class-weighted loss; set it to null"
            )


def embed_all(encoder: nn.Module, arrays: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
    """Frozen-encoder features for every row (what a head reads), in eval mode and without gradients."""
    encoder.eval()
    rows = np.arange(len(next(iter(arrays.values()))))
    with torch.inference_mode():
        chunks = [head_features(encoder, batch) for batch in batch_loader(arrays, rows, batch_size, shuffle=False)]
    return torch.cat(chunks).numpy().astype(np.float32)


def elapsed(started: float) -> float:
    return round(time.perf_counter() - started, 2)
