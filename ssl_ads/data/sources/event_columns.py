"""`dataset.columns` of the generic events reader: which file column holds each canonical column.

Three spellings, because public logs ship in all of them:
- a mapping by name, `{user_id: uid, item_id: ad, timestamp: ts}` (a file with a header);
- a mapping by 0-based position, `{user_id: 0, item_id: 1}` (with or without a header);
- a list naming the file's columns in order, `[user_id, item_id]` or `[user_id, item_id, null, timestamp]`
  (null skips a column), as for SASRec-style `user item` files without a header.
Without a `timestamp` column (not in the list, or `timestamp: null`) the file order is the time order:
each user's events are numbered 0, 1, 2... in the order they appear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from ssl_ads.errors import ConfigError, DataError

REQUIRED = ("user_id", "item_id")


@dataclass(frozen=True)
class ColumnSpec:
    """`mapping`: canonical name → file column name or position; `names`: the list spelling (file order)."""

    mapping: dict[str, str | int]
    names: list[str | None] | None
    has_timestamp: bool

    def resolve(self, file_columns: Sequence[str], path: Path) -> tuple[dict[str, str], dict[str, str]]:
        """`(renames, mapping)`: how to rename the file's columns (list spelling) and, per canonical column in
        `mapping`, the (renamed) file column holding it. A count or position the file lacks is a DataError."""
        renames: dict[str, str] = {}
        if self.names is not None:
            if len(self.names) != len(file_columns):
                raise DataError(
                    f"{path}: dataset.columns names {len(self.names)} columns but the file has {len(file_columns)} "
                    f"fields per row (its first row); name every column, null for one to skip"
                )
            pairs = enumerate(zip(file_columns, self.names, strict=True))
            renames = {column: f"_skipped_{i}" if name is None else name for i, (column, name) in pairs}
        mapping = {}
        for name, source in self.mapping.items():
            if isinstance(source, int):
                if source >= len(file_columns):
                    raise DataError(
                        f"{path}: dataset.columns.{name}={source} but the file has {len(file_columns)} fields per row "
                        "(positions start at 0)"
                    )
                mapping[name] = file_columns[source]
            else:
                mapping[name] = source
        return renames, mapping


def parse_columns(columns: Any, has_header: bool) -> ColumnSpec:
    """The checked `dataset.columns` (see the module docstring), or a ConfigError naming the key."""
    if isinstance(columns, (DictConfig, ListConfig)):
        columns = OmegaConf.to_container(columns, resolve=True)
    if columns is None:
        if not has_header:
            raise ConfigError(
                "dataset.has_header=false needs dataset.columns: a list naming the columns in order "
                "(e.g. [user_id, item_id]) or positions (e.g. {user_id: 0, item_id: 1})"
            )
        return ColumnSpec({}, None, True)
    if isinstance(columns, (list, tuple)):
        return _from_list(list(columns))
    if isinstance(columns, Mapping):
        return _from_mapping(dict(columns), has_header)
    raise ConfigError(f"dataset.columns must be a mapping or a list of column names, got {columns!r}")


def _from_list(names: list[Any]) -> ColumnSpec:
    if not all(n is None or isinstance(n, str) for n in names):
        raise ConfigError(f"dataset.columns: a list holds column names (or null to skip one), got {names}")
    given = [n for n in names if n is not None]
    repeated = sorted({n for n in given if given.count(n) > 1})
    if repeated:
        raise ConfigError(f"dataset.columns: '{repeated[0]}' is named twice")
    missing = [n for n in REQUIRED if n not in given]
    if missing:
        raise ConfigError(f"dataset.columns must name {' and '.join(REQUIRED)}; missing: {', '.join(missing)}")
    return ColumnSpec({n: n for n in given}, list(names), "timestamp" in given)


def _from_mapping(columns: dict[str, Any], has_header: bool) -> ColumnSpec:
    mapping: dict[str, str | int] = {}
    for name, source in columns.items():
        key = f"dataset.columns.{name}"
        if source is None:
            if name != "timestamp":
                raise ConfigError(f"{key}: only the timestamp may be null (file order is then the time order)")
            continue
        if isinstance(source, bool) or not isinstance(source, (str, int)):
            raise ConfigError(f"{key} must be a column name or a 0-based position, got {source!r}")
        if isinstance(source, int) and source < 0:
            raise ConfigError(f"{key} must be a 0-based position (>= 0), got {source}")
        if isinstance(source, str) and not has_header:
            raise ConfigError(
                f"{key}='{source}': a file without a header (dataset.has_header=false) has no column names; "
                "give positions (e.g. {user_id: 0, item_id: 1}) or a list of names in order"
            )
        mapping[str(name)] = source
    if not has_header:
        missing = [n for n in REQUIRED if n not in mapping]
        if missing:
            raise ConfigError(f"dataset.columns must give the position of {', '.join(missing)} (no header)")
    has_timestamp = "timestamp" not in columns or columns["timestamp"] is not None
    if has_timestamp and not has_header and "timestamp" not in mapping:
        raise ConfigError("dataset.columns.timestamp: give its position, or null when the file has no timestamp")
    return ColumnSpec(mapping, None, has_timestamp)
