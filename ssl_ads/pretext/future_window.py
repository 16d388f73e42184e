"""Forecast what a user does next from what they did before: the future-window objective.

Masked-item modelling shapes the user vector by which items co-occur; how active a user is, and how much of that
activity buys, are then minor directions of it that a probe with a few dozen labels does not find (churn and
conversion are made of them). This objective, after PinnerFormer's dense all-action loss (Pancha et al., 2022),
cuts each history `days` before its end: the encoder reads the part before the cut, and its pooled user vector
predicts the log count of events after it, in all and per side-field value (clicks, carts, purchases). The
targets come from the unlabeled log before any label window, so no label is read; the cut is made in the batch,
from each event's age (`age_days`, written by the sequence featurizer), with no second copy of the data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_ads.data.sequence_features import AGE_KEY
from ssl_ads.errors import ConfigError

HEADS = ("linear", "mlp")


class FutureWindow(nn.Module):
    """A head from the pooled user vector to `1 + Σ side values` log counts of the events after the cut.
    `linear` (the default) makes what the user vector forecasts a direction in it, which a linear probe reads;
    `mlp` (one hidden GELU layer) lets the forecast be non-linear in it."""

    def __init__(self, dim: int, side_vocab_sizes: dict[str, int], days: float, head: str = "linear") -> None:
        super().__init__()
        if days <= 0:
            raise ConfigError(f"pretext.future_days must be > 0 to forecast a window, got {days}")
        check_head(head)
        self.days = float(days)
        self.side_vocab_sizes = dict(side_vocab_sizes)
        width = 1 + sum(int(size) - 1 for size in self.side_vocab_sizes.values())  # value 0 is padding
        if head == "linear":
            self.head = nn.Linear(dim, width)
        else:
            self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, width))

    def loss(self, encoder: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        """Squared error of the forecast log counts over the users with events before the cut (none after is a
        target too: it is what churn looks like)."""
        if AGE_KEY not in batch:
            raise ConfigError(
                "pretext.future_days needs each event's age (the sequence featurizer's age_days array); this "
                "batch has none: set pretext.future_days=0, or featurize the events through the dataset config"
            )
        future = batch["mask"] & (batch[AGE_KEY] < self.days)
        past, has_past = history_before(batch, future, self.days)
        predicted = self.head(encoder.pooled_states(past))
        if not has_past.any():  # nothing to forecast from; every parameter stays in the graph (DDP)
            return predicted.sum() * 0.0
        target = torch.log1p(window_counts(batch, future, self.side_vocab_sizes))
        return F.mse_loss(predicted[has_past].float(), target[has_past])


def check_head(head: str) -> None:
    """`pretext.future_head` is one of HEADS (checked when the pretext is built, before any data is read)."""
    if head not in HEADS:
        raise ConfigError(f"pretext.future_head must be one of {', '.join(HEADS)}, got {head!r}")


def history_before(batch: dict[str, Tensor], future: Tensor, days: float) -> tuple[dict[str, Tensor], Tensor]:
    """The batch cut before the `future` positions (a suffix of each row, as events are in time order), shifted
    right so the last event before the cut sits at position -1, as encoders expect; ages count from the cut."""
    length = future.shape[1]
    shift = future.sum(dim=1, keepdim=True)
    source = torch.arange(length, device=future.device)[None, :] - shift
    valid = source >= 0
    index = source.clamp_min(0)
    past = {}
    for name, value in batch.items():
        if value.dim() == 2 and value.shape == future.shape:
            moved = value.gather(1, index)
            past[name] = torch.where(valid, moved, torch.zeros_like(moved))
        else:
            past[name] = value
    past["mask"] = past["items"] != 0
    past[AGE_KEY] = torch.where(past["mask"], past[AGE_KEY] - days, torch.zeros_like(past[AGE_KEY]))
    return past, past["mask"].any(dim=1)


def window_counts(batch: dict[str, Tensor], future: Tensor, side_vocab_sizes: dict[str, int]) -> Tensor:
    """`[B, 1 + Σ (size - 1)]` float counts: events in the window, then per value of each side field."""
    weight = future.float()
    counts = [weight.sum(dim=1, keepdim=True)]
    for name, size in side_vocab_sizes.items():
        per_value = torch.zeros(weight.shape[0], size, device=weight.device)
        per_value.scatter_add_(1, batch[name].long(), weight)
        counts.append(per_value[:, 1:])
    return torch.cat(counts, dim=1)
