"""Ranking metrics against a brute-force reference, score masking, and the leave-one-out split."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from ssl_ads.tasks.leave_one_out import leave_one_out
from ssl_ads.tasks.ranking_metrics import mask_scores, ranking_metrics, target_ranks


def _brute_force(scores: torch.Tensor, targets: torch.Tensor, k: int) -> dict[str, float]:
    """Sort every row (stable, so ties go to the lower id) and look the target up, one row at a time."""
    hr = ndcg = mrr = 0.0
    for row, target in zip(scores.tolist(), targets.tolist(), strict=True):
        order = sorted(range(len(row)), key=lambda i: -row[i])
        rank = order.index(target)
        if rank < k:
            hr += 1
            ndcg += 1 / math.log2(rank + 2)
            mrr += 1 / (rank + 1)
    n = len(targets)
    return {f"hr@{k}": hr / n, f"ndcg@{k}": ndcg / n, f"mrr@{k}": mrr / n}


def test_metrics_match_brute_force_on_random_scores():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(300, 57, generator=gen)
    targets = torch.randint(0, 57, (300,), generator=gen)
    metrics = ranking_metrics(target_ranks(scores, targets), (5, 10, 20))
    for k in (5, 10, 20):
        for name, value in _brute_force(scores, targets, k).items():
            assert abs(metrics[name].mean().item() - value) < 1e-9, name


def test_ties_are_broken_towards_the_lower_item_id_like_a_stable_sort():
    gen = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 4, (200, 30), generator=gen).float()  # many ties
    targets = torch.randint(0, 30, (200,), generator=gen)
    metrics = ranking_metrics(target_ranks(scores, targets), (10,))
    for name, value in _brute_force(scores, targets, 10).items():
        assert abs(metrics[name].mean().item() - value) < 1e-9, name


def test_mask_scores_drops_pad_oov_and_optionally_seen_items_but_never_the_target():
    scores = torch.arange(10, dtype=torch.float32).repeat(2, 1)  # item 9 scores highest
    targets = torch.tensor([9, 5])
    masked = mask_scores(scores)
    assert masked[0, 0] < -1e30 and masked[0, 1] < -1e30
    assert target_ranks(masked, targets).tolist() == [0, 4]
    seen = torch.tensor([[0, 9, 8], [0, 9, 5]])  # row 0 saw its own target before
    excluded = mask_scores(scores, seen, targets)
    assert target_ranks(excluded, targets).tolist() == [0, 3]  # row 1: 9 is excluded, 8, 7 and 6 remain above


def test_leave_one_out_holds_out_the_last_two_events_and_trains_on_all_the_rest():
    width, window = 12, 3
    lengths = np.array([10, 3, 2, 12])
    items = np.zeros((4, width), dtype=np.int32)
    for row, n in enumerate(lengths):  # events numbered 100*row + 1..n, left-padded
        items[row, width - n :] = 100 * row + np.arange(1, n + 1)
    loo = leave_one_out({"items": items}, lengths, window=window, stride=window)
    assert loo.users.tolist() == [0, 1, 3]  # two events are too few
    assert loo.test["target"].tolist() == [10, 103, 312]
    assert loo.val["target"].tolist() == [9, 102, 311]
    assert loo.test["items"].tolist()[0] == [7, 8, 9]
    assert loo.val["items"].tolist()[1] == [0, 0, 101]
    assert loo.truncated_users == 1
    windows = loo.train["items"]
    assert windows.shape[1] == window + 1
    for user, n in ((0, 10), (1, 3), (3, 12)):
        rows = windows[loo.train_user == user]
        targets = [b for r in rows for a, b in itertools.pairwise(r) if a and b]
        # Every training event except the first is predicted exactly once; held-out events never appear.
        assert sorted(targets) == [100 * user + e for e in range(2, n - 1)]
        assert not np.isin(rows, [100 * user + n - 1, 100 * user + n]).any()
    assert loo.n_train_targets == (10 - 3) + (3 - 3) + (12 - 3)
    arrays, train_rows, val_rows = loo.pretrain_arrays()
    assert not np.isin(arrays["items"], loo.test["target"]).any()
    assert arrays["items"][val_rows][:, -1].tolist() == loo.val["target"].tolist()
    assert len(train_rows) == len(loo.train_user)
