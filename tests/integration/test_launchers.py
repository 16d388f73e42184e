"""A real `-m` sweep through Hydra's joblib launcher: two jobs in worker processes, each with its own run."""

from __future__ import annotations

import json

import yaml


def test_joblib_launcher_runs_a_two_job_sweep_in_its_workers(cli, tmp_path):
    result = cli(
        "pretrain",
        "-m",
        "experiment=tiny",
        "dataset.n_users=300",
        "pretrain.max_epochs=1",
        "seed=0,1",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout  # the plugin launched the jobs, not the basic launcher
    (sweep,) = (tmp_path / "multirun" / "pretrain").iterdir()
    runs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name.split("_", 1)[0] for p in runs] == ["0", "1"]
    losses = []
    for number, run in enumerate(runs):
        assert f"seed={number}" in yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
        metrics = json.loads((run / "metrics.json").read_text())["pretrain"]
        assert metrics["epochs"] == 1 and metrics["world_size"] == 1
        assert (run / "encoder.pt").is_file() and (run / "logs" / "pretrain" / "metrics.csv").is_file()
        losses.append(metrics["val_pretext_loss"])
    assert losses[0] != losses[1]  # two seeds, two different runs
