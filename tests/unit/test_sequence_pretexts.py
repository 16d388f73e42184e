"""Next-item and contrastive pretexts really optimise; augmentations keep padding and lengths; causality."""

from __future__ import annotations

import pytest
import torch

from ssl_ads.encoders.gru import SequenceGRU
from ssl_ads.encoders.sequence_transformer import SequenceTransformer
from ssl_ads.pretext.contrastive import Contrastive, info_nce
from ssl_ads.pretext.next_item import NextItem
from ssl_ads.pretext.sampled_softmax import item_loss
from ssl_ads.pretext.sequence_augment import apply_index, augment, crop_index, mask_positions, reorder_index

NUM_ITEMS = 30


def _padded(n: int = 64, length: int = 12, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, length + 1, (n,), generator=gen)
    items = torch.randint(2, NUM_ITEMS, (n, length), generator=gen)
    positions = torch.arange(length).expand(n, -1)
    items = torch.where(positions >= length - lengths[:, None], items, torch.zeros_like(items))
    return {"items": items, "mask": items != 0, "action": torch.where(items != 0, items % 3 + 1, 0)}


def _patterned(n: int = 64) -> dict[str, torch.Tensor]:
    """Sequences that repeat one of a few patterns, left-padded to different lengths: learnable structure."""
    torch.manual_seed(0)
    patterns = torch.randint(2, NUM_ITEMS, (4, 6))
    items = patterns[torch.randint(0, 4, (n,))].repeat(1, 2)
    items[: n // 2, :3] = 0
    return {"items": items, "mask": items != 0}


def _encoder(kind: str):
    if kind == "gru":
        return SequenceGRU(num_items=NUM_ITEMS, max_len=12, dim=16, hidden_dim=16, dropout=0.0)
    return SequenceTransformer(num_items=NUM_ITEMS, max_len=12, dim=16, layers=1, heads=2, ff_dim=32, dropout=0.0)


def _trained_drop(pretext, encoder, batch, steps: int = 50) -> tuple[float, float]:
    pretext.attach(encoder)
    optimizer = torch.optim.Adam([*encoder.parameters(), *pretext.parameters()], lr=1e-2)
    torch.manual_seed(1)
    with torch.no_grad():
        before = torch.stack([pretext.loss(encoder, batch) for _ in range(3)]).mean().item()
    for _ in range(steps):
        optimizer.zero_grad()
        pretext.loss(encoder, batch).backward()
        optimizer.step()
    with torch.no_grad():
        after = torch.stack([pretext.loss(encoder, batch) for _ in range(3)]).mean().item()
    return before, after


@pytest.mark.parametrize(
    ("kind", "negatives"), [("transformer", "full"), ("gru", "full"), ("transformer", "sampled"), ("gru", "in_batch")]
)
def test_next_item_loss_decreases_when_trained(kind, negatives):
    before, after = _trained_drop(NextItem(negatives, num_negatives=10), _encoder(kind), _patterned())
    assert after < 0.5 * before, (before, after)


@pytest.mark.parametrize(("kind", "next_item_weight"), [("transformer", 0.0), ("gru", 1.0)])
def test_contrastive_loss_decreases_when_trained(kind, next_item_weight):
    pretext = Contrastive(temperature=0.5, similarity="cosine", next_item_weight=next_item_weight)
    before, after = _trained_drop(pretext, _encoder(kind), _padded(n=32))
    assert after < 0.8 * before, (before, after)


def test_info_nce_is_low_for_matching_views_and_high_for_shuffled_ones():
    views = torch.nn.functional.normalize(torch.randn(16, 8), dim=-1) * 5
    assert info_nce(views, views, 0.1) < 0.01
    assert info_nce(views, views.roll(1, 0), 0.1) > 1.0


@pytest.mark.parametrize("kind", ["transformer", "gru"])
def test_next_item_states_never_see_the_future(kind):
    encoder = _encoder(kind).eval()
    batch = _padded(n=8, seed=3)
    changed = batch["items"].clone()
    changed[:, -1] = (changed[:, -1] + 1) % NUM_ITEMS + 2
    with torch.no_grad():
        a = encoder(batch, causal=True)
        b = encoder({**batch, "items": changed}, causal=True)
    assert torch.allclose(a[:, :-1], b[:, :-1], atol=1e-5)
    assert not torch.allclose(a[:, -1], b[:, -1])


def test_gru_ignores_padding():
    encoder = _encoder("gru").eval()
    items = torch.tensor([[0, 0, 0, 0, 5, 6, 7], [0, 0, 5, 6, 7, 8, 9]])
    shorter = torch.tensor([[0, 5, 6, 7], [5, 6, 7, 8]])
    with torch.no_grad():
        long_states = encoder({"items": items, "mask": items != 0})
        short_states = encoder({"items": shorter, "mask": shorter != 0})
    assert torch.allclose(long_states[0, -1], short_states[0, -1], atol=1e-6)
    assert torch.allclose(long_states[1, -3], short_states[1, -2], atol=1e-6)  # after 5, 6, 7 in both
    assert (long_states[0, :4] == 0).all()


def test_crop_keeps_a_contiguous_left_padded_share():
    torch.manual_seed(0)
    batch = _padded(n=200)
    lengths = batch["mask"].sum(1)
    view = apply_index(batch, crop_index(batch["mask"], 0.6))
    kept = view["mask"].sum(1)
    assert torch.equal(kept, torch.clamp((lengths * 0.6).floor().long(), min=1))
    positions = torch.arange(12).expand(200, -1)
    assert torch.equal(view["mask"], positions >= 12 - kept[:, None])  # left-padded again
    for row in range(200):  # the crop is a contiguous run of the original, side fields moved along
        original, cropped = batch["items"][row][batch["mask"][row]], view["items"][row][view["mask"][row]]
        size = len(cropped)
        assert any(torch.equal(original[s : s + size], cropped) for s in range(len(original) - size + 1))
    assert torch.equal(view["action"], torch.where(view["items"] != 0, view["items"] % 3 + 1, 0))


def test_reorder_permutes_inside_the_sequence_and_keeps_padding():
    torch.manual_seed(0)
    batch = _padded(n=200)
    view = apply_index(batch, reorder_index(batch["mask"], 0.6))
    assert torch.equal(view["mask"], batch["mask"])
    assert torch.equal(view["items"].sort(1).values, batch["items"].sort(1).values)
    assert (view["items"] != batch["items"]).any()
    assert torch.equal(view["action"], torch.where(view["items"] != 0, view["items"] % 3 + 1, 0))


def test_mask_augmentation_touches_real_positions_only_and_views_keep_lengths():
    torch.manual_seed(0)
    batch = _padded(n=200)
    chosen = mask_positions(batch["mask"], 0.3)
    assert not chosen[~batch["mask"]].any()
    assert 0.2 < chosen[batch["mask"]].float().mean() < 0.4
    view = augment(batch, ["mask", "reorder"], 0.6, 0.3, 0.6, mask_id=NUM_ITEMS)
    assert torch.equal(view["mask"], batch["mask"])
    assert torch.equal(view["items"][~batch["mask"]], batch["items"][~batch["mask"]])


def test_sampled_and_in_batch_losses_fit_a_million_item_catalogue_in_batch_sized_memory():
    encoder = SequenceTransformer(num_items=1_000_000, max_len=4, dim=8, layers=1, heads=1, ff_dim=8)
    states = torch.randn(64, 8)
    targets = torch.randint(2, 1_000_000, (64,))
    for negatives in ("sampled", "in_batch"):
        loss = item_loss(encoder, states, targets, negatives, num_negatives=256)
        assert torch.isfinite(loss) and loss > 0
