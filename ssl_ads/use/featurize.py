"""A frame of the training schema → model inputs, one batch of entities at a time, with a checkpoint's fitted state.

Why not `Dataset.featurize`: that fits a featurizer when it has no state, caches whole datasets and needs a split.
Here a trained encoder meets data it may never have seen: the vocabularies, numeric transforms and tokenizer come
from the checkpoint only (never refitted), values they do not know go to the out-of-vocabulary slot and are
counted, and inputs exist one batch at a time. The per-modality steps are the featurizers' own
(`tabular_features.transform`, `text_tokenizer.encode_texts`, the sequence featurizer's sort / tail / left-pad), so
the same data gives the same inputs as in the pipeline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ssl_ads.data.sequence_features import AGE_KEY, age_in_days, left_pad
from ssl_ads.data.tabular_features import transform
from ssl_ads.data.text_tokenizer import UNK_ID, encode_texts, tokenizer_from_json
from ssl_ads.data.vocab_ids import OOV_ID as ITEM_OOV
from ssl_ads.data.vocab_ids import OOV_ID as TABULAR_OOV
from ssl_ads.errors import ConfigError, DataError

Frame = pl.DataFrame | pl.LazyFrame
AsOf = float | str | dt.date | dt.datetime | None
UNSEEN_SIDE_ID = 0  # side fields have no OOV slot: an unseen value reads as padding (its embedding is zero)
EVENTS_PER_PASS = 1 << 20  # events of a sequence file held at once (their users' featurized tails beside them)


@dataclass
class Counts:
    """What featurizing did besides mapping: rows set aside (by reason) and values sent to the OOV slot (by column)."""

    entities: int = 0
    set_aside: dict[str, int] = field(default_factory=dict)
    unseen: dict[str, int] = field(default_factory=dict)
    truncated: int = 0  # events older than a user's last `max_len` (sequences)

    def add_unseen(self, column: str, count: int) -> None:
        self.unseen[column] = self.unseen.get(column, 0) + int(count)

    def merge_set_aside(self, counts: dict[str, int]) -> None:
        """Add rows set aside before featurizing (times that did not parse as in training)."""
        for reason, count in counts.items():
            self.set_aside[reason] = self.set_aside.get(reason, 0) + int(count)


@dataclass
class Chunk:
    """One batch: the entities' id columns and their model inputs, row-aligned; `rows` is what an encoder's
    `prepare_inputs` hook reads (the texts), when it needs more than the ids."""

    ids: pl.DataFrame
    inputs: dict[str, np.ndarray]
    rows: pl.DataFrame | None = None


@dataclass
class Chunks:
    """`total` entities (known before the first batch, for a progress bar) and the batches themselves."""

    total: int
    batches: Iterator[Chunk]


def require_columns(present: Sequence[str], required: Sequence[str], where: str, schema: str) -> None:
    """One line naming every missing column, what the encoder was trained on, and what the data has."""
    missing = [c for c in required if c not in present]
    if missing:
        raise DataError(
            f"{where}: lacks column(s) {', '.join(missing)} of the encoder's training schema ({schema}); "
            f"it has {', '.join(present) or 'no columns'}"
        )


def _columns(frame: Frame) -> list[str]:
    return frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns


def _cast_like(column: str, dtype: pl.DataType) -> pl.Expr:
    """Ids read from a new file (integers as text, Int32...) compared in the vocabulary's type; what does not cast
    is unseen."""
    return pl.col(column).cast(dtype, strict=False)


def sequence_chunks(
    events: Frame, state: dict[str, Any], side_fields: list[str], max_len: int, batch_size: int, counts: Counts,
    where: str, events_per_pass: int = EVENTS_PER_PASS, as_of: AsOf = None,
) -> Chunks:  # fmt: skip
    """Users' most recent `max_len` events as left-padded item ids (and side-field ids), `batch_size` users a batch.

    As `sequence_features.build_arrays`: events sorted by (user, time), stably, the tail of each user's history,
    users in id order. Items outside `item_vocab` are the OOV id; side values outside their vocabulary, padding.

    Memory: a user's events may lie anywhere in the file, so the events are read in passes over ranges of user ids
    (one lazy scan each, filtered while reading) of about `events_per_pass` events; a pass ends on a multiple of
    `batch_size` users, so batches are the same as in one pass. What stays in memory is one pass's events and
    the per-user event counts (one row per user), never the whole file. Counts of unseen values and truncated
    events grow as the batches are read.

    Ages (`age_days`, for encoders with `encoder.read_ages`) count from `as_of` (see `as_of_seconds`): events at or
    after it are set aside and counted, as training leaves out the label window. Without it they count from the
    file's last event, the time the users are scored at.
    """
    required = ["user_id", "item_id", "timestamp", *side_fields]
    require_columns(_columns(events), required, where, ", ".join(required))
    vocab = pl.DataFrame(state["item_vocab"])
    lacking = [name for name in side_fields if name not in state.get("side_vocabs", {})]
    if lacking:  # never refit: a vocabulary fitted on this data would number its values differently
        raise DataError(f"the encoder's featurizer state has no vocabulary for side field(s) {', '.join(lacking)}")
    side_vocabs = {name: pl.DataFrame(state["side_vocabs"][name]) for name in side_fields}
    lazy = events.lazy().select(required)
    seconds = timestamp_seconds(lazy.collect_schema()["timestamp"])
    as_of_s = as_of_seconds(as_of)
    if as_of_s is not None and seconds is None:
        raise ConfigError(
            f"{where}: as_of={as_of!r} needs timestamps that are times (unix seconds, dates or datetimes); the "
            f"timestamp column is {lazy.collect_schema()['timestamp']}"
        )
    # one scan: each user's events (those before as_of, when given), the ones after it, and the last time kept
    before = None if as_of_s is None else seconds.is_null() | (seconds < as_of_s)
    last = pl.lit(None) if seconds is None else seconds if before is None else seconds.filter(before)
    per_user = (
        lazy.group_by("user_id")
        .agg(
            (pl.len() if before is None else before.sum()).alias("n"),
            (pl.lit(0) if before is None else (~before).sum()).alias("later"),
            last.max().alias("last"),
        )
        .sort("user_id", nulls_last=True)
        .collect()
    )
    if before is not None:
        later = int(per_user.get_column("later").sum())
        if later:
            counts.set_aside["events at or after as_of"] = later
        per_user = per_user.filter(pl.col("n") > 0)
        lazy = lazy.filter(before)
    # events' ages (encoder.read_ages) count from as_of, else from the file's last event; none when the timestamps
    # are not times (text that only sorts), and an encoder that reads ages then says so
    reference = as_of_s if as_of_s is not None else per_user.get_column("last").max() if seconds is not None else None
    n_null_users = int(per_user.filter(pl.col("user_id").is_null()).get_column("n").sum())
    if n_null_users:
        counts.set_aside["events without user_id"] = n_null_users
    per_user = per_user.filter(pl.col("user_id").is_not_null())
    counts.entities += per_user.height
    bounds = user_passes(per_user.get_column("n").to_numpy(), batch_size, events_per_pass)
    users = per_user.get_column("user_id")

    def batches() -> Iterator[Chunk]:
        for first, last in bounds:
            # literals: a text id passed bare would be read as a column name
            in_range = pl.col("user_id").is_between(pl.lit(users[first]), pl.lit(users[last - 1]))
            tails = _tails(lazy.filter(in_range), vocab, side_vocabs, max_len, counts, seconds, reference)
            for start in range(0, tails.height, batch_size):
                part = tails.slice(start, batch_size)
                lengths = part.get_column("idx").list.len().to_numpy().astype(np.int32)
                inputs = {"items": left_pad(part.get_column("idx"), lengths, max_len)}
                inputs |= {n: left_pad(part.get_column(f"{n}_idx"), lengths, max_len) for n in side_fields}
                if reference is not None:
                    inputs[AGE_KEY] = left_pad(part.get_column("age"), lengths, max_len, np.float32)
                yield Chunk(ids=part.select("user_id"), inputs=inputs)

    return Chunks(per_user.height, batches())


def user_passes(events_per_user: np.ndarray, batch_size: int, events_per_pass: int) -> list[tuple[int, int]]:
    """`[first, last)` user positions of each pass: whole batches of users, about `events_per_pass` events a pass
    (at least one batch, however many events it holds)."""
    n = len(events_per_user)
    cuts = np.r_[np.arange(0, n, batch_size), n]  # batch boundaries
    done = np.r_[0, np.cumsum(events_per_user)][cuts]  # events before each boundary
    bounds, first = [], 0
    while first < len(cuts) - 1:
        # the furthest boundary within budget, at least one batch further
        last = max(first + 1, int(np.searchsorted(done, done[first] + events_per_pass, side="right")) - 1)
        bounds.append((int(cuts[first]), int(cuts[last])))
        first = last
    return bounds


def as_of_seconds(as_of: AsOf, setting: str = "as_of") -> float | None:
    """`as_of` as unix seconds: a number as it is (the training schema's unit), a date (its midnight) or datetime, or
    ISO text ("2024-01-31", "2024-01-31T12:00", or a number); times without a zone are UTC, as polars reads them."""
    if as_of is None:
        return None
    if isinstance(as_of, bool):
        raise ConfigError(f"{setting} must be unix seconds or an ISO date / datetime, got {as_of!r}")
    if isinstance(as_of, int | float):
        return float(as_of)
    if isinstance(as_of, str):
        try:
            return float(as_of)
        except ValueError:
            pass
        try:
            as_of = dt.datetime.fromisoformat(as_of)
        except ValueError:
            raise ConfigError(
                f"{setting} must be unix seconds or an ISO date / datetime (2024-01-31, 2024-01-31T12:00), "
                f"got {as_of!r}"
            ) from None
    if not isinstance(as_of, dt.datetime):
        as_of = dt.datetime.combine(as_of, dt.time())
    return as_of.replace(tzinfo=as_of.tzinfo or dt.UTC).timestamp()


def timestamp_seconds(dtype: pl.DataType) -> pl.Expr | None:
    """The timestamp column as unix seconds: numbers as they are (the training schema's), dates and datetimes
    converted; None for text, which only sorts."""
    if dtype.is_numeric():
        return pl.col("timestamp")
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return pl.col("timestamp").dt.epoch("s")
    return None


def _tails(
    lazy: pl.LazyFrame,
    vocab: pl.DataFrame,
    side_vocabs: dict[str, pl.DataFrame],
    max_len: int,
    counts: Counts,
    seconds: pl.Expr | None = None,
    reference: int | None = None,
) -> pl.DataFrame:
    """One pass: events mapped to vocabulary ids (unseen counted), each user's last `max_len`, users in id order;
    `age`: days from each event (`seconds`, its time) to `reference` (as the sequence featurizer's `age_days`;
    NaN for an event without a time), when there is a reference."""
    side_fields = list(side_vocabs)
    lazy = lazy.with_columns(
        _cast_like("item_id", vocab.schema["item_id"]),
        *[_cast_like(name, side_vocabs[name].schema[name]) for name in side_fields],
    )
    lazy = lazy.join(vocab.lazy(), on="item_id", how="left", maintain_order="left")
    for name, side in side_vocabs.items():
        lazy = lazy.join(side.rename({"idx": f"{name}_idx"}).lazy(), on=name, how="left", maintain_order="left")
    idx_columns = ["idx", *[f"{n}_idx" for n in side_fields]]
    with_age = seconds is not None and reference is not None
    age = [age_in_days(seconds, reference).fill_null(float("nan")).alias("age")] if with_age else []
    columns = ["user_id", *idx_columns, *age]
    mapped = lazy.sort(["user_id", "timestamp"], maintain_order=True).select(columns).collect()
    unseen = mapped.select(pl.col(c).is_null().sum() for c in idx_columns).row(0)
    for name, count in zip(["item_id", *side_fields], unseen, strict=True):
        counts.add_unseen(name, count)
    mapped = mapped.with_columns(
        pl.col("idx").fill_null(ITEM_OOV), *[pl.col(f"{n}_idx").fill_null(UNSEEN_SIDE_ID) for n in side_fields]
    )
    tails = (
        mapped.group_by("user_id", maintain_order=True)
        .agg(pl.col(c).tail(max_len).alias(c) for c in [*idx_columns, *(["age"] if with_age else [])])
        .sort("user_id")
    )
    counts.truncated += mapped.height - int(tails.get_column("idx").list.len().sum())
    return tails


def tabular_chunks(
    frame: Frame, state: dict[str, Any], id_columns: list[str], batch_size: int, counts: Counts, where: str
) -> Chunks:
    """Rows through the fitted `transform` (vocabularies, numeric transforms, missing indicators), a batch at a time.

    Ids: `row_id` when the frame has one (file line numbers), else the row's position, then `id_columns`.
    """
    frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    fields = [spec["name"] for spec in [*state["categorical"], *state["numeric"]]]
    require_columns(frame.columns, [*fields, *id_columns], where, f"fields {', '.join(fields)}")
    row_id = pl.col("row_id") if "row_id" in frame.columns else pl.int_range(pl.len(), dtype=pl.Int64).alias("row_id")
    ids = frame.select(row_id, *[c for c in id_columns if c != "row_id"])
    names = [spec["name"] for spec in state["categorical"]]
    counts.entities += frame.height

    def batches() -> Iterator[Chunk]:
        for start in range(0, frame.height, batch_size):
            cat, num, _ = transform(frame.slice(start, batch_size), state)
            for name, count in zip(names, (cat == TABULAR_OOV).sum(axis=0), strict=True):
                counts.add_unseen(name, count)
            yield Chunk(ids=ids.slice(start, batch_size), inputs={"cat": cat, "num": num})

    return Chunks(frame.height, batches())


def text_chunks(
    frame: Frame, state: dict[str, Any], max_len: int, id_columns: list[str], batch_size: int, counts: Counts,
    where: str,
) -> Chunks:  # fmt: skip
    """Texts through the checkpoint's tokenizer; null or blank texts are set aside and counted, never embedded.

    Ids: `id` when the frame has one, else the row's position, then `id_columns`.
    """
    frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    require_columns(frame.columns, ["text", *id_columns], where, "text")
    ident = pl.col("id") if "id" in frame.columns else pl.int_range(pl.len(), dtype=pl.Int64).alias("id")
    frame = frame.select(ident, *[c for c in id_columns if c != "id"], pl.col("text").cast(pl.String))
    empty = pl.col("text").is_null() | (pl.col("text").str.strip_chars().str.len_chars() == 0)
    kept = frame.filter(~empty)
    if kept.height < frame.height:
        counts.set_aside["null or empty texts"] = frame.height - kept.height
    tokenizer = tokenizer_from_json(state["tokenizer"])
    counts.entities += kept.height

    def batches() -> Iterator[Chunk]:
        for start in range(0, kept.height, batch_size):
            part = kept.slice(start, batch_size)
            tokens = encode_texts(tokenizer, part.get_column("text").to_list(), max_len)
            counts.add_unseen("text ([UNK] word pieces)", (tokens == UNK_ID).sum())
            yield Chunk(ids=part.drop("text"), inputs={"tokens": tokens}, rows=part)

    return Chunks(kept.height, batches())
