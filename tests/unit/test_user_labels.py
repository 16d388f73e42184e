"""User attribute labels (`dataset.user_file` + `dataset.user_labels`) on MovieLens and generic event files,
with files written here in the published layouts (u.user, users.dat, RecBole .user, CSV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.validate import check_node_against_signature
from ssl_ads.data.sources.events_file import EventsFile
from ssl_ads.data.sources.movielens import MovieLens
from ssl_ads.errors import ConfigError, DataError

# (user, age, gender, occupation); user 6 rates films but has no row in the user file, user 9 has no ratings
USERS = [(1, 24, "M", "technician"), (2, 53, "F", "other"), (3, 35, "M", "student"), (4, 19, "F", "student"),
         (5, 34, "F", "writer"), (9, 40, "M", "doctor")]  # fmt: skip
RATED = [1, 2, 3, 4, 5, 6]
RULES = {
    "gender_f": {"column": "gender", "equals": "F"},
    "age_35": {"column": "age", "at_least": 35},
    "student": {"column": "occupation", "one_of": ["student", "intern"]},
}
EXPECTED = pl.DataFrame(
    {
        "user_id": RATED,
        "gender_f": [0, 1, 0, 1, 1, None],
        "age_35": [0, 1, 1, 0, 0, None],
        "student": [0, 0, 1, 1, 0, None],
    },
    schema_overrides={"gender_f": pl.Int8, "age_35": pl.Int8, "student": pl.Int8},
)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def ratings(directory: Path) -> Path:
    """Three ratings per rated user in u.data layout (user, item, rating, time)."""
    rows = [f"{u}\t{10 + k}\t4\t{1_700_000_000 + 10 * u + k}" for u in RATED for k in range(3)]
    return write(directory / "u.data", rows)


def user_file(directory: Path, layout: str) -> Path:
    if layout == "u.user":
        return write(directory / "u.user", [f"{u}|{a}|{g}|{o}|00000" for u, a, g, o in USERS])
    if layout == "users.dat":
        return write(directory / "users.dat", [f"{u}::{g}::{a}::{o}::00000" for u, a, g, o in USERS])
    header = "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"
    return write(directory / "ml.user", [header, *(f"{u}\t{a}\t{g}\t{o}\t00000" for u, a, g, o in USERS)])


def movielens(tmp_path: Path, layout: str = "u.user", **kwargs) -> MovieLens:
    kwargs = {"user_file": str(user_file(tmp_path, layout)), "user_labels": RULES, **kwargs}
    return MovieLens(str(ratings(tmp_path)), min_user_interactions=0, min_item_interactions=0, **kwargs)


@pytest.mark.parametrize("layout", ["u.user", "users.dat", "ml.user"])
def test_movielens_user_file_gives_one_binary_label_per_rule(tmp_path, layout):
    source = movielens(tmp_path, layout).source(tmp_path / "cache")
    rated = pl.DataFrame({"user_id": RATED}).join(source.labels, on="user_id", how="left")  # as featurizing joins
    assert rated.equals(EXPECTED)


def test_users_missing_from_the_user_file_are_kept_unlabeled_and_counted(tmp_path):
    data = movielens(tmp_path).featurize(tmp_path / "cache")
    rows = data.rows.sort("user_id")
    assert rows.get_column("user_id").to_list() == RATED  # user 6 still an input (pretraining reads it)
    assert rows.filter(pl.col("user_id") == 6).get_column("gender_f").to_list() == [None]
    counts = data.meta["quarantine"]["user_labels"]
    assert counts["users_missing"] == 1 and counts["users_without_events"] == 1 and counts["users_in_file"] == 6
    assert counts["positives"] == {"gender_f": 3, "age_35": 2, "student": 2}


def test_an_unknown_column_is_a_config_error_naming_the_key_and_the_columns(tmp_path):
    dataset = movielens(tmp_path, user_labels={"women": {"column": "sex", "equals": "F"}})
    with pytest.raises(ConfigError, match=r"dataset.user_labels.women.column: 'sex'.*user_id, age, gender, occupation"):
        dataset.source(tmp_path / "cache")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"a": {"column": "age"}}, r"dataset.user_labels.a: give exactly one of equals, one_of"),
        ({"a": {"column": "age", "equals": 3, "at_least": 2}}, r"exactly one of .*\(got equals, at_least\)"),
        ({"a": {"column": "age", "at_least": "old"}}, r"dataset.user_labels.a.at_least must be a number"),
        ({"a": {"column": "age", "greater": 3}}, r"dataset.user_labels.a.greater: unknown key"),
        ({"a": {"equals": "F"}}, r"dataset.user_labels.a.column"),
        ({"a": {"column": "x", "one_of": []}}, r"one_of must be a non-empty list"),
        ("gender", r"dataset.user_labels must map a label name to a rule"),
    ],
)
def test_malformed_label_rules_fail_at_construction(tmp_path, labels, message):
    with pytest.raises(ConfigError, match=message):
        movielens(tmp_path, user_labels=labels)


def test_labels_need_a_user_file_and_a_user_file_needs_labels(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset\.user_file is not"):
        MovieLens(str(ratings(tmp_path)), user_labels=RULES)
    with pytest.raises(ConfigError, match=r"dataset\.user_labels is empty"):
        MovieLens(str(ratings(tmp_path)), user_file=str(user_file(tmp_path, "u.user")))


def test_a_numeric_rule_on_text_values_names_the_file_and_column(tmp_path):
    dataset = movielens(tmp_path, user_labels={"a": {"column": "occupation", "above": 3}})
    with pytest.raises(DataError, match=r"u.user: column 'occupation' \(dataset.user_labels.a.above\) must hold"):
        dataset.source(tmp_path / "cache")


def test_a_user_file_line_with_a_wrong_field_count_is_an_error_with_its_line(tmp_path):
    dataset = movielens(tmp_path)
    path = Path(dataset.user_file)
    path.write_text(path.read_text() + "7|30|F\n")
    with pytest.raises(DataError, match=r"1 lines do not have the 5 fields.*line 7"):
        dataset.source(tmp_path / "cache")


def test_the_configs_accept_user_labels_and_the_new_column_spellings(tmp_path):
    for name, extra in (("movielens", {}), ("events_file", {"has_header": False, "columns": ["user_id", "item_id"]})):
        node = OmegaConf.load(CONFIG_DIR / "dataset" / f"{name}.yaml")
        node.pop("defaults", None)
        node.merge_with({"path": "x", "user_file": "u", "user_labels": RULES, **extra})
        check_node_against_signature("dataset", node)


# ---- generic events files: a header or not, a timestamp or not, and a CSV user file ----


def events_file(tmp_path: Path, lines: list[str], **kwargs) -> pl.DataFrame:
    path = write(tmp_path / "events.txt", lines)
    return EventsFile(str(path), **kwargs).source(tmp_path / "cache").events.collect()


SASREC = ["1 10", "2 11", "1 12", "1 10", "2 13"]  # `user item`, file order is time order
IN_ORDER = {"user_id": [1, 1, 1, 2, 2], "item_id": [10, 12, 10, 11, 13], "timestamp": [0, 1, 2, 0, 1]}


@pytest.mark.parametrize(
    "columns", [["user_id", "item_id"], {"user_id": 0, "item_id": 1, "timestamp": None}], ids=["list", "positions"]
)
def test_a_headerless_timestampless_file_keeps_the_file_order_per_user(tmp_path, columns):
    events = events_file(tmp_path, SASREC, columns=columns, has_header=False, separator=" ")
    assert events.to_dict(as_series=False) == IN_ORDER


def test_a_list_may_skip_columns_and_place_the_timestamp(tmp_path):
    lines = ["1,10,5,300", "1,12,3,100", "2,11,4,200"]
    events = events_file(tmp_path, lines, columns=["user_id", "item_id", None, "timestamp"], has_header=False)
    assert events.to_dict(as_series=False) == {
        "user_id": [1, 1, 2], "item_id": [12, 10, 11], "timestamp": [100, 300, 200]
    }  # fmt: skip


def test_a_header_file_without_timestamp_column_by_null_and_positions_with_a_header(tmp_path):
    lines = ["uid,ad", *(line.replace(" ", ",") for line in SASREC)]
    events = events_file(tmp_path, lines, columns={"user_id": "uid", "item_id": 1, "timestamp": None})
    assert events.to_dict(as_series=False) == IN_ORDER


def test_a_declared_column_count_that_does_not_match_the_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"dataset.columns names 3 columns but the file has 2 fields"):
        events_file(tmp_path, SASREC, columns=["user_id", "item_id", "timestamp"], has_header=False, separator=" ")
    with pytest.raises(DataError, match=r"dataset.columns.item_id=4 but the file has 2 fields"):
        events_file(
            tmp_path, SASREC, columns={"user_id": 0, "item_id": 4, "timestamp": None}, has_header=False, separator=" "
        )


def test_a_ragged_line_of_a_headerless_file_is_quarantined_with_its_line(tmp_path):
    dataset = EventsFile(
        str(write(tmp_path / "e.txt", ["1 10", "1 11 7", "2 12"])), columns=["user_id", "item_id"],
        has_header=False, separator=" ",
    )  # fmt: skip
    source = dataset.source(tmp_path / "cache")
    assert source.quarantine["reasons"] == {"wrong field count": 1}
    bad = pl.read_parquet(source.quarantine["path"])
    assert bad.get_column("_line").to_list() == [2]
    assert source.events.collect().height == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"has_header": False}, r"has_header=false needs dataset.columns"),
        (
            {"has_header": False, "columns": {"user_id": "uid", "item_id": 1}},
            r"columns.user_id='uid': a file without a header",
        ),
        ({"columns": ["user_id", "user_id", "item_id"]}, r"'user_id' is named twice"),
        ({"columns": ["item_id", "timestamp"]}, r"must name user_id and item_id; missing: user_id"),
        ({"columns": {"user_id": 0, "item_id": None}}, r"dataset.columns.item_id: only the timestamp may be null"),
        ({"columns": ["user_id", "item_id"], "cutoff_timestamp": 5}, r"dataset.cutoff_timestamp is set but"),
    ],
)
def test_column_spellings_that_cannot_work_fail_at_construction(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        EventsFile(str(tmp_path / "e.csv"), **kwargs)


def test_events_file_takes_a_csv_user_file_keyed_by_the_mapped_user_column(tmp_path):
    users = write(tmp_path / "users.csv", ["uid,segment,spend", "1,gold,10.5", "2,silver,", "3,gold,2"])
    lines = ["uid,ad", "1,10", "2,11", "3,12", "4,10"]
    path = write(tmp_path / "events.csv", lines)
    labels = {"gold": {"column": "segment", "equals": "gold"}, "big": {"column": "spend", "above": 5}}
    dataset = EventsFile(
        str(path), columns={"user_id": "uid", "item_id": "ad", "timestamp": None}, user_file=str(users),
        user_labels=labels,
    )  # fmt: skip
    source = dataset.source(tmp_path / "cache")
    table = source.labels.sort("user_id")
    assert table.get_column("gold").to_list() == [1, 0, 1]
    assert table.get_column("big").to_list() == [1, None, 0]  # an empty attribute: no label, counted
    counts = source.quarantine["user_labels"]
    assert counts["users_missing"] == 1 and counts["empty_values"] == {"gold": 0, "big": 1}


def test_the_dataset_config_instantiates_with_hydra(tmp_path):
    node = OmegaConf.load(CONFIG_DIR / "dataset" / "movielens.yaml")
    node.pop("defaults", None)
    node.merge_with(
        {"path": str(ratings(tmp_path)), "user_file": str(user_file(tmp_path, "u.user")), "user_labels": RULES}
    )
    node.merge_with({"min_user_interactions": 0, "min_item_interactions": 0})
    source = instantiate(node).source(tmp_path / "cache")
    assert np.array_equal(source.labels.sort("user_id").head(5).get_column("student").to_numpy(), [0, 0, 1, 1, 0])
