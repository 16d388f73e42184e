"""The data report: every cleaning step's count (quarantine by reason, duplicates, k-core, timestamp range,
label window, truncation, OOV, unlabeled rows) from fixtures in real formats, and errors that name the step
that emptied the data and the setting that controls it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
from rich.console import Console

from ssl_ads.data.cleaning_report import (
    REPORT_KEY,
    DataReport,
    Step,
    add_step,
    attach,
    build_report,
    explain_shortage,
    markdown_section,
    print_report,
    report_from_source,
    unlabeled_step,
)
from ssl_ads.data.sources.criteo import Criteo
from ssl_ads.data.sources.events_file import EventsFile
from ssl_ads.data.sources.movielens import MovieLens
from ssl_ads.data.sources.taobao import TaobaoUserBehavior
from ssl_ads.data.sources.text_file import TextFile
from ssl_ads.data.split import TooFewRows, split_rows
from ssl_ads.errors import ConfigError, DataError
from ssl_ads.evaluation.context import too_few_error

T0 = 1_700_000_000
NO_CORE = {"min_user_interactions": 0, "min_item_interactions": 0}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def taobao_lines(n_users: int = 12, per_user: int = 6) -> list[str]:
    """Good UserBehavior lines: every user views `per_user` of 8 items, one second apart."""
    users, events = range(1, n_users + 1), range(per_user)
    return [f"{u},{100 + (u + k) % 8},{(u + k) % 3},pv,{T0 + 60 * u + k}" for u in users for k in events]


# (file name, writer of one event line, header) per sequence format with a timestamp
def _movielens(path: Path, rows: list[tuple[int, int, int]]) -> object:
    return MovieLens(str(write_lines(path / "u.data", [f"{u}\t{i}\t4\t{t}" for u, i, t in rows])), **NO_CORE)


def _taobao(path: Path, rows: list[tuple[int, int, int]]) -> object:
    lines = [f"{u},{i},1,pv,{t}" for u, i, t in rows]
    return TaobaoUserBehavior(str(write_lines(path / "UserBehavior.csv", lines)), **NO_CORE)


def _events_file(path: Path, rows: list[tuple[int, int, int]]) -> object:
    lines = ["user_id,item_id,timestamp", *[f"{u},{i},{t}" for u, i, t in rows]]
    return EventsFile(str(write_lines(path / "events.csv", lines)), **NO_CORE)


READERS = {"movielens": _movielens, "taobao": _taobao, "events_file": _events_file}
ROWS = [(1, 10, 100), (1, 11, -5), (2, 10, 300), (2, 12, 0), (3, 11, -1), (3, 10, 400), (4, 12, 5000)]


@pytest.mark.parametrize("reader", READERS)
def test_negative_timestamps_are_quarantined_with_their_reason(tmp_path, reader):
    dataset = READERS[reader](tmp_path, ROWS)
    source = dataset.source(tmp_path / "cache")
    assert source.quarantine["reasons"] == {"negative timestamp": 2}
    bad = pl.read_parquet(source.quarantine["path"])
    assert bad.get_column("reason").to_list() == ["negative timestamp"] * 2
    events = source.events.collect()
    assert events.height == 5 and events.get_column("timestamp").min() == 0  # 0 is a valid sequence number


@pytest.mark.parametrize("reader", READERS)
def test_the_valid_range_quarantines_rows_outside_it_naming_the_setting(tmp_path, reader):
    dataset = READERS[reader](tmp_path, ROWS)
    dataset.min_timestamp, dataset.max_timestamp = -1, 1000
    report = dataset.source(tmp_path / "cache").quarantine
    assert report["reasons"] == {
        "timestamp before dataset.min_timestamp=-1": 1,
        "timestamp after dataset.max_timestamp=1000": 1,
    }
    assert report["settings"]["dataset.max_timestamp"] == 1000
    step = report_from_source(report, "x").steps[0]
    assert step.settings == {"dataset.min_timestamp": -1, "dataset.max_timestamp": 1000}


def test_an_empty_range_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset\.min_timestamp=10 is after dataset\.max_timestamp=5"):
        MovieLens(str(tmp_path / "u.data"), min_timestamp=10, max_timestamp=5)


def test_ids_beyond_int64_are_named_as_such(tmp_path):
    lines = [*taobao_lines(3, 2), "99999999999999999999999,100,1,pv,1", "1,100,1,pv,12x"]
    report = TaobaoUserBehavior(str(write_lines(tmp_path / "ub.csv", lines)), **NO_CORE).source(tmp_path).quarantine
    assert report["reasons"] == {"user_id beyond the int64 range": 1, "non-numeric timestamp": 1}


def test_k_core_that_empties_the_data_names_the_step_and_its_settings(tmp_path):
    path = write_lines(tmp_path / "ub.csv", taobao_lines(12, 3))  # 3 events per user: none survives k=5
    dataset = TaobaoUserBehavior(str(path), min_user_interactions=5, min_item_interactions=5)
    with pytest.raises(DataError) as err:
        dataset.source(tmp_path / "cache")
    assert str(err.value) == (
        f"{path}: k-core filtering (dataset.min_user_interactions=5, dataset.min_item_interactions=5) removed 36 of "
        "36 events; no events remain; lower those settings"
    )


def _taobao_with_bad_rows(tmp_path: Path) -> TaobaoUserBehavior:
    """12 good users with 6 events each, a duplicate, two negative timestamps, an unknown code, a short line,
    and two users with 2 events (removed by k-core at 3)."""
    lines = taobao_lines(12, 6)
    lines += [lines[0], "1,100,1,pv,-7", "2,101,1,pv,-8", "3,100,1,click,5", "3,100,1"]
    lines += ["50,100,1,pv,1", "50,101,1,pv,2", "51,102,1,pv,1", "51,103,1,pv,2"]
    path = write_lines(tmp_path / "UserBehavior.csv", lines)
    return TaobaoUserBehavior(str(path), min_user_interactions=3, min_item_interactions=1, max_len=4)


def test_sequence_report_counts_every_step_and_survives_the_cache(tmp_path):
    dataset = _taobao_with_bad_rows(tmp_path)
    data = dataset.featurize(tmp_path / "cache")
    report = build_report(data)
    steps = {s.name: s for s in report.steps}
    assert report.read == 81 and report.unit == "events" and report.n_entities == 12
    quarantine = steps["quarantined as malformed"]
    assert quarantine.reasons == {
        "negative timestamp": 2,
        "unknown behavior_type": 1,
        "wrong field count": 1,
    }
    assert Path(quarantine.path).is_file()
    assert steps["duplicate events"].removed == 1 and steps["duplicate events"].settings == {"dataset.dedup": True}
    k_core = steps["k-core filtering"]
    assert (k_core.removed, k_core.detail["users"]) == (4, 2)
    assert k_core.settings == {"dataset.min_user_interactions": 3, "dataset.min_item_interactions": 1}
    truncation = next(s for s in report.steps if s.name.startswith("history truncation"))
    assert truncation.removed == 12 * (6 - 4) and truncation.settings == {"dataset.max_len": 4}
    assert truncation.kind == "truncated"  # cuts events, never users: it cannot explain too few users
    assert report.kept == 12 * 4 == report.read - sum(s.removed for s in report.steps if s.kind != "mapped")
    # a second featurize reads the cache and reports the same
    again = dataset.featurize(tmp_path / "cache")
    assert build_report(again).as_dict() == report.as_dict()


def test_label_window_and_checkpoint_oov_are_reported(tmp_path):
    lines = ["user_id,item_id,timestamp", *[f"{u},{10 + k % 3},{k}" for u in range(1, 7) for k in range(5)]]
    dataset = EventsFile(str(write_lines(tmp_path / "ev.csv", lines)), cutoff_timestamp=3, **NO_CORE)
    data = dataset.featurize(tmp_path / "cache")
    steps = {s.name.split(" (")[0]: s for s in build_report(data).steps}
    assert steps["label window"].removed == 6 * 2 and steps["label window"].settings == {"cutoff_timestamp": 3}
    state = {"item_vocab": {"item_id": [10], "idx": [2]}}  # a checkpoint that knows item 10 only
    report = build_report(dataset.featurize(tmp_path / "cache", state), from_checkpoint=True)
    oov = next(s for s in report.steps if s.kind == "mapped")
    assert "encoder checkpoint" in oov.name and oov.removed == 6 * 2  # items 11 and 12 before the cutoff


def test_tabular_report_has_reasons_path_and_checkpoint_oov(tmp_path):
    ints, cats = ["1"] * 13, ["0000abcd"] * 26
    good = ["\t".join([str(i % 2), *[str(i)] * 13, *[f"{i % 3:08x}"] * 26]) for i in range(20)]
    bad = ["\t".join(["2", *ints, *cats]), "\t".join(["1", "x", *ints[1:], *cats]), "1\t2\t3"]
    path = write_lines(tmp_path / "dac.txt", good + bad)
    data = Criteo(str(path), min_count=1).featurize(tmp_path / "cache")
    report = build_report(data)
    assert (report.read, report.kept, report.unit) == (23, 20, "rows")
    assert report.steps[0].reasons == {"label not 0/1": 1, "non-integer I1": 1, "wrong field count": 1}
    assert Path(report.steps[0].path).is_file()
    checked = build_report(data, from_checkpoint=True)
    assert checked.steps[-1].kind == "mapped" and checked.steps[-1].removed == 0


def test_text_report_counts_empty_texts_set_aside(tmp_path):
    texts = [f"great shoes number {i} on sale today" for i in range(30)] + ["", "   "]
    frame = pl.DataFrame({"copy": [*texts, None], "voice": [i % 2 for i in range(33)]})
    frame.write_parquet(tmp_path / "copy.parquet")
    data = TextFile(str(tmp_path / "copy.parquet"), text_cols=["copy"], label_col="voice").featurize(tmp_path / "c")
    report = build_report(data)
    assert (report.read, report.kept, report.steps[0].removed) == (33, 30, 3)
    assert report.steps[0].path.endswith("empty_texts.parquet")


def test_console_lists_only_steps_that_did_something_after_the_summary(tmp_path):
    data = _taobao_with_bad_rows(tmp_path).featurize(tmp_path / "cache")
    console = Console(record=True, width=300)
    print_report(attach(data, show=False), console)
    text = console.export_text()
    lines = text.splitlines()
    assert lines[0].startswith("data: 81 events read, 48 kept (12 users) from Taobao UserBehavior")
    assert "negative timestamp 2" in text and "k-core filtering" in text and "duplicate events" in text
    assert "label window" not in text and "out-of-vocabulary" not in text  # zero counts stay off the console
    assert data.meta[REPORT_KEY]["read"] == 81


def test_markdown_section_lists_each_step_with_reasons_and_file(tmp_path):
    data = _taobao_with_bad_rows(tmp_path).featurize(tmp_path / "cache")
    attach(data, show=False)
    add_step(data.meta, unlabeled_step("churn", 5, data.meta), show=False)
    text = "\n".join(markdown_section(data.meta[REPORT_KEY]))
    assert "## Data cleaning" in text and "81 events read, 48 kept (12 users)" in text
    assert "negative timestamp: 2" in text and "quarantine/UserBehavior.csv-" in text
    k_core = "k-core filtering (dataset.min_user_interactions=3, dataset.min_item_interactions=1)"
    assert f"| {k_core} | removed | 4 |" in text
    assert "| no value in task.label='churn'" in text and "| excluded | 5 | users |" in text
    add_step(data.meta, unlabeled_step("churn", 5, data.meta), show=False)  # recorded once, not twice
    assert sum("churn" in s["name"] for s in data.meta[REPORT_KEY]["steps"]) == 1


def test_too_few_error_names_the_step_that_removed_the_rest_and_its_setting():
    steps = [
        Step("quarantined as malformed", 12, "events", reasons={"negative timestamp": 12}),
        Step("k-core filtering", 95_812, "events", settings={"dataset.min_user_interactions": 5}, advice="lower it"),
    ]
    report = DataReport("taobao", "events", 96_000, 176, steps, "users", 3).as_dict()

    data = SimpleNamespace(meta={REPORT_KEY: report}, source="taobao")  # what too_few_error reads
    with pytest.raises(TooFewRows) as err:
        split_rows(3, 0.1, 0.1, 0)
    message = str(too_few_error(data, err.value))
    assert message == (
        "taobao: k-core filtering (dataset.min_user_interactions=5) removed 95,812 of 96,000 events (also removed: "
        "quarantined as malformed 12); 3 users remain, too few for a train/val/test split; lower it"
    )
    nothing = DataReport("t", "rows", 3, 3, [Step("quarantined as malformed", 0, "rows")]).as_dict()
    assert "no cleaning step removed any" in explain_shortage(nothing, "3 rows remain")
