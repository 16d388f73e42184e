"""A pretext objective: builds its own views/masks from a batch and returns a loss for any encoder."""

from __future__ import annotations

from torch import Tensor, nn

from ssl_ads.pretext.scoring import last_state_scores


class Pretext(nn.Module):
    """Subclasses set `modality` and implement `loss`; `attach` and `score_next` have working defaults."""

    modality: str | tuple[str, ...] = ()
    # False for the from-scratch baseline: the pretrain stage then only saves the initial encoder.
    trains: bool = True

    def attach(self, encoder: nn.Module) -> None:
        """Create any head that depends on the encoder's sizes (called before weights are loaded)."""

    def loss(self, encoder: nn.Module, batch: dict[str, Tensor]) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def score_next(self, encoder: nn.Module, history: dict[str, Tensor]) -> Tensor:
        """Sequence pretexts: scores `[B, num_items]` of the item after each left-padded history, as the frozen
        model ranks the catalogue. Default: the last causal state against the tied item embeddings."""
        return last_state_scores(encoder, history)
