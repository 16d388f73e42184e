"""The quality gate: forward an item automatically when the top class probability reaches a threshold,
otherwise route it to human review; coverage and accuracy on the forwarded share say what it buys."""

from __future__ import annotations

import numpy as np
import polars as pl
import torch
from torch import Tensor
from torchmetrics import Metric


def gate(probs: Tensor, threshold: float) -> tuple[Tensor, Tensor, Tensor]:
    """(predicted class, confidence = top probability, forwarded = confidence >= threshold)."""
    confidence, predicted = probs.max(dim=-1)
    return predicted, confidence, confidence >= threshold


class _GateCounts(Metric):
    """Counts items, forwarded items and correct forwarded items over a whole evaluation."""

    full_state_update = False

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.threshold = threshold
        for name in ("total", "forwarded", "correct"):
            self.add_state(name, default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, probs: Tensor, target: Tensor) -> None:
        predicted, _, forwarded = gate(probs, self.threshold)
        self.total += target.numel()
        self.forwarded += forwarded.sum()
        self.correct += (forwarded & (predicted == target)).sum()


class GateCoverage(_GateCounts):
    """Share of items forwarded without review."""

    def compute(self) -> Tensor:
        return self.forwarded.float() / self.total.clamp_min(1)


class GateAccuracy(_GateCounts):
    """Accuracy on the forwarded items (NaN when nothing is forwarded)."""

    def compute(self) -> Tensor:
        if self.forwarded == 0:
            return torch.tensor(float("nan"))
        return self.correct.float() / self.forwarded.float()


def decisions_frame(
    ids: pl.Series, probs: np.ndarray, classes: list[str], threshold: float, truth: np.ndarray | None = None
) -> pl.DataFrame:
    """One row per item: id, predicted label, confidence and `forward` / `review` (plus the true label)."""
    predicted, confidence, forwarded = (t.numpy() for t in gate(torch.as_tensor(probs), threshold))
    names = np.asarray(classes, dtype=object)
    frame = pl.DataFrame(
        {
            "id": ids,
            "predicted": pl.Series(names[predicted], dtype=pl.String),
            "confidence": pl.Series(confidence, dtype=pl.Float32),
            "decision": pl.Series(np.where(forwarded, "forward", "review"), dtype=pl.String),
        }
    )
    if truth is not None:
        frame = frame.with_columns(pl.Series("label", names[truth.astype(np.int64)], dtype=pl.String))
    return frame


def test_decisions(module: torch.nn.Module, task, arrays: dict, test_rows: np.ndarray, rows: pl.DataFrame, run: str):
    """The gate's decisions for the test rows of one fitted downstream model (best checkpoint loaded)."""
    from ssl_ads.data.batches import batch_loader

    module.eval()
    with torch.inference_mode():
        probs = torch.cat([task.predictions(module(batch)) for batch in batch_loader(arrays, test_rows, 1024, False)])
    truth = np.asarray(arrays["label"])[test_rows]
    frame = decisions_frame(rows["id"][test_rows], probs.numpy(), task.classes, task.gate_threshold, truth)
    return frame.select(pl.lit(run).alias("run"), pl.all())


def write_decisions(path, frames: list[pl.DataFrame]) -> None:
    """All runs' decisions so far in one parquet file, replaced atomically."""
    from ssl_ads.data.io import save_atomic

    save_atomic(path, lambda tmp: pl.concat(frames, how="vertical_relaxed").write_parquet(tmp))
