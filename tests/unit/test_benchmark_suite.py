"""Suite validation fails before anything runs: unknown parts, metrics a task does not report, bad fractions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ssl_ads.benchmark.suite import SUITE_DIR, load_suite
from ssl_ads.errors import ConfigError

BASE_CASE = ["dataset=synthetic", "encoder=transformer", "pretext=masked_item", "task=conversion"]


def write_suite(tmp_path: Path, cases: list[dict], **top) -> str:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "label_fractions": [0.1, 1.0], "cases": cases, **top}))
    return str(path)


def case(overrides=None, expect=None) -> dict:
    entry = {"name": "c", "overrides": overrides or list(BASE_CASE)}
    if expect is not None:
        entry["expect"] = expect
    return entry


def test_shipped_suites_load_and_validate():
    for path in sorted(SUITE_DIR.glob("*.yaml")):
        suite = load_suite(path.stem)
        assert suite.cases and all(c.choices["task"] for c in suite.cases), path
        assert all(c.metrics for c in suite.cases)


def test_valid_suite_records_choices_and_metrics(tmp_path):
    suite = load_suite(write_suite(tmp_path, [case(expect=[{"metric": "auroc", "at_fraction": 0.1, "min": 0.5}])]))
    (only,) = suite.cases
    assert only.choices["encoder"] == "transformer" and "auroc" in only.metrics and only.pretext_trains
    assert suite.case_overrides(only, 3)[-3:] == ["seed=3", "label_fractions=[0.1,1]", "stage=pipeline"]


@pytest.mark.parametrize(
    ("group", "bad"), [("dataset", "criteo_typo"), ("encoder", "lstm_typo"), ("pretext", "simclr_typo")]
)
def test_unknown_component_fails_naming_it_and_the_choices(tmp_path, group, bad):
    overrides = [o for o in BASE_CASE if not o.startswith(f"{group}=")] + [f"{group}={bad}"]
    with pytest.raises(ConfigError) as err:
        load_suite(write_suite(tmp_path, [case(overrides)]))
    message = str(err.value)
    assert "case 'c'" in message and bad in message and f"choices for {group}" in message


def test_expectation_on_a_metric_the_task_does_not_report_fails(tmp_path):
    with pytest.raises(ConfigError, match=r"expect.metric 'ndcg@10' is not produced by task=conversion.*auroc"):
        load_suite(write_suite(tmp_path, [case(expect=[{"metric": "ndcg@10", "at_fraction": 0.1, "min": 0.1}])]))


def test_expectation_at_a_fraction_the_suite_does_not_run_fails(tmp_path):
    with pytest.raises(ConfigError, match=r"at_fraction 0.01 is not among"):
        load_suite(write_suite(tmp_path, [case(expect=[{"metric": "auroc", "at_fraction": 0.01, "min": 0.5}])]))


def test_gain_over_scratch_needs_a_pretext_that_trains(tmp_path):
    overrides = [*BASE_CASE[:2], "pretext=none", BASE_CASE[3]]
    expect = [{"metric": "auroc", "at_fraction": 1.0, "encoder": "scratch", "min_gain_over_scratch": 0.0}]
    with pytest.raises(ConfigError, match="pretext=none trains nothing"):
        load_suite(write_suite(tmp_path, [case(overrides, expect)]))


def test_incompatible_modality_and_bad_keys_fail(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['treshold'\]"):
        load_suite(write_suite(tmp_path, [case(expect=[{"metric": "auroc", "at_fraction": 1.0, "treshold": 1}])]))
    with pytest.raises(ConfigError, match=r"encoder\.dimm"):
        load_suite(write_suite(tmp_path, [case([*BASE_CASE, "+encoder.dimm=3"])]))
    with pytest.raises(ConfigError, match="modes must be"):
        load_suite(write_suite(tmp_path, [case()], modes=["linear"]))
    with pytest.raises(ConfigError, match="no such suite"):
        load_suite("does_not_exist")
