"""Honest uncertainty end to end: every test metric of every row carries a 95 % interval around its point in
metrics.json, the terminal table and report.md, and a test split with too few positives is a warning."""

from __future__ import annotations

import json
import re

INTERVAL = re.compile(r"\d\.\d{2,4} \[\d\.\d{2,4}, \d\.\d{2,4}\]")


def test_pipeline_reports_intervals_and_warns_below_min_positives(cli, tmp_path):
    # min_positives far above the tiny split's positives: the warning must fire for the test split and the budget
    result = cli(
        "pipeline", "experiment=tabular_tiny", "label_fractions=[1.0]", "probe.max_epochs=2",
        "min_positives=100000", "interval_resamples=200", timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next((tmp_path / "outputs" / "pipeline").iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["results"]) == 5  # scratch/pretrained × probe/finetune, and gbdt
    for row in metrics["results"]:
        tested = {k: v for k, v in row["metrics"].items() if k.startswith("test_")}
        assert tested and set(row["intervals"]) == set(tested), row["encoder"]
        for name, point in tested.items():
            interval = row["intervals"][name]
            assert interval["low"] <= point <= interval["high"], (row["encoder"], row["mode"], name, interval)
        assert row["intervals"]["test_auroc"]["method"] == "delong"
        assert row["intervals"]["test_logloss"]["method"] == "bootstrap"
        counts = row["counts"]
        assert 0 < counts["n_test_pos"] < counts["n_test"] and 0 < counts["n_budget_pos"] <= row["n_labels"]
    counts = metrics["results"][0]["counts"]
    assert f"the test split holds {counts['n_test_pos']} positives of {counts['n_test']}" in metrics["warnings"][0]
    assert any("label fraction 1 " in line for line in metrics["warnings"])
    assert "bootstrap" in metrics["protocol"]["intervals"] and "200 resamples" in metrics["protocol"]["intervals"]
    report = (run_dir / "report.md").read_text()
    assert "## Warnings" in report and "min_positives=100000" in report
    auroc_table = report.split("## test_auroc", 1)[1].split("##", 1)[0]
    assert len(INTERVAL.findall(auroc_table)) == 5
    assert "[95 % interval]" in result.stdout and "warning:" in result.stdout
