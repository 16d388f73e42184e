"""Frames streamed into one parquet file, published atomically: a reader never sees half of it.

Batches are appended through pyarrow's `ParquetWriter` as they come, so writing N vectors holds one batch in
memory, not N; the file appears under its name only once complete (temp file beside it, then `os.replace`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from ssl_ads.data.io import save_atomic


def write_parquet_atomic(path: Path, frames: Iterable[pl.DataFrame], empty: pl.DataFrame | None = None) -> int:
    """Write every frame of `frames` (one schema) to `path`; returns the rows written. With no frame at all,
    `empty` (the columns, no rows) is written instead, so the file always exists with its schema."""
    written = 0

    def write(tmp: Path) -> None:
        nonlocal written
        writer: pq.ParquetWriter | None = None
        try:
            for frame in frames:
                table = frame.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                elif table.schema != writer.schema:  # e.g. a column all null in this frame: the first frame's types
                    table = table.cast(writer.schema)
                writer.write_table(table)
                written += frame.height
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            (empty if empty is not None else pl.DataFrame()).write_parquet(tmp)

    save_atomic(Path(path), write)
    return written
