"""Content-aware items end to end: pretrain on the simulator with its catalogue fields, then probe the checkpoint."""

from __future__ import annotations

from pathlib import Path

from ssl_ads.encoders.bundle import load_encoder

ITEMS = ("dataset.item_fields=[category,price_tier,advertiser_id,price]", "encoder.item_inputs=[id,fields]")


def test_pretrain_and_probe_with_item_fields(tmp_path, cli_in):
    cache = tmp_path / "cache"
    run = tmp_path / "pretrain"
    result = cli_in(tmp_path, "pretrain", "experiment=tiny", *ITEMS, f"cache_dir={cache}", f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "item table: 120 vocabulary items" in result.stderr + result.stdout
    encoder, bundle = load_encoder(run / "encoder.pt")
    assert encoder.item_inputs == ("id", "fields")
    assert set(bundle["data_state"]["item_table"]["fields"]) == {"category", "price_tier", "advertiser_id", "price"}
    assert encoder.item_content.codes_category[2:-1].min() >= 2  # every catalogue item has its category
    probe = cli_in(
        tmp_path, "probe", "experiment=tiny", *ITEMS, f"encoder_ckpt={Path(run) / 'encoder.pt'}", f"cache_dir={cache}",
        f"hydra.run.dir={tmp_path / 'probe'}",
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert "pretrained-probe" in probe.stdout


def test_item_vectors_for_use_include_the_fields(tmp_path, cli_in):
    """`embed_items` (what `ssl-ads embed embed.items=true` writes) gives the vectors scoring uses: id row plus
    side fields, not the bare id table."""
    import numpy as np
    import polars as pl
    import torch

    import ssl_ads

    run = tmp_path / "pretrain"
    result = cli_in(tmp_path, "pretrain", "experiment=tiny", *ITEMS, "pretrain.max_epochs=1",
                    f"cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    items = ssl_ads.load_encoder(run / "encoder.pt").embed_items()
    encoder, bundle = load_encoder(run / "encoder.pt")
    rows = torch.tensor(pl.DataFrame(bundle["data_state"]["item_vocab"])["idx"].to_list())
    encoder.eval()
    with torch.no_grad():
        expected = (encoder.item_embedding(rows) + encoder.item_content(rows)).numpy()
        bare = encoder.item_embedding.weight[rows].numpy()
    got = np.stack(items["embedding"].to_list())
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, bare)


CONTENT_ONLY = ("dataset.item_fields=[category,price_tier]", "encoder.item_inputs=[fields]")


def test_an_id_free_encoder_transfers_to_a_retailer_with_disjoint_item_ids(tmp_path, cli_in):
    """Pretrain on one simulated retailer, probe on another (other seed, item ids shifted past the first's):
    the run numbers its own items, every learned weight comes from the checkpoint and its items get the
    category / price-tier vectors the pretraining learned (fitted values of the checkpoint, not refitted)."""
    import torch

    cache = tmp_path / "cache"
    run = tmp_path / "pretrain"
    source = ("dataset.seed=1", "dataset.item_id_offset=1000000", "dataset.n_items=160")  # a larger catalogue
    result = cli_in(tmp_path, "pretrain", "experiment=tiny", *CONTENT_ONLY, *source, "pretrain.max_epochs=1",
                    f"cache_dir={cache}", f"hydra.run.dir={run}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    pretrained, bundle = load_encoder(run / "encoder.pt")
    assert min(bundle["data_state"]["item_vocab"]["item_id"]) >= 1_000_000
    probe = cli_in(tmp_path, "probe", "experiment=tiny", *CONTENT_ONLY, f"encoder_ckpt={run / 'encoder.pt'}",
                   f"cache_dir={cache}", f"hydra.run.dir={tmp_path / 'probe'}")  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert "pretrained-probe" in probe.stdout
    # the target's items, numbered afresh: none falls back to the OOV id, every one has its category
    assert "item table: 120 vocabulary items" in probe.stderr + probe.stdout
    assert "unknown values" not in probe.stderr + probe.stdout
    bare = cli_in(tmp_path, "probe", "experiment=tiny", f"encoder_ckpt={run / 'encoder.pt'}", f"cache_dir={cache}",
                  f"hydra.run.dir={tmp_path / 'bare'}")  # fmt: skip
    message = " ".join(bare.stderr.split())
    assert bare.returncode != 0 and "Traceback" not in bare.stderr, bare.stderr[-3000:]
    assert "knows items only by their content (item fields ['category', 'price_tier']" in message
    assert "set dataset.item_fields" in message

    from hydra import compose, initialize_config_dir

    from ssl_ads.config.choices import CONFIG_DIR
    from ssl_ads.config.schema import register_configs
    from ssl_ads.evaluation.context import StageContext, featurize_run

    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["stage=probe", "experiment=tiny", *CONTENT_ONLY, f"cache_dir={cache}",
                                           f"encoder_ckpt={run / 'encoder.pt'}"])  # fmt: skip
    data, settings = featurize_run(cfg, cfg.encoder_ckpt)
    assert max(data.state["item_vocab"]["item_id"]) < 1_000_000  # the target retailer's own ids
    ctx = StageContext(cfg, tmp_path, data, settings.apply(data.rows, data.source))
    transferred = ctx.checkpoint_encoder(cfg.encoder_ckpt)
    assert transferred.num_items == int(data.encoder_kwargs["num_items"]) != pretrained.num_items
    for name, weight in pretrained.state_dict().items():
        if "codes_" not in name:
            assert torch.equal(transferred.state_dict()[name], weight), name
    # an item of either catalogue gets the field vectors of its category and price tier
    category = bundle["data_state"]["item_table"]["fields"]["category"]["values"]
    codes = transferred.item_content.codes_category[2:-1, 0]
    assert codes.min() >= 2 and codes.max() < 2 + len(category)

    # the Python API on the same catalogue (its item table, numbered in table order) gives the same user vectors
    import numpy as np
    import polars as pl
    from hydra.utils import instantiate

    import ssl_ads
    from ssl_ads.evaluation.labeled import embed_all

    dataset = instantiate(cfg.dataset)
    source = dataset.source(cache)
    events = source.events.filter(pl.col("timestamp") < source.cutoff_timestamp).collect()
    api = ssl_ads.load_encoder(run / "encoder.pt", cache).for_catalogue(dataset.item_frame(cache))
    vectors = api.embed(events).sort("user_id")
    users = data.rows.get_column("user_id").to_numpy()
    expected = embed_all(transferred, ctx.arrays, batch_size=512)  # the probe's features
    assert vectors["user_id"].to_list() == sorted(users.tolist())
    np.testing.assert_allclose(np.stack(vectors["embedding"].to_list()), expected[np.argsort(users)],
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    # and `ssl-ads embed` on that retailer's data writes the same vectors
    embedded = cli_in(tmp_path, "embed", "experiment=tiny", *CONTENT_ONLY, f"encoder_ckpt={run / 'encoder.pt'}",
                      f"cache_dir={cache}", f"embed.out_dir={tmp_path / 'embed'}",
                      f"hydra.run.dir={tmp_path / 'embed'}")  # fmt: skip
    assert embedded.returncode == 0, embedded.stderr[-3000:]
    written = pl.read_parquet(tmp_path / "embed" / "users.parquet").sort("user_id")
    np.testing.assert_allclose(np.stack(written["embedding"].to_list()), np.stack(vectors["embedding"].to_list()),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_an_id_encoder_on_disjoint_item_ids_is_told_its_items_are_unknown(tmp_path, cli_in):
    cache = tmp_path / "cache"
    run = tmp_path / "pretrain"
    result = cli_in(tmp_path, "pretrain", "experiment=tiny", "dataset.seed=1", "dataset.item_id_offset=1000000",
                    "pretrain.max_epochs=1", f"cache_dir={cache}", f"hydra.run.dir={run}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    probe = cli_in(tmp_path, "probe", "experiment=tiny", f"encoder_ckpt={run / 'encoder.pt'}", f"cache_dir={cache}",
                   f"hydra.run.dir={tmp_path / 'probe'}")  # fmt: skip
    output = " ".join((probe.stderr + probe.stdout).split())
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert "100.0 % of the events are items the encoder's vocabulary does not know" in output
    assert "encoder.item_inputs=[fields]" in output
    import polars as pl
    import pytest

    import ssl_ads
    from ssl_ads.errors import ConfigError

    with pytest.raises(ConfigError, match=r"whose items are their content.*item_inputs \['id'\]"):
        ssl_ads.load_encoder(run / "encoder.pt", cache).for_catalogue(pl.DataFrame({"item_id": [1, 2]}))


def test_an_events_file_takes_its_item_fields_from_an_item_file(tmp_path, cli_in):
    """`dataset=events_file` with `dataset.item_file`: the columns named in `item_fields` describe the items; a
    column the file lacks is named with the file's columns."""
    from ssl_ads.data.sources.synthetic_marketplace import SimulatorSettings, simulate

    tables = simulate(SimulatorSettings(n_users=300, n_items=60, n_topics=3, n_advertisers=6, seed=3))
    tables.events.write_parquet(tmp_path / "events.parquet")
    tables.items.select("item_id", "category", "price").write_parquet(tmp_path / "items.parquet")
    small = ("encoder.dim=16", "encoder.layers=1", "encoder.ff_dim=32", "trainer.enable_progress_bar=false")
    data = (*small, "dataset=events_file", f"dataset.path={tmp_path / 'events.parquet'}", "dataset.max_len=20",
            f"dataset.item_file={tmp_path / 'items.parquet'}", "encoder.item_inputs=[id,fields]")  # fmt: skip
    run = tmp_path / "pretrain"
    result = cli_in(tmp_path, "pretrain", *data, "dataset.item_fields=[category,price]",
                    "pretrain.max_epochs=1", f"hydra.run.dir={run}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"vocabulary items from {tmp_path / 'items.parquet'}" in " ".join(result.stderr.split())
    encoder, bundle = load_encoder(run / "encoder.pt")
    assert bundle["data_state"]["item_table"]["fields"]["price"]["kind"] == "numeric"
    assert encoder.item_content.codes_category[2:-1].min() >= 2
    bad = cli_in(tmp_path, "pretrain", *data, "dataset.item_fields=[brand]",
                 f"hydra.run.dir={tmp_path / 'bad'}")  # fmt: skip
    message = " ".join(bad.stderr.split())
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "dataset.item_fields: no column 'brand'" in message and "its columns: category, price" in message
