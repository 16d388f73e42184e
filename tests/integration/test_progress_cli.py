"""The data progress bars follow `trainer.enable_progress_bar`, on a terminal (TTY_COMPATIBLE=1 makes the captured
stderr count as one, as rich reads it); off, nothing of them reaches the output."""

from __future__ import annotations

import pytest

RUN = ["pretrain", "experiment=tiny", "dataset.n_users=200", "pretrain.max_epochs=1"]


@pytest.mark.parametrize("enabled", [True, False])
def test_featurizing_shows_a_bar_only_when_the_run_allows_it(cli, monkeypatch, tmp_path, enabled):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    # a fresh cache each time, so the events are read and featurized (the bars' work) in this run
    result = cli(*RUN, f"trainer.enable_progress_bar={str(enabled).lower()}", f"cache_dir={tmp_path / 'cache'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("reading events" in result.stderr) is enabled  # the bar's first line (later steps may pass unseen)
