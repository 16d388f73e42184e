"""Base of the tabular file readers (Criteo, Avazu, a generic CSV/parquet table).

Their cache key covers the files' sizes and modification times, so an edited file is featurized again. The
constructor's defaults are the large click logs' (Criteo, Avazu: rare values below 10 occurrences dropped, the
long tail hashed), which use it as their own; the generic table overrides them.
"""

from __future__ import annotations

from typing import Annotated

from ssl_ads.config.ranges import Range
from ssl_ads.data.sources.common import READER_VERSION, data_files, existing_path, files_fingerprint, root_of
from ssl_ads.data.sources.file_source import FileSource
from ssl_ads.data.tabular_dataset import TabularDataset


class FileTableDataset(FileSource, TabularDataset):
    def __init__(
        self,
        path: str,
        max_bad_share: Annotated[float, Range(0, 1)] = 0.5,
        min_count: Annotated[int, Range(min=1)] = 10,
        max_vocab: Annotated[int, Range(min=1)] = 100_000,
        hash_buckets: Annotated[int, Range(min=0)] = 100_000,
        numeric_transform: str = "auto",
        quantile_bins: Annotated[int, Range(min=2)] = 100,
    ) -> None:
        super().__init__(min_count, max_vocab, hash_buckets, numeric_transform, quantile_bins)
        self.path = str(path)
        self.max_bad_share = max_bad_share

    def fingerprint(self) -> dict:
        path = existing_path(self.path)
        key = {**super().fingerprint(), "reader_version": READER_VERSION}
        key["files"] = files_fingerprint(data_files(path)[0], root_of(path))
        return key
