"""Masked-token and dropout-contrastive objectives on the in-house text transformer."""

from __future__ import annotations

import torch

from ssl_ads.data.text_tokenizer import CLS_ID, MASK_ID, PAD_ID, encode_texts, train_tokenizer
from ssl_ads.encoders.text_transformer import TextTransformer
from ssl_ads.pretext.masked_token import MaskedToken, mask_tokens
from ssl_ads.pretext.text_contrastive import TextContrastive, info_nce

CORPUS = [
    "exquisite timeless watch, reserve yours today.",
    "grab a super cozy hoodie! try it today!!",
    "SAVE ON CHEAP SNEAKERS NOW. BUY NOW!",
    "discover the refined leather bag. request a private viewing.",
    "snag funky socks, let's gooo :)",
    "STOCK UP ON DISCOUNTED COFFEE. DEAL ENDS TONIGHT!",
] * 8


def _tokens(max_len: int = 24) -> torch.Tensor:
    tokenizer = train_tokenizer(CORPUS, vocab_size=200, min_frequency=1, lowercase=True)
    return torch.from_numpy(encode_texts(tokenizer, CORPUS, max_len)).long(), tokenizer.get_vocab_size()


def test_mask_tokens_never_touches_cls_or_padding_and_masks_every_text():
    tokens, vocab = _tokens()
    torch.manual_seed(0)
    chosen, corrupted = mask_tokens(tokens, 0.15, 0.1, 0.1, vocab)
    assert not chosen[:, 0].any() and not chosen[tokens == PAD_ID].any()
    assert chosen.any(dim=1).all()
    assert (corrupted[~chosen] == tokens[~chosen]).all()
    assert (corrupted[:, 0] == CLS_ID).all()
    assert (corrupted[chosen] == MASK_ID).float().mean() > 0.5


def test_masked_token_loss_decreases_on_a_small_corpus():
    tokens, vocab = _tokens()
    torch.manual_seed(0)
    encoder = TextTransformer(vocab, 24, dim=32, layers=1, heads=2, ff_dim=64, dropout=0.0)
    pretext = MaskedToken(mask_prob=0.25)
    pretext.attach(encoder)
    optimizer = torch.optim.AdamW([*encoder.parameters(), *pretext.parameters()], lr=3e-3)
    losses = []
    for _ in range(60):
        loss = pretext.loss(encoder, {"tokens": tokens})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10


def test_info_nce_prefers_matching_views_and_dropout_views_train():
    anchor = torch.randn(8, 16)
    assert info_nce(anchor, anchor, 0.1) < info_nce(anchor, torch.randn(8, 16), 0.1)
    tokens, vocab = _tokens()
    encoder = TextTransformer(vocab, 24, dim=32, layers=1, heads=2, ff_dim=64, dropout=0.1)
    pretext = TextContrastive(temperature=0.05, mlm_weight=0.5)
    pretext.attach(encoder)
    loss = pretext.loss(encoder.train(), {"tokens": tokens[:8]})
    loss.backward()
    assert torch.isfinite(loss) and encoder.token_embedding.weight.grad is not None
