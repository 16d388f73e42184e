"""Content-aware items (`encoder.item_inputs`): `[id]` is today's encoder, fields give unseen items a vector,
checkpoints keep the item table, and every scoring path (full, sampled, in-batch) reads the same vectors."""

from __future__ import annotations

import pytest
import torch

from ssl_ads.data.vocab_ids import PAD_ID
from ssl_ads.encoders.bundle import load_encoder, make_bundle, save_encoder
from ssl_ads.encoders.gru import SequenceGRU
from ssl_ads.encoders.sequence_transformer import SequenceTransformer
from ssl_ads.errors import ConfigError
from ssl_ads.pretext.sampled_softmax import item_loss

NUM_ITEMS = 12
FIELDS = {"genre": [6, 2], "tier": [5, 1]}  # embedding rows (pad, unknown, values..., mask), slots
SMALL = {"num_items": NUM_ITEMS, "max_len": 8, "dim": 8, "heads": 2, "layers": 1, "ff_dim": 16}


def _codes() -> dict[str, torch.Tensor]:
    genre = torch.zeros(NUM_ITEMS + 1, 2, dtype=torch.long)
    genre[2:NUM_ITEMS, 0] = torch.arange(2, NUM_ITEMS) % 3 + 2
    genre[2:NUM_ITEMS:2, 1] = 4
    genre[1, 0] = 1
    genre[NUM_ITEMS, 0] = 5
    tier = torch.zeros(NUM_ITEMS + 1, 1, dtype=torch.long)
    tier[2:NUM_ITEMS, 0] = torch.arange(2, NUM_ITEMS) % 2 + 2
    tier[1, 0], tier[NUM_ITEMS, 0] = 1, 4
    return {"codes_genre": genre, "codes_tier": tier}


def _with_fields(inputs: list[str], cls=SequenceTransformer, **kwargs):
    torch.manual_seed(0)
    transformer = issubclass(cls, SequenceTransformer)
    extra = {} if transformer else {"hidden_dim": 8}
    small = SMALL if transformer else {k: SMALL[k] for k in ("num_items", "max_len", "dim", "layers")}
    encoder = cls(**small, **extra, item_inputs=inputs, item_fields=FIELDS, **kwargs)
    for name, value in _codes().items():
        getattr(encoder.item_content, name).copy_(value)
    return encoder.eval()


def _batch() -> dict[str, torch.Tensor]:
    items = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [0, 0, 0, 0, 2, 9, 10, 11]])
    return {"items": items, "mask": items != 0}


@pytest.mark.parametrize("cls", [SequenceTransformer, SequenceGRU])
def test_id_inputs_are_the_encoder_of_before(cls):
    small = SMALL if cls is SequenceTransformer else {k: SMALL[k] for k in ("num_items", "max_len", "dim", "layers")}
    torch.manual_seed(0)
    default = cls(**small).eval()
    torch.manual_seed(0)
    explicit = cls(**small, item_inputs=["id"]).eval()
    assert default.item_content is None and explicit.item_table() is explicit.item_embedding.weight
    assert list(default.state_dict()) == list(explicit.state_dict())
    assert not any("item_content" in key for key in default.state_dict())
    for key, value in default.state_dict().items():
        assert torch.equal(value, explicit.state_dict()[key]), key
    batch = _batch()
    assert torch.equal(default(batch), explicit(batch))
    states = default(batch)[:, -1]
    assert torch.equal(default.item_logits(states), states @ default.item_embedding.weight[:NUM_ITEMS].T)


def test_fields_give_an_item_never_trained_a_vector_that_follows_its_fields():
    encoder = _with_fields(["fields"])
    assert encoder.item_embedding is None  # nothing is learned per item id
    vectors = encoder.item_vectors(torch.arange(NUM_ITEMS + 1))
    assert torch.equal(vectors[PAD_ID], torch.zeros(8))
    assert vectors[2:].norm(dim=1).min() > 0  # every item, the [MASK] id included, has a vector
    codes = _codes()
    same = [i for i in range(3, NUM_ITEMS) if all(torch.equal(c[i], c[2]) for c in codes.values())]
    assert same and torch.allclose(vectors[same[0]], vectors[2])  # same fields, same vector: no id involved
    before = encoder.item_vectors(torch.tensor([5]))
    encoder.item_content.codes_genre[5] = torch.tensor([3, 0])  # the item's genre changes: its vector does
    assert not torch.allclose(encoder.item_vectors(torch.tensor([5])), before)
    states = encoder(_batch())[:, -1]
    assert encoder.item_logits(states).shape == (2, NUM_ITEMS)


def test_id_and_fields_sum_and_id_dropout_only_acts_in_training():
    encoder = _with_fields(["id", "fields"], item_id_dropout=0.5)
    ids = torch.arange(2, NUM_ITEMS)
    expected = encoder.item_embedding(ids) + encoder.item_content(ids)
    assert torch.allclose(encoder.item_vectors(ids), expected)
    encoder.train()
    torch.manual_seed(1)
    dropped = encoder.item_vectors(ids.repeat(50))
    content = encoder.item_content(ids.repeat(50))
    share = torch.isclose(dropped, content).all(1).float().mean()
    assert 0.3 < share < 0.7  # about half the occurrences read their content only


def test_sampled_and_in_batch_scores_read_the_content_part_too():
    encoder = _with_fields(["fields"]).train()
    states = torch.randn(4, 8)
    targets = torch.tensor([2, 3, 4, 5])
    for negatives in ("full", "sampled", "in_batch"):
        encoder.zero_grad()
        item_loss(encoder, states, targets, negatives=negatives, num_negatives=5).backward()
        assert encoder.item_content.bags["genre"].weight.grad.abs().sum() > 0, negatives


def test_item_inputs_are_validated_against_the_data():
    with pytest.raises(ConfigError, match=r"encoder.item_inputs includes fields.*dataset.item_fields"):
        SequenceTransformer(**SMALL, item_inputs=["id", "fields"])
    with pytest.raises(ConfigError, match=r"encoder.item_inputs includes text.*dataset.item_text"):
        SequenceTransformer(**SMALL, item_inputs=["text"], item_fields=FIELDS)
    with pytest.raises(ConfigError, match=r"encoder.item_inputs must be a non-empty list"):
        SequenceTransformer(**SMALL, item_inputs=[])
    with pytest.raises(ConfigError, match=r"encoder.item_inputs must be a non-empty list.*title"):
        SequenceTransformer(**SMALL, item_inputs=["title"])
    with pytest.raises(ConfigError, match=r"encoder.item_id_dropout"):
        SequenceTransformer(**SMALL, item_id_dropout=0.2)


def test_a_checkpoint_keeps_the_item_table(tmp_path):
    encoder = _with_fields(["id", "fields"])
    config = {"_target_": "ssl_ads.encoders.sequence_transformer.SequenceTransformer", **SMALL,
              "item_inputs": ["id", "fields"], "item_fields": FIELDS}  # fmt: skip
    bundle = make_bundle(config, {"item_vocab": {"item_id": [], "idx": []}}, {"_target_": "x"}, {})
    save_encoder(tmp_path / "encoder.pt", encoder, bundle)
    loaded, _ = load_encoder(tmp_path / "encoder.pt")
    assert loaded.item_inputs == ("id", "fields")
    assert torch.equal(loaded.item_content.codes_genre, _codes()["codes_genre"])  # buffers, not re-initialised
    batch = _batch()
    assert torch.equal(loaded(batch), encoder(batch))
    assert torch.equal(loaded.item_table(), encoder.item_table())


def test_the_item_mean_user_vector_averages_the_content_aware_item_vectors():
    """`encoder.user_vector=items` with `item_inputs=[fields]` (no id table) averages the field vectors."""
    encoder = _with_fields(["fields"], user_vector="items")
    batch = _batch()
    vectors = encoder.item_vectors(batch["items"])
    mask = batch["mask"].unsqueeze(-1).float()
    assert encoder.item_embedding is None
    assert torch.allclose(encoder.embed(batch), (vectors * mask).sum(1) / mask.sum(1))
