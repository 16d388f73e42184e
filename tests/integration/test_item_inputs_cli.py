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
