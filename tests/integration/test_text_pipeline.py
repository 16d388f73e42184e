"""Text end to end through the CLI: simulated ad copy with the in-house encoder, a CSV with the frozen
pretrained encoder; the gate's decisions file agrees with the reported coverage and accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ssl_ads.training.lbfgs_probe import L2_GRID


def _run_dir(root: Path, stage: str) -> Path:
    runs = list((root / "outputs" / stage).iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="module")
def text_pipeline(tmp_path_factory, cli_in):
    cwd = tmp_path_factory.mktemp("text_pipeline")
    result = cli_in(cwd, "pipeline", "experiment=text_tiny", "label_fractions=[1.0]")
    assert result.returncode == 0, result.stderr[-3000:]
    return _run_dir(cwd, "pipeline"), result


def test_masked_token_pipeline_reports_gate_and_writes_decisions(text_pipeline):
    run_dir, result = text_pipeline
    for method in ("scratch-probe", "pretrained-probe", "pretrained-finetune"):
        assert method in result.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["pretrain"]["pretext"] == "MaskedToken"
    decisions = pl.read_parquet(run_dir / "decisions.parquet")
    assert decisions.columns == ["run", "id", "predicted", "confidence", "decision", "label"]
    for row in metrics["results"]:
        mine = decisions.filter(pl.col("run") == f"{row['encoder']}-{row['mode']}-{row['label_fraction']:g}")
        forwarded = mine.filter(pl.col("decision") == "forward")
        assert row["metrics"]["test_gate_coverage"] == pytest.approx(forwarded.height / mine.height, abs=1e-6)
        if forwarded.height:
            hand = (forwarded["predicted"] == forwarded["label"]).mean()
            assert row["metrics"]["test_gate_accuracy"] == pytest.approx(hand, abs=1e-6)
        assert row["metrics"]["test_accuracy"] == pytest.approx((mine["predicted"] == mine["label"]).mean(), abs=1e-6)
    assert "test_gate_coverage" in (run_dir / "report.md").read_text()


def test_text_file_with_the_frozen_pretrained_encoder(tmp_path, cli):
    rng = np.random.default_rng(0)
    good = ["Love this dress, fits perfectly", "Beautiful soft fabric, great buy", "So comfortable, wear it daily"]
    bad = ["Runs small and the seams ripped", "Poor quality, sending it back", "Itchy fabric, looked cheap"]
    labels = rng.integers(0, 2, size=80)
    texts = [(good if y else bad)[i % 3] + f" #{i}" for i, y in enumerate(labels)]
    pl.DataFrame({"Title": ["Review"] * 79 + [None], "Review Text": [*texts[:79], None], "Recommended IND": labels})\
        .write_csv(tmp_path / "reviews.csv")  # fmt: skip
    args = [
        "probe", "dataset=text_file", f"dataset.path={tmp_path / 'reviews.csv'}",
        "dataset.text_cols=[Title,'Review Text']",
        "dataset.label_col='Recommended IND'", "encoder=sentence_pretrained", "task=text_label", "pretext=none",
        "label_fractions=[1.0]", "probe.max_epochs=20", "trainer.enable_progress_bar=false", "val_share=0.2",
        "test_share=0.2", "cache_dir=cache",
    ]  # fmt: skip
    result = cli(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((_run_dir(tmp_path, "probe") / "metrics.json").read_text())
    assert metrics["results"][0]["metrics"]["test_accuracy"] > 0.9  # the two voices are easy to tell apart
    assert {r["encoder"] for r in metrics["results"]} == {"frozen-pretrained"}  # MiniLM is not trained from scratch
    assert "frozen-pretrained-probe" in result.stdout
    assert "1 null/empty texts set aside" in metrics["protocol"]["inputs"]
    assert len(list((tmp_path / "cache" / "text_embeddings").glob("*.npy"))) >= 1


def test_reviews_best_experiment_runs_the_cross_validated_exact_probe_on_tfidf_and_minilm(tmp_path, cli):
    rng = np.random.default_rng(1)
    good = ["Love this dress, fits perfectly", "Beautiful soft fabric, great buy", "So comfortable, wear it daily"]
    bad = ["Runs small and the seams ripped", "Poor quality, sending it back", "Itchy fabric, looked cheap"]
    labels = (rng.random(120) < 0.8).astype(int)  # skewed, as the reviews are
    texts = [(good if y else bad)[i % 3] + f" #{i}" for i, y in enumerate(labels)]
    departments = rng.choice(["Dresses", "Tops"], size=120)
    pl.DataFrame({"Title": ["Review"] * 120, "Review Text": texts, "Recommended IND": labels,
                  "Department Name": departments}).write_parquet(tmp_path / "reviews.parquet")  # fmt: skip
    args = ["probe", "experiment=reviews_best", f"dataset.path={tmp_path / 'reviews.parquet'}",
            "label_fractions=[0.25,1.0]", "trainer.enable_progress_bar=false", "cache_dir=cache"]  # fmt: skip
    result = cli(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = _run_dir(tmp_path, "probe")
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "ssl_ads.encoders.sentence_tfidf.SentenceTfidf" in config and "sentence_weight: 0.7" in config
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["protocol"]["loss"].startswith("class weights per probe fit: balanced")
    assert metrics["protocol"]["model_selection"].startswith("probe: exact L2 head, strength from a grid by 5-fold")
    for row in metrics["results"]:
        assert row["metrics"]["test_auroc"] > 0.9  # every budget learns the signal
        assert row["metrics"]["probe_l2"] in L2_GRID  # the exact L2 probe, its strength chosen by cross-validation
        assert row["metrics"]["probe_balanced"] in (0.0, 1.0)  # class_weight=auto: the weighting it took
    # With all 96 labels the head also places its threshold right. With 24, the strong L2 strength chosen by
    # cross-validation ranks the reviews but may leave the threshold at the majority class: the unique "#i" of each
    # toy text makes adjacent-piece pairs that are pure noise (real reviews: see scripts/bench_reviews.py).
    full = metrics["results"][-1]["metrics"]
    assert full["test_accuracy"] > 0.9 and full["test_macro_f1"] > 0.85
    # the budget: a quarter (then all) of the 84 train and of the 12 validation rows (70 % / 10 % of 120)
    assert [r["n_labels"] for r in metrics["results"]] == [24, 96]
    assert len(list((tmp_path / "cache" / "text_embeddings").glob("*.npy"))) >= 1
