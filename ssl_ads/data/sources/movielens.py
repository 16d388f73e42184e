"""`dataset=movielens`: MovieLens ratings as interaction sequences (ml-100k, ml-1m/10m, RecBole `.inter`).

Why read lines instead of a CSV reader: `ratings.dat` uses the two-byte separator `::`, which polars'
CSV reader cannot take, and line-based reading gives exact line numbers for the quarantine file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl

from ssl_ads.config.ranges import Range
from ssl_ads.data.item_table import ItemTableOption
from ssl_ads.data.quarantine import LINE
from ssl_ads.data.sequence_dataset import SequenceSource
from ssl_ads.data.sources.common import (
    RAW_LINE,
    READER_VERSION,
    as_float,
    as_int,
    as_seconds,
    collect,
    existing_path,
    field_checks,
    files_fingerprint,
    line_checks,
    require_rows,
    split_lines,
)
from ssl_ads.data.sources.event_log import EventLogDataset
from ssl_ads.data.sources.user_labels import UserLabelsOption
from ssl_ads.errors import ConfigError, DataError

# format → (separator, has a typed header); u.data and ratings.dat are user, item, rating, timestamp
FORMATS = {"u.data": ("\t", False), "ratings.dat": ("::", False), "inter": ("\t", True)}
FIELDS = ("user_id", "item_id", "rating", "timestamp")
COLUMNS = ["user_id", "item_id", "timestamp", "rating"]


class MovieLens(ItemTableOption, UserLabelsOption, EventLogDataset):
    """Every rating is an interaction, ordered by time per user; no label window.

    User labels come from the user file (`user_file` + `user_labels`: gender, age threshold, occupation...),
    so audience segments are `task=conversion task.label=<name>` runs.
    """

    def __init__(
        self,
        path: str,
        format: str = "auto",
        rating_threshold: float | None = None,
        dedup: bool = True,
        min_user_interactions: Annotated[int, Range(min=0)] = 0,
        min_item_interactions: Annotated[int, Range(min=0)] = 0,
        max_bad_share: Annotated[float, Range(0, 1)] = 0.5,
        max_len: Annotated[int, Range(min=2)] = 50,
        min_item_count: Annotated[int, Range(min=1)] = 1,
        side_fields: list[str] | None = None,
        min_timestamp: int | None = None,
        max_timestamp: int | None = None,
        user_file: str | None = None,
        user_labels: dict[str, Any] | None = None,
        user_columns: list[str] | None = None,
        item_file: str | None = None,
        item_fields: list[str] | None = None,
        item_text: str | None = None,
        item_buckets: Annotated[int, Range(min=1)] = 8,
    ) -> None:
        cleaning = (dedup, min_user_interactions, min_item_interactions, max_bad_share)
        super().__init__(path, *cleaning, max_len, min_item_count, side_fields, min_timestamp, max_timestamp)
        # item side fields / title from the item file (ml-100k.item, u.item, movies.dat): encoder.item_inputs
        self.init_item_table(item_file, item_fields, item_text, item_buckets)
        if format != "auto" and format not in FORMATS:
            raise ConfigError(f"dataset.format must be auto or one of {', '.join(FORMATS)}, got '{format}'")
        self.format = format
        self.rating_threshold = rating_threshold
        self.init_user_labels(user_file, user_labels, user_columns)

    def fingerprint(self) -> dict:
        """Every argument plus the ratings file's size and mtime, so an edited file is featurized again."""
        file, _ = self.ratings_file()
        return {
            **super().fingerprint(),
            "reader_version": READER_VERSION,
            "files": files_fingerprint([file], file.parent),
            **self.user_file_fingerprint(),
        }

    def ratings_file(self) -> tuple[Path, str]:
        """The ratings file and its format; a folder (e.g. an unpacked ml-1m) is searched for one."""
        path = existing_path(self.path)
        if path.is_dir():
            found = sorted(f for f in path.iterdir() if f.is_file() and detect_format(f) is not None)
            if len(found) != 1:
                names = ", ".join(f.name for f in found) or "none"
                raise DataError(
                    f"dataset.path: expected one ratings file (u.data, ratings.dat or *.inter) in {path}, found {names}"
                )
            path = found[0]
        fmt = self.format if self.format != "auto" else detect_format(path)
        if fmt is None:
            raise DataError(
                f"{path}: cannot tell the MovieLens format from the file name; "
                f"set dataset.format to one of {', '.join(FORMATS)}"
            )
        return path, fmt

    def source(self, cache_dir: Path) -> SequenceSource:
        path, fmt = self.ratings_file()
        separator, typed_header = FORMATS[fmt]
        names = _header_fields(path) if typed_header else list(FIELDS)
        lines = split_lines([path], path.parent, separator, names)
        lines = lines.filter(pl.col(LINE) > 1) if typed_header else lines
        parsed = lines.with_columns(
            as_int(pl.col("user_id")).alias("user_id"),
            as_int(pl.col("item_id")).alias("item_id"),
            as_seconds(pl.col("timestamp")).alias("timestamp"),
            as_float(pl.col("rating")).alias("rating")
            if "rating" in names
            else pl.lit(None, pl.Float64).alias("rating"),
            *[pl.col(f).alias(f"text_{f}") for f in FIELDS if f in names],
        )
        checks = line_checks() | field_checks({f"text_{f}": f for f in FIELDS if f in names}) | self.timestamp_checks()
        good, report = self.quarantined(parsed, checks, path, cache_dir, raw_columns=[RAW_LINE], keep=COLUMNS)
        require_rows(report.n_rows, path)
        removed: dict[str, int] = {}
        if self.rating_threshold is not None:
            if "rating" not in names:
                raise DataError(f"{path}: no rating column, so dataset.rating_threshold cannot be applied")
            kept = good.filter(pl.col("rating") >= self.rating_threshold)
            removed["below_rating_threshold"] = good.height - kept.height
            good = kept
        source = self.events_source(good, report, COLUMNS, path, f"MovieLens {fmt} ({path})", removed)
        return self.add_user_labels(source, separator=None, user_column="user_id")


def detect_format(path: Path) -> str | None:
    """u.data, ratings.dat or inter from the file name; None when it is none of them."""
    name = path.name.lower()
    if name == "u.data" or name.endswith(".data"):
        return "u.data"
    if name.endswith(".dat"):
        return "ratings.dat"
    if name.endswith(".inter"):
        return "inter"
    return None


def _header_fields(path: Path) -> list[str]:
    """Field names of a RecBole header (`user_id:token<TAB>item_id:token<TAB>...`), type suffixes dropped."""
    header = collect(pl.scan_lines(str(path), name=RAW_LINE).head(1), path, "RecBole .inter")
    if header.height == 0:
        raise DataError(f"{path}: the file is empty (no header)")
    names = [field.split(":", 1)[0].strip() for field in header.item().split("\t")]
    missing = [f for f in ("user_id", "item_id", "timestamp") if f not in names]
    if missing:
        raise DataError(
            f"{path}: column '{missing[0]}' not found in the .inter header; available columns: {', '.join(names)}"
        )
    return names
