"""The item-mean user vector (`encoder.user_vector=items`, `encoder=transformer_item_mean`): what it averages, and
what it leaves unchanged."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.validate import check_node_against_signature
from ssl_ads.encoders.gru import SequenceGRU
from ssl_ads.encoders.sequence_transformer import SequenceTransformer
from ssl_ads.errors import ConfigError
from ssl_ads.training.downstream_module import head_features


def _batch() -> dict[str, torch.Tensor]:
    items = torch.tensor([[0, 0, 3, 4], [5, 6, 7, 2]])  # left-padded: the first user has two events
    return {"items": items, "mask": items != 0}


@pytest.mark.parametrize("cls", [SequenceTransformer, SequenceGRU])
def test_the_user_vector_is_the_mean_of_the_real_positions_item_embeddings(cls):
    torch.manual_seed(0)
    encoder = cls(num_items=9, max_len=4, dim=8, user_vector="items").eval()
    table = encoder.item_embedding.weight
    expected = torch.stack([table[[3, 4]].mean(0), table[[5, 6, 7, 2]].mean(0)])
    with torch.no_grad():
        assert torch.allclose(head_features(encoder, _batch()), expected)
        assert torch.allclose(encoder.embed(_batch()), expected)
    assert encoder.feature_dim == 8


def test_items_and_states_puts_the_pooled_states_beside_the_item_mean():
    torch.manual_seed(0)
    encoder = SequenceTransformer(num_items=9, max_len=4, dim=8, heads=2, user_vector="items+states").eval()
    with torch.no_grad():
        features = head_features(encoder, _batch())
        plain_states = encoder.pooled_states(_batch())
    assert encoder.feature_dim == 16 and features.shape == (2, 16)
    assert torch.allclose(features[:, :8], encoder.item_mean(_batch()))
    assert torch.allclose(features[:, 8:], plain_states)
    assert torch.allclose(encoder.embed(_batch()), features[:, :8])  # `ssl-ads embed` stays dim wide


def test_the_default_user_vector_is_the_pooled_states():
    torch.manual_seed(0)
    encoder = SequenceTransformer(num_items=9, max_len=4, dim=8, heads=2).eval()
    batch = _batch()
    with torch.no_grad():
        states = encoder(batch)
        expected = torch.stack([states[0, 2:].mean(0), states[1].mean(0)])
        assert torch.allclose(head_features(encoder, batch), expected, atol=1e-6)
    assert encoder.user_vector == "states" and encoder.feature_dim == 8


def test_it_keeps_the_transformers_weights_so_pretraining_is_unchanged():
    torch.manual_seed(0)
    plain = SequenceTransformer(num_items=9, max_len=4, dim=8, heads=2)
    torch.manual_seed(0)
    item_mean = SequenceTransformer(num_items=9, max_len=4, dim=8, heads=2, user_vector="items")
    assert plain.state_dict().keys() == item_mean.state_dict().keys()
    assert all(torch.equal(v, item_mean.state_dict()[k]) for k, v in plain.state_dict().items())
    with torch.no_grad():
        assert torch.equal(plain.eval()(_batch()), item_mean.eval()(_batch()))


def test_an_unknown_user_vector_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"encoder\.user_vector.*'state'"):
        SequenceTransformer(num_items=9, max_len=4, dim=8, heads=2, user_vector="state")


def test_the_shipped_config_passes_the_signature_schema_and_builds():
    node = OmegaConf.load(CONFIG_DIR / "encoder" / "transformer_item_mean.yaml")
    check_node_against_signature("encoder", node)
    encoder = instantiate(node, num_items=9, max_len=4)
    assert isinstance(encoder, SequenceTransformer) and encoder.user_vector == "items"
