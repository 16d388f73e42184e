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
from ssl_ads.data.split import SplitSettings, final_split, split_groups, split_rows
from ssl_ads.data.tabular_dataset import TabularDataset, TabularSource
from ssl_ads.data.tabular_features import fit_state
from ssl_ads.data.vocab_ids import OOV_ID
from ssl_ads.evaluation.context import build_context


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
        return {"rows": self.frame.height}  # the featurizer adds the split to its cache key


def test_a_group_split_fits_the_vocabulary_on_train_users_only(tmp_path):
    dataset = _Impressions()
    data = dataset.featurize(tmp_path, split=SplitSettings(0.2, 0.2, seed=1, split_by="user_id"))
    split = data.split
    expected = final_split(data.rows, 0.2, 0.2, 1, split_by="user_id")
    assert all(np.array_equal(getattr(split, part), getattr(expected, part)) for part in ("train", "val", "test"))
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
    data = dataset.featurize(tmp_path, split=SplitSettings(0.2, 0.2, seed=1))
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
    data = dataset.featurize(tmp_path, split=SplitSettings(0.2, 0.2, seed=seed, split_by="user_id"))
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
    assert ctx.split is ctx.data.split  # computed once, by the featurizer, and evaluated on as it is
    row_split = split_rows(len(users), cfg.val_share, cfg.test_share, cfg.seed)
    assert not np.array_equal(ctx.split.test, row_split.test)
    assert instantiate(cfg.task).split_by == "user_id"


def test_fraud_fits_its_quantiles_and_vocabularies_on_its_own_training_users(tmp_path):
    """task=fraud (`split_by: user_id`): the fitted state is exactly what the training users' rows of the evaluated
    split give, and not what a row split's training rows give (so a featurizer fitted on rows fails here)."""
    cfg = compose_run("experiment=tabular_tiny", "task=fraud", f"cache_dir={tmp_path}")
    ctx = build_context(cfg, directory=tmp_path / "run")
    dataset = instantiate(cfg.dataset)
    source = dataset.source(tmp_path)  # the featurized rows are the source's rows, in order
    assert source.frame.height == ctx.data.num_rows
    users = source.frame.get_column("user_id").to_numpy()
    assert not set(users[ctx.split.train]) & (set(users[ctx.split.val]) | set(users[ctx.split.test]))

    def fitted(rows: np.ndarray) -> dict:
        return fit_state(source.frame[rows], source.categorical, source.numeric, dataset.featurizer_settings())

    assert ctx.data.state == fitted(ctx.split.train)
    row_train = split_rows(len(users), cfg.val_share, cfg.test_share, cfg.seed).train
    on_rows = fitted(row_train)
    assert ctx.data.state["numeric_quantiles"] != on_rows["numeric_quantiles"]
    assert [c.get("values") for c in ctx.data.state["categorical"]] != [c.get("values") for c in on_rows["categorical"]]


def test_a_cached_featurization_keeps_its_split_and_another_split_is_another_entry(tmp_path):
    dataset = _Impressions()
    by_user = SplitSettings(0.2, 0.2, seed=1, split_by="user_id")
    built = dataset.featurize(tmp_path, split=by_user)
    cached = dataset.featurize(tmp_path, split=by_user)
    assert cached.meta["cache_dir"] == built.meta["cache_dir"]
    users = dataset.frame.get_column("user_id").to_numpy()
    for part in ("train", "val", "test"):
        expected = getattr(split_groups(users, 0.2, 0.2, 1), part)
        np.testing.assert_array_equal(getattr(cached.split, part), expected)
        assert getattr(cached.split, part).dtype == expected.dtype
    by_row = dataset.featurize(tmp_path, split=SplitSettings(0.2, 0.2, seed=1))
    assert by_row.meta["cache_dir"] != built.meta["cache_dir"]
    np.testing.assert_array_equal(by_row.split.test, split_rows(by_row.num_rows, 0.2, 0.2, 1).test)
