"""`ssl-ads benchmark` end to end on a one-case suite: verdict, exit codes, report, results.json, plots."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from ssl_ads.benchmark.outputs import SCHEMA_PATH

FAST = [
    "experiment=tiny",
    "pretrain.max_epochs=2",
    "probe.max_epochs=3",
    "online_probe.every_n_steps=2",
    "trainer.log_every_n_steps=1",
]
CASE = ["dataset=synthetic", "encoder=transformer", "pretext=masked_item", "task=conversion"]


def suite_file(directory: Path, expect: list[dict], case: list[str] = CASE) -> Path:
    path = directory / "suite.yaml"
    body = {"name": "mini", "seeds": [0], "label_fractions": [1.0], "modes": ["probe"], "overrides": FAST}
    body["cases"] = [{"name": "seq", "overrides": case, "expect": expect}]
    path.write_text(yaml.safe_dump(body))
    return path


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory, cli_in):
    cwd = tmp_path_factory.mktemp("bench")
    expect = [
        {"metric": "auroc", "at_fraction": 1.0, "encoder": "scratch", "min": 0.0},
        {"metric": "auroc", "at_fraction": 1.0, "min": 1.01},
    ]
    # hydra.run.dir, as every stage takes it (the same as --out)
    result = cli_in(cwd, "benchmark", f"suite={suite_file(cwd, expect)}", "hydra.run.dir=runs/bench")
    assert not (cwd / "outputs").exists()
    return cwd / "runs" / "bench", result


def test_unmet_expectation_exits_1_and_names_it(failing_run):
    _, result = failing_run
    assert result.returncode == 1, result.stderr[-3000:]
    assert "1 expectation(s) failed" in result.stdout
    failed = [line for line in result.stdout.splitlines() if line.strip().startswith("FAILED")]
    assert len(failed) == 1 and "seq: pretrained-probe test auroc at 100% labels" in failed[0]
    assert "expected ≥ 1.01" in failed[0]


def test_outputs_report_results_and_plots(failing_run):
    out, _ = failing_run
    results = json.loads((out / "results.json").read_text())
    jsonschema.validate(results, json.loads(SCHEMA_PATH.read_text()))
    assert results["passed"] is False and [e["passed"] for e in results["expectations"]] == [True, False]
    methods = {(c["encoder"], c["mode"]) for c in results["cells"] if c["metric"] == "auroc"}
    # a sequence user task: the bag-of-items baseline (TF-IDF + logistic regression) sits beside the encoders
    assert methods == {("scratch", "probe"), ("pretrained", "probe"), ("bag-of-items", "baseline")}
    pretrain = results["cases"][0]["pretrain"][0]
    assert 0.0 <= pretrain["online_probe_auroc_last"] <= 1.0 and pretrain["epochs"] == 2
    for plot in ("label_efficiency_seq.png", "pretraining_seq.png"):
        assert (out / plot).read_bytes()[:4] == b"\x89PNG", plot
        assert plot in results["plots"]
    report = (out / "report.md").read_text()
    assert "FAILED" in report and "**FAIL**" in report and "![pretraining_seq](pretraining_seq.png)" in report
    log = (out / "cases" / "seq" / "seed=0" / "logs" / "pretrain" / "metrics.csv").read_text()
    assert "online_probe_auroc" in log.splitlines()[0]


def test_invalid_suite_fails_before_running_anything(cli, tmp_path):
    expect = [{"metric": "ndcg@10", "at_fraction": 1.0, "min": 0.1}]
    result = cli("benchmark", f"suite={suite_file(tmp_path, expect)}", "--out", "out")
    assert result.returncode == 2
    assert "ndcg@10" in result.stderr and "auroc" in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / ".ssl_ads_cache").exists()

    result = cli("benchmark", f"suite={suite_file(tmp_path, [], [*CASE[:1], 'encoder=nope', *CASE[2:]])}")
    assert result.returncode == 2 and "nope" in result.stderr and "transformer" in result.stderr
    assert not (tmp_path / "outputs").exists()
