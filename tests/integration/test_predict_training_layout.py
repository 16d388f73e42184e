"""`predict` and `monitor` read a file laid out as the training file was: a model trained on an ad log with its own
column names, text user ids and string datetimes (`dataset=events_file dataset.columns=... timestamp_format=...`)
scores that same log without the user renaming anything, exactly as it scores the canonical file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

import ssl_ads
from ssl_ads.cli import main
from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.schema import register_configs

FORMAT = "%d/%m/%Y %H:%M:%S"  # not ISO: only the recorded format reads it
TINY_MODELS = [  # experiment=tiny's model and loop sizes (its dataset keys are the simulator's)
    "encoder.dim=16", "encoder.layers=1", "encoder.heads=2", "encoder.ff_dim=32", "probe.max_epochs=5",
    "probe.patience=0", "finetune.max_epochs=1", "finetune.patience=0", "trainer.enable_progress_bar=false",
]  # fmt: skip


def ad_log(events: pl.DataFrame) -> pl.DataFrame:
    """The simulator's events as an ad platform exports them: own column names, text ids, formatted times, and a
    `user_id` column that is not the user (the training reader read `visitor`)."""
    return events.select(
        pl.from_epoch("timestamp", time_unit="s").dt.strftime(FORMAT).alias("event_time"),
        ("V" + pl.col("user_id").cast(pl.String).str.zfill(6)).alias("visitor"),
        pl.col("item_id").cast(pl.String).alias("creative"),
        pl.col("action").alias("event_type"),
        pl.lit(1).alias("user_id"),
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory, cli_in) -> tuple[Path, Path, int]:
    cwd = tmp_path_factory.mktemp("layout")
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=tiny", f"cache_dir={cwd / '.ssl_ads_cache'}"])
    source = instantiate(cfg.dataset).source(cwd / ".ssl_ads_cache")
    events = source.events.collect()
    ad_log(events).write_csv(cwd / "log.csv", separator=";")
    labels = source.labels.select(("V" + pl.col("user_id").cast(pl.String).str.zfill(6)).alias("visitor"),
                                  "conversion")  # fmt: skip
    labels.write_csv(cwd / "labels.csv", separator=";")
    result = cli_in(
        cwd, "pipeline", *TINY_MODELS, "dataset=events_file", f"dataset.path={cwd / 'log.csv'}",
        "dataset.separator=';'", "dataset.columns={user_id: visitor, item_id: creative, timestamp: event_time, "
        "action: event_type}", f"dataset.timestamp_format='{FORMAT}'", "dataset.side_fields=[action]",
        f"dataset.labels_path={cwd / 'labels.csv'}", f"dataset.cutoff_timestamp={source.cutoff_timestamp}",
        "dataset.max_len=20", "task=conversion", "label_fractions=[1.0]", "pretrain.max_epochs=1", timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (directory,) = (cwd / "outputs" / "pipeline").iterdir()
    canonical = ad_log(events).select(
        pl.col("visitor").alias("user_id"), pl.col("creative").alias("item_id"),
        pl.col("event_time").str.strptime(pl.Datetime("us"), FORMAT).dt.epoch("s").alias("timestamp"),
        pl.col("event_type").alias("action"),
    )  # fmt: skip
    canonical.write_parquet(cwd / "canonical.parquet")
    return directory, cwd, int(source.cutoff_timestamp)


def use(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    captured = capsys.readouterr()
    return int(stopped.value.code or 0), captured.out, captured.err


def test_predict_reads_the_training_layout_as_it_reads_the_canonical_file(run, capsys):
    directory, cwd, cutoff = run
    model, as_of = f"model={directory / 'model.pt'}", f"as_of={cutoff}"
    for name, path in (("laid_out", cwd / "log.csv"), ("canonical", cwd / "canonical.parquet")):
        code, _, err = use(capsys, "predict", model, f"dataset.path={path}", f"out={cwd / name}", as_of)
        assert code == 0, err
    laid_out, canonical = (pl.read_parquet(cwd / n / "predictions.parquet") for n in ("laid_out", "canonical"))
    assert laid_out.height > 100 and laid_out["user_id"].str.starts_with("V").all()
    assert laid_out.equals(canonical)
    summaries = [json.loads((cwd / n / "predict.json").read_text()) for n in ("laid_out", "canonical")]
    assert summaries[0]["set_aside"] == summaries[1]["set_aside"] != {}  # the label window's events, in both


def test_unparseable_times_are_set_aside_and_counted_not_scored(run, capsys):
    directory, cwd, cutoff = run
    log = pl.read_csv(cwd / "log.csv", separator=";", infer_schema=False)
    damaged = log.with_columns(pl.when(pl.int_range(pl.len()) % 50 == 0).then(pl.lit("yesterday"))
                               .otherwise("event_time").alias("event_time"))  # fmt: skip
    damaged.write_csv(cwd / "damaged.csv", separator=";")
    as_of = f"as_of={dt.datetime.fromtimestamp(cutoff, dt.UTC).isoformat()}"  # ISO text this time
    code, out, err = use(capsys, "predict", f"model={directory / 'model.pt'}", f"dataset.path={cwd / 'damaged.csv'}",
                         f"out={cwd / 'damaged'}", as_of)  # fmt: skip
    assert code == 0, err
    set_aside = json.loads((cwd / "damaged" / "predict.json").read_text())["set_aside"]
    bad = (log.height + 49) // 50
    assert set_aside[f"events whose timestamp does not parse (timestamp_format '{FORMAT}', as in training)"] == bad
    assert "does not parse" in " ".join(out.split())
    everything = log.with_columns(pl.lit("yesterday").alias("event_time"))
    everything.write_csv(cwd / "no_times.csv", separator=";")
    code, _, err = use(capsys, "predict", f"model={directory / 'model.pt'}", f"dataset.path={cwd / 'no_times.csv'}")
    assert code == 2 and "no timestamp parses as the training file's did" in " ".join(err.split())


def test_monitor_reads_the_training_layout_too(run, capsys):
    directory, cwd, cutoff = run
    for name, path in (("laid_out", cwd / "log.csv"), ("canonical", cwd / "canonical.parquet")):
        code, out, err = use(capsys, "monitor", f"reference={directory}", f"current={path}", f"out={cwd / f'm_{name}'}",
                             f"as_of={cutoff}", "embedding_rows=0")  # fmt: skip
        assert code in (0, 1), err + out
    reports = [json.loads((cwd / f"m_{n}" / "drift.json").read_text()) for n in ("laid_out", "canonical")]
    assert [f["psi"] for f in reports[0]["fields"]] == [f["psi"] for f in reports[1]["fields"]]
    assert reports[0]["current_set_aside"] == reports[1]["current_set_aside"] != {}


def test_a_folder_of_compressed_part_files_reads_as_the_one_file(run, capsys):
    """A Spark-style export of the same log (gzip and zstd parts, `_SUCCESS` and hidden `.crc` files beside them)
    is scored and monitored exactly as the single file."""
    directory, cwd, cutoff = run
    log = pl.read_csv(cwd / "log.csv", separator=";", infer_schema=False)
    export = cwd / "export"
    export.mkdir()
    half = log.height // 2
    log.slice(0, half).write_csv(export / "part-00000.csv.gz", separator=";", compression="gzip")
    log.slice(half).write_csv(export / "part-00001.csv.zst", separator=";", compression="zstd")
    (export / "_SUCCESS").write_text("")
    (export / ".part-00000.csv.gz.crc").write_bytes(b"\x00crc")
    model = f"model={directory / 'model.pt'}"
    for name, path in (("p_export", export), ("p_file", cwd / "log.csv")):
        code, _, err = use(capsys, "predict", model, f"dataset.path={path}", f"out={cwd / name}", f"as_of={cutoff}")
        assert code == 0, err
    scored = pl.read_parquet(cwd / "p_export" / "predictions.parquet")
    assert scored.height > 100 and scored.equals(pl.read_parquet(cwd / "p_file" / "predictions.parquet"))
    for name, path in (("m_export", export), ("m_file", cwd / "log.csv")):
        code, out, err = use(capsys, "monitor", f"reference={directory}", f"current={path}", f"out={cwd / name}",
                             f"as_of={cutoff}", "embedding_rows=0")  # fmt: skip
        assert code in (0, 1), err + out
    reports = [json.loads((cwd / n / "drift.json").read_text()) for n in ("m_export", "m_file")]
    assert [f["psi"] for f in reports[0]["fields"]] == [f["psi"] for f in reports[1]["fields"]]
    assert reports[0]["current_set_aside"] == reports[1]["current_set_aside"]


def test_the_python_api_reads_a_frame_laid_out_as_the_training_file(run):
    """A notebook's own read of the ad log (its column names, its text times) is scored and embedded as the
    canonical frame of the same events is; its unparseable times are counted as the command line counts them."""
    directory, cwd, cutoff = run
    laid_out = pl.read_csv(cwd / "log.csv", separator=";")
    canonical = pl.read_parquet(cwd / "canonical.parquet")
    model = ssl_ads.load_model(directory / "model.pt", cwd / ".ssl_ads_cache")
    scored = model.predict(laid_out, as_of=cutoff)
    assert scored.height > 100 and scored.equals(model.predict(canonical, as_of=cutoff))
    encoder = ssl_ads.load_encoder(directory / "encoder.pt", cwd / ".ssl_ads_cache")
    assert encoder.embed(laid_out, as_of=cutoff).equals(encoder.embed(canonical, as_of=cutoff))
    damaged = laid_out.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("soon")).otherwise("event_time")
                                    .alias("event_time"))  # fmt: skip
    model.predict(damaged, as_of=cutoff)
    assert (
        model.counts.set_aside[f"events whose timestamp does not parse (timestamp_format '{FORMAT}', as in training)"]
        == 1
    )
