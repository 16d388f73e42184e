"""Outputs appear whole or not at all: a scoring run stopped midway (an error, a kill between chunks) leaves no
partial predictions file and no temporary file, and a published file has the permissions a plain write gives."""

from __future__ import annotations

import os
from collections.abc import Iterator

import polars as pl
import pytest

from ssl_ads.data.io import write_json_atomic
from ssl_ads.use.parquet_out import write_parquet_atomic


def test_a_stream_that_fails_midway_publishes_nothing(tmp_path):
    def chunks() -> Iterator[pl.DataFrame]:
        yield pl.DataFrame({"user_id": [1, 2], "score": [0.1, 0.9]})
        raise RuntimeError("killed between chunks")

    with pytest.raises(RuntimeError):
        write_parquet_atomic(tmp_path / "predictions.parquet", chunks())
    assert list(tmp_path.iterdir()) == []


def test_later_chunks_take_the_first_chunks_types(tmp_path):
    chunks = [pl.DataFrame({"id": [1], "label": ["a"]}), pl.DataFrame({"id": [2], "label": [None]})]
    assert write_parquet_atomic(tmp_path / "p.parquet", chunks) == 2
    assert pl.read_parquet(tmp_path / "p.parquet").to_dicts() == [{"id": 1, "label": "a"}, {"id": 2, "label": None}]


def test_published_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        write_parquet_atomic(tmp_path / "p.parquet", [pl.DataFrame({"x": [1]})])
        write_json_atomic(tmp_path / "p.json", {"x": 1})
    finally:
        os.umask(previous)
    assert {(tmp_path / n).stat().st_mode & 0o777 for n in ("p.parquet", "p.json")} == {0o644}
