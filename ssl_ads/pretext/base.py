"""A pretext objective: builds its own views/masks from a batch and returns a loss for any encoder."""

from __future__ import annotations

from torch import Tensor, nn


class Pretext(nn.Module):
    """Subclasses set `modality` and implement `attach` (create heads sized to the encoder) and `loss`."""

    modality: str | tuple[str, ...] = ()
    # False for the from-scratch baseline: the pretrain stage then only saves the initial encoder.
    trains: bool = True

    def attach(self, encoder: nn.Module) -> None:
        """Create any head that depends on the encoder's sizes (called before weights are loaded)."""

    def loss(self, encoder: nn.Module, batch: dict[str, Tensor]) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError
