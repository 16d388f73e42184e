"""Next-item cross-entropy over the full catalogue, sampled negatives, or in-batch negatives.

`full` builds `[N, V]` logits (fine up to ~100k items). `sampled` scores the target against
`num_negatives` draws from a proposal Q shared by the batch (Jean et al., 2015; Bengio & Senécal, 2008),
`in_batch` against the other distinct targets of the batch (Covington et al., 2016; Yi et al., 2019):
memory is set by the batch, not the catalogue, so a 1 M-item catalogue trains in the same RAM.

Log-Q correction makes both an estimate of the full softmax rather than of a popularity-skewed one. The
full loss is `-s_y + log(e^{s_y} + sum_{j != y} e^{s_j})`; with K draws j_k from Q the sum is estimated
without bias by `sum_k e^{s_{j_k}} / (K Q(j_k))` over the draws that are not the target (accidental hits
are masked). So each negative's logit is `s_j - log(K Q(j))` and the positive keeps its raw score: as K
grows the loss and its gradient approach the full softmax's (tests/unit/test_sampled_softmax.py). The
in-batch candidates are the batch's N targets, i.e. N draws from the item popularity q; a distinct
candidate drawn c_j times stands for c_j draws, so its logit is `s_j + log c_j - log(N q_j)` with q
from the sampler's streaming counts. Without those counts the estimate is q_j = c_j / N, and the
correction is exactly zero: plain in-batch softmax over distinct targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ssl_ads.data.vocab_ids import PAD_ID
from ssl_ads.encoders.sequence_base import SequenceEncoder
from ssl_ads.pretext.negative_sampler import NegativeSampler

NEGATIVES = ("full", "sampled", "in_batch")


def check_negatives(negatives: str, num_negatives: int) -> None:
    if negatives not in NEGATIVES:
        raise ValueError(f"pretext.negatives must be one of {', '.join(NEGATIVES)}, got {negatives!r}")
    if negatives == "sampled" and num_negatives < 1:
        raise ValueError(f"pretext.num_negatives must be >= 1 for sampled negatives, got {num_negatives}")


def item_loss(
    encoder: SequenceEncoder,
    states: Tensor,
    targets: Tensor,
    negatives: str = "full",
    num_negatives: int = 1000,
    seen: Callable[[Tensor], Tensor] | None = None,
    sampler: NegativeSampler | None = None,
    logq: bool = True,
    bias: Tensor | None = None,
) -> Tensor:
    """Mean cross-entropy of `targets [N]` given `states [N, D]`, scored with the tied item embeddings.

    `seen(candidates)` gives `[N, C]` bool for sorted unique candidate ids: the candidate is in the history
    the state read. It feeds the encoder's repeat bias (ssl_ads.encoders.repeat_bias); None leaves it out.
    `sampler` is the proposal for `sampled` (None: uniform) and, in train mode, counts the targets for the
    in-batch popularity; `logq=False` drops the correction (biased toward what Q favours: an ablation).
    `bias [V]` is a per-item output bias added to every score (a pretext head's, e.g. masked-item).
    """
    if states.shape[0] == 0:
        return states.sum() * 0.0
    use_seen = seen is not None and encoder.repeat_weight is not None
    if negatives == "full":
        catalogue = torch.arange(encoder.num_items, device=states.device)
        logits = encoder.item_logits(states, seen(catalogue) if use_seen else None)
        if bias is not None:
            logits = logits + bias[: encoder.num_items]
        logits[:, PAD_ID] = torch.finfo(logits.dtype).min
        return F.cross_entropy(logits, targets)
    if sampler is not None and sampler.training:
        sampler.observe(targets, encoder.num_items)
    if negatives == "sampled":
        return _sampled_loss(encoder, states, targets, num_negatives, seen if use_seen else None, sampler, logq, bias)
    return _in_batch_loss(encoder, states, targets, seen if use_seen else None, sampler, logq, bias)


def _scores(encoder: SequenceEncoder, states: Tensor, items: Tensor, bias: Tensor | None) -> Tensor:
    """`[N, C]` scores of `items [C]`; the rows are gathered with the table's own sparsity, so a
    `sparse=True` item embedding keeps a sparse gradient (no dense `[V, D]` gradient per step)."""
    scores = states @ encoder.item_vectors(items).T
    return scores if bias is None else scores + bias[items]


def _sampled_loss(
    encoder: SequenceEncoder,
    states: Tensor,
    targets: Tensor,
    num_negatives: int,
    seen: Callable[[Tensor], Tensor] | None,
    sampler: NegativeSampler | None,
    logq: bool,
    bias: Tensor | None,
) -> Tensor:
    """The `[N, K]` negative scores are the step's largest tensor: they are made by one `addmm` with the
    correction folded in, hits are masked in place at their few positions, and the loss is
    `logaddexp(positive, logsumexp(negatives)) - positive` (no `[N, K + 1]` concatenation)."""
    sampler = sampler if sampler is not None else NegativeSampler("uniform")
    sampled, log_q = sampler.draw(num_negatives, encoder.num_items, states.device)
    positive = (states * encoder.item_vectors(targets)).sum(-1)
    offset = -(log_q.to(states.dtype) + math.log(num_negatives)) if logq else torch.zeros_like(states[0, :1])
    if bias is not None:
        positive = positive + bias[targets]
        offset = offset + bias[sampled]
    negative = torch.addmm(offset[None, :], states, encoder.item_vectors(sampled).T)
    if seen is not None:
        candidates = torch.unique(torch.cat([targets, sampled]))
        flags = seen(candidates)
        target_flag = flags.gather(1, torch.searchsorted(candidates, targets)[:, None])[:, 0]
        positive = encoder.repeat_adjusted(positive, target_flag)
        negative = encoder.repeat_adjusted(negative, flags[:, torch.searchsorted(candidates, sampled)])
    rows, cols = accidental_hits(targets, sampled)
    negative.index_put_((rows, cols), torch.tensor(torch.finfo(negative.dtype).min))  # a fresh tensor: safe in place
    return (torch.logaddexp(positive, torch.logsumexp(negative, 1)) - positive).mean()


def accidental_hits(targets: Tensor, sampled: Tensor) -> tuple[Tensor, Tensor]:
    """(row, column) of every draw equal to its row's target, found by binary search in the sorted draws:
    O((N + K) log K + hits), where comparing all pairs would build another `[N, K]` tensor."""
    order = torch.argsort(sampled)
    ordered = sampled[order]
    low = torch.searchsorted(ordered, targets)
    count = torch.searchsorted(ordered, targets, right=True) - low
    rows = torch.repeat_interleave(torch.arange(len(targets), device=targets.device), count)
    start = torch.repeat_interleave(low - (torch.cumsum(count, 0) - count), count)
    return rows, order[start + torch.arange(len(rows), device=targets.device)]


def _in_batch_loss(
    encoder: SequenceEncoder,
    states: Tensor,
    targets: Tensor,
    seen: Callable[[Tensor], Tensor] | None,
    sampler: NegativeSampler | None,
    logq: bool,
    bias: Tensor | None,
) -> Tensor:
    candidates, label, count = torch.unique(targets, return_inverse=True, return_counts=True)
    corrected = logq and sampler is not None
    offset = torch.zeros_like(states[0, :1])
    if corrected:
        q = sampler.frequency(candidates, encoder.num_items)
        offset = (count.double().log() - (q * targets.shape[0]).log()).to(states.dtype)
    if bias is not None:
        offset = offset + bias[candidates]
    logits = torch.addmm(offset[None, :], states, encoder.item_vectors(candidates).T)
    flags = seen(candidates) if seen is not None else None
    logits = encoder.repeat_adjusted(logits, flags)
    if corrected:  # the positive keeps its raw score: only the other columns estimate the partition function
        positive = (states * encoder.item_vectors(targets)).sum(-1, keepdim=True)
        if bias is not None:
            positive = positive + bias[targets][:, None]
        positive = encoder.repeat_adjusted(positive, None if flags is None else flags.gather(1, label[:, None]))
        logits = logits.scatter(1, label[:, None], positive)
    return F.cross_entropy(logits, label)
