"""Real-data loaders (events file, MovieLens, Taobao) on fixtures generated here in each published format."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from polars.testing import assert_frame_equal

from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.validate import check_node_against_signature
from ssl_ads.data.quarantine import quarantine_rows
from ssl_ads.data.sources.common import k_core
from ssl_ads.data.sources.events_file import EventsFile
from ssl_ads.data.sources.movielens import MovieLens
from ssl_ads.data.sources.taobao import TaobaoUserBehavior
from ssl_ads.errors import DataError

T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC
# (user, item, rating, unix time) in file order; user 1 has a tie at T0+100 (item 20 before item 10)
RATINGS = [(2, 10, 4, T0 + 300), (1, 20, 5, T0 + 100), (1, 10, 3, T0 + 100), (1, 30, 2, T0 + 50), (3, 20, 4, T0 + 200)]
# canonical order: by user, then time, ties in file order
EXPECTED_RATINGS = pl.DataFrame(
    {
        "user_id": [1, 1, 1, 2, 3],
        "item_id": [30, 20, 10, 10, 20],
        "timestamp": [T0 + 50, T0 + 100, T0 + 100, T0 + 300, T0 + 200],
        "rating": [2.0, 5.0, 3.0, 4.0, 4.0],
    }
)
INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
COLUMNS = {"user_id": "uid", "item_id": "ad", "timestamp": "ts", "category": "cat"}
NO_CORE = {"min_user_interactions": 0, "min_item_interactions": 0}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def ratings_file(directory: Path, fmt: str, rows: list[tuple] = RATINGS) -> Path:
    """RATINGS in a published MovieLens layout: u.data (tab), ratings.dat (::) or a RecBole .inter."""
    if fmt == "u.data":
        return write_lines(directory / "u.data", ["\t".join(map(str, r)) for r in rows])
    if fmt == "ratings.dat":
        return write_lines(directory / "ratings.dat", ["::".join(map(str, r)) for r in rows])
    body = [f"{u}\t{i}\t{float(r)}\t{float(t)}" for u, i, r, t in rows]
    return write_lines(directory / "ml.inter", [INTER_HEADER, *body])


def taobao_file(directory: Path, lines: list[str] | None = None) -> Path:
    default = ["2,100,7,pv,1511544300", "1,101,8,cart,1511544100", "1,100,7,buy,1511544100", "1,102,8,fav,1511544050"]
    return write_lines(directory / "UserBehavior.csv", default if lines is None else lines)


def events_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "uid": [2, 1, 1, 1, 3],
            "ad": [10, 20, 10, 30, 20],
            "ts": [T0 + 300, T0 + 100, T0 + 100, T0 + 50, T0 + 200],
            "cat": ["x", "y", "x", "z, w", "y"],
            "price": [1.5, 2.0, 1.0, 3.0, 2.0],
        }
    )


EXPECTED_EVENTS = EXPECTED_RATINGS.drop("rating").with_columns(category=pl.Series(["z, w", "y", "x", "x", "y"]))


def events_dataset(path: Path, **kwargs) -> EventsFile:
    return EventsFile(str(path), columns=COLUMNS, side_fields=["category"], **{**NO_CORE, **kwargs})


def read_events(dataset, tmp_path: Path) -> pl.DataFrame:
    return dataset.source(tmp_path / "cache").events.collect()


@pytest.mark.parametrize("fmt", ["u.data", "ratings.dat", "inter"])
def test_movielens_formats_parse_to_the_same_canonical_frame(tmp_path, fmt):
    path = ratings_file(tmp_path, fmt)
    assert_frame_equal(read_events(MovieLens(str(path), **NO_CORE), tmp_path), EXPECTED_RATINGS)
    folder = MovieLens(str(tmp_path), format=fmt, **NO_CORE)  # a folder holding one ratings file also works
    assert_frame_equal(read_events(folder, tmp_path), EXPECTED_RATINGS)


def test_events_file_csv_parquet_folder_and_datetime_strings_agree(tmp_path):
    frame = events_frame()
    frame.write_csv(tmp_path / "events.csv")
    frame.write_parquet(tmp_path / "events.parquet")
    # hive partitions; user 1's tied events stay in one file, in file order
    for (day,), part in frame.group_by(pl.col("uid") == 1, maintain_order=True):
        (tmp_path / "parts" / f"day={int(day)}").mkdir(parents=True)
        part.write_parquet(tmp_path / "parts" / f"day={int(day)}" / "p.parquet")
    dated = frame.with_columns(pl.from_epoch("ts").dt.strftime("%Y-%m-%d %H:%M:%S"))
    dated.write_csv(tmp_path / "dated.tsv", separator="\t")
    datasets = [
        events_dataset(tmp_path / "events.csv"),
        events_dataset(tmp_path / "events.parquet"),
        events_dataset(tmp_path / "parts"),
        events_dataset(tmp_path / "dated.tsv", separator="\t", timestamp_format="%Y-%m-%d %H:%M:%S"),
    ]
    for dataset in datasets:
        assert_frame_equal(read_events(dataset, tmp_path), EXPECTED_EVENTS)


def test_taobao_parses_to_canonical_columns_and_filters_behaviors(tmp_path):
    path = taobao_file(tmp_path)
    expected = pl.DataFrame(
        {
            "user_id": [1, 1, 1, 2],
            "item_id": [102, 101, 100, 100],
            "timestamp": [1511544050, 1511544100, 1511544100, 1511544300],
            "category": [8, 8, 7, 7],
            "action": ["fav", "cart", "buy", "pv"],
        }
    )
    assert_frame_equal(read_events(TaobaoUserBehavior(str(path), **NO_CORE), tmp_path), expected)
    source = TaobaoUserBehavior(str(path), behaviors=["pv", "buy"], **NO_CORE).source(tmp_path / "cache")
    assert source.events.collect().get_column("action").to_list() == ["buy", "pv"]
    assert source.quarantine["removed"]["behavior_filter"] == 2


def test_events_file_labels_are_mapped_and_cast_to_the_event_id_type(tmp_path):
    events_frame().write_csv(tmp_path / "events.csv")
    write_lines(tmp_path / "labels.csv", ["uid,conv,churn", "1,1,0", "2,0,1", "3,1,1"])
    labels = events_dataset(tmp_path / "events.csv", labels_path=str(tmp_path / "labels.csv")).source(tmp_path).labels
    assert labels.columns == ["user_id", "conv", "churn"] and labels.schema["user_id"] == pl.Int64
    mapped = events_dataset(
        tmp_path / "events.csv", labels_path=str(tmp_path / "labels.csv"), label_columns_map={"conversion": "conv"}
    )
    assert mapped.source(tmp_path).labels.columns == ["user_id", "conversion"]


def test_k_core_reaches_a_fixed_point_where_one_pass_is_not_enough(tmp_path):
    # users 4 and 5 share items 4 and 5 (a 2-core); the chain u3 → i2 → u1 → i1 → u2 → i3 unravels pass by pass
    pairs = [(1, 1), (1, 2), (2, 1), (2, 3), (3, 2), (4, 4), (4, 5), (5, 4), (5, 5)]
    rows = [(u, i, 4, T0 + n) for n, (u, i) in enumerate(pairs)]
    path = ratings_file(tmp_path, "u.data", rows)
    source = MovieLens(str(path), min_user_interactions=2, min_item_interactions=2).source(tmp_path / "cache")
    events = source.events.collect()
    assert sorted(set(events.get_column("user_id"))) == [4, 5]
    counts = [events.group_by(c).len().get_column("len").min() for c in ("user_id", "item_id")]
    assert min(counts) >= 2
    removed = source.quarantine["removed"]
    assert removed["k_core_iterations"] > 2 and removed["k_core_events"] == 5
    assert k_core(events, 2, 2)[0].equals(events)  # filtering again changes nothing
    one_pass = pl.DataFrame({"user_id": [u for u, _ in pairs], "item_id": [i for _, i in pairs]})
    one_pass = one_pass.filter((pl.len().over("user_id") >= 2) & (pl.len().over("item_id") >= 2))
    assert one_pass.height > events.height


def test_movielens_malformed_lines_are_quarantined_with_line_numbers(tmp_path):
    lines = ["1\t10\t4\t100", "1\t11\t4", "", "2\t10\t5\tsoon", "x\t10\t5\t200", "2\t12\t3\t300", "3\t10\t1\t400"]
    lines += ["3\t11\t2\t500", "4\t12\t5\t600"]
    source = MovieLens(str(write_lines(tmp_path / "u.data", lines)), **NO_CORE).source(tmp_path / "cache")
    report = source.quarantine
    assert (report["n_rows"], report["n_bad"]) == (9, 4)
    assert report["reasons"] == {
        "wrong field count": 1,
        "empty line": 1,
        "non-numeric timestamp": 1,
        "non-numeric user_id": 1,
    }
    bad = pl.read_parquet(report["path"]).sort("_line")
    assert bad.get_column("_line").to_list() == [2, 3, 4, 5]
    assert bad.get_column("reason").to_list()[0] == "wrong field count"
    assert bad.get_column("raw_line").to_list()[3] == "x\t10\t5\t200"
    assert source.events.collect().height == 5


def test_taobao_and_events_file_quarantine_with_line_numbers(tmp_path):
    lines = ["1,100,7,pv,10", "1,101,7,click,11", "1,102,7,pv", "1,103,7,pv,noon", "2,100,7,buy,12", "2,104,8,fav,13"]
    report = TaobaoUserBehavior(str(taobao_file(tmp_path, lines)), **NO_CORE).source(tmp_path / "c").quarantine
    bad = pl.read_parquet(report["path"]).sort("_line")
    assert bad.select("_line", "reason").rows() == [
        (2, "unknown behavior_type"),
        (3, "wrong field count"),
        (4, "non-numeric timestamp"),
    ]
    # CSV line numbers count the header and the lines of quoted multi-line fields
    csv = ["uid,ad,ts,cat", "1,10,100,x", '1,11,101,"two', 'lines"', "2,10,later,x", "3,10,105,x,extra", ",12,106,y"]
    csv += ["2,11,107,y", "4,12,108,y", "4,13,109,y"]
    report = events_dataset(write_lines(tmp_path / "ev.csv", csv)).source(tmp_path / "c").quarantine
    bad = pl.read_parquet(report["path"]).sort("_line")
    assert bad.select("_line", "reason").rows() == [
        (5, "non-numeric timestamp"),
        (6, "wrong field count"),
        (7, "missing user_id"),
    ]
    # parquet: the row number
    frame = events_frame().with_columns(pl.when(pl.int_range(pl.len()) != 2).then(pl.col("ad")).alias("ad"))
    frame.write_parquet(tmp_path / "ev.parquet")
    report = events_dataset(tmp_path / "ev.parquet").source(tmp_path / "c").quarantine
    assert pl.read_parquet(report["path"]).select("_line", "reason").rows() == [(3, "missing item_id")]
    # a folder of CSV files: line numbers count within each file, which is named
    write_lines(tmp_path / "logs" / "a.csv", ["uid,ad,ts,cat", "1,10,100,x", "1,11,101,x"])
    write_lines(tmp_path / "logs" / "b.csv", ["uid,ad,ts,cat", "2,10,102,x", "2,11,soon,x", "3,12,103,y"])
    source = events_dataset(tmp_path / "logs").source(tmp_path / "c")
    assert pl.read_parquet(source.quarantine["path"]).select("_file", "_line").rows() == [("b.csv", 3)]
    assert source.events.collect().height == 4


def test_quarantine_accepts_string_reasons_and_fails_on_a_mostly_bad_file(tmp_path):
    frame = pl.DataFrame({"_line": [1, 2, 3], "v": [1, -1, None]})
    checks = {"sign": pl.when(pl.col("v") < 0).then(pl.lit("negative v")), "missing v": pl.col("v").is_null()}
    good, report = quarantine_rows(frame, checks, source="f.csv", cache_dir=tmp_path, key=1, max_bad_share=0.9)
    assert good.to_dict(as_series=False) == {"_line": [1], "v": [1]}
    assert report.reasons == {"missing v": 1, "negative v": 1}
    lines = ["1\t10\t4\t100", "1\t11\t4", "2\tx\t5\t200", "2\t12\t5"]
    with pytest.raises(
        DataError, match=r"u\.data: 3 of 4 rows \(75%\).*wrong field count \(2 rows, e\.g\. line 2, 4\)"
    ):
        MovieLens(str(write_lines(tmp_path / "u.data", lines))).source(tmp_path / "cache")


def test_missing_path_names_the_config_key(tmp_path):
    missing = str(tmp_path / "nope.csv")
    for dataset in (EventsFile(missing), MovieLens(missing), TaobaoUserBehavior(missing)):
        with pytest.raises(DataError, match=r"dataset\.path: no such file or folder"):
            dataset.featurize(tmp_path)


def test_missing_mapped_column_is_named_with_the_available_ones(tmp_path):
    events_frame().write_parquet(tmp_path / "events.parquet")
    dataset = EventsFile(str(tmp_path / "events.parquet"), columns={**COLUMNS, "item_id": "ad_id"})
    with pytest.raises(DataError, match=r"column 'ad_id' \(dataset.columns.item_id\) not found.*uid, ad, ts"):
        dataset.source(tmp_path)
    inter = write_lines(tmp_path / "x.inter", ["user_id:token\titem_id:token", "1\t2"])
    with pytest.raises(DataError, match=r"x\.inter: column 'timestamp' not found"):
        MovieLens(str(inter)).source(tmp_path)


def test_empty_files_are_errors(tmp_path):
    cases = [
        EventsFile(str(write_lines(tmp_path / "header_only.csv", ["user_id,item_id,timestamp"]))),
        EventsFile(str(write_lines(tmp_path / "zero.csv", []))),
        MovieLens(str(write_lines(tmp_path / "u.data", []))),
        MovieLens(str(write_lines(tmp_path / "h.inter", [INTER_HEADER]))),
        TaobaoUserBehavior(str(write_lines(tmp_path / "UserBehavior.csv", []))),
    ]
    for dataset in cases:
        with pytest.raises(DataError, match="is empty"):
            dataset.source(tmp_path)


def test_not_a_table_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "broken.parquet").write_text("not parquet")
    for name in ("blob.bin", "broken.parquet"):
        with pytest.raises(DataError, match=name):
            EventsFile(str(tmp_path / name)).source(tmp_path)


def test_dedup_counts_exact_duplicates(tmp_path):
    path = ratings_file(tmp_path, "ratings.dat", [*RATINGS, RATINGS[1]])
    source = MovieLens(str(path), **NO_CORE).source(tmp_path / "cache")
    assert source.quarantine["removed"]["duplicates"] == 1
    assert_frame_equal(source.events.collect(), EXPECTED_RATINGS)
    kept = MovieLens(str(path), dedup=False, **NO_CORE).source(tmp_path / "cache")
    assert kept.events.collect().height == len(RATINGS) + 1


def test_fingerprint_changes_when_the_file_changes(tmp_path):
    for dataset, path in [
        (MovieLens(str(ratings_file(tmp_path, "u.data"))), tmp_path / "u.data"),
        (TaobaoUserBehavior(str(taobao_file(tmp_path))), tmp_path / "UserBehavior.csv"),
        (events_dataset(tmp_path / "e.csv"), write_lines(tmp_path / "e.csv", ["uid,ad,ts,cat", "1,2,3,x"])),
    ]:
        before = dataset.fingerprint()
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touched only
        touched = dataset.fingerprint()
        path.write_text(path.read_text() + path.read_text().splitlines()[-1] + "\n")  # one more line
        assert len({str(before), str(touched), str(dataset.fingerprint())}) == 3


def test_featurize_end_to_end(tmp_path):
    events_frame().write_csv(tmp_path / "events.csv")
    write_lines(tmp_path / "labels.csv", ["uid,conversion", "1,1", "2,0", "3,1"])
    cases = [
        (events_dataset(tmp_path / "events.csv", labels_path=str(tmp_path / "labels.csv")), 3),
        (MovieLens(str(ratings_file(tmp_path / "ml", "ratings.dat")), **NO_CORE), 3),
        (TaobaoUserBehavior(str(taobao_file(tmp_path)), side_fields=["category", "action"], **NO_CORE), 2),
    ]
    for dataset, n_users in cases:
        arrays = dataset.featurize(tmp_path / "cache")
        assert arrays.inputs["items"].shape == (n_users, dataset.max_len)
        assert arrays.rows.get_column("length").sum() == arrays.meta["num_events"]
        assert set(arrays.inputs) == {"items", "age_days", *dataset.side_fields}
        assert arrays.meta["quarantine"]["n_bad"] == 0 and "removed" in arrays.meta["quarantine"]
    assert arrays.num_rows == 2
    labelled = cases[0][0].featurize(tmp_path / "cache")
    assert labelled.rows.get_column("conversion").to_list() == [1, 0, 1]


BAD_ROW = 50


def many_events(n: int = 3000, seed: int = 0) -> pl.DataFrame:
    """Events over five days in no particular order, with exact duplicates, time ties and one row missing its ad."""
    rng = np.random.default_rng(seed)
    ts = T0 // 86_400 * 86_400 + rng.integers(0, 5 * 86_400, n) // 600 * 600  # 10-minute steps: ties
    frame = pl.DataFrame(
        {
            "uid": rng.integers(0, 300, n),
            "ad": rng.integers(0, 300, n),
            "ts": ts,
            "cat": rng.choice(["x", "y", "z"], n),
            "price": rng.random(n).round(2),
        }
    )
    frame = pl.concat([frame, frame.slice(0, 40)])  # duplicates, dropped by dedup
    return frame.with_columns(pl.when(pl.int_range(pl.len()) != BAD_ROW).then(pl.col("ad")).alias("ad"))


def test_partitioned_parquet_folder_featurizes_like_one_file(tmp_path):
    frame = many_events()
    frame.write_parquet(tmp_path / "events.parquet")
    # hive layout day=YYYY-MM-DD/part-K.parquet, two files a day; each keeps the rows' relative order,
    # so events tied in time (always the same day) keep their order, as in the single file
    days = frame.with_columns(pl.from_epoch("ts").dt.date().alias("_day"), pl.int_range(pl.len()).alias("_i"))
    for (day,), part in days.group_by("_day", maintain_order=True):
        folder = tmp_path / "parts" / f"day={day}"
        folder.mkdir(parents=True)
        half = part.height // 2
        for k, chunk in enumerate((part.slice(0, half), part.slice(half))):
            chunk.drop("_day", "_i").write_parquet(folder / f"part-{k}.parquet")
            if BAD_ROW in chunk.get_column("_i"):  # where the row missing its ad landed: file and row in it
                bad_at = (f"day={day}/part-{k}.parquet", chunk.get_column("_i").index_of(BAD_ROW) + 1)
    assert len(list((tmp_path / "parts").rglob("*.parquet"))) == 10
    write_lines(tmp_path / "labels.csv", ["uid,conversion", *[f"{u},{u % 3 == 0:d}" for u in range(300)]])
    kwargs = {"labels_path": str(tmp_path / "labels.csv"), "min_user_interactions": 6, "min_item_interactions": 6}
    one = events_dataset(tmp_path / "events.parquet", max_len=8, **kwargs).featurize(tmp_path / "cache")
    parts = events_dataset(tmp_path / "parts", max_len=8, **kwargs).featurize(tmp_path / "cache")
    assert one.meta["cache_dir"] != parts.meta["cache_dir"]  # each was really built from its own files
    assert one.inputs.keys() == parts.inputs.keys() == {"items", "age_days", "category"}
    for name in one.inputs:
        np.testing.assert_array_equal(np.asarray(one.inputs[name]), np.asarray(parts.inputs[name]), err_msg=name)
    assert_frame_equal(one.rows, parts.rows)
    assert (one.state, one.encoder_kwargs) == (parts.state, parts.encoder_kwargs)
    for key in ("num_users", "num_events", "num_items", "oov_events"):
        assert one.meta[key] == parts.meta[key], key
    one_report, parts_report = one.meta["quarantine"], parts.meta["quarantine"]
    assert one_report["n_rows"] == parts_report["n_rows"] == frame.height
    assert one_report["removed"] == parts_report["removed"]
    assert one_report["removed"]["duplicates"] == 40 and one_report["removed"]["k_core_events"] > 0
    # the bad row is set aside in both, named by its row in the one file or by file and row in the folder
    assert pl.read_parquet(one_report["path"]).select("_line", "reason").rows() == [(BAD_ROW + 1, "missing item_id")]
    assert pl.read_parquet(parts_report["path"]).select("_file", "_line").rows() == [bad_at]
    assert one.rows.get_column("length").max() == 8 and one.num_rows > 100


@pytest.mark.parametrize("name", ["events_file", "movielens", "taobao"])
def test_dataset_configs_validate_and_instantiate(tmp_path, name):
    node = OmegaConf.load(CONFIG_DIR / "dataset" / f"{name}.yaml")
    node.pop("defaults", None)  # Hydra's defaults list (the modality's task), consumed when a run composes
    assert OmegaConf.is_missing(node, "path")
    node.path = str(tmp_path / "data.csv")
    check_node_against_signature("dataset", node)
    dataset = instantiate(node)
    assert dataset.path == str(tmp_path / "data.csv") and dataset.max_len == 50
