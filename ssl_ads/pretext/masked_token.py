"""Masked-language modelling (BERT, Devlin et al., 2019) on the user's own copy.

A share of the real tokens ([CLS] and padding excluded) is chosen; of those, most become [MASK], some
a random piece and some stay unchanged (80/10/10); the encoder reads the corrupted text and predicts
the original pieces at the chosen positions with tied embeddings, projecting only those positions.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_ads.config.ranges import Range, SumAtMost
from ssl_ads.data.text_tokenizer import CLS_ID, MASK_ID, PAD_ID, SPECIAL_TOKENS
from ssl_ads.errors import ConfigError
from ssl_ads.pretext.base import Pretext


class MaskedToken(Pretext):
    modality = "text"
    # The encoder method this objective needs (frozen sentence encoders and bag-of-words have none).
    needs = "token_logits"

    def __init__(
        self,
        mask_prob: Annotated[float, Range(0, 1, min_inclusive=False, max_inclusive=False)] = 0.15,
        replace_prob: Annotated[float, Range(0, 1), SumAtMost(("keep_prob",), 1.0)] = 0.1,
        keep_prob: Annotated[float, Range(0, 1)] = 0.1,
    ) -> None:
        super().__init__()
        if not 0.0 < mask_prob < 1.0:
            raise ConfigError(f"pretext.mask_prob must be in (0, 1), got {mask_prob}")
        if replace_prob < 0 or keep_prob < 0 or replace_prob + keep_prob > 1.0:
            raise ConfigError("pretext.replace_prob and pretext.keep_prob must be >= 0 and sum to at most 1")
        self.mask_prob = mask_prob
        self.replace_prob = replace_prob
        self.keep_prob = keep_prob

    def attach(self, encoder: nn.Module) -> None:
        if not hasattr(encoder, self.needs):
            raise ConfigError(
                f"pretext=masked_token needs an encoder that predicts tokens ({self.needs}); "
                f"{type(encoder).__name__} has none: use encoder=text_transformer, or pretext=none"
            )
        self.transform = nn.Sequential(nn.Linear(encoder.dim, encoder.dim), nn.GELU(), nn.LayerNorm(encoder.dim))
        self.output_bias = nn.Parameter(torch.zeros(encoder.vocab_size))

    def loss(self, encoder: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        tokens = batch["tokens"].long()
        chosen, corrupted = mask_tokens(tokens, self.mask_prob, self.replace_prob, self.keep_prob, encoder.vocab_size)
        states = encoder({**batch, "tokens": corrupted})
        width = states.shape[1]
        chosen, targets = chosen[:, :width], tokens[:, :width]
        logits = encoder.token_logits(self.transform(states[chosen])) + self.output_bias
        return F.cross_entropy(logits, targets[chosen])


def mask_tokens(
    tokens: Tensor, mask_prob: float, replace_prob: float, keep_prob: float, vocab_size: int
) -> tuple[Tensor, Tensor]:
    """(`chosen [B, L]` positions to predict, corrupted ids); every text with a real token gets at least one."""
    real = (tokens != PAD_ID) & (tokens != CLS_ID)
    draw = torch.rand(tokens.shape, device=tokens.device)
    chosen = (draw < mask_prob) & real
    # Texts where nothing was drawn predict their lowest-draw real token.
    fallback = torch.where(real, draw, torch.full_like(draw, 2.0)).argmin(dim=1, keepdim=True)
    needs_one = ~chosen.any(dim=1, keepdim=True) & real.any(dim=1, keepdim=True)
    chosen |= torch.zeros_like(chosen).scatter(1, fallback, needs_one)
    action = torch.rand(tokens.shape, device=tokens.device)
    to_random = chosen & (action < replace_prob)
    to_mask = chosen & (action >= replace_prob + keep_prob)
    corrupted = torch.where(to_mask, torch.full_like(tokens, MASK_ID), tokens)
    first_real = len(SPECIAL_TOKENS)
    random_ids = torch.randint(first_real, max(vocab_size, first_real + 1), tokens.shape, device=tokens.device)
    return chosen, torch.where(to_random, random_ids, corrupted)
