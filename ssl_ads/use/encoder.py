"""The Python API of a trained encoder: `ssl_ads.load_encoder(path).embed(frame)` → ids and one vector per entity.

The `embed` stage calls exactly this, so a notebook and the command line produce the same vectors; and the vectors
are the pipeline's probe features (`head_features`, the frozen encoder in eval mode) for the same data.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn

from ssl_ads.data.batches import ArrayBatches
from ssl_ads.data.featurized import Dataset, Featurized
from ssl_ads.data.vocab_ids import FIRST_ID
from ssl_ads.encoders.bundle import check_matches, reads_any_catalogue
from ssl_ads.encoders.bundle import load_encoder as load_bundle
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.progress import progress as progress_bar
from ssl_ads.training.downstream_module import head_features
from ssl_ads.use.catalogue import catalogue_arrays
from ssl_ads.use.featurize import AsOf, Chunk, Chunks, Counts, Frame, sequence_chunks, tabular_chunks, text_chunks
from ssl_ads.use.training_layout import events_frame_as_trained, texts_as_trained, training_layout

# What one embedded row is, by modality (also the output file's name in the `embed` stage).
ENTITIES = {"sequence": "users", "tabular": "rows", "text": "texts"}
BATCH_SIZE = 1024


class TrainedEncoder:
    """A pretrained encoder with the featurizer state it was trained with (vocabularies, transforms, tokenizer).

    `embed(frame)` reads a polars frame of the training schema (`input_columns()`), in batches, and returns the
    entity ids with an `embedding` column (fixed-size float32 array). Unseen ids and categories take the
    out-of-vocabulary slot; `counts` (of the latest call) says how many, and what was set aside.
    """

    def __init__(self, module: nn.Module, bundle: dict[str, Any], path: Path, cache_dir: Path) -> None:
        self.module = module.eval()
        self.bundle = bundle
        self.path = path
        self.cache_dir = cache_dir
        self.counts = Counts()

    @property
    def modality(self) -> str:
        return str(self.module.modality)

    @property
    def entity(self) -> str:
        return ENTITIES[self.modality]

    @property
    def dim(self) -> int:
        """Width of the `embedding` column."""
        return int(self.module.feature_dim)

    @property
    def state(self) -> dict[str, Any]:
        """The fitted featurizer from the checkpoint: read, never refitted."""
        return self.bundle["data_state"]

    @property
    def side_fields(self) -> list[str]:
        """The side-field columns the encoder reads (none when they were pretext targets only)."""
        config = self.bundle["encoder_config"]
        return list(config.get("side_vocab_sizes") or {}) if config.get("side_fields_as", "inputs") == "inputs" else []

    @property
    def max_len(self) -> int:
        """Events (or tokens) read per entity: the featurizer's `max_len`, or the encoder's when it reads fewer
        (a next-item encoder reads windows of `task.window + 1`)."""
        found = [self.bundle["dataset_config"].get("max_len"), self.bundle["encoder_config"].get("max_len")]
        lengths = [int(v) for v in found if isinstance(v, int) and v > 0]
        if not lengths:
            raise ConfigError(f"encoder_ckpt: {self.path} records no max_len (dataset or encoder config)")
        return min(lengths)

    def input_columns(self) -> list[str]:
        """The columns `embed` reads: the training schema in the modality's canonical names."""
        if self.modality == "sequence":
            return ["user_id", "item_id", "timestamp", *self.side_fields]
        if self.modality == "tabular":
            return [spec["name"] for spec in [*self.state["categorical"], *self.state["numeric"]]]
        return ["text"]

    def text_fields(self) -> list[str]:
        """The fields a file reader must keep as text, as training read them: a table's categorical fields (`01`
        stays `01`, and an id that turns to letters further down a CSV is still read). Numeric fields are parsed
        by the featurizer whatever their type."""
        return [spec["name"] for spec in self.state["categorical"]] if self.modality == "tabular" else []

    def as_trained(self, frame: Frame, where: str = "frame") -> tuple[Frame, dict[str, int]]:
        """A frame the caller read themselves, in the training schema, and its events set aside by reason: laid out
        as the training file was (an `events_file` log's own column names, its time format and unit; a
        `text_file`'s text columns), it is renamed and parsed as training read it (`training_layout`); a frame in
        the training schema already is returned as it is (numeric times in the recorded unit, when not seconds).
        The public `embed` / `predict` call it; the stages read files through the same layout themselves."""
        layout = training_layout(self.bundle["dataset_config"], self.path)
        if self.modality == "sequence":
            return events_frame_as_trained(frame.lazy(), layout, self.input_columns(), Path(where), where, False)
        return texts_as_trained(frame, layout), {}

    def check_dataset(self, dataset: Dataset, dataset_config: Mapping, cache_dir: Path) -> None:
        """Refuse, in one line, a dataset of another modality or feature schema (`check_matches`)."""
        check_matches(self.path, self.bundle, dataset, dataset_config, cache_dir)

    def embed(
        self, frame: Frame, id_columns: list[str] | None = None, batch_size: int = BATCH_SIZE, as_of: AsOf = None
    ) -> pl.DataFrame:
        """Every entity of `frame` (users / rows / texts) as ids + `embedding`; `id_columns` are kept beside the
        modality's own id (`user_id`; `row_id` or the row position; `id` or the row position). Event sequences:
        `as_of` (unix seconds, a date or ISO text) is the time event ages count from, and events at or after it
        are set aside; by default ages count from the frame's last event."""
        frame, set_aside = self.as_trained(frame)
        parts = list(self.embed_batches(frame, id_columns, batch_size, as_of=as_of))
        self.counts.merge_set_aside(set_aside)
        return pl.concat(parts) if parts else self._empty(frame, id_columns or [])

    def embed_batches(
        self, frame: Frame, id_columns: list[str] | None = None, batch_size: int = BATCH_SIZE, progress: bool = False,
        where: str = "frame", as_of: AsOf = None,
    ) -> Iterator[pl.DataFrame]:  # fmt: skip
        """`embed` one batch at a time (bounded memory: inputs and vectors of one batch), the frame's columns
        checked before the first batch; `where` names the data in errors."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.counts = Counts()
        chunks = self._chunks(frame, list(id_columns or []), batch_size, where, as_of)
        return self._vectors(chunks, progress)

    def embed_items(self) -> pl.DataFrame:
        """The sequence encoder's item table: `item_id` (original ids, vocabulary order) + `embedding`."""
        item_vectors = getattr(self.module, "item_vectors", None)
        if self.modality != "sequence" or item_vectors is None:
            raise ConfigError(f"{self.path}: only a sequence encoder has an item table ({self.modality} encoder)")
        vocab = pl.DataFrame(self.state["item_vocab"])
        rows = torch.from_numpy(vocab.get_column("idx").to_numpy().astype(np.int64))
        self.module.eval()  # no id dropout: the vectors scoring uses (id row + side fields + title, as trained)
        with torch.inference_mode():
            vectors = item_vectors(rows).float().numpy()
        return vocab.select("item_id").with_columns(pl.Series("embedding", vectors))

    def for_catalogue(self, items: pl.DataFrame) -> TrainedEncoder:
        """This encoder reading another catalogue (a new client's items, ids it never saw): `items` holds `item_id`
        and the item columns it was trained with. Its items are numbered afresh and described with the field
        values and bucket edges of training; `embed` and `embed_items` then read that catalogue. Only an encoder
        whose items are their content (`encoder.item_inputs` without `id`) can: nothing it learned is per id."""
        config = self.bundle["encoder_config"]
        if self.modality != "sequence" or not reads_any_catalogue(config):
            inputs = config.get("item_inputs") or ["id"]
            raise ConfigError(
                f"{self.path}: for_catalogue needs a sequence encoder whose items are their content "
                f"(encoder.item_inputs=[fields] or [fields, text]); this one reads {self.modality} data with "
                f"item_inputs {list(inputs)}"
            )
        vocab, arrays, shapes = catalogue_arrays(items, self.state["item_table"], str(self.path))
        kwargs = {"num_items": FIRST_ID + vocab.height, "item_fields": shapes or None}
        kwargs["item_text_dim"] = int(arrays["text"].shape[1]) if "text" in arrays else None
        module, bundle = load_bundle(self.path, kwargs)
        module.item_content.fill_arrays(arrays)
        bundle = {**bundle, "encoder_config": {**config, **kwargs}}
        bundle["data_state"] = {**bundle["data_state"], "item_vocab": vocab.to_dict(as_series=False)}
        return TrainedEncoder(module, bundle, self.path, self.cache_dir)

    def _chunks(self, frame: Frame, id_columns: list[str], batch_size: int, where: str, as_of: AsOf) -> Chunks:
        if self.modality == "sequence":
            return sequence_chunks(
                frame, self.state, self.side_fields, self.max_len, batch_size, self.counts, where, as_of=as_of
            )
        if as_of is not None:
            raise ConfigError(f"as_of applies to event sequences; {self.path} is a {self.modality} encoder")
        if self.modality == "tabular":
            return tabular_chunks(frame, self.state, id_columns, batch_size, self.counts, where)
        return text_chunks(frame, self.state, self.max_len, id_columns, batch_size, self.counts, where)

    def _vectors(self, chunks: Chunks, progress: bool) -> Iterator[pl.DataFrame]:
        if not progress:
            yield from (self._embed_chunk(chunk) for chunk in chunks.batches)
            return
        with progress_bar(f"embedding {self.entity}", total=chunks.total) as bar:
            for chunk in chunks.batches:
                yield self._embed_chunk(chunk)
                bar.advance(chunk.ids.height)

    def _embed_chunk(self, chunk: Chunk) -> pl.DataFrame:
        """What `embed_all` computes for these rows: the encoder's `prepare_inputs` hook (cached sentence
        embeddings...), then `head_features` in eval mode without gradients."""
        inputs = dict(chunk.inputs)
        rows = chunk.rows if chunk.rows is not None else chunk.ids
        inputs |= self.module.prepare_inputs(Featurized(inputs, rows, {}, self.state), self.cache_dir, None)
        positions = np.arange(chunk.ids.height)
        batch = ArrayBatches(inputs, positions)[positions]
        with torch.inference_mode():
            vectors = head_features(self.module, batch).float().numpy()
        return chunk.ids.with_columns(pl.Series("embedding", vectors))

    def _empty(self, frame: Frame, id_columns: list[str]) -> pl.DataFrame:
        """No entity in the frame: the same columns, no rows."""
        own = {"sequence": ["user_id"], "tabular": ["row_id"], "text": ["id"]}[self.modality]
        schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
        ids = {c: schema.get(c, pl.Int64) for c in dict.fromkeys([*own, *id_columns])}
        return pl.DataFrame(schema={**ids, "embedding": pl.Array(pl.Float32, self.dim)})


def load_encoder(path: str | Path, cache_dir: str | Path = ".ssl_ads_cache") -> TrainedEncoder:
    """A trained encoder from `encoder.pt` (or a pretraining `.ckpt`), read as data only (`weights_only=True`).

    `cache_dir` holds what an encoder computes once per text (frozen sentence-model embeddings).
    """
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):  # torch.save writes a zip archive: random bytes, text, a
        raise DataError(  # plain pickle are refused before any unpickling
            f"encoder_ckpt: {path} is not a torch checkpoint (expected the encoder.pt or model.pt written by ssl-ads, "
            "or a pretraining .ckpt)"
        )
    module, bundle = load_bundle(path)
    return TrainedEncoder(module, bundle, path, Path(cache_dir))
