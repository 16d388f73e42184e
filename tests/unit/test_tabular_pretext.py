"""Tabular pretexts: losses on hand-made inputs, the loss falls when trained, corruption samples the marginals."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from scipy import stats

from ssl_ads.encoders.field_mlp import FieldMLP
from ssl_ads.encoders.field_transformer import FieldTransformer
from ssl_ads.pretext.corruption_contrastive import CorruptionContrastive, info_nce
from ssl_ads.pretext.field_corruption import corrupt_fields
from ssl_ads.pretext.masked_feature import MaskedFeature, masked_feature_loss

CARDS = [6, 5, 4]


def _table(n: int = 128, seed: int = 0) -> dict[str, torch.Tensor]:
    """Rows with structure to learn (fields 1, 2 and the first numeric follow field 0) that are still
    told apart by the second numeric column (so in-batch negatives are not duplicates)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(2, 6, n)
    cat = np.stack([base, 2 + (base % 3), 2 + (base % 2)], axis=1)
    num = np.stack([base - 3.5 + rng.normal(0, 0.1, n), rng.normal(0, 2, n)], axis=1)
    return {"cat": torch.tensor(cat, dtype=torch.int32), "num": torch.tensor(num, dtype=torch.float32)}


def test_corruption_draws_from_each_fields_empirical_marginal():
    n = 20_000
    rng = np.random.default_rng(0)
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    cat = np.stack([rng.choice(4, n, p=probs) + 2, rng.choice(4, n) + 10], axis=1)
    num = rng.exponential(2.0, (n, 1))
    cat_t, num_t = torch.tensor(cat), torch.tensor(num, dtype=torch.float32)
    generator = torch.Generator().manual_seed(0)
    cat_mask, num_mask, cat_c, num_c = corrupt_fields(cat_t, num_t, 0.4, generator)
    # the corruption rate holds per field (binomial 99.9 % bounds)
    for rate in (cat_mask.float().mean(0), num_mask.float().mean()):
        assert torch.all((rate - 0.4).abs() < 3.3 * (0.4 * 0.6 / n) ** 0.5)
    replaced = cat_c[:, 0][cat_mask[:, 0]].numpy()
    observed = np.bincount(replaced - 2, minlength=4)
    assert stats.chisquare(observed, probs * observed.sum()).pvalue > 0.001
    # a field only ever receives values of that same field
    assert set(np.unique(cat_c[:, 1].numpy())) <= set(range(10, 14))
    assert stats.ks_2samp(num_c[num_mask].numpy(), num[:, 0]).pvalue > 0.001
    # untouched entries are unchanged
    assert torch.equal(cat_c[~cat_mask], cat_t[~cat_mask]) and torch.equal(num_c[~num_mask], num_t[~num_mask])


def test_info_nce_on_hand_made_views():
    z = torch.eye(4) * 10
    assert info_nce(z, z, temperature=0.1) < 1e-3
    shuffled = z[[1, 0, 3, 2]]
    assert info_nce(z, shuffled, temperature=0.1) > 5
    a, b = torch.randn(8, 3), torch.randn(8, 3)
    logits = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T / 0.5
    manual = -(logits.log_softmax(1).diag().mean() + logits.log_softmax(0).diag().mean()) / 2
    assert torch.allclose(info_nce(a, b, 0.5), manual, atol=1e-5)


def test_masked_feature_loss_is_near_zero_for_perfect_predictions():
    cat = torch.tensor([[2, 3], [3, 2]])
    cards = [4, 4]
    cat_logits = torch.full((2, 8), -30.0)
    cat_logits[0, 2] = cat_logits[1, 3] = cat_logits[0, 4 + 3] = cat_logits[1, 4 + 2] = 30.0
    mask = torch.tensor([[True, False, False], [False, True, True]])
    mask_logits = (mask.float() * 2 - 1) * 30
    num = torch.tensor([[0.5], [-1.0]])
    loss = masked_feature_loss(mask_logits, mask, cat_logits, cat, cards, num.clone(), num, mask_weight=1.0)
    assert loss < 1e-6
    worse = masked_feature_loss(mask_logits, mask, cat_logits, cat, cards, num + 1, num, mask_weight=1.0)
    assert worse == pytest.approx(1.0 / 3, rel=1e-4)  # MSE 1 on one of three fields


@pytest.mark.parametrize(
    ("encoder_cls", "pretext_cls", "ratio"),
    # InfoNCE starts at log(batch) and falls slowly over 60 steps; reconstruction falls fast.
    [
        (FieldMLP, MaskedFeature, 0.8),
        (FieldMLP, CorruptionContrastive, 0.95),
        (FieldTransformer, MaskedFeature, 0.8),
        (FieldMLP, functools.partial(MaskedFeature, contrastive_weight=0.5), 0.85),
    ],
)
def test_pretext_loss_decreases_on_a_small_set(encoder_cls, pretext_cls, ratio):
    torch.manual_seed(0)
    batch = _table()
    encoder = (
        encoder_cls(cardinalities=CARDS, num_numeric=2, dim=32)
        if encoder_cls is FieldMLP
        else encoder_cls(cardinalities=CARDS, num_numeric=2, dim=32, layers=1, heads=2, ff_dim=64)
    )
    pretext = pretext_cls()
    pretext.attach(encoder)
    params = list(encoder.parameters()) + list(pretext.parameters())
    optimizer = torch.optim.Adam(params, lr=3e-3)

    def evaluate() -> float:
        encoder.eval()
        torch.manual_seed(123)  # the same corruption before and after training
        with torch.no_grad():
            value = float(pretext.loss(encoder, batch))
        encoder.train()
        return value

    before = evaluate()
    for _ in range(60):
        optimizer.zero_grad()
        pretext.loss(encoder, batch).backward()
        optimizer.step()
    after = evaluate()
    assert after < ratio * before, (before, after)


def test_masked_feature_adds_the_contrastive_term_only_when_weighted():
    torch.manual_seed(0)
    encoder = FieldMLP(cardinalities=CARDS, num_numeric=2, dim=32)
    plain, both = MaskedFeature(), MaskedFeature(contrastive_weight=2.0, temperature=0.2)
    plain.attach(encoder)
    both.attach(encoder)
    assert not hasattr(plain, "projection")
    both.load_state_dict(plain.state_dict(), strict=False)  # same reconstruction heads
    batch = _table()
    torch.manual_seed(7)
    base = plain.loss(encoder, batch)
    torch.manual_seed(7)  # the same corruption
    combined = both.loss(encoder, batch)
    assert combined > base + 2.0  # InfoNCE over 128 rows starts near log(128) ≈ 4.9, weighted by 2
    combined.backward()
    assert all(p.grad is not None for p in both.projection.parameters())
