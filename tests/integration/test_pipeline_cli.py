"""End to end through the CLI on a tiny simulated data set: files written, reuse of the encoder, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ssl_ads.encoders.bundle import load_encoder


def _single_run_dir(root: Path, stage: str) -> Path:
    runs = list((root / "outputs" / stage).iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory, cli_in):
    cwd = tmp_path_factory.mktemp("pipeline")
    result = cli_in(cwd, "pipeline", "experiment=tiny")
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd, _single_run_dir(cwd, "pipeline"), result


def test_pipeline_writes_table_metrics_report_config_checkpoints_and_logs(pipeline_run):
    _, run_dir, result = pipeline_run
    for method in ("scratch-probe", "scratch-finetune", "pretrained-probe", "pretrained-finetune"):
        assert method in result.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["stage"] == "pipeline"
    assert metrics["protocol"]["label_fractions"] == [0.1, 1.0]
    combos = {(r["encoder"], r["mode"], r["label_fraction"]) for r in metrics["results"]}
    assert len(combos) == 10  # scratch/pretrained × probe/finetune, and the bag-of-items baseline, × 2 fractions
    for row in metrics["results"]:
        assert 0.0 <= row["metrics"]["test_auroc"] <= 1.0
        assert row["n_labels"] > 0
    report = (run_dir / "report.md").read_text()
    assert "## Protocol" in report and "pretrained-probe" in report
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert (run_dir / "checkpoints" / "pretrain" / "last.ckpt").is_file()
    assert list((run_dir / "logs").glob("*/metrics.csv"))


def test_encoder_checkpoint_carries_weights_vocabulary_and_config(pipeline_run):
    _, run_dir, _ = pipeline_run
    encoder, bundle = load_encoder(run_dir / "encoder.pt")
    assert not encoder.training
    assert bundle["data_state"]["item_vocab"]["item_id"]
    assert bundle["encoder_config"]["_target_"].endswith("SequenceTransformer")
    assert bundle["dataset_config"]["n_users"] == 600
    # The Lightning checkpoint rebuilds the same encoder.
    from_ckpt, _ = load_encoder(run_dir / "checkpoints" / "pretrain" / "last.ckpt")
    for (name, a), (_, b) in zip(encoder.state_dict().items(), from_ckpt.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_probe_stage_reuses_a_pretrained_encoder(pipeline_run, cli):
    _, run_dir, _ = pipeline_run
    cache = pipeline_run[0] / ".ssl_ads_cache"
    result = cli("probe", "experiment=tiny", f"encoder_ckpt={run_dir / 'encoder.pt'}", f"cache_dir={cache}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pretrained-probe" in result.stdout
    assert "scratch" not in result.stdout.split("pretrained-probe")[0].split("\n")[-1]


def test_pretrain_resumes_from_its_last_checkpoint(pipeline_run, cli, tmp_path):
    _, run_dir, _ = pipeline_run
    cache = pipeline_run[0] / ".ssl_ads_cache"
    result = cli("pretrain", "experiment=tiny", "pretrain.max_epochs=3", f"resume_from={run_dir}", f"cache_dir={cache}")
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = _single_run_dir(tmp_path, "pretrain")
    metrics = json.loads((resumed / "metrics.json").read_text())["pretrain"]
    # Two epochs came from the checkpoint; only the third ran here.
    assert metrics["epochs"] == 3
    assert list((resumed / "checkpoints" / "pretrain").glob("epoch=2-*.ckpt"))


def test_missing_encoder_checkpoint_is_a_clear_error(cli, tmp_path):
    result = cli("probe", "experiment=tiny", f"encoder_ckpt={tmp_path / 'nope.pt'}")
    assert result.returncode == 2
    assert "encoder_ckpt" in result.stderr and "nope.pt" in result.stderr


def test_single_class_label_is_a_clear_error_and_writes_no_results(cli, tmp_path):
    result = cli("pipeline", "experiment=tiny", "task.label=is_bot", "dataset.bot_share=0.0")
    assert result.returncode == 2
    assert "is_bot" in result.stderr and "single class" in result.stderr
    # a run that failed before writing anything leaves no folder (nor results) behind
    written = [p.name for p in (tmp_path / "outputs").rglob("*")] if (tmp_path / "outputs").exists() else []
    assert "metrics.json" not in written and "encoder.pt" not in written and ".hydra" not in written


def test_unknown_label_column_names_the_column(cli):
    result = cli("probe", "experiment=tiny", "task.label=clicks")
    assert result.returncode == 2
    assert "'clicks'" in result.stderr and "conversion" in result.stderr
