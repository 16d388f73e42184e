"""`ssl-ads pretrain pretrain.sparse_item_table=...` end to end: the decision is made, used and reported in
metrics.json; `true` with a full softmax stops before any work, naming both keys."""

from __future__ import annotations

import json
from pathlib import Path

ARGS = ("pretrain", "experiment=tiny", "pretext=next_item", "pretrain.max_epochs=1")


def _reason(run: Path) -> str:
    return json.loads((run / "metrics.json").read_text())["pretrain"]["sparse_item_table"]


def test_a_sparse_pretraining_run_trains_and_reports_the_decision(cli, tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = cli(*ARGS, f"hydra.run.dir={run}", "pretext.negatives=in_batch", "pretrain.sparse_item_table=true")
    assert out.returncode == 0, out.stderr[-2000:]
    assert _reason(run) == "pretrain.sparse_item_table=true"
    assert (run / "encoder.pt").is_file()


def test_auto_on_a_small_catalogue_stays_dense_and_says_why(cli, tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = cli(*ARGS, f"hydra.run.dir={run}", "pretext.negatives=sampled")
    assert out.returncode == 0, out.stderr[-2000:]
    assert _reason(run).startswith("auto -> dense") and "< 50,000" in _reason(run)


def test_true_with_a_full_softmax_fails_at_start_up_naming_both_keys(cli, tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = cli(*ARGS, f"hydra.run.dir={run}", "pretext.negatives=full", "pretrain.sparse_item_table=true")
    assert out.returncode != 0
    assert "pretrain.sparse_item_table=true" in out.stderr and "pretext.negatives='full'" in out.stderr
    assert not run.exists()  # refused before Hydra made the run folder
