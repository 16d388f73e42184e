"""`task=next_item`: full-catalogue next-item ranking with leave-one-out (the standard SASRec protocol).

Not a labeled head on a user representation: the model scores every catalogue item after each
history. `kind = "ranking"` makes the ranking evaluator (`ssl_ads.evaluation.ranking`) run it
(`ssl_ads.stages.evaluators`); it has no head, labels or loss of its own, so it is a `Task`, not a
`LabeledTask`.
"""

from __future__ import annotations

from typing import Annotated

from ssl_ads.config.ranges import OneOfKey, Range
from ssl_ads.errors import ConfigError
from ssl_ads.tasks.base import Task
from ssl_ads.tasks.ranking_metrics import DEFAULT_KS


class NextItemTask(Task):
    modality = "sequence"
    kind = "ranking"
    name = "next_item"

    def __init__(
        self,
        window: Annotated[int, Range(min=1)] = 50,
        stride: Annotated[int | None, Range(min=1)] = None,
        ks: Annotated[list[int] | None, Range(min=1)] = None,
        primary_k: Annotated[int, Range(min=1), OneOfKey("ks", tuple(DEFAULT_KS))] = 10,
        exclude_seen: bool = False,
        negatives: str = "full",
        num_negatives: Annotated[int, Range(min=1)] = 1000,
        eval_batch_size: Annotated[int, Range(min=1)] = 256,
    ) -> None:
        self.window = window
        self.stride = stride or window
        self.ks = sorted(ks or DEFAULT_KS)
        if primary_k not in self.ks:
            raise ConfigError(f"task.primary_k ({primary_k}) must be one of task.ks {self.ks}")
        self.primary_metric = f"ndcg@{primary_k}"
        self.exclude_seen = exclude_seen
        self.negatives = negatives
        self.num_negatives = num_negatives
        self.eval_batch_size = eval_batch_size
        self.label = "next_item"
        self.metric_names = tuple(f"{name}@{k}" for name in ("hr", "ndcg", "mrr") for k in self.ks)
