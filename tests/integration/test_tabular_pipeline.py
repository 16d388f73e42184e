"""Tabular runs end to end through the CLI: the simulator's impressions (default) and a Criteo-format file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ssl_ads.encoders.bundle import load_encoder


def _run_dir(root: Path, stage: str) -> Path:
    runs = list((root / "outputs" / stage).iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def test_tabular_pipeline_has_scratch_pretrained_and_gbdt_rows(cli, tmp_path):
    # (a generous timeout: the shared CI machine can be many times oversubscribed)
    result = cli("pipeline", "experiment=tabular_tiny", "label_fractions=[1.0]", "probe.max_epochs=2", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = _run_dir(tmp_path, "pipeline")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    methods = {(r["encoder"], r["mode"]) for r in metrics["results"]}
    assert methods == {
        ("scratch", "probe"), ("scratch", "finetune"), ("pretrained", "probe"), ("pretrained", "finetune"),
        ("gbdt", "baseline"),
    }  # fmt: skip
    for row in metrics["results"]:
        assert 0.0 <= row["metrics"]["test_auroc"] <= 1.0
        assert row["metrics"]["test_logloss"] > 0 and 0.0 <= row["metrics"]["test_ece"] <= 1.0
    assert "gbdt-baseline" in result.stdout and "by row" in metrics["protocol"]["split"]
    assert "tabular schema" in result.stderr
    # the encoder bundle carries the fitted featurizer, so new data maps as in training
    encoder, bundle = load_encoder(run_dir / "encoder.pt")
    assert bundle["data_state"]["categorical"][0]["name"] == "item_id"
    assert bundle["featurized"]["categorical"][0] == "item_id"
    assert encoder.cardinalities == bundle["encoder_config"]["cardinalities"]


def test_criteo_file_pretrains_a_field_transformer_with_contrastive_views(cli, tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(400):
        label = int(rng.random() < 0.3)
        ints = [str(int(rng.integers(0, 50))) if rng.random() > 0.1 else "" for _ in range(13)]
        cats = [f"{int(rng.integers(0, 6)):08x}" for _ in range(26)]
        lines.append("\t".join([str(label), *ints, *cats]))
    lines.append("2\tnot a valid line")
    data = tmp_path / "dac_sample.txt"
    data.write_text("\n".join(lines) + "\n")
    result = cli(
        "pretrain", "dataset=criteo", f"dataset.path={data}", "dataset.min_count=1", "task=ctr",
        "trainer.enable_progress_bar=false", "pretrain.batch_size=128", "encoder=field_transformer",
        "encoder.dim=16", "encoder.layers=1", "encoder.heads=2", "encoder.ff_dim=32",
        "pretext=corruption_contrastive", "pretrain.max_epochs=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = _run_dir(tmp_path, "pretrain")
    encoder, bundle = load_encoder(run_dir / "encoder.pt")
    assert len(encoder.cardinalities) == 26 and encoder.num_numeric >= 13
    assert bundle["featurized"]["quarantine"]["n_bad"] == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["pretrain"]["epochs"] >= 1


def test_sequence_pretext_on_tabular_data_fails_listing_compatible_choices(cli):
    result = cli("pretrain", "experiment=tabular_tiny", "pretext=masked_item")
    assert result.returncode == 2
    assert "masked_feature" in result.stderr and "corruption_contrastive" in result.stderr
