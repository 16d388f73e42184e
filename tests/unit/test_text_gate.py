"""The text classification task and its quality gate, checked against hand computations."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from ssl_ads.errors import DataError
from ssl_ads.tasks.quality_gate import GateAccuracy, GateCoverage, decisions_frame, gate
from ssl_ads.tasks.text_classification import TextClassification

PROBS = torch.tensor(
    [
        [0.90, 0.05, 0.05],  # forward, predicted 0, true 0 -> correct
        [0.20, 0.75, 0.05],  # forward, predicted 1, true 2 -> wrong
        [0.40, 0.35, 0.25],  # review
        [0.10, 0.10, 0.80],  # forward, predicted 2, true 2 -> correct
        [0.50, 0.50, 0.00],  # review (0.5 < 0.7)
    ]
)
TRUTH = torch.tensor([0, 2, 0, 2, 1])


def test_gate_coverage_and_forwarded_accuracy_match_a_hand_computation():
    coverage, accuracy = GateCoverage(0.7), GateAccuracy(0.7)
    coverage.update(PROBS[:2], TRUTH[:2])  # two batches, like an evaluation loop
    coverage.update(PROBS[2:], TRUTH[2:])
    accuracy.update(PROBS, TRUTH)
    assert coverage.compute().item() == pytest.approx(3 / 5)
    assert accuracy.compute().item() == pytest.approx(2 / 3)
    assert torch.isnan(GateAccuracy(0.99).forward(PROBS, TRUTH))


def test_decisions_frame_has_one_row_per_item():
    frame = decisions_frame(pl.Series("id", [10, 11, 12, 13, 14]), PROBS.numpy(), ["a", "b", "c"], 0.7, TRUTH.numpy())
    assert frame.columns == ["id", "predicted", "confidence", "decision", "label"]
    assert frame["decision"].to_list() == ["forward", "forward", "review", "forward", "review"]
    assert frame["predicted"].to_list()[:2] == ["a", "b"]
    assert frame["confidence"][0] == pytest.approx(0.9)
    _, _confidence, forwarded = gate(PROBS, 0.7)
    assert forwarded.float().mean().item() == pytest.approx((frame["decision"] == "forward").mean())


def test_labels_map_to_sorted_classes_and_metrics_cover_binary_and_multiclass():
    task = TextClassification(label="voice")
    codes = task.extract_labels(pl.DataFrame({"voice": ["luxury", "bargain", "playful", "bargain"]}), "copy.csv")
    assert task.classes == ["bargain", "luxury", "playful"] and codes.tolist() == [1, 0, 2, 0]
    assert task.make_head(8).out_features == 3
    binary = TextClassification(label="rec")
    assert binary.extract_labels(pl.DataFrame({"rec": [10, 2, 2]}), "r.csv").tolist() == [1, 0, 0]  # numeric order
    metrics = binary.metrics()
    logits = torch.tensor([[0.0, 3.0], [2.0, -1.0], [1.0, 0.0]])
    values = metrics(binary.predictions(logits), torch.tensor([1, 0, 1]))
    assert values["accuracy"].item() == pytest.approx(2 / 3)
    assert values["auroc"].item() == pytest.approx(1.0)
    # a one-column score (sklearn's binary decision function) becomes two class probabilities
    assert binary.predictions(torch.tensor([[0.0]])).tolist() == [[0.5, 0.5]]


def test_unusable_labels_name_the_column():
    with pytest.raises(DataError, match="'voice' has a single class"):
        TextClassification(label="voice").extract_labels(pl.DataFrame({"voice": ["a", "a"]}), "x.csv")
    with pytest.raises(DataError, match="label column 'brand' not found"):
        TextClassification(label="brand").extract_labels(pl.DataFrame({"voice": ["a", "b"]}), "x.csv")
    assert np.isfinite(TextClassification().gate_threshold)
