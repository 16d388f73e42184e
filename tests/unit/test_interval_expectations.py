"""Benchmark cells carry the seed means of the 95 % interval bounds, expectations can compare a bound instead of
the point (`use: ci_low | ci_high`), and results.json with them still follows its schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import polars as pl
import pytest
import yaml

from ssl_ads.benchmark.aggregate import aggregate, cell_value, long_table
from ssl_ads.benchmark.expectations import check_case
from ssl_ads.benchmark.outputs import SCHEMA_PATH, CaseRecord, results_payload, suite_report_markdown
from ssl_ads.benchmark.suite import Case, Expectation, Suite, load_suite
from ssl_ads.errors import ConfigError
from ssl_ads.results import ResultRow


def row(encoder: str, point: float, half: float | None) -> ResultRow:
    intervals = {} if half is None else {"test_auroc": {"low": point - half, "high": point + half, "method": "delong"}}
    return ResultRow(encoder, "probe", 1.0, 100, {"test_auroc": point, "val_auroc": 0.5}, 1.0, intervals)


@pytest.fixture
def cells() -> pl.DataFrame:
    # pretrained 0.72 [0.62, 0.82] and scratch 0.62 [0.52, 0.72] as seed means (half-widths 0.1)
    frames = [
        long_table("c", 0, [row("scratch", 0.60, 0.1), row("pretrained", 0.70, 0.1)]),
        long_table("c", 1, [row("scratch", 0.64, 0.1), row("pretrained", 0.74, 0.1)]),
    ]
    return aggregate(pl.concat(frames))


def test_cells_hold_seed_means_of_the_interval_bounds(cells):
    cell = cell_value(cells, "c", "pretrained", "probe", 1.0, "auroc")
    assert cell["mean"] == pytest.approx(0.72) and cell["ci_low"] == pytest.approx(0.62)
    assert cell["ci_high"] == pytest.approx(0.82)
    partial = aggregate(pl.concat([long_table("c", 0, [row("scratch", 0.6, 0.1)]),
                                   long_table("c", 1, [row("scratch", 0.6, None)])]))  # fmt: skip
    assert partial.row(0, named=True)["ci_low"] is None  # a bound some seed lacks is not averaged


def test_expectations_compare_the_chosen_bound(cells):
    case = Case(
        "c",
        [],
        [
            Expectation("auroc", 1.0, min=0.7),  # point 0.72: holds
            Expectation("auroc", 1.0, min=0.7, use="ci_low"),  # lower bound 0.62: not clearly above 0.7
            Expectation("auroc", 1.0, min=0.8, use="ci_high"),  # upper bound 0.82: not clearly below 0.8
            Expectation("auroc", 1.0, min_gain_over_scratch=0.05),  # point gain 0.10
            Expectation("auroc", 1.0, min_gain_over_scratch=0.0, use="ci_low"),  # 0.62 - 0.72: intervals overlap
            Expectation("auroc", 1.0, min_gain_over_scratch=0.0, use="ci_high"),  # 0.82 - 0.52: not clearly worse
            Expectation("auroc", 1.0, encoder="scratch", max=0.7, use="ci_high"),  # 0.72: not clearly below 0.7
        ],
    )
    verdicts = check_case(case, cells)
    assert [v.passed for v in verdicts] == [True, False, True, True, False, True, False]
    assert verdicts[1].observed == pytest.approx(0.62) and verdicts[4].observed == pytest.approx(-0.10)
    assert verdicts[5].observed == pytest.approx(0.30)
    assert "test auroc (lower 95 % bound) at 100% labels = 0.6200 (expected ≥ 0.7)" in verdicts[1].describe()
    assert "pretrained's lower 95 % bound minus scratch's upper" in verdicts[4].describe()
    assert "(expected ≥ 0.7)" in verdicts[0].describe() and "bound" not in verdicts[0].describe()


def test_results_with_intervals_follow_the_schema(cells, tmp_path):
    case = Case("c", ["task=conversion"], [Expectation("auroc", 1.0, min=0.6, use="ci_low")],
                choices={"task": "conversion"})  # fmt: skip
    suite = Suite("t", "", [0, 1], [1.0], ["probe"], [], [case], tmp_path / "t.yaml")
    record = CaseRecord(case, {"task": "conversion"}, "auroc", [{"seed": 0}], ["seed 0: the test split holds 3"])
    body = json.loads(json.dumps(results_payload(suite, [record], cells, check_case(case, cells), [], tmp_path, 1.0)))
    jsonschema.validate(body, json.loads(SCHEMA_PATH.read_text()))
    assert body["expectations"][0]["use"] == "ci_low" and body["cells"][0]["ci_low"] is not None
    report = suite_report_markdown(body, [record], cells)
    assert "0.7200 ± 0.0283 [0.620, 0.820]" in report and "**warning**: seed 0: the test split holds 3" in report


def test_an_unknown_use_fails_validation(tmp_path: Path):
    entry = {"name": "c", "overrides": ["dataset=synthetic", "encoder=transformer", "pretext=masked_item",
                                        "task=conversion"],
             "expect": [{"metric": "auroc", "at_fraction": 1.0, "min": 0.5, "use": "median"}]}  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "label_fractions": [1.0], "cases": [entry]}))
    with pytest.raises(ConfigError, match=r"expect.use must be one of \['point', 'ci_low', 'ci_high'\]"):
        load_suite(str(path))
