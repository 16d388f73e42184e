"""The two sides `monitor` compares, as featurized inputs: a run's own training data, or a file, through one featurizer.

A run's side is the training rows of its cached featurized arrays (the entry its checkpoint records, verified by
its manifest; the rows of the run's split, `run_split`) — the data the encoder and head were fitted on, not the
validation and test rows. A file is featurized with the checkpoint's state exactly
as `predict` and `embed` do (`ssl_ads.use.featurize`), so both sides speak the same ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from ssl_ads.data.batches import ArrayBatches
from ssl_ads.data.cache_entry import directory_damage
from ssl_ads.data.featurized import Featurized
from ssl_ads.data.text_tokenizer import CLS_ID, PAD_ID, UNK_ID, tokenizer_from_json
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.training.downstream_module import head_features
from ssl_ads.use.drift import FieldDrift, categorical_drift, numeric_drift
from ssl_ads.use.encoder import TrainedEncoder
from ssl_ads.use.featurize import Counts, sequence_chunks, tabular_chunks, text_chunks
from ssl_ads.use.input_file import scan_file
from ssl_ads.use.run_split import recorded_split, training_rows
from ssl_ads.use.schema_check import check_schema
from ssl_ads.use.training_layout import events_as_trained, texts_as_trained, training_layout

CHUNK = 65_536


@dataclass
class Side:
    """Featurized inputs of one side (`rows`: what an encoder's `prepare_inputs` hook reads, texts for text)."""

    name: str
    inputs: dict[str, np.ndarray]
    rows: pl.DataFrame | None = None
    n_rows: int | None = None  # rows compared (a run: its training rows)
    n_total: int | None = None  # rows the run's featurized data holds (train, validation and test)
    set_aside: dict[str, int] = field(default_factory=dict)  # a file's rows or events not compared, by reason


def run_side(encoder: TrainedEncoder, name: str) -> Side:
    """The featurized data of the run that wrote `encoder`'s checkpoint, from the cache entry it records."""
    from ssl_ads.data import sequence_features, tabular_features, text_features

    directory = cached_entry(encoder)
    reason = directory_damage(directory) if directory.name and directory.is_dir() else "it is not there"
    if reason is not None:
        raise DataError(
            f"reference {name}: the run's featurized data ({directory or 'no cache entry recorded'}) cannot be read "
            f"({reason}); pass reference=<the training data file> with model= or encoder_ckpt="
        )
    loader = {"tabular": tabular_features, "sequence": sequence_features, "text": text_features}[encoder.modality]
    data = loader.load_arrays(directory)
    split = recorded_split(encoder.bundle, encoder.path, encoder.modality, f"reference {name}")
    train = training_rows(split, data.rows, data.source)  # the rows the encoder and head were fitted on
    inputs = {key: np.asarray(values[train]) for key, values in data.inputs.items()}
    return Side(name, inputs, data.rows[train] if encoder.modality == "text" else None, len(train), data.rows.height)


def cached_entry(encoder: TrainedEncoder) -> Path:
    """The featurized cache entry a checkpoint records; a relative one (recorded from the training run's working
    directory) is looked for from the checkpoint's run directory up (`<cwd>/outputs/<stage>/<time>/`)."""
    recorded = Path(str((encoder.bundle.get("featurized") or {}).get("cache_dir") or ""))
    if recorded.is_absolute() or recorded.is_dir() or not recorded.name:
        return recorded
    for base in encoder.path.resolve().parents:
        if (base / recorded).is_dir():
            return base / recorded
    return recorded


def file_side(encoder: TrainedEncoder, path: Path, separator: str | None, key: str, as_of: float | None = None) -> Side:
    """A parquet / CSV file through the checkpoint's featurizer (columns checked first, named when missing), read
    as `predict` reads it (a file laid out as the training file was, too: `training_layout`; `separator` None: the
    training file's); `as_of` (event sequences): the time ages count from, later events set aside."""
    where = f"{key} {path}"
    if as_of is not None and encoder.modality != "sequence":
        raise ConfigError(f"as_of applies to event sequences; {encoder.path} is a {encoder.modality} encoder")
    layout = training_layout(encoder.bundle["dataset_config"], encoder.path)
    separator = separator or layout.separator
    if encoder.modality == "sequence":
        frame, set_aside = events_as_trained(path, layout, separator, encoder.input_columns(), where)
    else:
        frame = scan_file(path, separator, text_columns=encoder.text_fields())
        frame, set_aside = texts_as_trained(frame, layout), {}
    columns = frame.collect_schema().names()
    check_schema(columns, encoder.input_columns(), encoder.modality, encoder.bundle, encoder.path, where, "checkpoint")
    counts, state = Counts(set_aside=set_aside), encoder.state
    if encoder.modality == "sequence":
        chunks = sequence_chunks(frame, state, encoder.side_fields, encoder.max_len, CHUNK, counts, where, as_of=as_of)
    elif encoder.modality == "tabular":
        chunks = tabular_chunks(frame.select(encoder.input_columns()), state, [], CHUNK, counts, where)
    else:
        chunks = text_chunks(frame.select("text"), state, encoder.max_len, [], CHUNK, counts, where)
    parts = list(chunks.batches)
    if not parts:
        raise DataError(f"{where}: no rows to compare")
    inputs = {k: np.concatenate([p.inputs[k] for p in parts]) for k in parts[0].inputs}
    rows = pl.concat([p.rows for p in parts]) if parts[0].rows is not None else None
    return Side(str(path), inputs, rows, set_aside=dict(counts.set_aside))


def field_drifts(
    encoder: TrainedEncoder, reference: Side, current: Side, bins: int, max_categories: int
) -> list[FieldDrift]:
    """PSI of every input field the encoder reads (plus history / text length), in the featurizer's order."""
    ref, cur = reference.inputs, current.inputs
    if encoder.modality == "tabular":
        state = encoder.state
        specials = {0: "missing", 1: "OOV"}
        out = [
            categorical_drift(
                spec["name"],
                ref["cat"][:, i],
                cur["cat"][:, i],
                specials,
                max_categories,
                oov_id=1,
                names=_lookup(spec.get("values") or [], offset=2),
            )
            for i, spec in enumerate(state["categorical"])
        ]
        names = [s["name"] for s in state["numeric"]]
        names += [f"{s['name']}_missing" for s in state["numeric"] if s["missing_indicator"]]
        return out + [numeric_drift(n, ref["num"][:, j], cur["num"][:, j], bins) for j, n in enumerate(names)]
    if encoder.modality == "sequence":
        items_r, items_c = np.asarray(ref["items"]), np.asarray(cur["items"])
        out = [categorical_drift("item_id", items_r[items_r > 0], items_c[items_c > 0], {1: "OOV"}, max_categories,
                                 oov_id=1, names=_vocabulary(encoder.state["item_vocab"], "item_id"))]  # fmt: skip
        for name in encoder.side_fields:
            side_r, side_c = np.asarray(ref[name]), np.asarray(cur[name])
            names = _vocabulary((encoder.state.get("side_vocabs") or {}).get(name) or {name: [], "idx": []}, name)
            out.append(categorical_drift(name, side_r[side_r > 0], side_c[side_c > 0], {}, max_categories, names=names))
        out.append(numeric_drift("history length", (items_r > 0).sum(1), (items_c > 0).sum(1), bins))
        return out
    tokens_r, tokens_c = np.asarray(ref["tokens"]), np.asarray(cur["tokens"])
    pieces_r = tokens_r[(tokens_r != PAD_ID) & (tokens_r != CLS_ID)]
    pieces_c = tokens_c[(tokens_c != PAD_ID) & (tokens_c != CLS_ID)]
    tokenizer = tokenizer_from_json(encoder.state["tokenizer"])
    return [
        categorical_drift(
            "word pieces",
            pieces_r,
            pieces_c,
            {UNK_ID: "[UNK]"},
            max_categories,
            oov_id=UNK_ID,
            names=lambda i: str(tokenizer.id_to_token(i)),
        ),
        numeric_drift("text length", (tokens_r != PAD_ID).sum(1), (tokens_c != PAD_ID).sum(1), bins),
    ]


def _lookup(values: list, offset: int) -> Callable[[int], str]:
    """Label of a tabular vocabulary id (values are numbered from `offset`)."""
    return lambda i: str(values[i - offset]) if 0 <= i - offset < len(values) else f"id {i}"


def _vocabulary(table: dict[str, list], column: str) -> Callable[[int], str]:
    """Label of a sequence id from a `{column: values, "idx": ids}` vocabulary."""
    mapping = dict(zip(table.get("idx", []), table.get(column, []), strict=False))
    return lambda i: str(mapping.get(i, f"id {i}"))


def oov_share(modality: str, inputs: dict[str, np.ndarray]) -> float:
    """Share of the ids the model reads that are out of vocabulary (categorical values, events, word pieces)."""
    if modality == "tabular":
        ids = np.asarray(inputs["cat"])
        real = ids != 0
    elif modality == "sequence":
        ids = np.asarray(inputs["items"])
        real = ids != 0
    else:
        ids = np.asarray(inputs["tokens"])
        real = (ids != PAD_ID) & (ids != CLS_ID)
    return float(((ids == 1) & real).sum() / max(int(real.sum()), 1))


def embeddings(encoder: TrainedEncoder, side: Side, rows: int, seed: int, batch_size: int = 1024) -> np.ndarray:
    """The encoder's representation (`head_features`, eval mode) of up to `rows` rows of `side`, sampled (seeded)."""
    n = len(next(iter(side.inputs.values())))
    chosen = np.sort(np.random.default_rng(seed).choice(n, size=min(rows, n), replace=False))
    inputs: dict[str, Any] = {k: np.asarray(v[chosen]) for k, v in side.inputs.items()}
    # cached sentence embeddings of these texts; a loaded encoder never refits
    rows_frame = side.rows[chosen] if side.rows is not None else pl.DataFrame()
    inputs |= encoder.module.prepare_inputs(Featurized(inputs, rows_frame, {}, encoder.state), encoder.cache_dir, None)
    batches = ArrayBatches(inputs, np.arange(len(chosen)))
    encoder.module.eval()
    with torch.inference_mode():
        parts = [head_features(encoder.module, batches[np.arange(s, min(s + batch_size, len(chosen)))]).float()
                 for s in range(0, len(chosen), batch_size)]  # fmt: skip
    return torch.cat(parts).numpy() if parts else np.zeros((0, 0), np.float32)
