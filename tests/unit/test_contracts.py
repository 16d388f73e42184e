"""Explicit contracts: every encoder is an `Encoder`, every pretext a `Pretext` with `score_next`, every task kind
has one evaluator, and nothing asks an object what it is with getattr/hasattr for these hooks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from hydra.utils import get_class
from omegaconf import OmegaConf

import ssl_ads
from ssl_ads.config.choices import CONFIG_DIR, group_choices
from ssl_ads.encoders.base import Encoder
from ssl_ads.encoders.gru import SequenceGRU
from ssl_ads.encoders.registry import ENCODER_TARGETS, encoder_class
from ssl_ads.pretext.base import Pretext
from ssl_ads.pretext.masked_item import MaskedItem
from ssl_ads.pretext.next_item import NextItem
from ssl_ads.pretext.scoring import last_state_scores, next_item_scores
from ssl_ads.stages.dispatch import EVALUATORS
from ssl_ads.tasks.base import LabeledTask, Task
from ssl_ads.tasks.next_item import NextItemTask
from ssl_ads.training.downstream_module import FeatureInput, head_features

PACKAGE = Path(ssl_ads.__file__).parent


def _targets(group: str) -> list[type]:
    return [get_class(OmegaConf.load(CONFIG_DIR / group / f"{c}.yaml")["_target_"]) for c in group_choices(group)]


def test_every_encoder_is_an_encoder_and_the_defaults_are_the_plain_ones():
    classes = {encoder_class(target) for target in ENCODER_TARGETS} | set(_targets("encoder"))
    assert all(issubclass(cls, Encoder) for cls in classes), [c for c in classes if not issubclass(c, Encoder)]
    text = {cls.__name__ for cls in classes if cls.modality == "text"}
    assert text == {"BagOfWords", "SentencePretrained", "SentenceTfidf", "TextTransformer"}
    encoder = SequenceGRU(num_items=12, max_len=5, dim=8).eval()
    assert encoder.feature_dim == encoder.dim == 8 and encoder.standardize_probe_features
    assert encoder.prepare_inputs(None, Path("."), None) == {}
    batch = {"items": torch.randint(2, 12, (3, 5)), "mask": torch.ones(3, 5, dtype=torch.bool)}
    assert torch.equal(head_features(encoder, batch), encoder.embed(batch))


def test_a_base_class_adds_no_state_dict_keys():
    """Checkpoints are state dicts: subclassing `Encoder` must not rename or add a key."""
    encoder = SequenceGRU(num_items=12, max_len=5, dim=8)
    assert all(not key.startswith("_") for key in encoder.state_dict())
    probe_input = FeatureInput(6)
    assert probe_input.feature_dim == 6 and not probe_input.state_dict()


def test_every_pretext_scores_the_next_item_through_its_own_hook():
    assert all(issubclass(cls, Pretext) for cls in _targets("pretext"))
    torch.manual_seed(0)
    encoder = SequenceGRU(num_items=12, max_len=5, dim=8).eval()
    history = {"items": torch.randint(2, 12, (3, 5)), "mask": torch.ones(3, 5, dtype=torch.bool)}
    with torch.no_grad():
        plain = last_state_scores(encoder, history)
        assert torch.equal(next_item_scores(None, encoder, history), plain)
        assert torch.equal(next_item_scores(NextItem(), encoder, history), plain)
        masked = MaskedItem()
        masked.attach(encoder)
        assert next_item_scores(masked, encoder, history).shape == plain.shape
        assert not torch.equal(next_item_scores(masked, encoder, history), plain)


def test_every_task_kind_has_one_evaluator_and_ranking_is_not_a_labeled_task():
    tasks = _targets("task")
    assert {cls.kind for cls in tasks} == set(EVALUATORS)
    assert all(issubclass(cls, LabeledTask) for cls in tasks if cls.kind == "labels")
    assert issubclass(NextItemTask, Task) and not issubclass(NextItemTask, LabeledTask)
    assert NextItemTask(ks=[5, 10]).metric_names == ("hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr@5", "mrr@10")


def test_no_hook_is_found_by_getattr_and_no_stage_branches_on_the_task_kind():
    hooks = (
        r"(getattr|hasattr)\([^)]*\"(prepare_inputs|features|feature_dim|standardize_probe_features|score_next|"
        r"gate_threshold|split_by|kind)\""
    )
    found = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in PACKAGE.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(hooks, line) or ("is_ranking" in line and path.parent.name == "stages")
    ]
    assert not found, found
    assert np.array_equal(np.array(sorted(EVALUATORS)), np.array(["labels", "ranking"]))
