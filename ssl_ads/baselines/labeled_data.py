"""What a baseline reads from the evaluation engine: the labeled split, the label budgets and the row maker.

A structural type, so baselines depend on this contract rather than on the engine that fulfils it
(`Downstream`, which calls the baselines: importing it here would point the dependency upward).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from ssl_ads.results import ResultRow
from ssl_ads.tasks.base import LabeledTask


class LabeledData(Protocol):
    ctx: Any  # the run's context: `arrays` (featurized inputs), `data` (its `encoder_kwargs`), `cfg` (`seed`)
    task: LabeledTask
    labels: np.ndarray  # one label per featurized row (0 where unlabeled)
    val: np.ndarray  # validation rows (indices into `labels`)
    test: np.ndarray  # test rows

    def budget_rows(self, fraction: float) -> np.ndarray:
        """Every labeled row a fit at `fraction` may read."""
        ...

    def result_row(
        self,
        encoder: str,
        mode: str,
        fraction: float,
        n_labels: int,
        metrics: dict[str, float],
        seconds: float,
        scored: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> ResultRow:
        """The row of one fit, with the intervals of its test metrics computed from `scored`."""
        ...
