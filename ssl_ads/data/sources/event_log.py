"""Base of the event-file readers (MovieLens, Taobao, generic events): what they do after parsing.

Each reader parses its own format into canonical columns plus checks; the tail is the same for all of
them: set bad lines aside (quarantine, including timestamps outside the valid range), dedup and k-core
the good ones, order them per user, and report what every step removed. Keeping it here means a fix to
that tail reaches every format at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from ssl_ads.data.cleaning_report import explain_shortage, report_from_source, source_settings
from ssl_ads.data.quarantine import QuarantineReport
from ssl_ads.data.sequence_dataset import SequenceDataset, SequenceSource
from ssl_ads.data.sources.common import clean_events, source_report
from ssl_ads.data.sources.file_source import FileSource
from ssl_ads.errors import ConfigError, DataError

YEAR_5000 = 95_617_584_000  # unix seconds of 5000-01-01
FAR_FUTURE = "timestamp after the year 5000 as unix seconds (milliseconds? set dataset.timestamp_unit=ms)"


class EventLogDataset(FileSource, SequenceDataset):
    """A sequence data set read from files: `path`, the cleaning knobs and the shared read tail."""

    def __init__(
        self,
        path: str,
        dedup: bool,
        min_user_interactions: int,
        min_item_interactions: int,
        max_bad_share: float,
        max_len: int,
        min_item_count: int,
        side_fields: list[str] | None,
        min_timestamp: int | None = None,
        max_timestamp: int | None = None,
    ) -> None:
        super().__init__(max_len=max_len, min_item_count=min_item_count, side_fields=side_fields)
        if min_timestamp is not None and max_timestamp is not None and min_timestamp > max_timestamp:
            raise ConfigError(f"dataset.min_timestamp={min_timestamp} is after dataset.max_timestamp={max_timestamp}")
        self.path = str(path)
        self.dedup = dedup
        self.min_user_interactions = min_user_interactions
        self.min_item_interactions = min_item_interactions
        self.max_bad_share = max_bad_share
        self.min_timestamp = min_timestamp
        self.max_timestamp = max_timestamp

    def timestamp_checks(self) -> dict[str, pl.Expr]:
        """Reasons to quarantine a parsed `timestamp`: negative (a unix time before 1970 is a broken value,
        and it would sort to the start of its user's history) unless `min_timestamp` allows it, and outside
        [`min_timestamp`, `max_timestamp`] when they are set. Null bounds leave any non-negative number valid,
        so plain sequence numbers still work as an order."""
        ts = pl.col("timestamp")
        checks = {}
        if self.min_timestamp is None:
            checks["negative timestamp"] = (ts < 0).fill_null(False)
        else:
            below = f"timestamp before dataset.min_timestamp={self.min_timestamp}"
            checks[below] = (ts < self.min_timestamp).fill_null(False)
        if self.max_timestamp is not None:
            above = f"timestamp after dataset.max_timestamp={self.max_timestamp}"
            checks[above] = (ts > self.max_timestamp).fill_null(False)
        else:  # milliseconds read as seconds land thousands of years ahead: said, never featurized as a time
            checks[FAR_FUTURE] = (ts > YEAR_5000).fill_null(False)
        return checks

    def events_source(
        self,
        good: pl.DataFrame,
        report: QuarantineReport,
        columns: Sequence[str],
        path: Path,
        name: str,
        removed: dict[str, int] | None = None,
        labels: pl.DataFrame | None = None,
        cutoff_timestamp: int | None = None,
    ) -> SequenceSource:
        """Dedup, k-core and per-user time order of the good rows, with every removal counted in the report
        (`removed`: what the reader's own filters took out before)."""
        events, cleaned = clean_events(
            good,
            columns,
            dedup=self.dedup,
            min_user_interactions=self.min_user_interactions,
            min_item_interactions=self.min_item_interactions,
        )
        payload = source_report(report, {**(removed or {}), **cleaned}, source_settings(self))
        if events.height == 0:  # name the step that emptied the data and the setting that controls it
            history = explain_shortage(report_from_source(payload, str(path)), "no events remain")
            raise DataError(f"{path}: {history}")
        return SequenceSource(
            events=events.lazy(),
            labels=labels,
            cutoff_timestamp=cutoff_timestamp,
            name=name,
            quarantine=payload,
        )
