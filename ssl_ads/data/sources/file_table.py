"""Base of the tabular file readers (Criteo, Avazu, a generic CSV/parquet table).

Their cache key covers the files' sizes and modification times, so an edited file is featurized again.
"""

from __future__ import annotations

from ssl_ads.data.sources.common import READER_VERSION, data_files, existing_path, files_fingerprint, root_of
from ssl_ads.data.sources.file_source import FileSource
from ssl_ads.data.tabular_source import TabularDataset


class FileTableDataset(FileSource, TabularDataset):
    def __init__(
        self,
        path: str,
        max_bad_share: float,
        min_count: int,
        max_vocab: int,
        hash_buckets: int,
        numeric_transform: str,
        quantile_bins: int,
    ) -> None:
        super().__init__(min_count, max_vocab, hash_buckets, numeric_transform, quantile_bins)
        self.path = str(path)
        self.max_bad_share = max_bad_share

    def fingerprint(self) -> dict:
        path = existing_path(self.path)
        key = {**super().fingerprint(), "reader_version": READER_VERSION}
        key["files"] = files_fingerprint(data_files(path)[0], root_of(path))
        return key
