"""The fine-tuned models a downstream run ships: `models/<encoder>-finetune-<fraction>.pt` per fit, and `model.pt`.

`model.pt` (beside `encoder.pt`) is one of them, chosen by a rule that never reads a test metric: the fits at the
largest label fraction (the most labels the run was given: the model one would ship), then the best validation
metric (`val_<primary metric>`), a tie going to the pretrained encoder. `models/index.json` lists every fit with the
figures the rule read. Only rank 0 writes (under DDP every rank holds the same weights). A next-item fit
(`task=next_item`, `ranking.py`) ships the same way, its decision rule the top-k items (`save_ranking_model`).
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from omegaconf import OmegaConf
from pytorch_lightning.utilities import rank_zero_only
from torch import nn

from ssl_ads import __version__
from ssl_ads.data.batches import ArrayBatches
from ssl_ads.data.io import save_atomic, write_json_atomic
from ssl_ads.encoders.bundle import make_bundle, read_bundle
from ssl_ads.report.protocol import protocol
from ssl_ads.results import FROZEN_PRETRAINED, PRETRAINED, SCRATCH
from ssl_ads.use.decision import choose_decision
from ssl_ads.use.model_bundle import model_payload, save_model
from ssl_ads.use.ranking_model import ranking_decision
from ssl_ads.use.run_split import split_record, state_modality

if TYPE_CHECKING:
    from ssl_ads.evaluation.context import StageContext
    from ssl_ads.evaluation.labeled import Downstream
    from ssl_ads.results import ResultRow

MODEL_FILE = "model.pt"
INDEX_FILE = Path("models") / "index.json"
MODEL_RULE = (
    "among the run's fine-tuned fits: the largest label fraction, then the best validation metric "
    "(ties: pretrained encoder); test metrics never choose"
)
ENCODER_ORDER = {SCRATCH: 0, FROZEN_PRETRAINED: 0, PRETRAINED: 1}


def save_finetuned(downstream: Downstream, module: nn.Module, row: ResultRow) -> Path | None:
    """Write the bundle of the fit behind `row` (its best checkpoint is loaded in `module`), then refresh
    `model.pt` by the rule above. Returns the fit's bundle path (None on ranks other than 0)."""
    if rank_zero_only.rank != 0:
        return None
    ctx, task = downstream.ctx, downstream.task
    cfg = ctx.cfg
    val_rows = downstream.validation_rows(row.label_fraction)
    decision = choose_decision(task, predictions(module, task, ctx.arrays, val_rows), downstream.labels[val_rows])
    kwargs = ctx.data.encoder_kwargs
    wide = {"cardinalities": kwargs["cardinalities"], "num_numeric": kwargs["num_numeric"]} if cfg.wide_head else None
    selection = selection_of(ctx, row, protocol(cfg, ctx.data.meta, task.name, task.primary_metric))
    payload = model_payload(
        encoder_part(ctx, row.encoder), module.encoder, module.head, OmegaConf.to_container(cfg.task, resolve=True),
        task, wide, decision, selection,
    )  # fmt: skip
    name = f"{row.encoder}-finetune-{row.label_fraction:g}"
    path = ctx.run_dir / "models" / f"{name}.pt"
    save_model(path, payload)
    refresh_chosen(ctx.run_dir, path, row, f"val_{task.primary_metric}")
    return path


def save_ranking_model(ctx: StageContext, encoder: nn.Module, row: ResultRow, task: Any, proto: dict) -> Path | None:
    """The bundle of a next-item fit (`task=next_item`): its encoder scores the catalogue itself, so the "head" is
    empty and the decision rule is the top-k (`ssl_ads.use.ranking_model`); `model.pt` by the same rule."""
    if rank_zero_only.rank != 0:
        return None
    payload = model_payload(
        encoder_part(ctx, row.encoder), encoder, nn.Identity(), OmegaConf.to_container(ctx.cfg.task, resolve=True),
        task, None, ranking_decision(task), selection_of(ctx, row, proto),
    )  # fmt: skip
    path = ctx.run_dir / "models" / f"{row.encoder}-finetune-{row.label_fraction:g}.pt"
    save_model(path, payload)
    refresh_chosen(ctx.run_dir, path, row, f"val_{task.primary_metric}")
    return path


def selection_of(ctx: StageContext, row: ResultRow, proto: dict) -> dict[str, Any]:
    """The figures a fit was selected on, and where it comes from (the bundle's `selection`)."""
    cfg = ctx.cfg
    return {
        "encoder": row.encoder,
        "mode": row.mode,
        "label_fraction": row.label_fraction,
        "n_labels": row.n_labels,
        "metrics": row.metrics,
        "intervals": row.intervals,
        "counts": row.counts,
        "seed": int(cfg.seed),
        "stage": cfg.get("stage"),
        "protocol": proto,
        "run_dir": str(ctx.run_dir),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ssl_ads_version": __version__,
        "model_rule": MODEL_RULE,
    }


def predictions(module: nn.Module, task: Any, arrays: dict[str, np.ndarray], rows: np.ndarray) -> torch.Tensor:
    """`task.predictions` of `rows` in eval mode, in the test loop's batches of 1024 (no rank sharding)."""
    module.eval()
    batches = ArrayBatches(arrays, rows)
    with torch.inference_mode():
        parts = [
            task.predictions(module(batches[np.arange(start, min(start + 1024, len(rows)))]))
            for start in range(0, len(rows), 1024)
        ]
    return torch.cat(parts) if parts else torch.zeros(0)


def encoder_part(ctx: StageContext, encoder_name: str) -> dict[str, Any]:
    """The encoder-bundle half of a model bundle: the encoder's own config (a checkpoint's, for a pretrained
    encoder), this run's fitted featurizer and dataset config, and the pretext that trained it (None: scratch)."""
    config, extra = ctx.encoder_config(), {"pretext_config": None}
    if encoder_name == PRETRAINED:  # read from a checkpoint of ours; otherwise built from this run's config
        source = ctx.cfg.encoder_ckpt or ctx.run_dir / "encoder.pt"
        checkpoint, _ = read_bundle(source)
        config = checkpoint["encoder_config"]
        extra = {"pretext_config": checkpoint.get("pretext_config"), "encoder_ckpt": str(source)}
    dataset = OmegaConf.to_container(ctx.cfg.dataset, resolve=True)
    meta = dict(ctx.data.meta)
    if meta.get("cache_dir"):  # absolute: `monitor reference=<run>` reads the entry from any working directory
        meta["cache_dir"] = str(Path(meta["cache_dir"]).resolve())
    cfg = ctx.cfg  # the run's split, for `monitor reference=<run>` (its training rows are the reference)
    settings = {"task": OmegaConf.to_container(cfg.task, resolve=True) if cfg.get("task") else None,
                "val_share": cfg.val_share, "test_share": cfg.test_share, "seed": cfg.seed}  # fmt: skip
    split = split_record(settings, state_modality(ctx.data.state))
    return make_bundle(config, ctx.data.state, dataset, {"featurized": meta, "split": split, **extra})


def refresh_chosen(run_dir: Path, path: Path, row: ResultRow, monitor: str) -> None:
    """Add the fit to `models/index.json` and copy the fit the rule picks to `model.pt`."""
    index_path = run_dir / INDEX_FILE
    entries = json.loads(index_path.read_text())["fits"] if index_path.is_file() else []
    entries = [e for e in entries if e["file"] != path.name]
    entries.append({
        "file": path.name, "encoder": row.encoder, "label_fraction": row.label_fraction, "n_labels": row.n_labels,
        monitor: row.metrics.get(monitor, float("nan")),
    })  # fmt: skip

    def rank(entry: dict) -> tuple:
        score = entry.get(monitor)
        score = float("-inf") if score is None or score != score else float(score)  # NaN never wins
        return entry["label_fraction"], score, ENCODER_ORDER.get(entry["encoder"], -1)

    chosen = max(entries, key=rank)
    write_json_atomic(index_path, {"rule": MODEL_RULE, "chosen": chosen["file"], "fits": entries})
    source = path.parent / chosen["file"]
    save_atomic(run_dir / MODEL_FILE, lambda tmp: shutil.copyfile(source, tmp))
