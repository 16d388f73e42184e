"""Base of the event-file readers (MovieLens, Taobao, generic events): what they do after parsing.

Each reader parses its own format into canonical columns plus checks; the tail is the same for all of
them: set bad lines aside (quarantine), dedup and k-core the good ones, order them per user, and report
what every step removed. Keeping it here means a fix to that tail reaches every format at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from ssl_ads.data.quarantine import QuarantineReport
from ssl_ads.data.sequence_source import SequenceDataset, SequenceSource
from ssl_ads.data.sources.common import clean_events, source_report
from ssl_ads.data.sources.file_source import FileSource


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
    ) -> None:
        super().__init__(max_len=max_len, min_item_count=min_item_count, side_fields=side_fields)
        self.path = str(path)
        self.dedup = dedup
        self.min_user_interactions = min_user_interactions
        self.min_item_interactions = min_item_interactions
        self.max_bad_share = max_bad_share

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
            source=str(path),
        )
        return SequenceSource(
            events=events.lazy(),
            labels=labels,
            cutoff_timestamp=cutoff_timestamp,
            name=name,
            quarantine=source_report(report, {**(removed or {}), **cleaned}),
        )
