"""An Optuna study's SQLite database, set up once under a lock so workers started together do not collide."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssl_ads.errors import ConfigError
from ssl_ads.sweep_storage import prepare_storage, sqlite_path

optuna = pytest.importorskip("optuna", reason="the sweep extra is not installed")


def test_only_sqlite_files_are_prepared():
    assert sqlite_path("sqlite:///runs/optuna.db") == Path("runs/optuna.db")
    assert sqlite_path("sqlite:////abs/optuna.db?timeout=30") == Path("/abs/optuna.db")
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql://host/db") is None and sqlite_path(None) is None
    assert sqlite_path("sqlite:///${hydra:runtime.cwd}/o.db") is None  # left to the sweeper, resolved


def test_a_prepared_database_holds_a_study_that_resumes(tmp_path):
    url = f"sqlite:///{tmp_path / 'new' / 'optuna.db'}"  # the folder is created too
    prepare_storage({"storage": url})
    for _ in range(2):
        study = optuna.create_study(storage=url, study_name="s", load_if_exists=True)
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 2


def test_a_file_that_is_not_a_database_is_a_config_error(tmp_path):
    (tmp_path / "notes.db").write_text("not a database\n" * 100)
    with pytest.raises(ConfigError, match=r"hydra\.sweeper\.storage=sqlite:///.*notes\.db: cannot open it"):
        prepare_storage({"storage": f"sqlite:///{tmp_path / 'notes.db'}"})
