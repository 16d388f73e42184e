"""Actions as pretext targets only (`encoder.side_fields_as=targets`), end to end: the encoder pretrains on them,
and serving it needs item ids alone."""

from __future__ import annotations

import polars as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from ssl_ads import load_encoder
from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.schema import register_configs


def test_pretrained_on_action_targets_embeds_logs_without_actions(cli, tmp_path):
    result = cli("pretrain", "experiment=tiny", "pretrain.max_epochs=1", "dataset.side_fields=[action]",
                 "encoder.side_fields_as=targets", "pretext.side_weight=1.0")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = (tmp_path / "outputs" / "pretrain").glob("*/encoder.pt")
    bundle = torch.load(path, weights_only=True)
    assert bundle["encoder_config"]["side_fields_as"] == "targets"
    assert not any(key.startswith("side_embeddings") for key in bundle["state_dict"])  # nothing reads actions

    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["stage=probe", "experiment=tiny", f"cache_dir={tmp_path / 'c'}"])
    source = instantiate(cfg.dataset).source(tmp_path / "c")
    before = source.events.filter(pl.col("timestamp") < source.cutoff_timestamp)
    views = before.select("user_id", "item_id", "timestamp")
    encoder = load_encoder(path, tmp_path / "c")
    assert encoder.side_fields == []
    users = encoder.embed(views.collect())  # no action column anywhere
    assert users.height == views.collect()["user_id"].n_unique()
    vectors = users["embedding"].to_numpy()
    assert vectors.shape[1] == encoder.dim and (vectors.std(axis=0) > 0).all()
