"""`ssl-ads embed` end to end on every modality, against the pipeline's own probe features (`embed_all` on
`build_context` with the same checkpoint), the Python API it calls, unseen ids, bad input, and `ssl-ads lookalike`
on its output.

One tiny pretraining per modality (a single `-m` process) and one embed per modality are shared by the module.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from ssl_ads import load_encoder
from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.schema import register_configs
from ssl_ads.encoders.bundle import load_encoder as load_bundle
from ssl_ads.errors import DataError
from ssl_ads.evaluation.context import build_context
from ssl_ads.evaluation.labeled import embed_all
from ssl_ads.stages.embed import run as run_embed

EXPERIMENTS = {"sequence": "tiny", "tabular": "tabular_tiny", "text": "text_tiny"}
ID_COLUMN = {"sequence": "user_id", "tabular": "row_id", "text": "id"}
ENTITY = {"sequence": "users", "tabular": "rows", "text": "texts"}
NEW_ITEM = 1_000_000  # added to an item id: an item the checkpoint's vocabulary has never seen


def _refused(result, *parts: str) -> str:
    """Exit 2 with one `error:` line (rich may wrap it at the terminal width) naming every part."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1, result.stderr
    message = " ".join(result.stderr.split())
    for part in parts:
        assert part in message, message
    return message


def _config(cwd: Path, *overrides: str):
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=["stage=probe", f"cache_dir={cwd / '.ssl_ads_cache'}", *overrides])


def _sequence_overrides(cwd: Path) -> list[str]:
    """The tiny run's events as a file (`dataset=events_file`), so `dataset.path=` is exercised too."""
    cutoff = json.loads((cwd / "cutoff.json").read_text())
    return ["dataset=events_file", f"dataset.path={cwd / 'events.parquet'}", "dataset.side_fields=[action]",
            "dataset.max_len=20", f"dataset.cutoff_timestamp={cutoff}"]  # fmt: skip


def _overrides(cwd: Path, modality: str) -> list[str]:
    return _sequence_overrides(cwd) if modality == "sequence" else [f"experiment={EXPERIMENTS[modality]}"]


@pytest.fixture(scope="module")
def work(tmp_path_factory, cli_in) -> Path:
    """Tiny pretrainings (one epoch each), the sequence events written to a file with some items made unseen, and
    one `ssl-ads embed` per modality into `out_<modality>/`."""
    cwd = tmp_path_factory.mktemp("embed")
    result = cli_in(cwd, "pretrain", "-m", "experiment=tiny,tabular_tiny,text_tiny", "pretrain.max_epochs=1",
                    "trainer.enable_progress_bar=false", timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = {tuple(yaml.safe_load(p.read_text())): p.parent.parent for p in
            (cwd / "multirun" / "pretrain").glob("*/*/.hydra/overrides.yaml")}  # fmt: skip
    for modality, experiment in EXPERIMENTS.items():
        (found,) = (job / "encoder.pt" for overrides, job in jobs.items() if f"experiment={experiment}" in overrides)
        shutil.copy(found, cwd / f"{modality}.pt")
    source = instantiate(_config(cwd, "experiment=tiny").dataset).source(cwd / ".ssl_ads_cache")
    events = source.events.collect()
    unseen = (pl.col("user_id") % 5 == 0) & (pl.col("item_id") % 3 == 0)  # some events of some users
    events.with_columns(pl.when(unseen).then(pl.col("item_id") + NEW_ITEM).otherwise("item_id").alias("item_id")
                        ).write_parquet(cwd / "events.parquet")  # fmt: skip
    before = events.filter(unseen & (pl.col("timestamp") < source.cutoff_timestamp))
    (cwd / "cutoff.json").write_text(json.dumps(source.cutoff_timestamp))
    (cwd / "unseen.json").write_text(json.dumps(before.height))
    for modality in EXPERIMENTS:
        result = cli_in(cwd, "embed", *_overrides(cwd, modality), f"encoder_ckpt={cwd / f'{modality}.pt'}",
                        f"embed.out_dir={cwd / f'out_{modality}'}", "trainer.enable_progress_bar=false")  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert "embedded" in result.stdout
    return cwd


@pytest.mark.parametrize("modality", list(EXPERIMENTS))
def test_embed_gives_the_pipelines_probe_features(work, modality):
    """The CLI's vectors are `embed_all`'s for the same data and checkpoint (the probe's features), row by row."""
    ckpt = work / f"{modality}.pt"
    cfg = _config(work, *_overrides(work, modality), f"encoder_ckpt={ckpt}")
    ctx = build_context(cfg, str(ckpt), directory=work / f"context_{modality}")
    encoder = load_bundle(ckpt)[0]
    expected = embed_all(ctx.prepare(encoder), ctx.arrays, batch_size=512)
    key = ID_COLUMN[modality]
    written = pl.read_parquet(work / f"out_{modality}" / f"{ENTITY[modality]}.parquet")
    assert written.schema["embedding"] == pl.Array(pl.Float32, expected.shape[1])
    aligned = ctx.data.rows.select(key).join(written, on=key, how="left", maintain_order="left")
    assert written.height == ctx.data.num_rows and aligned["embedding"].null_count() == 0
    np.testing.assert_allclose(aligned["embedding"].to_numpy(), expected, rtol=1e-5, atol=1e-5)
    if modality == "tabular":  # the source's key columns travel with the vectors
        assert written.columns == ["row_id", "user_id", "embedding"]


def test_unseen_items_are_counted_and_take_the_oov_slot(work):
    runs = [json.loads(p.read_text()) for p in (work / "outputs" / "embed").glob("*/metrics.json")]
    (metrics,) = [m for m in runs if m["modality"] == "sequence"]
    expected = json.loads((work / "unseen.json").read_text())
    assert expected > 0 and metrics["unseen"]["item_id"] == expected
    steps = {s["name"]: s for s in metrics["data_report"]["steps"]}
    mapped = steps["unseen ids and categories (not in the encoder checkpoint's vocabulary)"]
    assert mapped["removed"] == expected and mapped["kind"] == "mapped"
    users = pl.read_parquet(work / "out_sequence" / "users.parquet")
    assert np.isfinite(users["embedding"].to_numpy()).all()


def test_items_parquet_is_the_item_table_with_original_ids(work):
    encoder, bundle = load_bundle(work / "sequence.pt")
    items = pl.read_parquet(work / "out_sequence" / "items.parquet")
    vocab = pl.DataFrame(bundle["data_state"]["item_vocab"])
    assert items["item_id"].to_list() == vocab["item_id"].to_list()
    weights = encoder.item_embedding.weight.detach()[torch.tensor(vocab["idx"].to_list())].numpy()
    np.testing.assert_array_equal(items["embedding"].to_numpy(), weights)


def test_python_api_matches_the_cli_and_counts_unseen_categories(work):
    """`ssl_ads.load_encoder(...).embed(frame)` is what the stage calls: same vectors; unseen values are counted."""
    cfg = _config(work, "experiment=tabular_tiny")
    source = instantiate(cfg.dataset).source(work / ".ssl_ads_cache")
    encoder = load_encoder(work / "tabular.pt", work / ".ssl_ads_cache")
    frame = source.frame
    embedded = encoder.embed(frame, id_columns=["user_id"], batch_size=300)
    written = pl.read_parquet(work / "out_tabular" / "rows.parquet")
    assert embedded.equals(written)
    baseline = encoder.counts.unseen["device"]
    changed = frame.with_columns(pl.when(pl.col("row_id") % 4 == 0).then(pl.lit("smart-fridge"))
                                 .otherwise(pl.col("device")).alias("device"))  # fmt: skip
    again = encoder.embed(changed)
    assert encoder.counts.unseen["device"] == baseline + frame.filter(pl.col("row_id") % 4 == 0).height
    assert again.height == frame.height and np.isfinite(again["embedding"].to_numpy()).all()
    with pytest.raises(DataError, match="lacks column\\(s\\) device, price of the encoder's training schema"):
        encoder.embed(frame.drop("device", "price"))


def test_text_api_counts_unknown_pieces_and_sets_empty_texts_aside(work):
    encoder = load_encoder(work / "text.pt", work / ".ssl_ads_cache")
    frame = pl.DataFrame({"id": [7, 8, 9], "text": ["Great shoes, free shipping", "漢字 ☃", "   "]})
    embedded = encoder.embed(frame)
    assert embedded["id"].to_list() == [7, 8]
    assert encoder.counts.unseen["text ([UNK] word pieces)"] > 0
    assert encoder.counts.set_aside == {"null or empty texts": 1}


def test_an_encoder_of_another_modality_is_refused(work):
    """Before any data is read (in process: the CLI turns this error into one line and exit 2, as below)."""
    ckpt = work / "tabular.pt"
    with pytest.raises(DataError) as refused:
        run_embed(_config(work, "experiment=tiny", f"encoder_ckpt={ckpt}"))
    message = str(refused.value)
    assert f"encoder_ckpt {ckpt} was pretrained on tabular data" in message
    assert "but dataset=synthetic is sequence data" in message


def test_a_file_without_the_training_columns_is_refused_naming_them(work, cli, tmp_path):
    source = instantiate(_config(work, "experiment=tabular_tiny").dataset).source(work / ".ssl_ads_cache")
    path = tmp_path / "impressions.csv"
    source.frame.drop("row_id", "device", "price").write_csv(path)
    result = cli("embed", "dataset=tabular_file", f"dataset.path={path}", "dataset.label=click",
                 f"encoder_ckpt={work / 'tabular.pt'}")  # fmt: skip
    _refused(result, "it lacks device, price")
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob("*.parquet"))


def test_an_unlabeled_table_file_is_embedded_from_the_cli(work, cli_in, tmp_path):
    """No label column (embedding reads none): the same vectors as the labeled file; a missing field is named."""
    source = instantiate(_config(work, "experiment=tabular_tiny").dataset).source(work / ".ssl_ads_cache")
    table = source.frame.drop("row_id", "conversion", "is_bot")
    table.write_csv(tmp_path / "labeled.csv")
    table.drop("click").write_csv(tmp_path / "unlabeled.csv")
    result = cli_in(tmp_path, "pretrain", "dataset=tabular_file", f"dataset.path={tmp_path / 'labeled.csv'}",
                    "dataset.label=click", "pretrain.max_epochs=1", "trainer.enable_progress_bar=false")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (encoder,) = (tmp_path / "outputs" / "pretrain").glob("*/encoder.pt")
    vectors = {}
    for name in ("labeled", "unlabeled"):
        result = cli_in(tmp_path, "embed", f"encoder_ckpt={encoder}", "dataset=tabular_file",
                        f"dataset.path={tmp_path / f'{name}.csv'}", f"embed.out_dir={tmp_path / name}")  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        vectors[name] = pl.read_parquet(tmp_path / name / "rows.parquet")
    assert "no label column 'label'" in " ".join(result.stdout.split())
    assert vectors["unlabeled"].height == table.height
    assert vectors["unlabeled"].equals(vectors["labeled"])
    table.drop("click", "device").write_csv(tmp_path / "short.csv")
    result = cli_in(tmp_path, "embed", f"encoder_ckpt={encoder}", "dataset=tabular_file",
                    f"dataset.path={tmp_path / 'short.csv'}", f"embed.out_dir={tmp_path / 'short'}")  # fmt: skip
    _refused(result, "lacks column(s) device of the encoder's training schema")


def test_an_unlabeled_text_file_is_embedded_from_the_cli(work, cli_in, tmp_path):
    """`dataset=text_file` without `label_col`: the task (whose label would come from it) is not read by embed."""
    copy = pl.DataFrame({"headline": ["Big sale on shoes today", None, "Fresh coffee, roasted daily"]})
    copy.write_csv(tmp_path / "copy.csv")
    result = cli_in(tmp_path, "embed", f"encoder_ckpt={work / 'text.pt'}", "dataset=text_file",
                    f"dataset.path={tmp_path / 'copy.csv'}", "dataset.text_cols=[headline]",
                    f"embed.out_dir={tmp_path / 'out'}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    texts = pl.read_parquet(tmp_path / "out" / "texts.parquet")
    assert texts["id"].to_list() == [0, 2]  # the null text is set aside, and counted
    api = load_encoder(work / "text.pt", work / ".ssl_ads_cache").embed(pl.DataFrame({"text": copy["headline"]}))
    assert np.array_equal(np.stack(texts["embedding"].to_numpy()), np.stack(api["embedding"].to_numpy()))
    result = cli_in(tmp_path, "embed", f"encoder_ckpt={work / 'text.pt'}", "dataset=text_file",
                    f"dataset.path={tmp_path / 'copy.csv'}", "dataset.text_cols=[title]")  # fmt: skip
    _refused(result, "dataset.text_cols names missing column(s) ['title']")


def test_lookalike_on_embed_output(work, cli, tmp_path):
    users = work / "out_sequence" / "users.parquet"
    seeds = tmp_path / "seeds.csv"
    pl.DataFrame({"user_id": [0, 1, 2, 3, 4]}).write_csv(seeds)
    out = tmp_path / "audience.parquet"
    result = cli("lookalike", f"embeddings={users}", f"seeds={seeds}", "k=25", f"out={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    audience = pl.read_parquet(out)
    assert audience.columns == ["user_id", "score", "rank"] and audience.height == 25
    assert not set(audience["user_id"].to_list()) & {0, 1, 2, 3, 4}
    assert audience["rank"].to_list() == list(range(1, 26)) and audience["score"].is_sorted(descending=True)
    # its errors (seeds none of which is known, k < 1...) are in tests/unit/test_lookalike.py, in process
