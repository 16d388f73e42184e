"""What a shipped model decides from its scores: a binary threshold, the text quality gate, or the top class.

A score alone does not say what to do with an impression; the model bundle therefore carries one decision rule,
chosen when the model was fitted and never on test rows:
- binary tasks: the threshold with the best F1 on the fit's validation rows (the rows that selected its epoch);
- tasks with a quality gate (`task.gate_threshold`): forward when the top class probability reaches it, else
  review;
- other multi-class tasks: the most probable class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import torch

from ssl_ads.tasks.quality_gate import gate

THRESHOLD_RULE = "best F1 on the fit's validation rows"


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """`(threshold, F1)`: predicting 1 where `score >= threshold` maximises F1 over `labels` (0/1).

    One sort and one cumulative sum: every distinct score is a candidate cut (the last of a run of ties, so tied
    rows always land on the same side).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    positives = int(labels.sum())
    if len(scores) == 0 or positives == 0:
        return 0.5, 0.0
    order = np.argsort(-scores, kind="stable")
    ordered = scores[order]
    true_pos = np.cumsum(labels[order])
    flagged = np.arange(1, len(scores) + 1)
    cut = np.r_[ordered[1:] != ordered[:-1], True]  # the last row of each run of equal scores
    f1 = np.where(cut, 2.0 * true_pos / (flagged + positives), -1.0)
    best = int(np.argmax(f1))
    return float(ordered[best]), float(f1[best])


def choose_decision(task: Any, predictions: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
    """The decision rule of one fitted model, from its predictions on the validation rows (plain values)."""
    if task.gate_threshold is not None:
        return {
            "kind": "gate",
            "threshold": float(task.gate_threshold),
            "rule": "forward when the top class probability reaches task.gate_threshold, else review",
        }
    if predictions.ndim == 1:
        threshold, f1 = best_f1_threshold(predictions.numpy(), labels)
        return {"kind": "threshold", "threshold": threshold, "rule": THRESHOLD_RULE, "val_f1": f1}
    return {"kind": "argmax", "rule": "the most probable class"}


def decision_columns(decision: dict[str, Any], predictions: torch.Tensor, classes: list[str]) -> list[pl.Series]:
    """Output columns for `predictions` (`task.predictions`): binary `score` + `predicted` (0/1 at the threshold);
    multi-class `predicted` (class label) + `confidence`, and with a gate its `decision` (forward / review)."""
    if predictions.ndim == 1:
        scores = predictions.float().numpy()
        threshold = float(decision.get("threshold", 0.5))
        return [pl.Series("score", scores, dtype=pl.Float32), pl.Series("predicted", scores >= threshold).cast(pl.Int8)]
    if decision.get("kind") == "gate":
        predicted, confidence, forwarded = gate(predictions, float(decision["threshold"]))
    else:
        confidence, predicted = predictions.max(dim=-1)
        forwarded = None
    names = np.asarray(classes if classes else [str(i) for i in range(predictions.shape[-1])], dtype=object)
    columns = [
        pl.Series("predicted", names[predicted.numpy()], dtype=pl.String),
        pl.Series("confidence", confidence.float().numpy(), dtype=pl.Float32),
    ]
    if forwarded is not None:
        columns.append(pl.Series("decision", np.where(forwarded.numpy(), "forward", "review"), dtype=pl.String))
    return columns
