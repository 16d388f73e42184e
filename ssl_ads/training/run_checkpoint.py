"""The best-epoch checkpoint of a fit, kept as the best over the whole run when the run is resumed.

`resume_from=` continues a run in a new run folder. Lightning's `ModelCheckpoint` then reloads only the path of
the best checkpoint, not its score, so the first epoch after the resume counted as the best so far, whatever its
score: a resumed `pretrain.keep=best` kept a worse epoch than the run had already seen, and a resumed fine-tune
could test a worse epoch. This callback carries the score over and compares every later epoch with it. The earlier
run's files are never deleted: only checkpoints in this run's own folder are replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


class RunCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` whose best score survives a resume into another folder."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        path, score = state_dict.get("best_model_path"), state_dict.get("best_model_score")
        if self.best_model_score is None and score is not None and path and Path(path).is_file():
            self.best_model_score = score
            self.best_k_models = {path: score}
            self.kth_best_model_path, self.kth_value = path, score

    def _remove_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        if self.dirpath is not None and Path(filepath).resolve().parent == Path(self.dirpath).resolve():
            super()._remove_checkpoint(trainer, filepath)
