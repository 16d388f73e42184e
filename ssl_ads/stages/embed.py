"""`ssl-ads embed encoder_ckpt=<encoder.pt> dataset=<...>`: one vector per entity of a dataset, in parquet.

The dataset's reader gives its canonical frame (quarantine and cleaning as in training; sequence events before the
label window's cutoff, as the encoder saw them), and the Python API (`ssl_ads.load_encoder(...).embed_batches`)
featurizes it with the checkpoint's fitted state and embeds it batch by batch; the vectors stream into
`<entity>.parquet` (users, rows or texts), written atomically, plus `items.parquet` for a sequence encoder's item
table. What was read, set aside and mapped to the out-of-vocabulary slot is printed and written to `metrics.json`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console
from rich.markup import escape

from ssl_ads.data.cleaning_report import MAPPED, TRUNCATED, DataReport, Step, print_report, report_from_source
from ssl_ads.data.io import write_json_atomic
from ssl_ads.encoders.bundle import reads_any_catalogue
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.evaluation.context import run_dir
from ssl_ads.use.encoder import TrainedEncoder, load_encoder
from ssl_ads.use.featurize import Counts, Frame, as_of_seconds
from ssl_ads.use.input_file import file_columns
from ssl_ads.use.parquet_out import write_parquet_atomic

# What a counted value is, by modality: an event of a history, a field of a row, a word piece of a text.
VALUE_UNITS = {"sequence": "events", "tabular": "values", "text": "word pieces"}


def canonical_frame(modality: str, source: Any) -> tuple[Frame, list[str], str]:
    """The source's rows in the training schema, the id columns to keep beside the entity's own, and the unit of
    the source's rows."""
    if modality == "sequence":
        events = source.events
        if source.cutoff_timestamp is not None:  # the label window is not encoder input, as in training
            events = events.filter(pl.col("timestamp") < source.cutoff_timestamp)
        return events, [], "events"
    if modality == "tabular":
        return source.frame, list(source.keys), "rows"
    return source.frame, [], "texts"


def run(cfg: DictConfig) -> None:
    if not cfg.encoder_ckpt:
        raise ConfigError("embed needs encoder_ckpt=<encoder.pt or a pretraining .ckpt>: the encoder to apply")
    started = time.perf_counter()
    as_of = as_of_seconds(cfg.embed.get("as_of"), "embed.as_of")  # checked before the encoder or the data is read
    cache_dir = Path(cfg.cache_dir)
    encoder = load_encoder(cfg.encoder_ckpt, cache_dir)
    dataset = instantiate(without_absent_label(cfg.dataset))
    encoder.check_dataset(dataset, cfg.dataset, cache_dir)  # another modality / feature schema: one line, exit 2
    if reads_any_catalogue(encoder.bundle["encoder_config"]) and getattr(dataset, "item_fields", None):
        # items described by content: the dataset's own catalogue, numbered afresh (as probe / finetune do)
        encoder = encoder.for_catalogue(dataset.item_frame(cache_dir))
    source = dataset.source(cache_dir)
    frame, id_columns, unit = canonical_frame(encoder.modality, source)
    batches = encoder.embed_batches(
        frame, id_columns, cfg.embed.batch_size, progress=cfg.trainer.enable_progress_bar, where=source.name,
        as_of=embedding_time(as_of, encoder.modality, source),
    )  # fmt: skip
    if encoder.counts.entities == 0:
        raise DataError(f"{source.name}: no {encoder.entity} to embed (every row was set aside or filtered)")
    out_dir = Path(cfg.embed.out_dir) if cfg.embed.out_dir else run_dir()
    outputs = {encoder.entity: out_dir / f"{encoder.entity}.parquet"}
    rows = {encoder.entity: write_parquet_atomic(outputs[encoder.entity], batches)}
    if encoder.modality == "sequence" and cfg.embed.items:
        outputs["items"] = out_dir / "items.parquet"
        rows["items"] = write_parquet_atomic(outputs["items"], [encoder.embed_items()])
    report = data_report(encoder, source, unit)
    print_report(report)
    metrics = {
        "stage": "embed",
        "encoder_ckpt": str(cfg.encoder_ckpt),
        "modality": encoder.modality,
        "dim": encoder.dim,
        "outputs": {name: {"path": str(path), "rows": rows[name]} for name, path in outputs.items()},
        "unseen": encoder.counts.unseen,
        "set_aside": encoder.counts.set_aside,
        "data_report": report.as_dict(),
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json_atomic(run_dir() / "metrics.json", metrics)
    written = ", ".join(f"{rows[name]:,} {name} → {path}" for name, path in outputs.items())
    Console().print(f"[green]embedded[/] {escape(written)} ({encoder.dim} dims, {metrics['seconds']} s)")


def without_absent_label(dataset: DictConfig) -> DictConfig:
    """Embedding reads no label: a table file without its `dataset.label` column is embedded unlabeled (said once)
    instead of refused. Any other column the encoder reads is still required, and named when missing."""
    label, path = dataset.get("label"), dataset.get("path")
    if not label or not path or not Path(str(path)).is_file():
        return dataset
    if label in file_columns(Path(str(path)), str(dataset.get("separator") or ",")):
        return dataset
    Console().print(f"{escape(str(path))}: no label column {label!r}; embedding the table unlabeled")
    unlabeled = dataset.copy()
    unlabeled.label = None
    return unlabeled


def embedding_time(as_of: float | None, modality: str, source: Any) -> float | None:
    """What event ages count from: `embed.as_of`, else the label window's start as in training (the featurizer's
    `age_reference_timestamp`), else the data's last event (None)."""
    if modality != "sequence":
        if as_of is not None:
            raise ConfigError(f"embed.as_of applies to event sequences; the encoder reads {modality} data")
        return None
    return as_of if as_of is not None else source.cutoff_timestamp


def data_report(encoder: TrainedEncoder, source: Any, unit: str) -> DataReport:
    """The reader's steps (quarantine, filters), then what featurizing set aside, cut and mapped to OOV."""
    counts: Counts = encoder.counts
    report = report_from_source(getattr(source, "quarantine", None), source.name, unit)
    if report.read == 0:  # readers without a quarantine payload (text, some tables): the rows handed over
        read = counts.entities + sum(counts.set_aside.values())
        report = replace(report, read=read, kept=read)
    steps = list(report.steps)
    removed = 0
    for reason, count in counts.set_aside.items():
        steps.append(Step(f"{reason} (set aside, not embedded)", count, unit))
        removed += count
    if encoder.modality == "sequence":
        window = _label_window_events(source)
        if window:
            steps.append(Step("label window (events at or after the cutoff are not encoder input)", window, unit,
                              settings={"cutoff_timestamp": source.cutoff_timestamp}))  # fmt: skip
            removed += window
        steps.append(Step("history truncation", counts.truncated, unit, kind=TRUNCATED,
                          settings={"max_len": encoder.max_len}))  # fmt: skip
    unseen = {name: count for name, count in counts.unseen.items() if count}
    steps.append(
        Step("unseen ids and categories (not in the encoder checkpoint's vocabulary)", sum(unseen.values()),
             VALUE_UNITS[encoder.modality], kind=MAPPED, detail=unseen)
    )  # fmt: skip
    kept = report.kept - removed - counts.truncated
    return replace(report, kept=kept, steps=steps, entities=encoder.entity, n_entities=counts.entities)


def _label_window_events(source: Any) -> int:
    """Events at or after the source's cutoff (the label window): read, but never encoder input."""
    if source.cutoff_timestamp is None:
        return 0
    return int(source.events.select((pl.col("timestamp") >= source.cutoff_timestamp).sum()).collect().item())
