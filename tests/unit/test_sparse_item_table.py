"""`pretrain.sparse_item_table`: SparseAdam on the item id table, AdamW on the rest, through the real Lightning loop.

A short fit moves the rows it read and the dense parameters and leaves unread rows bit-identical (lazy Adam: the
O(rows read) step the option exists for); combinations that would hand SparseAdam a dense gradient fail naming
both keys; an interrupted run resumes both optimiser states and ends where an uninterrupted run ends.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.schema import check_recipe, register_configs
from ssl_ads.config.sparse_item_table import AUTO_MIN_ITEMS, decide_for_pretraining, decide_sparse_item_table
from ssl_ads.encoders.sequence_transformer import SequenceTransformer
from ssl_ads.errors import ConfigError
from ssl_ads.evaluation.context import make_trainer
from ssl_ads.pretext.next_item import NextItem
from ssl_ads.pretext.none import NoPretext
from ssl_ads.training.pretrain_module import PretrainModule
from ssl_ads.training.sparse_table_optimizer import SparseTableAdam

TRAINER = OmegaConf.load(Path(__file__).parents[2] / "configs" / "trainer" / "cpu.yaml")
NUM_ITEMS = 60
READ_ITEMS = 30  # the batches only hold ids below this: rows READ_ITEMS.. are never read


def _module(sparse: bool, negatives: str = "in_batch", weight_decay: float = 0.1) -> PretrainModule:
    torch.manual_seed(0)
    encoder = SequenceTransformer(num_items=NUM_ITEMS, max_len=9, dim=8, layers=1, heads=1, ff_dim=16, dropout=0.0)
    pretext = NextItem(negatives=negatives, num_negatives=10, logq=False)
    return PretrainModule(encoder, pretext, 0.01, weight_decay, {}, sparse_item_table=sparse)


def _loader() -> DataLoader:
    generator = torch.Generator().manual_seed(1)
    batches = [torch.randint(2, READ_ITEMS, (8, 9), generator=generator) for _ in range(4)]
    return DataLoader([{"items": items, "mask": items != 0} for items in batches], batch_size=None)


def _fit(module: PretrainModule, directory: Path, epochs: int, ckpt_path: str | None = None, ema=None, **args):
    """The pipeline's own Trainer (checkpoints, RNG state, EMA) with `trainer.*` overrides `args`."""
    cfg = OmegaConf.create({"trainer": {**OmegaConf.to_container(TRAINER), "enable_progress_bar": False, **args}})
    trainer = make_trainer(cfg, directory, "pretrain", epochs, "val_pretext_loss", "min", False, ema_decay=ema)
    trainer.fit(module, _loader(), _loader(), ckpt_path=ckpt_path, weights_only=True)
    return trainer


def test_the_flag_makes_the_table_sparse_and_trains_it_with_sparse_adam() -> None:
    module = _module(sparse=True)
    assert module.encoder.item_embedding.sparse
    optimizer = module.configure_optimizers()
    assert isinstance(optimizer, SparseTableAdam)
    assert isinstance(optimizer.table_optimizer, torch.optim.SparseAdam)
    assert isinstance(optimizer.dense_optimizer, torch.optim.AdamW)
    table = module.encoder.item_embedding.weight
    assert [p for g in optimizer.table_optimizer.param_groups for p in g["params"]] == [table]
    dense = [p for g in optimizer.dense_optimizer.param_groups for p in g["params"]]
    assert all(p is not table for p in dense) and len(dense) == len(list(module.parameters())) - 1
    assert not _module(sparse=False).encoder.item_embedding.sparse
    assert type(_module(sparse=False).configure_optimizers()) is torch.optim.AdamW


@pytest.mark.parametrize("sparse", [True, False])
def test_a_short_fit_moves_the_rows_read_and_the_dense_parameters(tmp_path: Path, sparse: bool) -> None:
    module = _module(sparse)
    table_before = module.encoder.item_embedding.weight.detach().clone()
    dense_before = {n: p.detach().clone() for n, p in module.named_parameters() if "item_embedding" not in n}
    _fit(module, tmp_path, epochs=1)
    table = module.encoder.item_embedding.weight.detach()
    assert not torch.equal(table[2:READ_ITEMS], table_before[2:READ_ITEMS])
    moved = [n for n, p in module.named_parameters() if n in dense_before and not torch.equal(p, dense_before[n])]
    assert "encoder.position_embedding.weight" in moved and len(moved) >= len(dense_before) // 2
    # lazy SparseAdam leaves the never-read rows as they were; AdamW's weight decay shrinks every row every step
    assert torch.equal(table[READ_ITEMS:], table_before[READ_ITEMS:]) == sparse


def test_gradient_accumulation_and_weight_averaging_work_with_a_sparse_table(tmp_path: Path) -> None:
    module = _module(sparse=True)
    table_before = module.encoder.item_embedding.weight.detach().clone()
    trainer = _fit(module, tmp_path, epochs=1, ema=0.9, accumulate_grad_batches=2)
    assert trainer.global_step == 2  # 4 batches, 2 per optimiser step
    table = module.encoder.item_embedding.weight.detach()
    assert not torch.equal(table[2:READ_ITEMS], table_before[2:READ_ITEMS])
    torch.testing.assert_close(table[READ_ITEMS:], table_before[READ_ITEMS:])  # the average of unchanged rows


def test_full_softmax_with_a_sparse_table_is_a_config_error_naming_both_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"pretrain\.sparse_item_table=true.*pretext\.negatives='full'"):
        decide_sparse_item_table("true", "full", None, 1_000_000)
    # a loss that reads the whole table anyway (the guard in the optimiser, for paths the config cannot see)
    with pytest.raises(ConfigError, match=r"pretrain\.sparse_item_table.*pretext\.negatives"):
        _fit(_module(sparse=True, negatives="full"), tmp_path, epochs=1)


def test_gradient_clipping_with_a_sparse_table_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"pretrain\.sparse_item_table=true.*trainer\.gradient_clip_val"):
        decide_sparse_item_table(True, "sampled", 1.0, 1_000_000)


def test_auto_is_sparse_only_for_row_negatives_on_a_large_catalogue() -> None:
    assert decide_sparse_item_table("auto", "sampled", None, AUTO_MIN_ITEMS).sparse
    assert decide_sparse_item_table("auto", "in_batch", None, 10 * AUTO_MIN_ITEMS).sparse
    assert not decide_sparse_item_table("auto", "sampled", None, AUTO_MIN_ITEMS - 1).sparse
    assert not decide_sparse_item_table("auto", "full", None, 10 * AUTO_MIN_ITEMS).sparse
    assert not decide_sparse_item_table("auto", "sampled", 1.0, 10 * AUTO_MIN_ITEMS).sparse
    assert not decide_sparse_item_table("false", "sampled", None, 10 * AUTO_MIN_ITEMS).sparse
    assert "< 50,000" in decide_sparse_item_table("auto", "sampled", None, 100).reason
    encoder = SequenceTransformer(num_items=AUTO_MIN_ITEMS, max_len=5, dim=4, layers=1, heads=1, ff_dim=4)
    assert decide_for_pretraining("auto", encoder, NextItem("sampled"), None).sparse
    assert not decide_for_pretraining("true", encoder, NoPretext(), None).sparse  # nothing trains: moot
    with pytest.raises(ConfigError, match="no item id table"):
        decide_for_pretraining("true", torch.nn.Linear(2, 2), NextItem("sampled"), None)


def _compose(*overrides: str):
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=["stage=pretrain", "pretext=next_item", *overrides])


def test_the_key_is_checked_at_start_up() -> None:
    cfg = _compose("pretrain.sparse_item_table=true", "pretext.negatives=sampled")
    check_recipe(cfg)  # a boolean from the command line is accepted
    assert _compose().pretrain.sparse_item_table == "auto"
    with pytest.raises(ConfigError, match=r"pretrain\.sparse_item_table=true.*pretext\.negatives='full'"):
        check_recipe(_compose("pretrain.sparse_item_table=true", "pretext.negatives=full"))
    with pytest.raises(ConfigError, match=r"pretrain\.sparse_item_table must be one of"):
        check_recipe(_compose("pretrain.sparse_item_table=sometimes"))


def test_an_interrupted_sparse_run_resumes_both_optimiser_states(tmp_path: Path) -> None:
    straight = _module(sparse=True)
    _fit(straight, tmp_path / "straight", epochs=2)
    first = _module(sparse=True)
    _fit(first, tmp_path / "first", epochs=1)
    last = tmp_path / "first" / "checkpoints" / "pretrain" / "last.ckpt"
    saved = torch.load(last, weights_only=True)["optimizer_states"][0]
    assert set(saved) == {"table", "dense"}
    assert saved["table"]["state"][0]["exp_avg"].shape == (NUM_ITEMS + 1, 8)
    assert len(saved["dense"]["state"]) == len(list(first.parameters())) - 1

    resumed = _module(sparse=True)
    trainer = _fit(resumed, tmp_path / "resumed", epochs=2, ckpt_path=str(last))
    assert trainer.current_epoch == 2
    for (name, want), got in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(got, want, msg=name)
    state = trainer.optimizers[0].state_dict()
    torch.testing.assert_close(state, straight.trainer.optimizers[0].state_dict())


def test_resuming_with_the_other_optimiser_fails_naming_the_key(tmp_path: Path) -> None:
    _fit(_module(sparse=True), tmp_path / "first", epochs=1)
    last = tmp_path / "first" / "checkpoints" / "pretrain" / "last.ckpt"
    with pytest.raises(ConfigError, match=r"resume with pretrain\.sparse_item_table=true"):
        _fit(_module(sparse=False), tmp_path / "dense", epochs=2, ckpt_path=str(last))
