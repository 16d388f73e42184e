"""A run in bf16-mixed, what `trainer.precision=auto` picks on a CPU with bf16 units (the suite itself pins fp32:
tests/conftest.py), goes through every stage and metric, and its protocol says which numerics it ran in."""

from __future__ import annotations

import json
import math


def test_a_bf16_mixed_tabular_pipeline_reports_every_metric_with_its_interval(cli, tmp_path):
    """Before: `make bench-ci` on an AVX-512-bf16 CPU ended in `TypeError: Got unsupported ScalarType BFloat16`:
    the head scored in bf16 and the calibration error's interval reads the scores with numpy."""
    result = cli("pipeline", "experiment=tabular_tiny", "trainer.precision=bf16-mixed", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "pipeline").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["protocol"]["numerics"] == "trainer.precision=bf16-mixed"
    assert "trainer.precision=bf16-mixed" in (run_dir / "report.md").read_text()
    modes = {(row["encoder"], row["mode"]) for row in metrics["results"]}
    assert {("scratch", "probe"), ("pretrained", "probe"), ("pretrained", "finetune")} <= modes
    for row in metrics["results"]:
        if row["mode"] == "baseline":
            continue
        for name in ("test_auroc", "test_ece", "test_logloss"):
            assert math.isfinite(row["metrics"][name]), (row["encoder"], row["mode"], name)
            low, high = row["intervals"][name]["low"], row["intervals"][name]["high"]
            assert low <= row["metrics"][name] <= high, (row["encoder"], row["mode"], name)


def test_auto_precision_is_named_as_such_in_the_protocol(cli, tmp_path):
    result = cli("probe", "experiment=tabular_tiny", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "probe").iterdir()
    numerics = json.loads((run_dir / "metrics.json").read_text())["protocol"]["numerics"]
    assert numerics == "trainer.precision=32-true (auto, on this hardware)"  # the suite pins SSL_ADS_BF16=0
