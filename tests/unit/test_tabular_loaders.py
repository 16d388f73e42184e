"""Criteo, Avazu and generic tabular files in their exact formats parse as expected; bad input fails clearly."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ssl_ads.data.sources.avazu import Avazu
from ssl_ads.data.sources.criteo import CATEGORICAL_FIELDS, INTEGER_FIELDS, Criteo
from ssl_ads.data.sources.tabular_file import TabularFile
from ssl_ads.errors import DataError


def _criteo_line(label: str, ints: list[str], cats: list[str]) -> str:
    return "\t".join([label, *ints, *cats])


def _write_criteo(path: Path, n_good: int = 6, bad: list[str] | None = None) -> Path:
    lines = []
    for i in range(n_good):
        ints = [str(i * k) if (i + k) % 5 else "" for k in range(13)]  # some empty = missing
        cats = [f"{(i * 7919 + k) % 4:08x}" if k != 3 else "" for k in range(26)]
        lines.append(_criteo_line(str(i % 2), ints, cats))
    path.write_text("\n".join(lines + (bad or [])) + "\n")
    return path


def test_criteo_dac_lines_parse_to_the_expected_frame(tmp_path):
    path = _write_criteo(tmp_path / "train.txt")
    source = Criteo(path=str(path)).source(tmp_path)
    frame = source.frame
    assert source.numeric == INTEGER_FIELDS and source.categorical == CATEGORICAL_FIELDS
    assert frame.columns == ["row_id", *INTEGER_FIELDS, *CATEGORICAL_FIELDS, "click"]
    assert frame.get_column("click").to_list() == [0, 1, 0, 1, 0, 1]
    assert frame.get_column("row_id").to_list() == [1, 2, 3, 4, 5, 6]  # line numbers
    assert frame.schema["I2"] == pl.Int64 and frame.get_column("I2").to_list() == [0, 1, 2, 3, None, 5]
    assert frame.get_column("I1")[0] is None  # empty field = missing
    assert frame.get_column("C1").to_list()[:2] == ["00000000", "00000003"]
    assert frame.get_column("C4").null_count() == 6
    assert source.quarantine["n_bad"] == 0


def test_criteo_malformed_lines_are_quarantined_and_counted(tmp_path):
    ints, cats = ["1"] * 13, ["0000abcd"] * 26
    bad = [_criteo_line("2", ints, cats), _criteo_line("1", ["x", *ints[1:]], cats), "1\t2\t3"]
    path = _write_criteo(tmp_path / "train.txt", n_good=6, bad=bad)
    source = Criteo(path=str(path)).source(tmp_path)
    assert source.frame.height == 6
    report = source.quarantine
    assert report["n_bad"] == 3 and Path(report["path"]).is_file()
    assert set(report["reasons"]) == {"label not 0/1", "non-integer I1", "wrong field count"}
    lines = pl.read_parquet(report["path"]).get_column("_line").to_list()
    assert sorted(lines) == [7, 8, 9]


def test_more_than_half_malformed_is_an_error(tmp_path):
    bad = ["1\t2"] * 5
    path = _write_criteo(tmp_path / "train.txt", n_good=3, bad=bad)
    with pytest.raises(DataError, match="malformed"):
        Criteo(path=str(path)).source(tmp_path)


AVAZU_HEADER = (
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,app_category,device_id,"
    "device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21"
)


def test_avazu_csv_expands_hour_and_drops_id(tmp_path):
    rows = [
        "1000009418151094273,0,14102100,1005,0,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9,07d7df22,a99f214a,"
        "ddd2926e,44956a24,1,2,15706,320,50,1722,0,35,-1,79",
        "10000169349117863715,1,14102513,1002,1,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9,07d7df22,a99f214a,"
        "96809ac8,711ee120,1,0,15704,320,50,1722,0,35,100084,79",
    ]
    path = tmp_path / "train.csv"
    path.write_text("\n".join([AVAZU_HEADER, *rows, "1,1,notanhour" + ",x" * 21]) + "\n")
    source = Avazu(path=str(path)).source(tmp_path)
    frame = source.frame
    assert "id" not in frame.columns and "hour" not in frame.columns
    assert frame.get_column("hour_of_day").to_list() == [0, 13]
    # 2014-10-21 was a Tuesday, 2014-10-25 a Saturday (ISO weekday: Monday = 1)
    assert frame.get_column("day_of_week").to_list() == [2, 6]
    assert frame.get_column("click").to_list() == [0, 1]
    assert frame.get_column("site_id").to_list() == ["1fbe01fe", "1fbe01fe"]
    assert frame.get_column("row_id").to_list() == [2, 3]  # line numbers (header is line 1)
    assert source.quarantine["reasons"] == {"hour not YYMMDDHH": 1}
    assert len(source.categorical) == 2 + 21 and source.numeric == []


def _generic(tmp_path: Path, n: int = 40) -> Path:
    frame = pl.DataFrame(
        {
            "customer": [f"id-{i}" for i in range(n)],  # one value per row → dropped
            "city": [["paris", "lyon", "nice"][i % 3] for i in range(n)],
            "visits": [i % 4 for i in range(n)],  # low-cardinality integers → categorical
            "spend": [float(i) * 1.5 for i in range(n)],  # numbers → numeric
            "seen_at": [f"2024-03-{1 + i % 28:02d} {i % 24:02d}:15:00" for i in range(n)],  # datetime text
            "converted": ["yes" if i % 3 == 0 else "no" for i in range(n)],
        }
    )
    path = tmp_path / "table.csv"
    frame.write_csv(path)
    return path


def test_generic_file_infers_field_types_and_notes_them(tmp_path):
    source = TabularFile(path=str(_generic(tmp_path)), label="converted", positive_class="yes").source(tmp_path)
    assert source.categorical == ["city", "visits", "seen_at_hour", "seen_at_dow"]
    assert source.numeric == ["spend"]
    assert any("customer" in note and "dropped" in note for note in source.notes)
    frame = source.frame
    assert frame.get_column("converted").to_list()[:4] == [1, 0, 0, 1]
    assert frame.get_column("seen_at_hour").to_list()[:3] == [0, 1, 2]
    assert frame.get_column("spend").dtype == pl.Float64


def test_generic_file_overrides_win(tmp_path):
    path = _generic(tmp_path)
    source = TabularFile(
        path=str(path), label="converted", positive_class="yes", numeric=["visits"], drop=["seen_at"]
    ).source(tmp_path)
    assert "visits" in source.numeric and not any(c.startswith("seen_at") for c in source.categorical)


def test_label_other_than_0_1_is_a_clear_error(tmp_path):
    path = _generic(tmp_path)
    with pytest.raises(DataError, match=r"label column 'converted' must hold 0/1.*positive_class"):
        TabularFile(path=str(path), label="converted").source(tmp_path)
    with pytest.raises(DataError, match="never equals"):
        TabularFile(path=str(path), label="converted", positive_class="maybe").source(tmp_path)
    with pytest.raises(DataError, match=r"'target' .*not found"):
        TabularFile(path=str(path), label="target").source(tmp_path)


def test_numeric_column_full_of_text_is_a_clear_error(tmp_path):
    path = _generic(tmp_path)
    with pytest.raises(DataError, match=r"column 'city' \(dataset.numeric\) should be numeric"):
        TabularFile(path=str(path), label="converted", positive_class="yes", numeric=["city"]).source(tmp_path)


def test_a_few_bad_numbers_are_quarantined(tmp_path):
    path = tmp_path / "t.csv"
    lines = ["x,y,label"] + [f"{i}.5,{['a', 'b'][i % 2]},{i % 2}" for i in range(30)] + ["oops,a,1", "1.0,b"]
    path.write_text("\n".join(lines) + "\n")
    source = TabularFile(path=str(path), label="label").source(tmp_path)
    assert source.frame.height == 30 and source.numeric == ["x"]
    assert source.quarantine["reasons"] == {"non-numeric x": 1, "expected 3 fields": 1}
