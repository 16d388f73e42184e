"""`task=intent`: topics map to class indices, and the metrics are accuracy and macro-F1."""

from __future__ import annotations

import polars as pl
import pytest
import torch

from ssl_ads.errors import DataError
from ssl_ads.tasks.intent import IntentTask


def test_intent_maps_topics_and_scores_accuracy_and_macro_f1():
    task = IntentTask()
    codes = task.extract_labels(pl.DataFrame({"intent_topic": [7, 3, 3, 11]}), "users")
    assert codes.tolist() == [1, 0, 0, 2]
    head = task.make_head(4)
    assert head.out_features == 3
    metrics = task.metrics()
    logits = torch.tensor([[0.0, 5.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 5.0], [0.0, 0.0, 5.0]])
    metrics.update(task.predictions(logits), torch.tensor(codes))
    scores = metrics.compute()
    assert scores["accuracy"] == pytest.approx(0.75)
    assert scores["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)  # class 0: p=1, r=.5; class 2: p=.5, r=1
    assert task.loss(logits, torch.tensor(codes)) > 0


def test_intent_needs_the_label_column():
    with pytest.raises(DataError, match="intent_topic"):
        IntentTask().extract_labels(pl.DataFrame({"other": [1, 2]}), "users")
