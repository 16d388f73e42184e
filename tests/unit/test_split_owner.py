"""One owner of the split: the featurizer fits on the very split the stages evaluate, groups included.

The leak these tests refuse: with `task.split_by=user_id` (fraud), the tabular featurizer used to fit its
vocabularies and quantiles on a *row* split, so values seen only in a test user's impressions entered the
vocabulary through that user's other rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.schema import register_configs
from ssl_ads.data.split import final_split, split_groups, split_rows
from ssl_ads.data.tabular_features import OOV_ID
from ssl_ads.data.tabular_source import TabularDataset, TabularSource
from ssl_ads.stages.context import build_context


def compose_run(*overrides: str):
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=["stage=pipeline", *overrides])


class _Impressions(TabularDataset):
    """Users with 5 impressions each; a user's `site` and extreme `spend` occur in that user's rows only."""

    def __init__(self, n_users: int = 120) -> None:
        super().__init__()
        users = np.repeat(np.arange(n_users), 5)
        spend = (users % 7).astype(float)
        self.frame = pl.DataFrame(
            {
                "user_id": users,
                "site": [f"site_of_{u}" for u in users],
                "spend": spend + 1e6 * (users == n_users - 1),  # one user's huge value
                "label": (users % 3 == 0).astype(np.int8),
            }
        )

    def source(self, cache_dir: Path) -> TabularSource:
        return TabularSource(self.frame, ["site"], ["spend"], ["label"], "in-memory", keys=["user_id"])

    def fingerprint(self) -> dict:
        return {"rows": self.frame.height, "split": self.split_settings}


def test_a_group_split_fits_the_vocabulary_on_train_users_only(tmp_path):
    dataset = _Impressions()
    dataset.use_split(0.2, 0.2, seed=1, split_by="user_id")
    data = dataset.featurize(tmp_path)
    split = final_split(data.rows, **dataset.split_settings)
    users = data.rows.get_column("user_id").to_numpy()
    assert not set(users[split.train]) & set(users[split.test])  # whole users per split
    cat = np.asarray(data.inputs["cat"])[:, 0]
    assert (cat[split.train] != OOV_ID).all()
    assert (cat[split.test] == OOV_ID).all()  # every test user's own site is unknown to the featurizer
    vocabulary = set(data.state["categorical"][0]["values"])
    assert vocabulary == {f"site_of_{u}" for u in set(users[split.train])}


def test_the_row_split_would_have_leaked_what_the_group_split_refuses(tmp_path):
    """The same data split by row: test users' sites reach the vocabulary through their train rows."""
    dataset = _Impressions()
    dataset.use_split(0.2, 0.2, seed=1)
    data = dataset.featurize(tmp_path)
    users = data.rows.get_column("user_id").to_numpy()
    group_test = split_groups(users, 0.2, 0.2, 1).test
    cat = np.asarray(data.inputs["cat"])[:, 0]
    assert (cat[group_test] != OOV_ID).mean() > 0.5


def test_numeric_statistics_come_from_train_groups_only(tmp_path):
    dataset = _Impressions()
    outlier = dataset.frame.get_column("user_id").max()
    for seed in range(20):  # a seed whose group split puts the outlier user in test
        split = split_groups(dataset.frame.get_column("user_id").to_numpy(), 0.2, 0.2, seed)
        if outlier in set(dataset.frame.get_column("user_id").to_numpy()[split.test]):
            break
    dataset.use_split(0.2, 0.2, seed=seed, split_by="user_id")
    data = dataset.featurize(tmp_path)
    spec = data.state["numeric"][0]
    assert spec["center"] < 10 and spec["scale"] < 10  # the test user's 1e6 never entered the scaler
    assert max(max(q) for q in data.encoder_kwargs["numeric_quantiles"]) < 10


def test_the_stages_evaluate_on_the_split_the_featurizer_fitted_on(tmp_path):
    """`build_context` with task=fraud: the stage split is the group split, and the featurizer says so."""
    cfg = compose_run("experiment=tabular_tiny", "task=fraud", f"cache_dir={tmp_path}")
    ctx = build_context(cfg, directory=tmp_path / "run")
    users = ctx.data.rows.get_column("user_id").to_numpy()
    assert not set(users[ctx.split.train]) & (set(users[ctx.split.val]) | set(users[ctx.split.test]))
    expected = split_groups(users, cfg.val_share, cfg.test_share, cfg.seed)
    np.testing.assert_array_equal(ctx.split.test, expected.test)
    assert "user_id" in ctx.data.meta["fitted_on"]
    row_split = split_rows(len(users), cfg.val_share, cfg.test_share, cfg.seed)
    assert not np.array_equal(ctx.split.test, row_split.test)
    assert instantiate(cfg.task).split_by == "user_id"
