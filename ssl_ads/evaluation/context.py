"""What every stage needs first: the featurized data, the user split, encoders and Lightning trainers."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import EarlyStopping, EMAWeightAveraging, ModelCheckpoint, RichProgressBar
from pytorch_lightning.utilities import rank_zero_only
from rich.console import Console
from rich.markup import escape

from ssl_ads.data.cleaning_report import REPORT_KEY, attach, explain_shortage
from ssl_ads.data.featurized import Featurized
from ssl_ads.data.split import RowSplit, SplitSettings, TooFewRows
from ssl_ads.encoders.base import Encoder
from ssl_ads.encoders.bundle import checkpoint_state, load_encoder, make_bundle
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.hardware import model_width, resolve_trainer_precision
from ssl_ads.report.tracking import fit_logger
from ssl_ads.training.resumable import ResumableState
from ssl_ads.training.run_checkpoint import RunCheckpoint


@dataclass
class StageContext:
    cfg: DictConfig
    run_dir: Path
    data: Featurized
    split: RowSplit

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Model inputs by batch field name."""
        return self.data.inputs

    def encoder_config(self) -> dict[str, Any]:
        """The encoder's config plus the constructor arguments that come from the data (vocab sizes...)."""
        return {**OmegaConf.to_container(self.cfg.encoder, resolve=True), **self.data.encoder_kwargs}

    def fresh_encoder(self) -> Encoder:
        """A randomly initialised encoder (seeded by the run's seed)."""
        pl.seed_everything(self.cfg.seed, verbose=False)
        return self.prepare(instantiate(self.encoder_config()))

    def checkpoint_encoder(self, path: str | Path) -> Encoder:
        """The encoder of `path`; an id-free one is rebuilt for this run's catalogue (see `load_encoder`)."""
        encoder = load_encoder(path, self.data.encoder_kwargs)[0]
        # content-aware items read this run's item table (a rebuilt id-free encoder's buffers are empty until then)
        return self.prepare(encoder) if getattr(encoder, "item_content", None) is not None else encoder

    def prepare(self, encoder: Encoder) -> Encoder:
        """Let the encoder add inputs computed once per dataset (`prepare_inputs`, e.g. cached sentence
        embeddings; nothing for most encoders)."""
        self.data.inputs.update(encoder.prepare_inputs(self.data, Path(self.cfg.cache_dir), self.split.train))
        return encoder

    def bundle(self, extra: dict[str, Any]) -> dict[str, Any]:
        return make_bundle(
            self.encoder_config(),
            self.data.state,
            OmegaConf.to_container(self.cfg.dataset, resolve=True),
            {"featurized": self.data.meta, **extra},
        )


def build_context(cfg: DictConfig, encoder_ckpt: str | None = None, directory: Path | None = None) -> StageContext:
    """Featurize (from cache when possible) with the checkpoint's featurizer state if one is given, and split.

    `directory` replaces the Hydra run directory (the benchmark stage runs many cases in one process).
    """
    data, settings = featurize_run(cfg, encoder_ckpt)
    split = data.split  # the split the featurizer fitted on (tables, texts)
    if split is None:  # a featurizer that fits nothing on train rows (sequences) leaves it to this one call
        try:
            split = settings.apply(data.rows, data.source)
        except TooFewRows as err:
            raise too_few_error(data, err) from err
    return StageContext(cfg=cfg, run_dir=directory or run_dir(), data=data, split=split)


def featurize_run(cfg: DictConfig, encoder_ckpt: str | None = None) -> tuple[Featurized, SplitSettings]:
    """The run's featurized data and its split settings; the data report is attached to `data.meta`.

    The split is settled before anything is fitted: the featurizer fits on its train rows, every stage
    (pretraining included) reads the same split, and a task's `split_by` (fraud: by user) applies to both.
    """
    dataset = instantiate(cfg.dataset)
    # A checkpoint's featurizer state, refused in one line when its modality or feature schema does not fit.
    state = checkpoint_state(encoder_ckpt, dataset, cfg.dataset, Path(cfg.cache_dir)) if encoder_ckpt else None
    settings = SplitSettings.of_run(cfg, dataset.modality)
    data = dataset.featurize(Path(cfg.cache_dir), state, split=settings)
    # what cleaning removed, in data.meta (bundles and outputs carry it) and on the console
    attach(data, from_checkpoint=state is not None, show=rank_zero_only.rank == 0)
    if state is not None and rank_zero_only.rank == 0:
        warn_unknown_items(data, encoder_ckpt)
    return data, settings


UNKNOWN_ITEMS_WARNING = 0.5  # share of events whose item a checkpoint's vocabulary lacks


def warn_unknown_items(data: Featurized, encoder_ckpt: str) -> None:
    """Say so when most events' items are unknown to the checkpoint's item vocabulary (another catalogue):
    they all read the one OOV vector, so the encoder sees little of what users did."""
    events, unknown = int(data.meta.get("num_events") or 0), int(data.meta.get("oov_events") or 0)
    if events and unknown / events >= UNKNOWN_ITEMS_WARNING:
        message = (
            f"{data.source}: {100 * unknown / events:.1f} % of the events are items the encoder's vocabulary does "
            f"not know (encoder_ckpt={encoder_ckpt} was pretrained on another catalogue?); they all read one OOV "
            "vector. An encoder whose items are their content reads any catalogue: dataset.item_fields=[...] "
            "encoder.item_inputs=[fields]."
        )
        Console(stderr=True).print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def too_few_error(data: Featurized, err: TooFewRows) -> DataError:
    """The split's "too few" error with the cleaning history: the step that removed the rest and its setting."""
    report = data.meta.get(REPORT_KEY)
    unit = ((report or {}).get("entities") or "rows") if err.unit == "rows" else err.unit
    what = "a train/val/test split" + (" by group" if err.unit == "groups" else "")
    return DataError(f"{data.source}: {explain_shortage(report, f'{err.n_rows:,} {unit} remain, too few for {what}')}")


def run_dir() -> Path:
    """The Hydra run (or multirun job) directory every output of this run goes to."""
    return Path(HydraConfig.get().runtime.output_dir)


def make_trainer(
    cfg: DictConfig,
    directory: Path,
    name: str,
    max_epochs: int,
    monitor: str,
    mode: str,
    patience: int = 0,
    progress: bool = True,
    extra_callbacks: tuple[pl.Callback, ...] = (),
    ema_decay: float | None = None,
) -> pl.Trainer:
    """A Lightning Trainer with checkpoints (best + last), the `logger` group's logger for the fit `name`
    (CSV logs by default) and a rich progress bar under `directory`.

    With `ema_decay`, validation, checkpoints and the final weights use an exponential moving average of
    the weights: it smooths the epoch-to-epoch noise that model selection would otherwise pick from.
    """
    checkpoints = directory / "checkpoints" / name
    callbacks: list[pl.Callback] = [
        # the best epoch, over the whole run even when resumed (trainer.checkpoint_callback)
        RunCheckpoint(dirpath=checkpoints, monitor=monitor, mode=mode),
        # `last.ckpt` at every epoch's end (what `resume_from=` continues from): Lightning's own `save_last` writes it
        # only when the monitored metric improved, so after the best epoch it fell behind
        ModelCheckpoint(dirpath=checkpoints, filename="last", monitor=None, enable_version_counter=False),
        ResumableState(checkpoints / "last.ckpt"),
    ]
    if ema_decay is not None:
        if not 0.0 < ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1) or null, got {ema_decay}")
        callbacks.append(EMAWeightAveraging(decay=ema_decay))
    if patience > 0:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=patience))
    callbacks.extend(extra_callbacks)
    show_progress = bool(cfg.trainer.enable_progress_bar and progress)
    if show_progress:
        callbacks.append(RichProgressBar(leave=False))
    trainer_args = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_args["enable_progress_bar"] = show_progress
    if "precision" in trainer_args:  # "auto" is ours: Lightning gets what this hardware runs fast
        accelerator = trainer_args.get("accelerator", "cpu")
        trainer_args["precision"] = resolve_trainer_precision(trainer_args["precision"], accelerator, model_width(cfg))
    unknown = sorted(set(trainer_args) - set(inspect.signature(pl.Trainer.__init__).parameters))
    if unknown:  # `+trainer.<key>=...` adds keys the schema does not know: Lightning's TypeError, in one line
        raise ConfigError(
            f"trainer.{unknown[0]} is not an argument of Lightning's Trainer (pytorch_lightning "
            f"{pl.__version__}); see ssl-ads {cfg.get('stage') or 'pretrain'} --cfg job for trainer.*"
        )
    return pl.Trainer(
        **trainer_args,
        max_epochs=max_epochs,
        callbacks=callbacks,
        logger=fit_logger(cfg, directory, name),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        # Our batch sampler shards rows by rank itself (ssl_ads.data.batches).
        use_distributed_sampler=False,
    )


def selected_checkpoint(trainer: pl.Trainer, monitor: str) -> tuple[float, str | None]:
    """The selected epoch's validation score and the checkpoint `trainer.test` loads ("best"); under
    `trainer.fast_dev_run` nothing is checkpointed, so the last score and the weights in memory."""
    best = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
    if best is not None:
        return float(best), "best"
    return float(trainer.callback_metrics.get(monitor, float("nan"))), None
