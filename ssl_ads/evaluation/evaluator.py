"""What a task kind's evaluator supplies to the stages: its pretraining context and its probe / finetune /
pipeline runs (with their protocol text). `ssl_ads.stages.dispatch` maps `Task.kind` to one of these, so no
stage asks which kind of task it runs."""

from __future__ import annotations

from abc import ABC, abstractmethod

from omegaconf import DictConfig

from ssl_ads.evaluation.context import StageContext

DOWNSTREAM_STAGES = ("probe", "finetune", "pipeline")


class Evaluator(ABC):
    """One task kind's evaluation: how its data is split and featurized for pretraining, and how encoders are
    scored on it."""

    kind: str

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg

    @abstractmethod
    def pretrain_context(self) -> StageContext:
        """The featurized data and split the pretext trains on (`ssl-ads pretrain`)."""

    @abstractmethod
    def run(self, stage: str) -> float:
        """Run `stage` (one of `DOWNSTREAM_STAGES`), write its results; returns the sweep objective."""
