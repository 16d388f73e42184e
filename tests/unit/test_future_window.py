"""The future-window objective: the cut, the counts it forecasts, and that the forecast is learned."""

from __future__ import annotations

import pytest
import torch

from ssl_ads.encoders.sequence_transformer import SequenceTransformer
from ssl_ads.errors import ConfigError
from ssl_ads.pretext.future_window import FutureWindow, history_before, window_counts
from ssl_ads.pretext.masked_item import MaskedItem


def _row_batch() -> dict[str, torch.Tensor]:
    """Two users, left-padded: ages in days before the reference time, an action per event (1 click, 2 buy)."""
    items = torch.tensor([[0, 0, 5, 6, 7, 8], [0, 3, 4, 5, 6, 7]])
    ages = torch.tensor([[0.0, 0.0, 30.0, 20.0, 10.0, 5.0], [0.0, 40.0, 35.0, 16.0, 15.0, 14.5]])
    action = torch.tensor([[0, 0, 1, 1, 2, 1], [0, 1, 1, 2, 1, 1]])
    return {"items": items, "mask": items != 0, "age_days": ages, "action": action}


def test_the_cut_keeps_the_events_before_it_right_aligned_with_ages_from_the_cut():
    batch = _row_batch()
    future = batch["mask"] & (batch["age_days"] < 14)
    past, has_past = history_before(batch, future, 14.0)
    assert past["items"].tolist() == [[0, 0, 0, 0, 5, 6], [0, 3, 4, 5, 6, 7]]
    assert past["action"].tolist() == [[0, 0, 0, 0, 1, 1], [0, 1, 1, 2, 1, 1]]
    assert past["age_days"].tolist() == [[0, 0, 0, 0, 16, 6], [0, 26, 21, 2, 1, 0.5]]
    assert torch.equal(past["mask"], past["items"] != 0)
    assert has_past.tolist() == [True, True]


def test_window_counts_count_events_and_each_side_value_after_the_cut():
    batch = _row_batch()
    future = batch["mask"] & (batch["age_days"] < 14)
    counts = window_counts(batch, future, {"action": 3})
    assert counts.tolist() == [[2, 1, 1], [0, 0, 0]]  # all events, clicks, buys (padding value 0 left out)


def test_a_user_with_no_events_before_the_cut_is_left_out_and_the_loss_stays_in_the_graph():
    encoder = SequenceTransformer(num_items=10, max_len=6, dim=8, layers=1, heads=1, ff_dim=8)
    window = FutureWindow(8, {"action": 3}, days=100.0)  # every event is in the window: nobody has a past
    loss = window.loss(encoder, _row_batch())
    assert loss.item() == 0.0
    loss.backward()
    assert encoder.item_embedding.weight.grad is not None
    assert window.head.weight.grad is not None  # the head too: DDP needs every parameter in the graph


def test_the_objective_needs_event_ages():
    encoder = SequenceTransformer(num_items=10, max_len=6, dim=8, layers=1, heads=1, ff_dim=8)
    batch = {k: v for k, v in _row_batch().items() if k != "age_days"}
    with pytest.raises(ConfigError, match=r"pretext\.future_days"):
        FutureWindow(8, {}, days=14.0).loss(encoder, batch)
    with pytest.raises(ConfigError, match="future_days must be > 0"):
        FutureWindow(8, {}, days=0.0)


def _activity_batch(n: int, seed: int) -> dict[str, torch.Tensor]:
    """Users whose past items say how active they will be: item 2 viewers return often, item 3 viewers rarely."""
    gen = torch.Generator().manual_seed(seed)
    busy = torch.rand(n, generator=gen) < 0.5
    length = 12
    n_future = torch.where(busy, torch.randint(3, 6, (n,), generator=gen), torch.zeros(n, dtype=torch.long))
    positions = torch.arange(length)[None, :]
    future = positions >= length - n_future[:, None]
    items = torch.where(busy, 2, 3)[:, None].expand(n, length).clone()
    items[future] = 4
    ages = torch.where(future, torch.full((n, length), 3.0), 30.0 - positions.float())
    return {"items": items, "mask": items != 0, "age_days": ages}


def test_masked_item_with_a_future_window_learns_the_forecast():
    torch.manual_seed(0)
    encoder = SequenceTransformer(num_items=6, max_len=12, dim=16, layers=1, heads=2, ff_dim=32, dropout=0.0)
    pretext = MaskedItem(future_days=7.0, future_weight=1.0)
    pretext.attach(encoder)
    optimizer = torch.optim.Adam([*encoder.parameters(), *pretext.parameters()], lr=3e-3)
    test = _activity_batch(256, seed=99)
    future = test["mask"] & (test["age_days"] < 7)
    target = torch.log1p(future.sum(1).float())
    for step in range(150):
        batch = _activity_batch(64, seed=step)
        optimizer.zero_grad()
        pretext.loss(encoder, batch).backward()
        optimizer.step()
    encoder.eval()
    with torch.no_grad():
        forecast = pretext.future.head(encoder.pooled_states(history_before(test, future, 7.0)[0]))[:, 0]
    guess_the_mean = ((target - target.mean()) ** 2).mean()
    assert ((forecast - target) ** 2).mean() < 0.1 * guess_the_mean


def test_the_forecast_head_is_linear_unless_asked_and_a_wrong_name_is_refused_at_once():
    encoder = SequenceTransformer(num_items=10, max_len=6, dim=8, heads=2, ff_dim=8, side_vocab_sizes={"action": 3})
    for name, kind in (("linear", torch.nn.Linear), ("mlp", torch.nn.Sequential)):
        pretext = MaskedItem(future_days=14.0, future_head=name)
        pretext.attach(encoder)
        assert isinstance(pretext.future.head, kind)
    with pytest.raises(ConfigError, match=r"pretext\.future_head must be one of linear, mlp"):
        MaskedItem(future_days=14.0, future_head="deep")
