"""What every data set read from `path` shares: bad lines set aside under the config's own cache key.

A mixin beside the modality's base class (`SequenceDataset`, `TabularDataset`), which provides
`fingerprint()`; the reader sets `path` and `max_bad_share`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import polars as pl

from ssl_ads.data.quarantine import QuarantineReport, quarantine_rows


class FileSource:
    path: str
    max_bad_share: float
    fingerprint: Callable[[], dict]  # the modality's base class: this config's cache key

    def quarantined(
        self,
        parsed: pl.DataFrame | pl.LazyFrame,
        checks: Mapping[str, pl.Expr],
        path: Path,
        cache_dir: Path,
        raw_columns: Sequence[str],
        keep: Sequence[str] | None = None,
    ) -> tuple[pl.DataFrame, QuarantineReport]:
        """The good rows (all columns, or only `keep`) and the report; the bad ones go to the quarantine file,
        or a DataError when more than `max_bad_share` of the rows are bad."""
        return quarantine_rows(
            parsed,
            checks,
            source=path,
            cache_dir=cache_dir,
            key=self.fingerprint(),
            raw_columns=raw_columns,
            keep=keep,
            max_bad_share=self.max_bad_share,
        )
