"""`encoder.side_fields_as`: side fields (actions) read as inputs, or only predicted by the pretext (targets)."""

from __future__ import annotations

import pytest
import torch

from ssl_ads.encoders.gru import SequenceGRU
from ssl_ads.encoders.sequence_transformer import SequenceTransformer
from ssl_ads.errors import ConfigError
from ssl_ads.pretext.masked_item import MaskedItem

NUM_ITEMS, LENGTH, ACTIONS = 30, 8, 4  # ACTIONS counts the padding id 0


def batch(actions: torch.Tensor) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    items = torch.randint(2, NUM_ITEMS, (6, LENGTH), generator=generator)
    items[:2, :3] = 0  # left padding
    return {"items": items, "mask": items != 0, "action": actions.masked_fill(items == 0, 0)}


def two_action_patterns() -> tuple[torch.Tensor, torch.Tensor]:
    first = torch.ones(6, LENGTH, dtype=torch.long)
    return first, torch.full((6, LENGTH), ACTIONS - 1, dtype=torch.long)


@pytest.mark.parametrize("encoder_class", [SequenceTransformer, SequenceGRU])
def test_targets_are_never_read_and_inputs_are(encoder_class):
    """Same items, other actions: a targets-only encoder gives identical states, an inputs encoder does not."""
    first, second = two_action_patterns()
    states = {}
    for mode in ("inputs", "targets"):
        torch.manual_seed(0)
        encoder = encoder_class(NUM_ITEMS, LENGTH, {"action": ACTIONS}, dim=16, side_fields_as=mode).eval()
        with torch.no_grad():
            states[mode] = (encoder(batch(first)), encoder(batch(second)))
        assert ("action" in encoder.side_embeddings) == (mode == "inputs")
    assert not torch.allclose(*states["inputs"])
    assert torch.equal(*states["targets"])


def test_masked_item_still_predicts_target_only_actions():
    """The pretext keeps a head for the action and its loss depends on the actions the encoder never reads."""
    encoder = SequenceTransformer(NUM_ITEMS, LENGTH, {"action": ACTIONS}, dim=16, side_fields_as="targets")
    pretext = MaskedItem(side_weight=1.0)
    pretext.attach(encoder)
    assert "action" in pretext.side_heads
    first, second = two_action_patterns()
    losses = []
    for actions in (first, second):
        torch.manual_seed(1)  # the same masked positions for both
        losses.append(pretext.loss(encoder, batch(actions)).item())
    assert losses[0] != pytest.approx(losses[1], abs=1e-3)


def test_unknown_mode_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"encoder\.side_fields_as"):
        SequenceTransformer(NUM_ITEMS, LENGTH, {"action": ACTIONS}, side_fields_as="labels")


def test_export_takes_target_only_side_fields_as_no_input():
    """The ONNX graph of a targets-only encoder has the items as its one sequence input."""
    from ssl_ads.use.export import input_specs

    for mode, expected in (("inputs", ["items", "action"]), ("targets", ["items"])):
        encoder = SequenceTransformer(NUM_ITEMS, LENGTH, {"action": ACTIONS}, dim=16, side_fields_as=mode)
        config = {"num_items": NUM_ITEMS, "side_vocab_sizes": {"action": ACTIONS}, "side_fields_as": mode}
        assert [spec.name for spec in input_specs(encoder, {"encoder_config": config})] == expected
