"""`*.ema_decay` puts Lightning's EMA weight averaging in the loop, and rejects decays outside (0, 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import EMAWeightAveraging

from ssl_ads.errors import ConfigError
from ssl_ads.evaluation.context import make_trainer

TRAINER = OmegaConf.load(Path(__file__).parents[2] / "configs" / "trainer" / "cpu.yaml")


def _trainer(tmp_path: Path, ema_decay: float | None):
    cfg = OmegaConf.create({"trainer": TRAINER})
    return make_trainer(cfg, tmp_path, "t", 1, "val_loss", "min", ema_decay=ema_decay)


def test_ema_decay_adds_the_averaging_callback_only_when_set(tmp_path: Path) -> None:
    assert any(isinstance(c, EMAWeightAveraging) for c in _trainer(tmp_path, 0.99).callbacks)
    assert not any(isinstance(c, EMAWeightAveraging) for c in _trainer(tmp_path, None).callbacks)


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5])
def test_ema_decay_outside_the_open_unit_interval_is_a_config_error(tmp_path: Path, decay: float) -> None:
    with pytest.raises(ConfigError, match="ema_decay"):
        _trainer(tmp_path, decay)
