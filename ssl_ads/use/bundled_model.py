"""What every shipped model (`model.pt`) answers the same way, whatever it predicts: its decision rule, the fit it
is, the columns it reads and whether a frame has them (shared by the scoring and the next-item models)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssl_ads.use.encoder import TrainedEncoder
from ssl_ads.use.schema_check import check_schema


class BundledModel:
    """Base of the models `load_model` returns; subclasses set `bundle`, `path`, `features` and `modality`."""

    bundle: dict[str, Any]
    path: Path
    features: TrainedEncoder

    @property
    def modality(self) -> str:
        return self.features.modality

    @property
    def decision(self) -> dict[str, Any]:
        return self.bundle["decision"]

    @property
    def selection(self) -> dict[str, Any]:
        """The fit this model is: encoder, label fraction, labels, seed, metrics and protocol."""
        return self.bundle["selection"]

    def input_columns(self) -> list[str]:
        """The columns `predict` needs, in the modality's canonical names."""
        return self.features.input_columns()

    def check_columns(self, columns: list[str], where: str) -> None:
        """One line when a frame cannot be read by this model: data of another modality (named), or the training
        schema's missing columns (named)."""
        check_schema(columns, self.input_columns(), self.modality, self.bundle, self.path, where, "model")
