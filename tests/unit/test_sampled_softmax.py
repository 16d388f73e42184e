"""Sampled and in-batch softmax with log-Q correction estimate the full softmax; without it they are biased.

The item scores here come from a real `SequenceEncoder`'s tied embedding table read by one fixed state, so
each item's embedding is its free logit: what the losses teach it is visible directly.
"""

from __future__ import annotations

import pytest
import torch

from ssl_ads.encoders.sequence_base import SequenceEncoder
from ssl_ads.encoders.sequence_transformer import SequenceTransformer
from ssl_ads.pretext.masked_item import MaskedItem
from ssl_ads.pretext.negative_sampler import NegativeSampler
from ssl_ads.pretext.next_item import NextItem
from ssl_ads.pretext.sampled_softmax import accidental_hits, item_loss

NUM_ITEMS = 42  # ids 2..41 are real items


def _zipf(num_items: int = NUM_ITEMS, exponent: float = 1.2) -> torch.Tensor:
    """Probabilities over item ids, 0 on padding / OOV, falling with the id (id 2 the most popular)."""
    p = torch.zeros(num_items)
    p[2:] = torch.arange(1, num_items - 1, dtype=torch.float) ** -exponent
    return p / p.sum()


def _popular_sampler(p: torch.Tensor, n: int = 200_000) -> NegativeSampler:
    """A popularity sampler that has counted `n` training targets drawn from `p` (as training would)."""
    sampler = NegativeSampler("popularity")
    sampler.observe(torch.multinomial(p, n, replacement=True), len(p))
    return sampler


def _logit_table(num_items: int = NUM_ITEMS) -> SequenceEncoder:
    """Item embeddings of width 1 read by the state 1.0: embedding j is item j's logit."""
    encoder = SequenceEncoder(num_items, dim=1, pooling="last")
    with torch.no_grad():
        encoder.item_embedding.weight.copy_(torch.randn(num_items + 1, 1))
    return encoder


@pytest.mark.parametrize("sampling", ["uniform", "popularity"])
def test_corrected_sampled_loss_and_gradient_approach_the_full_softmax(sampling: str) -> None:
    torch.manual_seed(0)
    encoder = SequenceTransformer(num_items=NUM_ITEMS, max_len=4, dim=8, layers=1, heads=1, ff_dim=8, dropout=0.0)
    states = torch.randn(16, 8, requires_grad=True)
    targets = torch.randint(2, NUM_ITEMS, (16,))
    logits = encoder.item_logits(states)[:, 2:]  # the full softmax over the real items, the ones ever sampled
    full = torch.nn.functional.cross_entropy(logits, targets - 2)
    (full_grad,) = torch.autograd.grad(full, states)
    sampler = _popular_sampler(_zipf()) if sampling == "popularity" else NegativeSampler("uniform")
    losses, grads = [], []
    for _ in range(20):  # 20 x 5000 draws: the estimate's noise averages out, its bias would not
        loss = item_loss(encoder, states, targets, "sampled", 5000, sampler=sampler.eval())
        losses.append(loss.detach())
        grads.append(torch.autograd.grad(loss, states)[0])
    assert torch.stack(losses).mean().item() == pytest.approx(full.item(), abs=0.01)
    grad = torch.stack(grads).mean(0)
    assert (grad - full_grad).norm() < 0.05 * full_grad.norm()
    uncorrected = item_loss(encoder, states, targets, "sampled", 5000, sampler=sampler, logq=False)
    assert abs(uncorrected.item() - full.item()) > 0.3  # without the correction it estimates something else


def _fit_logits(negatives: str, logq: bool, steps: int = 200) -> torch.Tensor:
    """Learn free item logits from targets drawn from a Zipf distribution: the full softmax's optimum is log p."""
    torch.manual_seed(0)
    p = _zipf()
    encoder = _logit_table()
    sampler = NegativeSampler("popularity")
    optimizer = torch.optim.Adam(encoder.parameters(), lr=0.1)
    for _ in range(steps):
        targets = torch.multinomial(p, 512, replacement=True)
        loss = item_loss(encoder, torch.ones(512, 1), targets, negatives, 64, sampler=sampler, logq=logq)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return encoder.item_embedding.weight[2:NUM_ITEMS, 0].detach()


def _spread(logits: torch.Tensor) -> float:
    """How far the three most popular items' logits sit above the ten rarest'."""
    return (logits[:3].mean() - logits[-10:].mean()).item()


@pytest.mark.parametrize("negatives", ["sampled", "in_batch"])
def test_logq_corrected_negatives_recover_the_popularity_ranking(negatives: str) -> None:
    truth = _zipf()[2:].log()
    fit = _fit_logits(negatives, logq=True)
    head = slice(0, 10)  # the ten most popular items: enough targets for their logits to settle
    gap = (fit - fit.mean()) - (truth - truth.mean())
    assert gap[head].abs().max() < 0.5
    assert torch.argmax(fit).item() == 0  # the most popular item is ranked first
    assert _spread(fit) > 0.7 * _spread(truth)


def test_popularity_sampled_negatives_without_logq_are_biased_against_popular_items() -> None:
    """Popular items are over-represented among the negatives, so without the correction they are pushed down:
    the learned logits come out nearly flat, far below the true spread between popular and rare items."""
    truth = _zipf()[2:].log()
    assert _spread(_fit_logits("sampled", logq=False)) < 0.5 * _spread(truth)


def test_an_accidental_hit_is_masked_not_counted_as_a_negative() -> None:
    """A catalogue of one real item: every draw is the target, so nothing competes and the loss is zero."""
    encoder = SequenceEncoder(3, dim=4, pooling="last")
    targets = torch.full((5,), 2)
    loss = item_loss(encoder, torch.randn(5, 4), targets, "sampled", 50, sampler=NegativeSampler("uniform"))
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_accidental_hits_are_every_draw_equal_to_its_row_target() -> None:
    generator = torch.Generator().manual_seed(0)
    targets = torch.randint(2, 12, (50,), generator=generator)
    sampled = torch.randint(2, 12, (30,), generator=generator)
    rows, cols = accidental_hits(targets, sampled)
    expected = (targets[:, None] == sampled[None, :]).nonzero()
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == sorted(map(tuple, expected.tolist()))


def test_popularity_draws_follow_the_counts_and_report_their_own_probability() -> None:
    torch.manual_seed(0)
    p = _zipf()
    sampler = _popular_sampler(p)
    ids, log_q = sampler.draw(200_000, NUM_ITEMS, torch.device("cpu"))
    assert ids.min() >= 2 and ids.max() < NUM_ITEMS
    empirical = torch.bincount(ids, minlength=NUM_ITEMS).float() / len(ids)
    assert (empirical - p).abs().max() < 0.01
    reported = torch.zeros(NUM_ITEMS).index_put_((ids,), log_q.exp())
    assert torch.allclose(reported[2:], p[2:], atol=0.005)


def test_the_cumulative_table_is_rebuilt_once_per_catalogue_of_counted_targets() -> None:
    """Rebuilding costs O(V); it happens after V more targets, so each step's sampling cost stays O(samples)."""
    sampler = NegativeSampler("popularity")
    num_items = 1000
    for _ in range(10):  # 10 steps of 50 targets: 500 < 1000 counted, one table (built at the first draw)
        sampler.observe(torch.randint(2, num_items, (50,)), num_items)
        sampler.draw(8, num_items, torch.device("cpu"))
    assert sampler.rebuilds == 1
    for _ in range(20):
        sampler.observe(torch.randint(2, num_items, (50,)), num_items)
        sampler.draw(8, num_items, torch.device("cpu"))
    assert sampler.rebuilds == 2


def test_in_batch_correction_with_the_batch_own_frequencies_is_the_plain_in_batch_loss() -> None:
    torch.manual_seed(0)
    encoder = SequenceEncoder(NUM_ITEMS, dim=6, pooling="last")
    states, targets = torch.randn(64, 6), torch.multinomial(_zipf(), 64, replacement=True)
    sampler = NegativeSampler("uniform")
    sampler.counts = torch.zeros(NUM_ITEMS, dtype=torch.float64).index_add_(0, targets, torch.ones(64).double())
    plain = item_loss(encoder, states, targets, "in_batch")
    corrected = item_loss(encoder, states, targets, "in_batch", sampler=sampler.eval())
    assert torch.isclose(plain, corrected, atol=1e-5)


def test_a_sparse_item_table_gets_a_sparse_gradient_from_sampled_negatives() -> None:
    """With `sparse=True` the step touches only the rows read, not the whole table (SparseAdam can update it)."""
    encoder = SequenceEncoder(100_000, dim=8, pooling="last")
    encoder.item_embedding.sparse = True
    targets = torch.randint(2, 100_000, (32,))
    item_loss(encoder, torch.randn(32, 8), targets, "sampled", 64).backward()
    grad = encoder.item_embedding.weight.grad
    assert grad.is_sparse and grad.coalesce().indices().shape[1] <= 32 + 64
    torch.optim.SparseAdam([encoder.item_embedding.weight]).step()


@pytest.mark.parametrize("pretext", [NextItem, MaskedItem])
def test_pretexts_reject_an_unknown_sampling_naming_the_key(pretext) -> None:
    with pytest.raises(ValueError, match=r"pretext\.sampling"):
        pretext(negatives="sampled", sampling="zipf")
    with pytest.raises(ValueError, match=r"pretext\.negatives"):
        pretext(negatives="hierarchical")


@pytest.mark.parametrize("negatives", ["sampled", "in_batch"])
def test_masked_item_trains_with_batch_sized_negatives(negatives: str) -> None:
    torch.manual_seed(0)
    encoder = SequenceTransformer(num_items=60, max_len=12, dim=16, layers=1, heads=2, ff_dim=32, dropout=0.0)
    pretext = MaskedItem(mask_prob=0.3, negatives=negatives, num_negatives=20, sampling="popularity")
    pretext.attach(encoder)
    patterns = torch.randint(2, 60, (4, 6))
    items = patterns[torch.randint(0, 4, (64,))].repeat(1, 2)
    batch = {"items": items, "mask": items != 0}
    optimizer = torch.optim.Adam([*encoder.parameters(), *pretext.parameters()], lr=1e-2)
    losses = []
    for _ in range(40):
        loss = pretext.loss(encoder, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])
    assert pretext.sampler.counts is not None  # the popularity it samples from was counted from the targets
