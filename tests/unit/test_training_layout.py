"""A new file laid out as the training file was is read into the canonical columns as the training reader read it:
header-less files by position, file order as time, another separator; texts joined from their columns."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ssl_ads.data.sources.events_file import EventsFile
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.use.training_layout import events_as_trained, texts_as_trained, training_layout

REQUIRED = ["user_id", "item_id", "timestamp"]
EVENTS_FILE = "ssl_ads.data.sources.events_file.EventsFile"


def layout(**settings):
    return training_layout({"_target_": EVENTS_FILE, **settings})


def training_read(path: Path, tmp_path: Path, **settings) -> pl.DataFrame:
    """What the training reader itself makes of the file (its canonical events)."""
    events = EventsFile(str(path), **settings).source(tmp_path / "cache").events.collect()
    return events.select(REQUIRED).sort("user_id", "timestamp", maintain_order=True)


def served(path: Path, **settings) -> tuple[pl.DataFrame, dict]:
    frame, set_aside = events_as_trained(path, layout(**settings), settings.get("separator", ","), REQUIRED, "f")
    return frame.select(REQUIRED).collect().sort("user_id", "timestamp", maintain_order=True), set_aside


def test_a_headerless_file_with_a_list_of_names_and_another_separator(tmp_path):
    (tmp_path / "e.tsv").write_text("u1\tshoes\t5\tx\nu2\thats\t3\ty\nu1\tbags\t9\tz\n")
    settings = {"columns": ["user_id", "item_id", "timestamp", None], "has_header": False, "separator": "\t"}
    frame, set_aside = served(tmp_path / "e.tsv", **settings)
    assert set_aside == {}
    assert frame.to_dicts() == training_read(tmp_path / "e.tsv", tmp_path, **settings).to_dicts()
    assert frame["item_id"].to_list() == ["shoes", "bags", "hats"]


def test_positions_and_file_order_as_time(tmp_path):
    (tmp_path / "e.csv").write_text("a,10\nb,11\na,12\na,10\n")
    settings = {"columns": {"user_id": 0, "item_id": 1, "timestamp": None}, "has_header": False}
    frame, _ = served(tmp_path / "e.csv", **settings)
    assert frame.rows() == [("a", 10, 0), ("a", 12, 1), ("a", 10, 2), ("b", 11, 0)]
    trained = training_read(tmp_path / "e.csv", tmp_path, dedup=False, **settings)
    assert frame.rows() == trained.rows()


def test_named_columns_win_over_the_files_own_and_unparseable_times_are_counted(tmp_path):
    pl.DataFrame({
        "uid": ["x", "x", "y", "y"], "ad": [1, 2, 3, 4], "when": ["2024-01-02", "2024-01-01", "soon", "2024-01-03"],
        "user_id": [0, 0, 0, 0],  # not the user: the training reader read `uid`
    }).write_csv(tmp_path / "e.csv")  # fmt: skip
    settings = {"columns": {"user_id": "uid", "item_id": "ad", "timestamp": "when"}, "timestamp_format": "%Y-%m-%d"}
    frame, set_aside = served(tmp_path / "e.csv", **settings)
    assert frame.select("user_id", "item_id").rows() == [("x", 2), ("x", 1), ("y", 4)]
    assert frame["timestamp"].to_list() == [1704067200, 1704153600, 1704240000]
    assert set_aside == {"events whose timestamp does not parse (timestamp_format '%Y-%m-%d', as in training)": 1}


def test_a_canonical_file_is_read_as_it_is(tmp_path):
    pl.DataFrame({"user_id": [1], "item_id": [2], "timestamp": ["2024-01-01"]}).write_parquet(tmp_path / "e.parquet")
    frame, set_aside = events_as_trained(tmp_path / "e.parquet", layout(timestamp_format="%Y"), ",", REQUIRED, "f")
    assert frame.collect()["timestamp"].to_list() == ["2024-01-01"] and set_aside == {}


def test_a_file_whose_every_time_fails_is_an_error_naming_the_layout(tmp_path):
    pl.DataFrame({"u": [1, 2], "i": [3, 4], "t": ["?", "later"]}).write_csv(tmp_path / "e.csv")
    settings = {"columns": {"user_id": "u", "item_id": "i", "timestamp": "t"}, "timestamp_format": "%Y"}
    with pytest.raises(DataError, match=r"^f: no timestamp parses .*timestamp_format='%Y'"):
        served(tmp_path / "e.csv", **settings)


def test_texts_are_joined_from_the_training_columns():
    text_layout = training_layout({"_target_": "ssl_ads.data.sources.text_file.TextFile",
                                   "text_cols": ["Title", "Body"], "separator": ". ", "id_col": "ref"})  # fmt: skip
    chunk = pl.DataFrame({"ref": [7, 8], "Title": ["Great", None], "Body": [" fits well ", "too small"]})
    laid_out = texts_as_trained(chunk, text_layout)
    assert laid_out.select("id", "text").rows() == [(7, "Great. fits well"), (8, "too small")]
    assert laid_out.columns[:3] == ["ref", "Title", "Body"]  # the file's own columns travel with the scores
    canonical = pl.DataFrame({"text": ["as it is"], "Title": ["x"], "Body": ["y"]})
    assert texts_as_trained(canonical, text_layout).equals(canonical)
    assert text_layout.separator == "," and layout(separator="\t").separator == "\t"


@pytest.mark.parametrize(
    ("key", "value"),
    [("timestamp_format", 123), ("has_header", "no"), ("separator", 9), ("text_cols", "Title"), ("columns", "all")],
)
def test_a_crafted_checkpoints_layout_is_a_one_line_error(key, value):
    with pytest.raises(DataError, match=rf"^model.pt: its dataset config('s {key}=|: dataset.{key})"):
        training_layout({"_target_": EVENTS_FILE, key: value}, "model.pt")


def test_millisecond_times_are_read_in_the_recorded_unit_by_training_and_serving(tmp_path):
    seconds = [1_700_000_000, 1_700_000_060, 1_700_003_600]
    times = [t * 1000 + 999 for t in seconds]  # floored to the second, as training floors them
    pl.DataFrame({"user_id": ["a", "a", "b"], "item_id": [1, 2, 3], "timestamp": times}).write_csv(tmp_path / "e.csv")
    pl.DataFrame({"u": ["a", "a", "b"], "i": [1, 2, 3], "t": times}).write_csv(tmp_path / "laid_out.csv")
    trained = training_read(tmp_path / "e.csv", tmp_path, timestamp_unit="ms")
    assert trained["timestamp"].to_list() == seconds
    canonical, _ = served(tmp_path / "e.csv", timestamp_unit="ms")
    laid_out, set_aside = served(
        tmp_path / "laid_out.csv", timestamp_unit="ms", columns={"user_id": "u", "item_id": "i", "timestamp": "t"}
    )
    assert canonical.rows() == laid_out.rows() == trained.rows() and set_aside == {}


def test_milliseconds_read_as_seconds_are_quarantined_naming_the_unit_key(tmp_path):
    times = [1_700_000_000_000 + 1000 * k for k in range(9)]
    pl.DataFrame({"user_id": [1, 2, 3] * 3, "item_id": [4, 5, 6] * 3, "timestamp": times}).write_csv(tmp_path / "e.csv")
    with pytest.raises(DataError, match=r"9 of 9 rows .*after the year 5000 as unix seconds .*timestamp_unit=ms"):
        training_read(tmp_path / "e.csv", tmp_path)


@pytest.mark.parametrize("unit", ["sec", "MS", 1000])
def test_a_unit_that_is_not_one_is_refused_in_config_and_in_a_checkpoint(tmp_path, unit):
    with pytest.raises(ConfigError, match=r"dataset.timestamp_unit must be one of s, ms, us, ns"):
        EventsFile(str(tmp_path / "e.csv"), timestamp_unit=unit)
    with pytest.raises(DataError, match=r"its dataset config's timestamp_unit="):
        layout(timestamp_unit=unit)


def test_a_csv_whose_ids_turn_to_text_and_times_break_after_row_10000_is_read_whole(tmp_path):
    """Types come from the whole file: numeric-looking ad ids followed by `AD-...` ones are text (the featurizer
    casts them to the vocabulary's type), and a broken time far down is set aside and counted, not a crash."""
    n = 10_050
    frame = pl.DataFrame({
        "user_id": [k % 97 for k in range(n)],
        "item_id": [str(k % 300) if k < 10_020 else f"AD-{k}" for k in range(n)],
        "timestamp": [str(1_700_000_000 + k) if k != 10_030 else "N/A" for k in range(n)],
    })  # fmt: skip
    frame.write_csv(tmp_path / "e.csv")
    events, set_aside = events_as_trained(tmp_path / "e.csv", training_layout({}), ",", REQUIRED, "f")
    read = events.collect()
    assert read.height == n - 1 and read.schema["item_id"] == pl.String and read.schema["timestamp"] == pl.Int64
    assert read["item_id"][-1] == f"AD-{n - 1}"
    assert set_aside == {"events whose timestamp does not parse (unix time in seconds, as in training)": 1}
