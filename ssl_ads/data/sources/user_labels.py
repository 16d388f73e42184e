"""User attribute files → binary user labels, so audience segments are tasks chosen by config alone.

`dataset.user_file` is a table of users (MovieLens `u.user`, `users.dat`, RecBole `.user`, or any
CSV / parquet with a user id column) and `dataset.user_labels` names one 0/1 label per segment:

    user_labels:
      gender_f: {column: gender, equals: F}
      age_35: {column: age, at_least: 35}
      student: {column: occupation, one_of: [student]}

A user whose attribute is empty gets no label (null); users of the events missing from the file get
none either. Both are counted (`users_missing`, `empty_values` in the source payload) and the
downstream stage reports them as excluded from the task, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
from omegaconf import DictConfig, ListConfig, OmegaConf
from rich.console import Console

from ssl_ads.data.sequence_dataset import SequenceSource
from ssl_ads.data.sources.common import (
    RAW_LINE,
    WRONG_COUNT,
    as_float,
    collect,
    existing_path,
    file_format,
    split_lines,
    text,
)
from ssl_ads.errors import ConfigError, DataError

KEY = "dataset.user_labels"
# rule → (what it compares, the polars expression on the attribute); numeric rules parse the text as a number
NUMERIC_RULES = {
    "at_least": lambda col, v: col >= v,
    "at_most": lambda col, v: col <= v,
    "above": lambda col, v: col > v,
    "below": lambda col, v: col < v,
}
RULES = ("equals", "one_of", *NUMERIC_RULES)
# MovieLens user files without a header: field names by position (ml-100k u.user; ml-1m/10m users.dat)
ML_100K_USER = ["user_id", "age", "gender", "occupation", "zip_code"]
ML_1M_USER = ["user_id", "gender", "age", "occupation", "zip_code"]


def check_user_labels(user_file: str | None, user_labels: Any, user_columns: Any) -> dict[str, dict]:
    """The validated `user_labels` as plain data (it is part of the cache key), or a ConfigError naming the key."""
    if user_labels is not None and not isinstance(user_labels, Mapping):
        example = "{column: gender, equals: F}"
        raise ConfigError(f"{KEY} must map a label name to a rule like {example}, got {user_labels!r}")
    rules = _plain(user_labels or {})
    if rules and user_file is None:
        raise ConfigError(f"{KEY} is set but dataset.user_file is not: the labels are read from a user file")
    if user_file is not None and not rules:
        raise ConfigError(f"dataset.user_file is set but {KEY} is empty; name at least one label, e.g. "
                          "{gender_f: {column: gender, equals: F}}")  # fmt: skip
    if user_columns is not None and not isinstance(user_columns, (list, tuple, ListConfig)):
        raise ConfigError(f"dataset.user_columns must be a list of column names by position, got {user_columns!r}")
    checked = {}
    for name, rule in rules.items():
        key = f"{KEY}.{name}"
        if name == "user_id":
            raise ConfigError(f"{key}: 'user_id' is the user column, not a label name")
        if not isinstance(rule, dict):
            raise ConfigError(f"{key} must be a mapping like {{column: gender, equals: F}}, got {rule!r}")
        unknown = sorted(set(rule) - {"column", *RULES})
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}: unknown key; expected 'column' and one of {', '.join(RULES)}")
        if not isinstance(rule.get("column"), str):
            raise ConfigError(f"{key}.column: the user file column the label is read from must be given")
        chosen = [r for r in RULES if r in rule]
        if len(chosen) != 1:
            raise ConfigError(f"{key}: give exactly one of {', '.join(RULES)} (got {', '.join(chosen) or 'none'})")
        value = rule[chosen[0]]
        if chosen[0] in NUMERIC_RULES and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{key}.{chosen[0]} must be a number, got {value!r}")
        if chosen[0] == "one_of" and (not isinstance(value, list) or not value):
            raise ConfigError(f"{key}.one_of must be a non-empty list of values, got {value!r}")
        checked[str(name)] = {"column": rule["column"], chosen[0]: value}
    return checked


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value


def read_user_table(path: Path, columns: list[str] | None, separator: str | None = None) -> pl.DataFrame:
    """Every column of a user file as trimmed text; `columns` names a header-less file's columns by position.

    `separator=None` (MovieLens): the layout is told from the first line (`::` users.dat, `|` u.user, a typed
    RecBole `.user` header). Otherwise the file is CSV with that separator (a header unless `columns`) or parquet.
    """
    if file_format(path) == "parquet":
        frame = collect(pl.scan_parquet(str(path)), path, "parquet")
        frame = frame if columns is None else _rename_by_position(frame, columns, path)
        return frame.select(text(pl.col(c).cast(pl.String)).alias(c) for c in frame.columns)
    if separator is None:
        return _movielens_users(path, columns)
    scan = pl.scan_csv(str(path), separator=separator, has_header=columns is None, infer_schema=False)
    frame = collect(scan, path, "csv")
    frame = frame if columns is None else _rename_by_position(frame, columns, path)
    return frame.select(text(pl.col(c)).alias(c) for c in frame.columns)


def _movielens_users(path: Path, columns: list[str] | None) -> pl.DataFrame:
    first = collect(pl.scan_lines(str(path), name=RAW_LINE).head(1), path, "user file")
    if first.height == 0:
        raise DataError(f"dataset.user_file: {path} is empty")
    line = first.item()
    if "::" in line:
        return _split_user_lines(path, "::", columns or ML_1M_USER, header=False)
    if "|" in line:
        return _split_user_lines(path, "|", columns or ML_100K_USER, header=False)
    fields = line.split("\t")
    if len(fields) > 1 and all(":" in f for f in fields):  # RecBole: `user_id:token<TAB>age:token...`
        return _split_user_lines(path, "\t", columns or [f.split(":", 1)[0].strip() for f in fields], header=True)
    raise DataError(
        f"{path}: not a MovieLens user file (u.user with '|', users.dat with '::' or a RecBole .user header)"
    )


def _rename_by_position(frame: pl.DataFrame, columns: list[str], path: Path) -> pl.DataFrame:
    if len(columns) != frame.width:
        raise DataError(
            f"{path}: dataset.user_columns names {len(columns)} columns but the file has {frame.width} per row"
        )
    return frame.rename(dict(zip(frame.columns, map(str, columns), strict=True)))


def _split_user_lines(path: Path, separator: str, names: list[str], header: bool) -> pl.DataFrame:
    """Lines cut on a (possibly multi-byte) separator; a line with the wrong field count is an error here:
    a user file is small and hand-kept, and a shifted column would silently mislabel users."""
    lines = collect(split_lines([path], path.parent, separator, list(names)), path, "user file")
    lines = lines.slice(1) if header else lines
    lines = lines.filter(pl.col(RAW_LINE).str.strip_chars().str.len_bytes() > 0)
    wrong = lines.filter(pl.col(WRONG_COUNT))
    if wrong.height:
        first = wrong.row(0, named=True)
        raise DataError(
            f"{path}: {wrong.height} lines do not have the {len(names)} fields {', '.join(names)} "
            f"(first: line {first['_line']}: {first[RAW_LINE]!r}); set dataset.user_columns to name them"
        )
    return lines.select(names)


def derive_user_labels(users: pl.DataFrame, rules: dict[str, dict], user_column: str, path: Path) -> pl.DataFrame:
    """`user_id` (text) and one Int8 0/1 column per rule (null where the attribute is empty)."""
    available = users.columns
    if user_column not in available:
        raise DataError(f"{path}: no user id column '{user_column}' in the user file; columns: {', '.join(available)}")
    labels = []
    for name, rule in rules.items():
        column = rule["column"]
        if column not in available:
            raise ConfigError(
                f"{KEY}.{name}.column: '{column}' is not a column of {path}; columns: {', '.join(available)}"
            )
        kind, value = next((k, v) for k, v in rule.items() if k != "column")
        attribute = pl.col(column)
        if kind in NUMERIC_RULES:
            number = as_float(attribute)
            bad = users.filter(attribute.is_not_null() & number.is_null()).get_column(column)
            if bad.len():
                raise DataError(
                    f"{path}: column '{column}' ({KEY}.{name}.{kind}) must hold numbers; "
                    f"{bad.len()} values do not (e.g. {', '.join(map(repr, bad.unique(maintain_order=True).head(3)))})"
                )
            hit = NUMERIC_RULES[kind](number, float(value))
        else:
            wanted = [value] if kind == "equals" else value
            hit = attribute.is_in([_as_text(v) for v in wanted])
        labels.append(pl.when(attribute.is_not_null()).then(hit.cast(pl.Int8)).alias(name))
    return users.select(text(pl.col(user_column)).alias("user_id"), *labels)


def _as_text(value: Any) -> str:
    """A config value as the text a file holds: 35 and 35.0 both as "35"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def attach_user_labels(
    labels: pl.DataFrame, events: pl.LazyFrame, path: Path, existing: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The label table keyed by the events' user id type (joined to `existing` labels), and what was counted:
    users of the events missing from the file, users of the file without events, empty values, positives."""
    event_users = events.select(pl.col("user_id").unique()).collect()
    dtype = event_users.schema["user_id"]
    given = pl.col("user_id")
    cast = given if dtype == pl.String else given.cast(dtype, strict=False)
    labels = labels.with_columns(cast.alias("user_id"), given.alias("__given"))
    bad = labels.filter(pl.col("user_id").is_null())
    if bad.height:
        examples = ", ".join(map(repr, bad.get_column("__given").head(3).to_list()))
        raise DataError(
            f"{path}: {bad.height} user ids are empty or not {dtype} like the events' user ids (e.g. {examples})"
        )
    labels = labels.drop("__given")
    repeated = labels.filter(pl.col("user_id").is_duplicated()).get_column("user_id").unique(maintain_order=True)
    if repeated.len():
        raise DataError(f"{path}: user ids repeat ({repeated.len()}, e.g. {', '.join(map(str, repeated.head(3)))})")
    names = [c for c in labels.columns if c != "user_id"]
    missing = event_users.join(labels, on="user_id", how="anti").height
    in_events = labels.join(event_users, on="user_id", how="semi")
    counts = {
        "file": str(path),
        "users_in_file": labels.height,
        "users_missing": missing,
        "users_without_events": labels.height - in_events.height,
        "empty_values": {n: int(in_events.get_column(n).null_count()) for n in names},
        "positives": {n: int(in_events.get_column(n).sum()) for n in names},
    }
    if missing:
        Console(stderr=True).print(
            f"[yellow]{missing:,} users of the events are not in the user file {path}: they have no "
            f"{', '.join(names)} label (pretraining still reads them)[/]"
        )
    if existing is not None:
        clash = sorted(set(names) & set(existing.columns))
        if clash:
            raise ConfigError(f"{KEY}.{clash[0]}: a label of that name also comes from dataset.labels_path")
        labels = existing.join(labels, on="user_id", how="full", coalesce=True)
    return labels, counts


def user_file_path(user_file: str) -> Path:
    """The user file, or a DataError naming the key when it is missing or a folder."""
    path = existing_path(user_file, "dataset.user_file")
    if not path.is_file():
        raise DataError(f"dataset.user_file: {path} is a folder; give the user file itself")
    return path


class UserLabelsOption:
    """Mixin of the event-log readers: `user_file`, `user_labels`, `user_columns` and their part of the source."""

    user_file: str | None
    user_labels: dict[str, dict]
    user_columns: list[str] | None

    def init_user_labels(self, user_file: str | None, user_labels: Any, user_columns: Any) -> None:
        self.user_labels = check_user_labels(user_file, user_labels, user_columns)
        self.user_file = None if user_file is None else str(user_file)
        self.user_columns = None if user_columns is None else [str(c) for c in _plain(user_columns)]

    def user_file_fingerprint(self) -> dict[str, Any]:
        """The user file's size and mtime (an edited file is featurized again); empty without one."""
        if self.user_file is None:
            return {}
        stat = user_file_path(self.user_file).stat()
        return {"user_file_stat": {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}}

    def add_user_labels(self, source: SequenceSource, separator: str | None, user_column: str) -> SequenceSource:
        """`source` with the attribute labels joined to its label table and their counts in its payload."""
        if self.user_file is None:
            return source
        path = user_file_path(self.user_file)
        users = read_user_table(path, self.user_columns, separator)
        column = user_column if user_column in users.columns else "user_id"
        labels = derive_user_labels(users, self.user_labels, column, path)
        labels, counts = attach_user_labels(labels, source.events, path, source.labels)
        return replace(source, labels=labels, quarantine={**(source.quarantine or {}), "user_labels": counts})
