"""Numeric-feature embeddings, the MLP's readout, and the downstream head options (wide, encoder lr, freezing)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from ssl_ads.data.tabular_features import fit_state
from ssl_ads.encoders.field_mlp import FieldMLP
from ssl_ads.encoders.field_transformer import FieldTransformer
from ssl_ads.encoders.numeric_embeddings import bin_edges, piecewise_linear_encoding
from ssl_ads.errors import ConfigError
from ssl_ads.tasks.impression_binary import ImpressionBinaryTask
from ssl_ads.training.downstream_module import DownstreamModule, WideInputs

SETTINGS = {"min_count": 1, "max_vocab": 100, "hash_buckets": 0, "numeric_transform": "auto", "quantile_bins": 10}


def _batch(n: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    return {
        "cat": torch.tensor(rng.integers(2, 5, (n, 2)), dtype=torch.int32),
        "num": torch.tensor(rng.normal(size=(n, 2)), dtype=torch.float32),
    }


def test_piecewise_linear_encoding_by_hand():
    left = torch.tensor([[0.0, 1.0, 3.0]])
    width = torch.tensor([[1.0, 2.0, 1.0]])
    valid = torch.ones(1, 3)
    values = torch.tensor([[-1.0], [0.5], [2.0], [3.5], [6.0]])
    encoded = piecewise_linear_encoding(values, left, width, valid)[:, 0]
    expected = [[-1, 0, 0], [0.5, 0, 0], [1, 0.5, 0], [1, 1, 0.5], [1, 1, 3]]  # ends extrapolate linearly
    assert torch.allclose(encoded, torch.tensor(expected))
    # a field with fewer bins: its padded bins stay 0 and its last real bin extrapolates
    valid = torch.tensor([[1.0, 1.0, 0.0]])
    encoded = piecewise_linear_encoding(torch.tensor([[9.0]]), left, width, valid)[0, 0]
    assert torch.allclose(encoded, torch.tensor([1, 4.0, 0]))  # (9 - 1) / 2


def test_bin_edges_follow_quantile_levels_and_drop_ties():
    assert bin_edges(np.linspace(0, 64, 65).tolist(), 4).tolist() == [0, 16, 32, 48, 64]
    skewed = [0.0] * 60 + [1.0, 2.0, 3.0, 4.0, 5.0]  # mostly zeros (capital gains)
    assert bin_edges(skewed, 16).tolist()[0] == 0.0 and len(bin_edges(skewed, 16)) < 17
    assert bin_edges([2.0] * 65, 8).tolist() == [2.0, 3.0]  # a constant column still gets one bin


def test_featurizer_state_carries_train_quantiles_of_each_numeric_column():
    frame = pl.DataFrame({"x": np.arange(101, dtype=float), "y": [None] * 50 + list(np.ones(51))})
    state = fit_state(frame, [], ["x", "y"], SETTINGS)
    quantiles = np.array(state["numeric_quantiles"])
    assert quantiles.shape == (3, 65)  # x, y and y's missing indicator
    assert (np.diff(quantiles, axis=1) >= 0).all()
    spec = state["numeric"][0]
    assert quantiles[0, 32] == pytest.approx((50 - spec["center"]) / spec["scale"])  # the median, standardised


@pytest.mark.parametrize("numeric_embedding", ["linear", "piecewise_linear", "periodic"])
@pytest.mark.parametrize("encoder_cls", [FieldMLP, FieldTransformer])
def test_numeric_embeddings_shape_and_gradients(encoder_cls, numeric_embedding):
    torch.manual_seed(0)
    quantiles = [np.linspace(-2, 2, 65).tolist(), [0.0] * 40 + np.linspace(0, 3, 25).tolist()]
    kwargs = {"numeric_embedding": numeric_embedding, "numeric_bins": 8, "numeric_quantiles": quantiles, "dim": 16}
    if encoder_cls is FieldTransformer:
        kwargs.update(layers=1, heads=2, ff_dim=32)
    encoder = encoder_cls(cardinalities=[5, 5], num_numeric=2, **kwargs)
    batch = _batch()
    out = encoder.embed(batch)
    assert out.shape == (32, 16)
    out.sum().backward()
    numeric = [p for n, p in encoder.tokenizer.named_parameters() if not n.startswith("categorical")]
    assert numeric and all(p.grad is not None and p.grad.abs().sum() > 0 for p in numeric)
    # the numeric values matter: changing one changes the embedding
    moved = {**batch, "num": batch["num"] + torch.tensor([1.0, 0.0])}
    assert not torch.allclose(encoder.eval().embed(moved), encoder.embed(batch))


def test_piecewise_linear_embedding_needs_the_quantiles():
    with pytest.raises(ValueError, match="numeric_quantiles"):
        FieldMLP(cardinalities=[5], num_numeric=2, numeric_embedding="piecewise_linear")
    with pytest.raises(ConfigError, match="numeric_embedding"):
        FieldMLP(cardinalities=[5], num_numeric=2, numeric_embedding="fourier")


def test_readouts_concatenate_tokens_hidden_activations_and_the_embedding():
    torch.manual_seed(0)
    kwargs = {"cardinalities": [5, 5], "num_numeric": 2, "token_dim": 4, "hidden": [24, 12], "dim": 8}
    hidden = FieldMLP(**kwargs, readout="hidden_layers").eval()
    batch = _batch()
    features = hidden.features(batch)
    assert hidden.feature_dim == 24 + 12 + 8 and features.shape == (32, 44)
    assert torch.allclose(features[:, -8:], hidden.embed(batch))
    assert (features[:, :36] >= 0).all()  # post-ReLU activations
    every = FieldMLP(**kwargs, readout="all_layers").eval()
    every.load_state_dict(hidden.state_dict())
    assert every.feature_dim == 4 * 4 + 44  # the 4 field tokens of 4 dims come first
    features_all = every.features(batch)
    assert torch.allclose(features_all[:, :16], every.tokenizer(batch).flatten(1))
    assert torch.allclose(features_all[:, 16:], features)
    plain = FieldMLP(cardinalities=[5, 5], num_numeric=2, dim=8)
    assert plain.feature_dim == 8 and plain.features(batch).shape == (32, 8)


def test_wide_inputs_are_one_hot_ids_and_numeric_values():
    wide = WideInputs([4, 3], num_numeric=1)
    batch = {"cat": torch.tensor([[2, 0], [3, 2]]), "num": torch.tensor([[0.5], [-1.0]])}
    expected = [[0, 0, 1, 0, 1, 0, 0, 0.5], [0, 0, 0, 1, 0, 0, 1, -1.0]]
    assert wide.dim == 8 and torch.equal(wide(batch), torch.tensor(expected))


class _Module(DownstreamModule):
    """Steps by hand, without a Trainer: the epoch is set by the test and logging is a no-op."""

    epoch = 0

    @property
    def current_epoch(self) -> int:
        return self.epoch

    def log(self, *args, **kwargs) -> None:
        pass


def test_downstream_module_encoder_learning_rate_wide_head_and_freezing():
    torch.manual_seed(0)
    encoder = FieldMLP(cardinalities=[5, 5], num_numeric=2, dim=8)
    wide = WideInputs([5, 5], 2)
    module = _Module(encoder, ImpressionBinaryTask("click"), 1e-2, 0.0, wide, 0.1, freeze_epochs=1)
    assert module.head.in_features == 8 + 12
    groups = module.configure_optimizers().param_groups
    assert [g["lr"] for g in groups] == [1e-2, 1e-3]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in encoder.parameters()}
    batch = {**_batch(), "label": torch.randint(0, 2, (32,)).float()}

    def one_step(epoch: int) -> tuple[bool, bool]:
        module.epoch = epoch
        module.on_train_epoch_start()
        optimizer = torch.optim.AdamW([p for g in groups for p in g["params"]], lr=1e-2)
        before_encoder = [p.detach().clone() for p in encoder.parameters()]
        before_head = module.head.weight.detach().clone()
        optimizer.zero_grad()
        module.training_step(batch, 0).backward()
        optimizer.step()
        moved_encoder = any(not torch.equal(a, p) for a, p in zip(before_encoder, encoder.parameters(), strict=True))
        return moved_encoder, not torch.equal(before_head, module.head.weight)

    assert one_step(0) == (False, True)  # epoch 0: the encoder is frozen, the head learns
    assert one_step(1) == (True, True)


def test_the_head_scores_in_fp32_under_bf16_mixed_autocast():
    """`trainer.precision=auto` is bf16-mixed on a CPU with bf16 units: the encoder may run in bf16 there, but the
    scores the metrics and their intervals read are fp32. (Before: `make bench-ci` on such a CPU ended in
    `TypeError: Got unsupported ScalarType BFloat16` from the calibration error's interval.)"""
    from ssl_ads.tasks.intervals import metric_intervals

    torch.manual_seed(0)
    task = ImpressionBinaryTask("click")
    module = _Module(FieldMLP(cardinalities=[5, 5], num_numeric=2, dim=8), task, 1e-2, 0.0).eval()
    batch = _batch()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert module.encoder.features(batch).dtype == torch.bfloat16  # autocast is on for the encoder
        scores = task.predictions(module(batch))
    assert scores.dtype == torch.float32
    target = torch.arange(32) % 2
    intervals = metric_intervals(task.metrics(), scores, target, seed=0, resamples=50)
    assert {"test_auroc", "test_ece"} <= set(intervals)


def test_encoders_saved_with_the_old_linear_numeric_names_still_load():
    """ssl-ads 0.1 stored the linear numeric map as `tokenizer.num_weight` / `num_bias`."""
    encoder = FieldMLP([4, 5], 2, token_dim=8, hidden=[16], dim=8)
    state = encoder.state_dict()
    old = {k.replace("tokenizer.numeric.weight", "tokenizer.num_weight").replace("tokenizer.numeric.bias",
           "tokenizer.num_bias"): v for k, v in state.items()}  # fmt: skip
    assert "tokenizer.num_weight" in old
    fresh = FieldMLP([4, 5], 2, token_dim=8, hidden=[16], dim=8)
    fresh.load_state_dict(old)
    assert torch.equal(fresh.tokenizer.numeric.weight, encoder.tokenizer.numeric.weight)
