"""The Python API of a fine-tuned model: `ssl_ads.load_model("model.pt").predict(frame)` → ids, scores, decisions.

The `predict` stage calls exactly this, so a notebook and the command line produce the same scores; and on the
evaluation's test rows they are the scores its test metric was computed from (same featurizer state, same
weights, eval mode, the test loop's batches of 1024).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from ssl_ads.data.batches import ArrayBatches
from ssl_ads.data.featurized import Featurized
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.progress import progress
from ssl_ads.use.bundled_model import BundledModel
from ssl_ads.use.decision import decision_columns
from ssl_ads.use.encoder import TrainedEncoder
from ssl_ads.use.featurize import AsOf, Chunk, Chunks, Counts, Frame, sequence_chunks, tabular_chunks, text_chunks
from ssl_ads.use.input_file import file_columns, iter_chunks
from ssl_ads.use.model_bundle import ScoringModel, build_model, read_model
from ssl_ads.use.parquet_out import write_parquet_atomic
from ssl_ads.use.ranking_model import RankingModel, is_ranking, load_ranking_model
from ssl_ads.use.training_layout import TrainingLayout, events_as_trained, texts_as_trained, training_layout

BATCH_SIZE = 1024  # the test loop's batch size: the same rows meet in the same batches as in evaluation
FEATURIZE_ROWS = 16 * BATCH_SIZE  # rows featurized per call: one polars query per block, not per batch
CHUNK_ROWS = 64 * BATCH_SIZE  # rows of a table / texts read, scored and written at a time (memory: about 100 MB)


class FineTunedModel(BundledModel):
    """A fine-tuned encoder + task head with its fitted featurizer and decision rule (see `model_bundle`).

    `predict(frame)` reads a polars frame of the training schema (`input_columns()`) and returns the entity ids,
    the other columns of a table or text frame, and the task's output: binary `score` + `predicted` (0/1 at the
    bundle's threshold); multi-class `predicted` + `confidence` (+ the quality gate's `decision`). `counts` (of the
    latest call) says which values were unseen and which rows were set aside.
    """

    def __init__(self, scorer: ScoringModel, task: Any, bundle: dict[str, Any], path: Path, cache_dir: Path) -> None:
        self.scorer = scorer.eval()
        self.task = task
        self.bundle = bundle
        self.path = path
        self.cache_dir = cache_dir
        # the featurizer side (training schema, max_len, side fields) is the encoder's: one definition of it
        self.features = TrainedEncoder(scorer.encoder, bundle, path, cache_dir)
        self.counts = Counts()

    def predict(self, frame: Frame, batch_size: int = BATCH_SIZE, as_of: AsOf = None) -> pl.DataFrame:
        """Every entity of `frame` (users / rows / texts) with its score and decision (see the class); `as_of`: as
        `TrainedEncoder.embed`'s (event sequences)."""
        frame, set_aside = self.features.as_trained(frame)
        parts = list(self.predict_batches(frame, batch_size, as_of=as_of))
        self.counts.merge_set_aside(set_aside)
        if not parts:
            raise DataError("frame: no rows to score")
        return pl.concat(parts, how="vertical_relaxed")

    def predict_batches(
        self, frame: Frame, batch_size: int = BATCH_SIZE, where: str = "frame", as_of: AsOf = None
    ) -> Iterator[pl.DataFrame]:
        """`predict` a block at a time (bounded memory), the frame's columns checked before the first block.

        Featurizing takes `FEATURIZE_ROWS` rows per call (one polars query per block, not per batch); the model
        reads them `batch_size` at a time, so the same rows meet in the same batches as in the test loop.
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        columns = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
        self.check_columns(columns, where)
        self.counts = Counts()
        block = max(batch_size, FEATURIZE_ROWS // batch_size * batch_size)
        chunks = self._chunks(frame, columns, block, where, as_of)
        return (self._score(chunk, batch_size) for chunk in chunks.batches)

    def _chunks(self, frame: Frame, columns: list[str], batch_size: int, where: str, as_of: AsOf) -> Chunks:
        """The other engineer's featurizers (`ssl_ads.use.featurize`), with every non-input column kept as an id."""
        state, counts = self.features.state, self.counts
        if self.modality == "sequence":
            return sequence_chunks(
                frame, state, self.features.side_fields, self.features.max_len, batch_size, counts, where,
                as_of=as_of,
            )  # fmt: skip
        if as_of is not None:
            raise ConfigError(f"as_of applies to event sequences; {self.path} scores {self.modality} data")
        keep = [c for c in columns if c not in self.input_columns()]
        if self.modality == "tabular":
            return tabular_chunks(frame, state, keep, batch_size, counts, where)
        return text_chunks(frame, state, self.features.max_len, keep, batch_size, counts, where)

    def _score(self, chunk: Chunk, batch_size: int) -> pl.DataFrame:
        inputs = dict(chunk.inputs)
        # cached sentence embeddings...; a loaded encoder never refits (BagOfWords.fitted)
        rows = chunk.rows if chunk.rows is not None else chunk.ids
        data = Featurized(inputs, rows, {}, self.features.state)
        inputs |= self.scorer.encoder.prepare_inputs(data, self.cache_dir, None)
        rows, n = ArrayBatches(inputs, np.arange(chunk.ids.height)), chunk.ids.height
        with torch.inference_mode():
            parts = [self.task.predictions(self.scorer(rows[np.arange(s, min(s + batch_size, n))]))
                     for s in range(0, n, batch_size)]  # fmt: skip
        predictions = torch.cat(parts) if parts else torch.zeros(0)
        classes = self.bundle["task"].get("classes") or []
        return chunk.ids.with_columns(decision_columns(self.decision, predictions, classes))


def load_model(path: str | Path, cache_dir: str | Path = ".ssl_ads_cache") -> FineTunedModel | RankingModel:
    """A fine-tuned model from `model.pt`, read as data only (`weights_only=True`, allowlisted classes).

    `cache_dir` holds what an encoder computes once per text (frozen sentence-model embeddings).
    """
    bundle = read_model(path)
    if is_ranking(bundle):  # next-item: top-k items per user (`ranking_model`)
        return load_ranking_model(Path(path), bundle, Path(cache_dir))
    scorer, task = build_model(path, bundle)
    return FineTunedModel(scorer, task, bundle, Path(path), Path(cache_dir))


def predict_file(
    model: FineTunedModel | RankingModel, path: Path, out: Path, batch_size: int | None = None,
    chunk_rows: int = CHUNK_ROWS, separator: str | None = None, as_of: AsOf = None,
) -> dict[str, Any]:  # fmt: skip
    """Score a parquet / CSV file or folder into `out` (parquet), streaming tables and texts `chunk_rows` rows at a time
    (events: users a block at a time, `featurize.sequence_chunks`). `batch_size` None: the model's test loop's.
    A file laid out as the training file was (its column names, timestamp format, text columns) is read as
    training read it (`training_layout`); `separator` None: the training file's.

    Returns a summary: rows read, entities scored, unseen values, rows set aside, seconds.
    """
    started = time.perf_counter()
    where = f"dataset.path {path}"
    layout = training_layout(model.bundle["dataset_config"], model.path)
    separator = separator or layout.separator
    events, set_aside = None, {}
    if model.modality == "sequence":
        events, set_aside = events_as_trained(path, layout, separator, model.input_columns(), where)
        model.check_columns(events.collect_schema().names(), where)
    else:
        header = pl.DataFrame(schema=dict.fromkeys(file_columns(path, separator), pl.String))
        model.check_columns(texts_as_trained(header, layout).columns, where)
    totals = Counts(set_aside=set_aside)

    def scored_chunks() -> Iterator[pl.DataFrame]:
        for frame in [events] if events is not None else _chunks(model, path, chunk_rows, separator, layout):
            parts = list(
                model.predict_batches(frame, batch_size or BATCH_SIZE, where, as_of=as_of)
                if isinstance(model, FineTunedModel)
                else model.predict_batches(frame, batch_size, where, as_of=as_of)
            )
            for name, count in model.counts.unseen.items():
                totals.add_unseen(name, count)
            totals.merge_set_aside(model.counts.set_aside)
            if parts:
                yield pl.concat(parts, how="vertical_relaxed")  # one row group per chunk, not per batch

    chunks = scored_chunks()
    first = next(chunks, None)
    if first is None:
        raise DataError(f"{where}: no rows to score")
    scored = write_parquet_atomic(out, chain([first], chunks))  # a run stopped midway leaves no partial file
    return {
        "model": str(model.path), "input": str(path), "output": str(out), "modality": model.modality,
        "scored": scored, "unseen": totals.unseen, "set_aside": totals.set_aside, "decision": model.decision,
        "seconds": round(time.perf_counter() - started, 2),
    }  # fmt: skip


def _chunks(
    model: FineTunedModel, path: Path, chunk_rows: int, separator: str, layout: TrainingLayout
) -> Iterator[pl.DataFrame]:
    """Tables and texts in chunks, each row numbered by its position in the file when the file has no id of its
    own (events are one lazy scan instead: a user's events may be anywhere in the file)."""
    own_id = "row_id" if model.modality == "tabular" else "id"
    offset = 0
    with progress(f"scoring {path.name} (rows)") as bar:
        for chunk in iter_chunks(path, chunk_rows, separator, text_columns=model.features.text_fields()):
            chunk = texts_as_trained(chunk, layout)
            if own_id not in chunk.columns:
                chunk = chunk.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + offset).alias(own_id))
            offset += chunk.height
            yield chunk
            bar.advance(chunk.height)
