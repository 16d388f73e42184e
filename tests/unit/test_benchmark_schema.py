"""results.json follows its versioned JSON Schema; plots are written as PNG files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import polars as pl
import pytest

from ssl_ads.benchmark.aggregate import aggregate, long_table
from ssl_ads.benchmark.expectations import check_case
from ssl_ads.benchmark.outputs import SCHEMA_PATH, CaseRecord, results_payload, suite_report_markdown
from ssl_ads.benchmark.suite import Case, Expectation, Suite
from ssl_ads.report.plots import label_efficiency_plot, pretraining_plot
from ssl_ads.results import ResultRow


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


@pytest.fixture
def payload(tmp_path) -> tuple[dict, list[CaseRecord], pl.DataFrame]:
    case = Case("c", ["task=conversion"], [Expectation("auroc", 0.5, min=0.9)], choices={"task": "conversion"})
    suite = Suite("t", "", [0, 1], [0.5, 1.0], ["probe"], ["experiment=tiny"], [case], tmp_path / "t.yaml")
    frames = [
        long_table("c", seed, [ResultRow(enc, "probe", f, 10, {"test_auroc": 0.6 + 0.1 * seed}, 1.0)
                               for enc in ("scratch", "pretrained") for f in (0.5, 1.0)])
        for seed in (0, 1)
    ]  # fmt: skip
    cells = aggregate(pl.concat(frames))
    record = CaseRecord(case, {"task": "conversion", "split": "by user"}, "auroc", [{"seed": 0, "epochs": 2}])
    plot = label_efficiency_plot(cells, "auroc", "c: conversion", tmp_path / "label_efficiency_c.png")
    body = results_payload(suite, [record], cells, check_case(case, cells), [plot], tmp_path, 1.5)
    return body, [record], cells


def test_results_payload_validates_and_round_trips_through_json(payload):
    body, records, cells = payload
    jsonschema.validate(json.loads(json.dumps(body)), schema())
    assert body["passed"] is False and body["plots"] == ["label_efficiency_c.png"]
    report = suite_report_markdown(body, records, cells)
    assert "**FAIL**" in report and "0.6500 ± 0.0707" in report and "![label_efficiency_c]" in report


@pytest.mark.parametrize(
    "breakage",
    [
        lambda p: p.update(schema_version=2),
        lambda p: p.pop("cells"),
        lambda p: p["cells"][0].update(std=-1.0),
        lambda p: p["expectations"][0].update(check="approximately"),
        lambda p: p.update(unexpected_key=1),
    ],
)
def test_schema_rejects_broken_results(payload, breakage):
    body = copy.deepcopy(json.loads(json.dumps(payload[0])))
    breakage(body)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, schema())


def test_pretraining_plot_reads_lightning_csv_logs(tmp_path: Path):
    csv = tmp_path / "metrics.csv"
    csv.write_text(
        "epoch,online_probe_auroc,pretext_loss_step,step,val_pretext_loss\n"
        ",0.55,,0,\n0,,4.8,1,\n0,,4.6,2,\n0,,,2,4.7\n,0.61,,2,\n"
    )
    out = pretraining_plot({0: csv, 1: tmp_path / "missing.csv"}, "t", tmp_path / "p.png")
    assert out is not None and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pretraining_plot({0: tmp_path / "missing.csv"}, "t", tmp_path / "q.png") is None
