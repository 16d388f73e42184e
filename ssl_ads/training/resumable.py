"""What a resumed run needs beyond weights and optimiser: random-number state, and a checkpoint on SIGTERM.

Lightning's checkpoint restores weights, optimiser, loop counters and callbacks, but not the global random
generators that masks, views, dropout and the data loaders draw from. Without them a run killed after
epoch k and resumed draws different masks from epoch k+1 on, and its final metrics differ from an
uninterrupted run with the same seed. A scheduler that preempts a job sends SIGTERM first: Lightning then
stops at the next step; this callback writes `last.ckpt` there so `resume_from=` loses no work.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException


class ResumableState(pl.Callback):
    """Saves and restores the global RNG states with every checkpoint; checkpoints to `last_path` on SIGTERM."""

    def __init__(self, last_path: Path) -> None:
        self.last_path = Path(last_path)
        self.interrupted_at: Path | None = None

    def state_dict(self) -> dict[str, Any]:
        # Plain containers and tensors only: checkpoints are loaded with weights_only=True.
        numpy_state = np.random.get_state()
        return {
            "torch": torch.get_rng_state(),
            "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].copy()), *map(float, numpy_state[2:])],
            "python": _plain(random.getstate()),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        name, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
        version, internal, gauss = state_dict["python"]
        random.setstate((version, tuple(internal), gauss))

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.last_path)
            self.interrupted_at = self.last_path


def _plain(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]
