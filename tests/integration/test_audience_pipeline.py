"""Audience segments from a MovieLens user file, end to end: labels by config, the bag-of-items row, and a
baseline fitted on its label budget only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hydra import compose, initialize_config_dir

from ssl_ads.baselines.bag_of_items import fitted_models
from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.schema import register_configs
from ssl_ads.evaluation.context import build_context
from ssl_ads.evaluation.labeled import Downstream

N_USERS, N_EVENTS, N_ITEMS = 240, 12, 60
LABELS = "{gender_f: {column: gender, equals: F}, age_35: {column: age, at_least: 35}}"


def audience_files(directory: Path, seed: int = 0) -> tuple[Path, Path]:
    """u.data where women rate films 0-29 more often (men 30-59), and a u.user without the last 10 users."""
    rng = np.random.default_rng(seed)
    female = rng.random(N_USERS) < 0.4
    liked = rng.integers(0, 30, size=(N_USERS, N_EVENTS)) + np.where(female, 0, 30)[:, None]
    items = np.where(rng.random((N_USERS, N_EVENTS)) < 0.4, rng.integers(0, N_ITEMS, (N_USERS, N_EVENTS)), liked)
    users = np.arange(1, N_USERS + 1)
    events = pl.DataFrame(
        {
            "user": np.repeat(users, N_EVENTS),
            "item": items.ravel() + 1,
            "rating": np.full(N_USERS * N_EVENTS, 4),
            "time": 1_700_000_000 + np.arange(N_USERS * N_EVENTS),
        }
    )
    events.write_csv(directory / "u.data", separator="\t", include_header=False)
    profile = pl.DataFrame(
        {
            "user": users,
            "age": rng.integers(15, 70, N_USERS),
            "gender": np.where(female, "F", "M"),
            "occupation": "other",
            "zip": "00000",
        }
    ).head(N_USERS - 10)
    profile.write_csv(directory / "u.user", separator="|", include_header=False)
    return directory / "u.data", directory / "u.user"


def overrides(directory: Path) -> list[str]:
    data, user_file = audience_files(directory)
    return [
        "dataset=movielens", f"dataset.path={data}", f"dataset.user_file={user_file}", f"dataset.user_labels={LABELS}",
        "dataset.min_user_interactions=0", "dataset.min_item_interactions=0", "dataset.max_len=20",
        "task=conversion", "task.label=gender_f",
    ]  # fmt: skip


def test_the_bag_of_items_fit_reads_its_label_budget_only(tmp_path):
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["stage=pipeline", f"cache_dir={tmp_path}", *overrides(tmp_path)])
    downstream = Downstream(build_context(cfg, directory=tmp_path / "run"))
    assert len(downstream.train) + len(downstream.val) + len(downstream.test) == N_USERS - 10  # no label, no fit

    def coefficients() -> list[np.ndarray]:
        return [model.coef_.copy() for _, _, model, _ in fitted_models(downstream, [0.3, 1.0])[1]]

    before = coefficients()
    for rows in (downstream.val, downstream.test):  # every validation and test label flipped
        downstream.labels[rows] = 1 - downstream.labels[rows]
    for fitted, refitted in zip(before, coefficients(), strict=True):
        assert np.array_equal(fitted, refitted)
    budget = downstream.budget_rows(1.0)
    downstream.labels[budget] = 1 - downstream.labels[budget]  # the control: the budget's labels do move it
    assert not np.allclose(before[1], coefficients()[1])


@pytest.fixture(scope="module")
def audience_run(tmp_path_factory, cli_in):
    cwd = tmp_path_factory.mktemp("audience")
    tiny = [
        "encoder.dim=16", "encoder.layers=1", "encoder.ff_dim=32", "pretrain.max_epochs=1", "probe.max_epochs=3",
        "finetune.max_epochs=1", "online_probe.every_n_steps=0", "label_fractions=[0.2,1.0]",
        "trainer.enable_progress_bar=false",
    ]  # fmt: skip
    result = cli_in(cwd, "pipeline", *overrides(cwd), *tiny)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (cwd / "outputs" / "pipeline").iterdir()
    return result, json.loads((run_dir / "metrics.json").read_text())


def test_an_attribute_label_runs_as_a_user_task_with_a_bag_of_items_row(audience_run):
    result, metrics = audience_run
    assert "bag-of-items-baseline" in result.stdout and "gender_f" in result.stdout
    baseline = [r for r in metrics["results"] if r["encoder"] == "bag-of-items"]
    assert [(r["mode"], r["label_fraction"]) for r in baseline] == [("baseline", 0.2), ("baseline", 1.0)]
    for row in baseline:
        assert row["metrics"]["test_auroc"] > 0.8  # gender is written into the films each user rates
        assert "test_auroc" in row["intervals"]
    assert {(r["encoder"], r["mode"]) for r in metrics["results"]} >= {("scratch", "finetune"), ("pretrained", "probe")}
    steps = {s["name"]: s["removed"] for s in metrics["data_report"]["steps"]}
    unlabeled = [count for name, count in steps.items() if "task.label='gender_f'" in name]
    assert unlabeled == [10]  # users without a row in the user file: counted, not silently dropped


def test_an_unknown_user_file_column_fails_before_any_training(tmp_path, cli):
    labels = "dataset.user_labels={women: {column: sex, equals: F}}"
    chosen = [o for o in overrides(tmp_path) if not o.startswith(("dataset.user_labels=", "task.label="))]
    result = cli("pipeline", *chosen, labels, "task.label=women")
    assert result.returncode != 0
    assert "dataset.user_labels.women.column: 'sex' is not a column" in result.stderr + result.stdout
