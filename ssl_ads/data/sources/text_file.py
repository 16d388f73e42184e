"""Generic CSV/parquet copy: one or more text columns joined with a separator, and a label column."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl

from ssl_ads.config.ranges import Range
from ssl_ads.data.sources.common import collect, data_files, existing_path, files_fingerprint, root_of
from ssl_ads.data.text_dataset import TextDataset, TextSource
from ssl_ads.errors import ConfigError, DataError


class TextFile(TextDataset):
    """`dataset=text_file dataset.path=reviews.parquet dataset.text_cols=[Title,'Review Text'] dataset.label_col=...`"""

    def __init__(
        self,
        path: str,
        text_cols: list[str],
        label_col: str | None = None,
        extra_label_cols: list[str] | None = None,
        id_col: str | None = None,
        separator: str = ". ",
        vocab_size: Annotated[int, Range(min=16)] = 8000,
        max_len: Annotated[int, Range(min=4)] = 128,
        min_frequency: Annotated[int, Range(min=1)] = 2,
        lowercase: bool = True,
    ) -> None:
        super().__init__(vocab_size, max_len, min_frequency, lowercase)
        if not text_cols:
            raise ConfigError("dataset.text_cols: name at least one text column, e.g. dataset.text_cols=[title,body]")
        self.path = path
        self.text_cols = list(text_cols)
        self.label_col = label_col
        self.extra_label_cols = list(extra_label_cols or [])
        self.id_col = id_col
        self.separator = separator

    def fingerprint(self) -> dict:
        path = Path(self.path).expanduser()
        files = files_fingerprint(data_files(path)[0], root_of(path)) if path.exists() else None
        return {**super().fingerprint(), "file": str(path.resolve()), "files": files}

    def source(self, cache_dir: Path) -> TextSource:
        path = existing_path(self.path)
        frame = _read_texts(path)
        labels = [c for c in [self.label_col, *self.extra_label_cols] if c]
        wanted = {"dataset.text_cols": self.text_cols, "dataset.label_col": labels, "dataset.id_col": [self.id_col]}
        for key, columns in wanted.items():
            missing = [c for c in columns if c and c not in frame.columns]
            if missing:
                available = ", ".join(frame.columns)
                raise DataError(f"{path}: {key} names missing column(s) {missing}; available: {available}")
        text = joined_text(self.text_cols, self.separator)
        ident = pl.col(self.id_col) if self.id_col else pl.int_range(pl.len(), dtype=pl.Int64)
        out = frame.select(ident.alias("id"), text.alias("text"), *[pl.col(c) for c in labels])
        description = f"{' + '.join(self.text_cols)} joined with {self.separator!r}"
        return TextSource(frame=out, labels=labels, name=str(path), description=description)


def _read_texts(path: Path) -> pl.DataFrame:
    """The file, or every file of a folder (a parquet folder's `key=value` folders as columns), whole."""
    files, fmt = data_files(path)
    names = [str(f) for f in files]
    if fmt == "parquet":
        scan = pl.scan_parquet(names, hive_partitioning=path.is_dir())
    else:
        scan = pl.scan_csv(names, infer_schema_length=10000)
    return collect(scan, path, fmt)


def joined_text(text_cols: list[str], separator: str) -> pl.Expr:
    """The text columns, trimmed, joined with `separator` (also how `predict` reads a file laid out as the training
    file was). Null parts are skipped; a row whose every part is null or blank stays empty and is set aside later."""
    parts = [pl.col(c).cast(pl.String).str.strip_chars() for c in text_cols]
    parts = [pl.when(p.str.len_chars() > 0).then(p) for p in parts]
    return pl.concat_str(parts, separator=separator, ignore_nulls=True)
