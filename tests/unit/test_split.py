"""User splits and label-fraction sampling."""

from __future__ import annotations

import numpy as np
import pytest

from ssl_ads.data.split import sample_fraction, split_groups, split_rows
from ssl_ads.errors import DataError


def test_split_is_disjoint_complete_and_seeded():
    split = split_rows(1000, 0.1, 0.1, seed=3)
    together = np.concatenate([split.train, split.val, split.test])
    assert sorted(together) == list(range(1000))
    assert len(split.val) == 100 and len(split.test) == 100
    again = split_rows(1000, 0.1, 0.1, seed=3)
    assert np.array_equal(split.test, again.test)
    assert not np.array_equal(split.test, split_rows(1000, 0.1, 0.1, seed=4).test)


def test_fraction_sampling_is_stratified_nested_and_keeps_both_classes():
    rng = np.random.default_rng(0)
    labels = (rng.random(5000) < 0.1).astype(np.float32)
    indices = np.arange(4000)
    small = sample_fraction(indices, labels, 0.01, seed=0)
    large = sample_fraction(indices, labels, 0.1, seed=0)
    assert set(small) <= set(large)
    positives = labels[indices].sum()
    assert labels[large].sum() == round(0.1 * positives)
    assert len(np.unique(labels[small])) == 2
    assert len(sample_fraction(indices, labels, 1.0, seed=0)) == 4000
    # A tiny fraction still keeps one example of each class.
    assert set(labels[sample_fraction(indices, labels, 1e-5, seed=0)]) == {0.0, 1.0}


def test_bad_shares_are_clear_errors():
    with pytest.raises(DataError, match="val_share"):
        split_rows(100, 0.6, 0.5, seed=0)
    with pytest.raises(DataError, match="too few"):
        split_rows(3, 0.1, 0.1, seed=0)


def test_group_split_keeps_every_group_in_one_split_and_is_seeded():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 300, 6000)  # 300 users with ~20 rows each, interleaved
    split = split_groups(groups, 0.1, 0.2, seed=5)
    together = np.concatenate([split.train, split.val, split.test])
    assert sorted(together) == list(range(len(groups)))
    parts = [set(groups[rows]) for rows in (split.train, split.val, split.test)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert abs(len(split.val) / len(groups) - 0.1) < 0.02 and abs(len(split.test) / len(groups) - 0.2) < 0.02
    again = split_groups(groups, 0.1, 0.2, seed=5)
    assert np.array_equal(split.test, again.test)
    assert not np.array_equal(split.test, split_groups(groups, 0.1, 0.2, seed=6).test)


def test_group_split_with_too_few_groups_is_a_clear_error():
    with pytest.raises(DataError, match="too few"):
        split_groups(np.array([1, 1, 1, 2, 2]), 0.1, 0.1, seed=0)
