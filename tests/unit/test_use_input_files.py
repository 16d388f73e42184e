"""Files given to the use commands that are not what they claim: an empty CSV and a binary file fail in one
readable line, named, before any query runs."""

from __future__ import annotations

import pytest

from ssl_ads.errors import DataError
from ssl_ads.use.input_file import scan_file
from ssl_ads.use.schema_check import check_schema

BUNDLE = {"dataset_config": {"_target_": "ssl_ads.data.sources.events_file.EventsFile"}}
REQUIRED = ["user_id", "item_id", "timestamp"]


def test_an_empty_csv_fails_when_scanned_not_at_the_first_query(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty.csv: cannot read as CSV"):
        scan_file(tmp_path / "empty.csv")


def test_a_binary_file_read_as_csv_is_named_in_one_short_printable_line(tmp_path):
    (tmp_path / "model.csv").write_bytes(b"\x7fELF\x02\x01\x00\x00" * 40 + b"," * 80 + b"\n\x00\x01")
    columns = scan_file(tmp_path / "model.csv").collect_schema().names()
    with pytest.raises(DataError) as raised:
        check_schema(columns, REQUIRED, "sequence", BUNDLE, tmp_path / "m.pt", "dataset.path model.csv", "model")
    message = str(raised.value)
    assert message.isprintable() and "\n" not in message and len(message) < 1200
    assert "lacks column(s) user_id, item_id, timestamp" in message and f"({len(columns)} columns)" in message
