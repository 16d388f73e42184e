"""`task=next_item` end to end through the CLI: a `-m` sweep over pretexts, then reuse of the encoder.

(experiment=tiny sizes the transformer, so the GRU is covered by the unit tests and the MovieLens benchmark.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TINY_RANKING = [
    "experiment=tiny",
    "task=next_item",
    "task.window=8",
    "label_fractions=[1.0]",
    "pretrain.max_epochs=1",
    "finetune.max_epochs=1",
]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, cli_in):
    cwd = tmp_path_factory.mktemp("next_item")
    result = cli_in(cwd, "pipeline", "-m", *TINY_RANKING, "pretext=masked_item,contrastive")
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p for p in (cwd / "multirun" / "pipeline").glob("*/*") if (p / "metrics.json").is_file())
    return cwd, runs, result


def test_every_pretext_runs_and_reports_ranking_metrics(sweep):
    _, runs, result = sweep
    assert len(runs) == 2, runs
    assert "next_item" in result.stdout and "pretrained-finetune" in result.stdout
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        assert "leave-one-out" in metrics["protocol"]["split"]
        rows = {(r["encoder"], r["mode"]): r["metrics"] for r in metrics["results"]}
        assert set(rows) == {("scratch", "probe"), ("scratch", "finetune"), ("pretrained", "probe"),
                             ("pretrained", "finetune")}  # fmt: skip
        for values in rows.values():
            for k in (5, 10, 20):
                assert 0.0 <= values[f"test_mrr@{k}"] <= values[f"test_ndcg@{k}"] <= values[f"test_hr@{k}"] <= 1.0
            assert values["test_hr@5"] <= values["test_hr@10"] <= values["test_hr@20"]
        assert "test_ndcg@10" in (run / "report.md").read_text()


def test_a_pretrained_next_item_encoder_is_probed_from_its_checkpoint(sweep, cli_in, tmp_path):
    _, runs, _ = sweep
    encoder = Path(runs[0]) / "encoder.pt"
    # The multirun folder name holds '=' (pretext=...), so the path is quoted for Hydra's override parser.
    result = cli_in(tmp_path, "probe", *TINY_RANKING, f"encoder_ckpt='{encoder}'")
    assert result.returncode == 0, result.stderr[-3000:]
    (metrics_file,) = (tmp_path / "outputs" / "probe").glob("*/metrics.json")
    rows = json.loads(metrics_file.read_text())["results"]
    assert [(r["encoder"], r["mode"]) for r in rows] == [("pretrained", "probe")]
    assert rows[0]["metrics"]["test_hr@20"] > 0
