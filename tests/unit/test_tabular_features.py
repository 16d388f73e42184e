"""The tabular featurizer: fitted on train rows only, round-trips through its state, maps unseen values to OOV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ssl_ads.data.tabular_dataset import TabularDataset, TabularSource
from ssl_ads.data.tabular_features import cardinalities, fit_state, transform
from ssl_ads.data.vocab_ids import MISSING_ID, OOV_ID
from ssl_ads.errors import ConfigError

SETTINGS = {"min_count": 1, "max_vocab": 100, "hash_buckets": 0, "numeric_transform": "auto", "quantile_bins": 10}


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "site": ["a", "a", "a", "b", "b", "c", None, "a"],
            "clicks": [0, 1, 0, 2, 500, 3, 1, 0],  # skewed counts → log1p
            "price": [1.0, 2.0, None, 4.0, 5.0, float("nan"), 7.0, 8.0],
            "empty_num": pl.Series([None] * 8, dtype=pl.Float64),
            "empty_cat": pl.Series([None] * 8, dtype=pl.String),
        }
    )


def test_vocabulary_ids_missing_oov_and_min_count():
    frame = _frame()
    state = fit_state(frame, ["site", "empty_cat"], [], {**SETTINGS, "min_count": 2})
    assert state["categorical"][0]["values"] == ["a", "b"]  # "c" is seen once: below min_count
    cat, _, _ = transform(frame, state)
    assert cat[:, 0].tolist() == [2, 2, 2, 3, 3, OOV_ID, MISSING_ID, 2]
    assert (cat[:, 1] == MISSING_ID).all()  # an all-missing column maps every row to the missing id
    assert cardinalities(state) == [4, 2]
    unseen, _, _ = transform(pl.DataFrame({"site": ["zzz", "b"], "empty_cat": ["x", None]}), state)
    assert unseen.tolist() == [[OOV_ID, OOV_ID], [3, MISSING_ID]]


def test_numeric_transform_missing_indicators_and_all_missing_column():
    frame = _frame()
    state = fit_state(frame, [], ["clicks", "price", "empty_num"], SETTINGS)
    _, num, names = transform(frame, state)
    assert names == ["clicks", "price", "empty_num", "price_missing", "empty_num_missing"]
    by_name = {s["name"]: s for s in state["numeric"]}
    assert by_name["clicks"]["log1p"] and not by_name["price"]["log1p"]
    expected = (np.log1p([0, 1, 0, 2, 500, 3, 1, 0]) - by_name["clicks"]["center"]) / by_name["clicks"]["scale"]
    np.testing.assert_allclose(num[:, 0], expected, rtol=1e-5)
    # NaN counts as missing: value 0 (the train mean after standardising) and indicator 1
    assert num[[2, 5], 1].tolist() == [0.0, 0.0] and num[:, 3].tolist() == [0, 0, 1, 0, 0, 1, 0, 0]
    assert (num[:, 2] == 0).all() and (num[:, 4] == 1).all()
    present = num[:, 3] == 0
    assert abs(num[present, 1].mean()) < 1e-5


def test_quantile_transform_is_monotone_and_bounded():
    frame = pl.DataFrame({"x": np.random.default_rng(0).exponential(size=500)})
    state = fit_state(frame, [], ["x"], {**SETTINGS, "numeric_transform": "quantile"})
    _, num, _ = transform(frame, state)
    order = np.argsort(frame.get_column("x").to_numpy())
    assert (np.diff(num[order, 0]) >= 0).all()
    assert np.abs(num).max() <= np.sqrt(3) + 1e-6 and abs(num.mean()) < 0.1


def test_hashing_for_huge_cardinality_is_deterministic_and_bounded():
    frame = pl.DataFrame({"device_ip": [f"ip{i}" for i in range(300)]})
    state = fit_state(frame, ["device_ip"], [], {**SETTINGS, "max_vocab": 50, "hash_buckets": 64})
    assert state["categorical"][0] == {"name": "device_ip", "kind": "hash", "buckets": 64}
    cat, _, _ = transform(frame, state)
    again, _, _ = transform(frame.reverse(), state)
    assert cat.min() >= 2 and cat.max() < 66 and len(np.unique(cat)) > 40
    np.testing.assert_array_equal(cat[::-1], again)


def test_new_rows_written_with_spaces_after_commas_map_as_the_trimmed_training_values():
    """A UCI-style CSV (`25, Private, 40`) read by a serving reader keeps the spaces; the training readers trimmed
    them before fitting, so the featurizer trims too: no value turns unseen, no number turns missing."""
    train = pl.DataFrame({"workclass": ["Private", "State-gov", None], "hours": ["40", "12.5", None]})
    state = fit_state(train, ["workclass"], ["hours"], {**SETTINGS, "hash_buckets": 0})
    spaced = pl.DataFrame({"workclass": [" Private", "State-gov ", "  "], "hours": [" 40", "12.5 ", " "]})
    for got, expected in zip(transform(spaced, state), transform(train, state), strict=True):
        np.testing.assert_array_equal(got, expected)
    hashed = fit_state(train, ["workclass"], [], {**SETTINGS, "max_vocab": 1, "hash_buckets": 16})
    np.testing.assert_array_equal(transform(spaced, hashed)[0], transform(train, hashed)[0])


def test_state_round_trips_through_json():
    frame = _frame()
    state = fit_state(frame, ["site"], ["clicks", "price"], SETTINGS)
    restored = json.loads(json.dumps(state))
    for a, b in zip(transform(frame, state)[:2], transform(frame, restored)[:2], strict=True):
        np.testing.assert_array_equal(a, b)


class _Table(TabularDataset):
    """A tiny in-memory data set: values that occur only outside the train split must map to OOV."""

    def __init__(self, frame: pl.DataFrame) -> None:
        super().__init__()
        self.frame = frame

    def source(self, cache_dir: Path) -> TabularSource:
        return TabularSource(self.frame, ["field"], ["value"], ["label"], "in-memory")

    def fingerprint(self) -> dict:
        return {"rows": self.frame.height, "hash": int(self.frame.hash_rows().sum())}


def test_featurize_fits_on_train_rows_only_and_reuses_a_given_state(tmp_path):
    from ssl_ads.data.split import SplitSettings, split_rows

    n = 200
    frame = pl.DataFrame(
        {"field": [f"v{i}" for i in range(n)], "value": np.arange(n, dtype=float), "label": [i % 2 for i in range(n)]}
    )
    dataset = _Table(frame)
    data = dataset.featurize(tmp_path, split=SplitSettings(0.2, 0.2, seed=3))
    split = split_rows(n, 0.2, 0.2, 3)
    assert data.split is not None and np.array_equal(data.split.train, split.train)  # what the stages evaluate on
    cat = np.asarray(data.inputs["cat"])[:, 0]
    assert (cat[split.train] >= 2).all()  # every train value is in the vocabulary (each seen once)
    assert (cat[np.concatenate([split.val, split.test])] == OOV_ID).all()  # never fitted on held-out rows
    kwargs = data.encoder_kwargs
    assert (kwargs["cardinalities"], kwargs["num_numeric"]) == ([2 + len(split.train)], 1)
    # the numeric embeddings' bins: quantiles of the standardised train values only
    spec = data.state["numeric"][0]
    train_scaled = (np.sort(frame.get_column("value").to_numpy()[split.train]) - spec["center"]) / spec["scale"]
    assert kwargs["numeric_quantiles"][0][0] == pytest.approx(train_scaled[0], abs=1e-5)
    assert kwargs["numeric_quantiles"][0][-1] == pytest.approx(train_scaled[-1], abs=1e-5)
    train_values = frame.get_column("value").to_numpy()[split.train]
    assert data.state["numeric"][0]["center"] == pytest.approx(train_values.mean())
    # a new table through the saved state maps identically (what a checkpoint's featurizer does)
    other = _Table(frame.head(50))
    again = other.featurize(tmp_path, state=data.state)
    np.testing.assert_array_equal(np.asarray(again.inputs["cat"]), np.asarray(data.inputs["cat"])[:50])
    assert data.rows.columns == ["row_id", "label"]


def test_bad_featurizer_settings_name_the_key():
    with pytest.raises(ConfigError, match="numeric_transform"):
        TabularDataset(numeric_transform="zscore")
    with pytest.raises(ConfigError, match="min_count"):
        TabularDataset(min_count=0)


def test_encoder_kwargs_of_a_state_fitted_before_numeric_quantiles():
    from ssl_ads.data.tabular_features import encoder_kwargs

    meta = {"cardinalities": [4, 3], "numeric": ["x", "x_missing"]}
    assert encoder_kwargs(meta, {"categorical": [], "numeric": []}) == {"cardinalities": [4, 3], "num_numeric": 2}
    with_quantiles = encoder_kwargs(meta, {"numeric_quantiles": [[0.0, 1.0], [0.0, 0.0]]})
    assert with_quantiles["numeric_quantiles"] == [[0.0, 1.0], [0.0, 0.0]]
