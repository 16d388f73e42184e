"""Tabular featurizer: vocabularies and numeric transforms fitted on train rows, as polars expressions.

Categorical ids: 0 = missing, 1 = out of vocabulary (unseen or rarer than `min_count`), real values from
2 (most frequent first); a field with more kept values than `max_vocab` is hashed into `hash_buckets`
ids instead when hashing is on (else its tail goes to OOV). Numeric fields: non-finite → missing, then
log1p for skewed non-negative counts, then standardisation (or a quantile rank), missing → 0 (the
train mean) plus a `<name>_missing` indicator column when the train rows had any missing value.
The fitted `state` travels with every encoder, so new data maps exactly as in training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from rich.console import Console

from ssl_ads.data.cache_entry import open_directory
from ssl_ads.data.featurized import Featurized
from ssl_ads.data.io import stable_hash
from ssl_ads.data.sources.common import text
from ssl_ads.data.split import SplitSettings, read_split, write_split
from ssl_ads.data.vocab_ids import FIRST_ID, MISSING_ID, OOV_ID
from ssl_ads.errors import DataError
from ssl_ads.progress import progress

if TYPE_CHECKING:
    from ssl_ads.data.tabular_dataset import TabularDataset, TabularSource

FEATURIZER_VERSION = 2  # 2: train quantiles of every numeric column in the state (numeric embeddings)
SKEW_FOR_LOG = 2.0  # "auto": non-negative fields skewed beyond this get log1p (counts, money)
CLIP = 5.0  # standardised values are clipped to ±CLIP so one outlier cannot dominate a batch
QUANTILE_LEVELS = 65  # train quantiles kept per numeric column (levels 0, 1/64, ..., 1) for numeric embeddings


def fit_state(train: pl.DataFrame, categorical: list[str], numeric: list[str], settings: dict[str, Any]) -> dict:
    """Fit vocabularies and numeric transforms on the train rows only.

    `numeric_quantiles` are the quantiles of every transformed numeric column (indicators included) over
    the train rows: the bins of a piecewise-linear numeric embedding (`encoder.numeric_embedding`).
    """
    state = {
        "version": FEATURIZER_VERSION,
        "categorical": [_fit_categorical(train.get_column(c).cast(pl.String), settings) for c in categorical],
        "numeric": [_fit_numeric(train.get_column(c), settings) for c in numeric],
    }
    _, num, _ = transform(train.select(numeric), {"categorical": [], "numeric": state["numeric"]})
    levels = np.linspace(0.0, 1.0, QUANTILE_LEVELS)
    quantiles = np.quantile(num, levels, axis=0).T if len(num) else np.zeros((num.shape[1], QUANTILE_LEVELS))
    state["numeric_quantiles"] = [[float(v) for v in column] for column in quantiles]
    return state


def _fit_categorical(column: pl.Series, settings: dict[str, Any]) -> dict[str, Any]:
    counts = column.drop_nulls().value_counts(name="n").filter(pl.col("n") >= settings["min_count"])
    counts = counts.sort(["n", column.name], descending=[True, False])
    if counts.height > settings["max_vocab"] and settings["hash_buckets"] > 0:
        return {"name": column.name, "kind": "hash", "buckets": int(settings["hash_buckets"])}
    values = counts.get_column(column.name).head(settings["max_vocab"]).to_list()
    return {"name": column.name, "kind": "vocab", "values": values}


def _fit_numeric(column: pl.Series, settings: dict[str, Any]) -> dict[str, Any]:
    values = column.to_frame().select(_finite(pl.col(column.name).cast(pl.Float64, strict=False))).to_series()
    values = values.drop_nulls()
    transform = settings["numeric_transform"]
    state: dict[str, Any] = {"name": column.name, "missing_indicator": values.len() < column.len()}
    if values.len() == 0:  # all missing in train: a constant 0 value plus its (constant) indicator
        return {**state, "log1p": False, "center": 0.0, "scale": 1.0, "quantiles": None}
    skew = values.skew() if values.n_unique() > 2 else 0.0
    state["log1p"] = transform == "log1p" or (
        transform == "auto" and values.min() >= 0 and skew is not None and skew > SKEW_FOR_LOG
    )
    if state["log1p"]:
        values = values.clip(lower_bound=0).log1p()
    if transform == "quantile":
        probs = np.linspace(0, 1, settings["quantile_bins"] + 1)[1:-1]
        quantiles = np.unique(np.quantile(values.to_numpy(), probs)).tolist()
        return {**state, "center": 0.0, "scale": 1.0, "quantiles": quantiles}
    std = values.std() or 0.0
    return {**state, "center": float(values.mean()), "scale": float(std) if std > 0 else 1.0, "quantiles": None}


def transform(frame: pl.DataFrame, state: dict) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`cat [N, Fc]` int32, `num [N, Fn]` float32 (values, then missing indicators) and the numeric names."""
    missing = [c["name"] for c in [*state["categorical"], *state["numeric"]] if c["name"] not in frame.columns]
    if missing:
        raise DataError(f"the data lacks the fields the featurizer was fitted on: {', '.join(missing)}")
    text = {name for name, dtype in frame.schema.items() if dtype == pl.String}
    cat_exprs = [_categorical_expr(spec, spec["name"] in text) for spec in state["categorical"]]
    num_exprs = [_numeric_expr(spec, spec["name"] in text) for spec in state["numeric"]]
    indicators = [
        _number(s["name"], s["name"] in text).is_null().cast(pl.Float32).alias(f"{s['name']}_missing")
        for s in state["numeric"]
        if s["missing_indicator"]
    ]
    cat = frame.select(cat_exprs).to_numpy().astype(np.int32) if cat_exprs else np.zeros((frame.height, 0), np.int32)
    num_frame = frame.select([*num_exprs, *indicators]) if num_exprs else pl.DataFrame()
    num = num_frame.to_numpy().astype(np.float32) if num_exprs else np.zeros((frame.height, 0), np.float32)
    return np.ascontiguousarray(cat), np.ascontiguousarray(num), list(num_frame.columns)


def cardinalities(state: dict) -> list[int]:
    """Ids per categorical field, missing and OOV included (the size of its embedding table)."""
    return [FIRST_ID + (s["buckets"] if s["kind"] == "hash" else len(s["values"])) for s in state["categorical"]]


def _number(name: str, is_text: bool) -> pl.Expr:
    """A numeric field as Float64, text trimmed first; NaN, inf and what does not parse are missing."""
    return _finite((text(pl.col(name)) if is_text else pl.col(name)).cast(pl.Float64, strict=False))


def _categorical_expr(spec: dict, is_text: bool) -> pl.Expr:
    # text as the file readers make it before fitting (trimmed, empty as missing): `, Private` in a CSV written with
    # a space after each comma is the value the featurizer was fitted on
    column = text(pl.col(spec["name"])) if is_text else pl.col(spec["name"]).cast(pl.String)
    if spec["kind"] == "hash":
        # polars' hash is fixed for a polars version; the state records which one fitted it.
        mapped = (column.hash(seed=0) % spec["buckets"]).cast(pl.Int64) + FIRST_ID
    else:
        ids = list(range(FIRST_ID, FIRST_ID + len(spec["values"])))
        mapped = column.replace_strict(spec["values"], ids, default=OOV_ID, return_dtype=pl.Int64)
    return pl.when(column.is_null()).then(MISSING_ID).otherwise(mapped).cast(pl.Int32).alias(spec["name"])


def _numeric_expr(spec: dict, is_text: bool) -> pl.Expr:
    value = _number(spec["name"], is_text)
    if spec["log1p"]:
        value = value.clip(lower_bound=0).log1p()
    if spec["quantiles"] is not None:
        bins = pl.lit(pl.Series(spec["quantiles"], dtype=pl.Float64))
        rank = (bins.search_sorted(value.fill_null(0.0)).cast(pl.Float64) + 0.5) / (len(spec["quantiles"]) + 1)
        scaled = (rank - 0.5) * np.sqrt(12.0)  # uniform ranks with unit variance
    else:
        scaled = ((value - spec["center"]) / spec["scale"]).clip(-CLIP, CLIP)
    return pl.when(value.is_null()).then(0.0).otherwise(scaled).cast(pl.Float32).alias(spec["name"])


def _finite(value: pl.Expr) -> pl.Expr:
    """NaN and inf become missing values."""
    return pl.when(value.is_finite()).then(value)


def featurize_tabular(
    dataset: TabularDataset, cache_dir: Path, state: dict[str, Any] | None, split: SplitSettings
) -> Featurized:
    """Load the cached arrays for this data config and split, building them once if absent (or damaged).

    The split is computed once, when the entry is built (the featurizer fits on its train rows), and stored
    with it: `Featurized.split` is what the stages evaluate on.
    """
    key = {"dataset": dataset.fingerprint(), "split": split.record(), "version": FEATURIZER_VERSION}
    key["pl"] = pl.__version__
    if state is not None:
        key["state"] = stable_hash(state)
    directory = Path(cache_dir) / "tabular" / stable_hash(key)
    open_directory(directory, lambda tmp: _build(dataset, Path(cache_dir), tmp, state, split))
    data = load_arrays(directory)
    print_schema(data.meta)
    return data


def _build(dataset: TabularDataset, cache_dir: Path, out: Path, state: dict | None, split: SplitSettings) -> None:
    """Read, then fit, transform and write the entry, with a progress bar through the two steps."""
    with progress("reading rows", total=2) as bar:
        source = dataset.source(cache_dir)
        bar.advance()
        bar.step(f"featurizing {source.frame.height:,} rows and writing the cache")
        build_arrays(source, dataset, out, state, split)
        bar.advance()


def build_arrays(
    source: TabularSource, dataset: TabularDataset, out: Path, state: dict | None, settings: SplitSettings
) -> None:
    frame = source.frame
    if frame.height == 0:
        raise DataError(f"{source.name}: no rows to featurize")
    split = settings.apply(frame, source.name)  # the run's one split: fitted on here, evaluated on by the stages
    write_split(out, split, frame.height)
    fitted_on = "the encoder checkpoint's featurizer"
    if state is None:
        state = fit_state(frame[split.train], source.categorical, source.numeric, dataset.featurizer_settings())
        fitted_on = f"{len(split.train)} train rows (split {settings.record()})"
    cat, num, numeric_names = transform(frame, state)
    np.save(out / "cat.npy", cat)
    np.save(out / "num.npy", num)
    rows = frame.select(
        pl.col("row_id") if "row_id" in frame.columns else pl.int_range(frame.height, dtype=pl.Int64).alias("row_id"),
        *source.keys,
        *source.labels,
    )
    rows.write_parquet(out / "rows.parquet")
    (out / "state.json").write_text(json.dumps(state))
    cards = cardinalities(state)
    oov = {s["name"]: int((cat[:, i] == OOV_ID).sum()) for i, s in enumerate(state["categorical"])}
    meta = {
        "source": source.name,
        "modality": "tabular",
        "num_rows": frame.height,
        "categorical": [s["name"] for s in state["categorical"]],
        "cardinalities": cards,
        "hashed": [s["name"] for s in state["categorical"] if s["kind"] == "hash"],
        "numeric": numeric_names,
        "log1p": [s["name"] for s in state["numeric"] if s["log1p"]],
        "labels": source.labels,
        "oov_values": oov,
        "fitted_on": fitted_on,
        "notes": source.notes,
        "quarantine": source.quarantine,
        "inputs": f"{len(cards)} categorical and {len(numeric_names)} numeric fields per row",
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))


def load_arrays(directory: Path) -> Featurized:
    """Memory-map the arrays so the table's size does not set the process's RAM."""
    meta = json.loads((directory / "meta.json").read_text())
    state = json.loads((directory / "state.json").read_text())
    return Featurized(
        inputs={
            "cat": np.load(directory / "cat.npy", mmap_mode="r"),
            "num": np.load(directory / "num.npy", mmap_mode="r"),
        },
        rows=pl.read_parquet(directory / "rows.parquet"),
        encoder_kwargs=encoder_kwargs(meta, state),
        state=state,
        meta={**meta, "cache_dir": str(directory)},
        split=read_split(directory),
    )


def encoder_kwargs(meta: dict, state: dict) -> dict:
    """The encoder's data-derived constructor arguments (states fitted before version 2 have no quantiles)."""
    kwargs = {"cardinalities": list(meta["cardinalities"]), "num_numeric": len(meta["numeric"])}
    if state.get("numeric_quantiles") is not None:
        kwargs["numeric_quantiles"] = state["numeric_quantiles"]
    return kwargs


def print_schema(meta: dict, console: Console | None = None) -> None:
    """The schema the featurizer used, in the terminal (it is also saved in every encoder bundle)."""
    console = console or Console(stderr=True)
    cats = ", ".join(f"{n}({c})" for n, c in zip(meta["categorical"], meta["cardinalities"], strict=True))
    console.print(f"[bold]tabular schema[/] of {meta['source']}: {meta['num_rows']} rows; labels {meta['labels']}")
    console.print(f"  categorical (ids incl. missing/OOV): {cats or '-'}")
    console.print(f"  numeric: {', '.join(meta['numeric']) or '-'}  (log1p: {', '.join(meta['log1p']) or '-'})")
    for note in meta.get("notes", []):
        console.print(f"  note: {note}")
