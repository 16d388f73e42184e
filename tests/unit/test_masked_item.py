"""Masked-item pretext: corruption keeps padding intact, and the loss really optimises."""

from __future__ import annotations

import torch

from ssl_ads.encoders.sequence_transformer import SequenceTransformer
from ssl_ads.pretext.masked_item import MaskedItem, corrupt


def _batch(n: int = 64, length: int = 12, num_items: int = 30, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, length + 1, (n,), generator=gen)
    items = torch.randint(2, num_items, (n, length), generator=gen)
    positions = torch.arange(length).expand(n, -1)
    items = torch.where(positions >= length - lengths[:, None], items, torch.zeros_like(items))
    return {"items": items, "mask": items != 0}


def test_corrupt_never_touches_padding_and_picks_one_per_sequence():
    torch.manual_seed(0)
    batch = _batch()
    chosen, corrupted = corrupt(batch["items"], batch["mask"], 0.15, 0.1, 0.1, mask_id=30, num_items=30)
    assert not chosen[~batch["mask"]].any()
    assert torch.equal(corrupted[~batch["mask"]], batch["items"][~batch["mask"]])
    assert chosen.any(dim=1).all()
    assert torch.equal(corrupted[~chosen], batch["items"][~chosen])
    masked_share = (corrupted[chosen] == 30).float().mean().item()
    assert 0.6 < masked_share < 0.95


def test_corrupt_ratios_follow_the_config():
    torch.manual_seed(1)
    items = torch.randint(2, 1000, (400, 50))
    chosen, corrupted = corrupt(items, items != 0, 0.3, 0.2, 0.2, mask_id=1000, num_items=1000)
    assert abs(chosen.float().mean().item() - 0.3) < 0.02
    picked, original = corrupted[chosen], items[chosen]
    assert abs((picked == 1000).float().mean().item() - 0.6) < 0.03
    assert abs((picked == original).float().mean().item() - 0.2) < 0.03


def test_masked_item_loss_decreases_when_trained():
    torch.manual_seed(0)
    # Sequences with a learnable structure: each sequence repeats one of a few short patterns.
    patterns = torch.randint(2, 30, (4, 6))
    choice = torch.randint(0, 4, (128,))
    items = patterns[choice].repeat(1, 2)
    batch = {"items": items, "mask": items != 0}
    encoder = SequenceTransformer(num_items=30, max_len=12, dim=32, layers=1, heads=2, ff_dim=64, dropout=0.0)
    pretext = MaskedItem(mask_prob=0.2)
    pretext.attach(encoder)
    optimizer = torch.optim.Adam([*encoder.parameters(), *pretext.parameters()], lr=3e-3)
    with torch.no_grad():
        before = torch.stack([pretext.loss(encoder, batch) for _ in range(10)]).mean()
    for _ in range(150):
        optimizer.zero_grad()
        pretext.loss(encoder, batch).backward()
        optimizer.step()
    with torch.no_grad():
        after = torch.stack([pretext.loss(encoder, batch) for _ in range(10)]).mean()
    assert after < 0.5 * before
