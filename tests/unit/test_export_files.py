"""Data as platforms export it: a folder of part files (Spark / Hive: `_SUCCESS`, hidden `.crc` files, `key=value`
partition folders), CSV compressed with gzip or zstd, named or not. Training and the use commands read each such
layout as they read the one plain file holding the same rows."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ssl_ads.data.sources.common import data_files, file_format
from ssl_ads.data.sources.events_file import EventsFile
from ssl_ads.data.sources.text_file import TextFile
from ssl_ads.errors import DataError
from ssl_ads.use.input_file import existing_input, iter_chunks, scan_file

EVENTS = pl.DataFrame({
    "visitor": [f"U{u:03d}" for u in range(40) for _ in range(3)],
    "creative": [f"AD-{(u * 7 + k) % 11}" for u in range(40) for k in range(3)],
    "ts": [1_000 + 10 * u + k for u in range(40) for k in range(3)],
})  # fmt: skip
COLUMNS = {"user_id": "visitor", "item_id": "creative", "timestamp": "ts"}


def spark_export(folder: Path, frame: pl.DataFrame) -> Path:
    """`frame` as three CSV parts (gzip, zstd, plain) with a Spark job's marker and checksum files beside them."""
    folder.mkdir()
    third = frame.height // 3
    frame.slice(0, third).write_csv(folder / "part-00000.csv.gz", compression="gzip")
    frame.slice(third, third).write_csv(folder / "part-00001.csv.zst", compression="zstd")
    frame.slice(2 * third).write_csv(folder / "part-00002.csv")
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000.csv.gz.crc").write_bytes(b"\x00\x01crc")
    return folder


def test_a_folder_lists_its_compressed_parts_and_skips_markers(tmp_path):
    files, fmt = data_files(spark_export(tmp_path / "export", EVENTS))
    assert fmt == "csv"
    assert [f.name for f in files] == ["part-00000.csv.gz", "part-00001.csv.zst", "part-00002.csv"]


def test_a_compressed_file_without_a_suffix_is_known_by_its_bytes_and_other_archives_are_named(tmp_path):
    (tmp_path / "part-00000").write_bytes(gzip.compress(b"a,b\n1,2\n"))
    assert file_format(tmp_path / "part-00000") == "csv"
    assert scan_file(tmp_path / "part-00000").collect().to_dicts() == [{"a": 1, "b": 2}]
    (tmp_path / "log.csv.bz2").write_bytes(b"BZh91AY&SY" + bytes(range(200)))
    with pytest.raises(DataError, match=r"log\.csv\.bz2: a bzip2 archive; ssl-ads reads CSV plain or compressed"):
        file_format(tmp_path / "log.csv.bz2")


def test_training_reads_a_folder_of_compressed_parts_as_the_plain_file(tmp_path):
    EVENTS.write_csv(tmp_path / "events.csv")
    spark_export(tmp_path / "export", EVENTS)
    read = [
        EventsFile(str(path), columns=COLUMNS, min_user_interactions=0, min_item_interactions=0)
        .source(tmp_path / "cache")
        .events.collect()
        .sort("user_id", "timestamp")
        for path in (tmp_path / "events.csv", tmp_path / "export")
    ]
    assert read[0].height == EVENTS.height
    assert_frame_equal(read[0], read[1])


def test_text_training_reads_a_folder_of_parts_as_the_plain_file(tmp_path):
    texts = pl.DataFrame({"Title": [f"ad {i}" for i in range(30)], "Body": ["buy now"] * 30, "y": [0, 1] * 15})
    texts.write_csv(tmp_path / "copy.csv")
    spark_export(tmp_path / "export", texts)
    frames = [
        TextFile(str(path), text_cols=["Title", "Body"], label_col="y").source(tmp_path / "cache").frame
        for path in (tmp_path / "copy.csv", tmp_path / "export")
    ]
    assert_frame_equal(frames[0], frames[1])


def test_csv_chunks_run_across_parts_and_compressions_at_the_exact_size(tmp_path):
    export = spark_export(tmp_path / "export", EVENTS)
    chunks = list(iter_chunks(export, 50))
    assert [c.height for c in chunks] == [50, 50, 20]
    assert_frame_equal(pl.concat(chunks), EVENTS)


def test_parquet_partition_folders_are_columns_in_scans_and_chunks(tmp_path):
    export = tmp_path / "export"
    for day in (1, 2):
        (export / f"day={day}").mkdir(parents=True)
        EVENTS.write_parquet(export / f"day={day}" / "part-00000.parquet")
    (export / "_SUCCESS").write_text("")
    whole = scan_file(existing_input(export, "dataset.path")).collect()
    assert whole.columns == [*EVENTS.columns, "day"] and whole["day"].to_list() == [1] * 120 + [2] * 120
    chunks = list(iter_chunks(export, 100))
    assert [c.height for c in chunks] == [100, 100, 40]
    assert_frame_equal(pl.concat(chunks), whole)


def test_a_folder_without_data_files_is_named_with_the_key(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "_SUCCESS").write_text("")
    with pytest.raises(DataError, match=r"current: the folder .*empty holds no CSV"):
        existing_input(tmp_path / "empty", "current")
    with pytest.raises(DataError, match=r"current: no file or folder at"):
        existing_input(tmp_path / "missing", "current")


def test_a_windows_1252_export_is_named_with_what_to_do(tmp_path):
    (tmp_path / "copy.csv").write_bytes("Title,y\nCafé crème,1\nSoirée,0\n".encode("cp1252"))
    with pytest.raises(DataError, match=r"copy\.csv: cannot be read as .*not UTF-8 text: re-encode it, e\.g\. iconv"):
        TextFile(str(tmp_path / "copy.csv"), text_cols=["Title"], label_col="y").source(tmp_path / "cache")


def test_unsigned_64_bit_ids_beyond_int64_are_kept_as_text_ids(tmp_path):
    """Hashed user ids exported as UInt64 (ClickHouse, for one) are labels: past Int64's range they stay exact as
    text instead of failing the read; within it they are Int64 as any integer column."""
    big = [2**63 + 5 + k % 7 for k in range(42)]
    for name, users in (("big", big), ("small", [k % 7 for k in range(42)])):
        frame = pl.DataFrame({"user_id": pl.Series(users, dtype=pl.UInt64), "item_id": [k % 5 for k in range(42)],
                              "timestamp": list(range(42))})  # fmt: skip
        frame.write_parquet(tmp_path / f"{name}.parquet")
    read = EventsFile(str(tmp_path / "big.parquet")).source(tmp_path / "cache").events.collect()
    assert read.schema["user_id"] == pl.String and sorted(set(read["user_id"])) == sorted({str(u) for u in big})
    small = EventsFile(str(tmp_path / "small.parquet")).source(tmp_path / "cache").events.collect()
    assert small.schema["user_id"] == pl.Int64 and small.height == 42


def test_fields_read_as_text_survive_a_type_change_past_the_first_block(tmp_path, monkeypatch):
    """A postcode field of numbers (`01234`) that turns to text rows later is read as training read it, not typed
    from the reader's first block and refused at the block where it changes."""
    monkeypatch.setattr("ssl_ads.use.input_file.CSV_BLOCK_BYTES", 4096)
    codes = [f"{k:05d}" for k in range(2000)] + ["K1A 0B1"]
    pl.DataFrame({"postcode": codes, "clicks": list(range(2001))}).write_csv(tmp_path / "rows.csv")
    with pytest.raises(DataError, match=r"rows\.csv: cannot read as CSV"):
        list(iter_chunks(tmp_path / "rows.csv", 500))
    chunks = list(iter_chunks(tmp_path / "rows.csv", 500, text_columns=["postcode"]))
    read = pl.concat(chunks)
    assert read["postcode"].to_list() == codes and read.schema["clicks"] == pl.Int64


def test_a_scan_reads_named_fields_as_text_where_inference_would_fail_past_row_10000(tmp_path):
    codes = [f"{k:05d}" for k in range(10_050)] + ["K1A 0B1"]
    pl.DataFrame({"postcode": codes, "clicks": range(len(codes))}).write_csv(tmp_path / "rows.csv")
    read = scan_file(tmp_path / "rows.csv", text_columns=["postcode", "not_in_the_file"]).collect()
    assert read["postcode"].to_list() == codes and read.schema["clicks"] == pl.Int64


def test_part_files_joined_with_cat_quarantine_their_repeated_headers_by_that_name(tmp_path):
    spark_export(tmp_path / "export", EVENTS)
    text = (tmp_path / "export" / "part-00002.csv").read_text()
    (tmp_path / "all.csv").write_text(text + text)  # the second copy starts with the header again
    source = EventsFile(str(tmp_path / "all.csv"), columns=COLUMNS).source(tmp_path / "cache")
    assert source.quarantine["reasons"] == {"repeated header line": 1}
    assert source.events.collect().height == EVENTS.height - 2 * (EVENTS.height // 3)  # the copy is deduplicated


def test_whole_file_types_come_from_every_row(tmp_path):
    n = 10_050
    pl.DataFrame({
        "creative": [str(k) for k in range(n - 1)] + ["AD-9"],  # text only on the last row
        "cost": ["1"] * (n - 1) + ["1.5"],
        "seen_at": [f"2024-01-{1 + k % 28:02d} 10:00:00" for k in range(n)],
        "empty": [None] * n,
        "clicks": [str(k) for k in range(n)],
    }).write_csv(tmp_path / "log.csv")  # fmt: skip
    schema = scan_file(tmp_path / "log.csv", whole_file_types=True, dates=True).collect_schema()
    assert dict(schema) == {"creative": pl.String, "cost": pl.Float64, "seen_at": pl.Datetime("us"),
                            "empty": pl.String, "clicks": pl.Int64}  # fmt: skip
    assert dict(scan_file(tmp_path / "log.csv", whole_file_types=True).collect_schema())["seen_at"] == pl.String
