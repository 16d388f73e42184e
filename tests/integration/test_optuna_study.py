"""An Optuna study in SQLite: two `ssl-ads` sweeps started at once add their trials to one study, and a later sweep
resumes it. Real processes, as users start workers; the tiny experiment keeps each trial to seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

optuna = pytest.importorskip("optuna", reason="the sweep extra (hydra-optuna-sweeper) is not installed")
pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the sweep extra is not installed")

REPO = Path(__file__).resolve().parents[2]
STUDY = "shared"

# One bare worker: set the storage up as `ssl-ads` does before its sweeper starts, then what the sweeper does.
WORKER = """
import sys, time
import optuna
from ssl_ads.sweep_storage import prepare_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
url, start = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
prepare_storage({"storage": url})
study = optuna.create_study(storage=url, study_name="s", load_if_exists=True, direction="maximize")
study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
"""


def start_worker(cwd: Path, storage: str, seed: int, trials: int) -> subprocess.Popen:
    """`ssl-ads pipeline -m experiment=optuna_tiny` on the shared study, as its own process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "HYDRA_FULL_ERROR": "1"}
    args = ["pipeline", "-m", "experiment=optuna_tiny", f"hydra.sweeper.storage={storage}",
            f"hydra.sweeper.study_name={STUDY}", f"hydra.sweeper.sampler.seed={seed}",
            f"hydra.sweeper.n_trials={trials}", f"cache_dir={cwd / 'cache'}"]  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "ssl_ads", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def finish(worker: subprocess.Popen) -> None:
    out, err = worker.communicate(timeout=600)
    assert worker.returncode == 0, f"{out[-2000:]}\n{err[-4000:]}"


def completed(storage: str) -> list:
    study = optuna.load_study(study_name=STUDY, storage=storage)
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def best_values(cwd: Path) -> list[float]:
    """Best value each sweep process reported, oldest first."""
    files = sorted((cwd / "multirun" / "pipeline").glob("*/optimization_results.yaml"))
    return [yaml.safe_load(path.read_text())["best_value"] for path in files]


def test_two_workers_share_one_sqlite_study_and_a_third_run_resumes_it(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    workers = [start_worker(tmp_path, storage, seed, trials=1) for seed in (1, 2)]  # started at once
    for worker in workers:
        finish(worker)
    trials = completed(storage)
    assert sorted(t.number for t in trials) == [0, 1]  # both workers' trials, numbered by the study
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 2  # a seed each: different proposals
    sweeps = sorted((tmp_path / "multirun" / "pipeline").iterdir())
    assert len(sweeps) == 2  # one folder per process, though started in the same second
    assert all(sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0"] for sweep in sweeps)
    best = max(t.value for t in trials)
    assert max(best_values(tmp_path)) == pytest.approx(best)  # the best of the study, not of one process

    finish(start_worker(tmp_path, storage, seed=3, trials=1))  # resume
    resumed = completed(storage)
    assert sorted(t.number for t in resumed) == [0, 1, 2]
    assert {t.number: t.value for t in resumed if t.number < 2} == {t.number: t.value for t in trials}
    (new,) = (t.value for t in resumed if t.number == 2)
    assert best_values(tmp_path)[-1] == pytest.approx(max(best, new))  # the earlier best counts


def test_workers_opening_a_new_database_at_the_same_moment_all_finish(tmp_path):
    """Without the lock of ssl_ads/sweep_storage.py, optuna 2.10 failed 1 start in 6 here (three workers:
    UNIQUE constraint failed: alembic_version.version_num)."""
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.time() + 10  # after every worker has imported optuna (seconds on a loaded machine)
    command = [sys.executable, "-c", WORKER, url, str(start)]
    workers = [subprocess.Popen(command, env=env, text=True, stderr=subprocess.PIPE) for _ in range(4)]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-2000:]
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
