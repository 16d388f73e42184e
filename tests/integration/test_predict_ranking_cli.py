"""A next-item (`task=next_item`) pipeline writes `model.pt`, and `ssl-ads predict` on the evaluation's test users
lists their next items such that the test target's place in the list gives back the run's test HR@10 / NDCG@10.

Why this reproduces evaluation: the test history is a user's events before the last one (leave-one-out), and
predict reads the same featurizer state, the same last `task.window` events, the same weights in eval mode, the
test loop's batch size and the same tie rule. The figures in `metrics.json` are Lightning's float32 means over
batches, so they are compared within 1e-6: far below 1 / (number of test users), so one hit more or less, or a
target one place off, fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hydra.utils import instantiate

from ssl_ads.cli import main
from ssl_ads.tasks.leave_one_out import MIN_EVENTS
from ssl_ads.use.model_bundle import read_model

RANKING = [
    "experiment=tiny", "task=next_item", "task.window=8", "label_fractions=[1.0]", "pretrain.max_epochs=1",
    "finetune.max_epochs=1",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory, cli_in) -> Path:
    cwd = tmp_path_factory.mktemp("ranking")
    result = cli_in(cwd, "pipeline", *RANKING, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    (directory,) = (cwd / "outputs" / "pipeline").iterdir()
    return directory


def use(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    captured = capsys.readouterr()
    return int(stopped.value.code or 0), captured.out, captured.err


def test_a_next_item_run_writes_a_ranking_model_bundle(run):
    bundle = read_model(run / "model.pt")
    assert bundle["decision"]["kind"] == "top_k" and bundle["decision"]["window"] == 8
    assert bundle["decision"]["exclude_seen"] is False and bundle["head_state_dict"] == {}
    index = json.loads((run / "models" / "index.json").read_text())
    assert {f["encoder"] for f in index["fits"]} == {"scratch", "pretrained"}
    assert bundle["split"] == {"scheme": "leave-one-out"}


def leave_one_out_histories(run: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The test users' histories as evaluation reads them (events before the label window, the last one held out
    as the target), their targets, and the events the same users have in the label window."""
    bundle = read_model(run / "model.pt")
    source = instantiate(bundle["dataset_config"]).source(run.parents[2] / ".ssl_ads_cache")
    columns = ["user_id", "item_id", "timestamp", *bundle["dataset_config"].get("side_fields", [])]
    events = source.events.select(columns)
    assert source.cutoff_timestamp is not None  # the simulator's label window: the featurizer drops it
    window = events.filter(pl.col("timestamp") >= source.cutoff_timestamp)
    events = (
        events.filter(pl.col("timestamp") < source.cutoff_timestamp)
        .sort(["user_id", "timestamp"], maintain_order=True)
        .with_columns(pl.len().over("user_id").alias("n"), pl.int_range(pl.len()).over("user_id").alias("i"))
        .filter(pl.col("n") >= MIN_EVENTS).collect()
    )  # fmt: skip
    targets = events.filter(pl.col("i") == pl.col("n") - 1).select("user_id", pl.col("item_id").alias("target"))
    window = window.join(targets.lazy(), on="user_id", how="semi").collect()
    return events.filter(pl.col("i") < pl.col("n") - 1).drop("n", "i"), targets, window


def test_predict_on_the_test_users_reproduces_test_hr_and_ndcg(run, capsys, tmp_path):
    histories, targets, _ = leave_one_out_histories(run)
    histories.write_parquet(tmp_path / "history.parquet")

    history = f"dataset.path={tmp_path / 'history.parquet'}"
    code, _, err = use(capsys, "predict", f"model={run / 'model.pt'}", history, f"out={tmp_path / 'out'}")
    assert code == 0, err
    scored = pl.read_parquet(tmp_path / "out" / "predictions.parquet")
    assert scored.columns == ["user_id", "next_items", "scores"] and scored.height == targets.height
    assert (scored["next_items"].list.len() == 20).all()  # the task's largest K
    assert (scored["scores"].list.diff(null_behavior="drop").list.max().fill_null(0) <= 0).all()  # best first
    listed = scored.with_columns(pl.int_ranges(pl.col("next_items").list.len()).alias("rank"))
    listed = listed.explode("next_items", "scores", "rank").join(targets, on="user_id")
    hits = listed.filter(pl.col("next_items") == pl.col("target")).select("user_id", "rank")
    rank = targets.join(hits, on="user_id", how="left")["rank"].fill_null(10**9).to_numpy().astype(np.float64)
    hr10 = float((rank < 10).mean())
    ndcg10 = float(np.where(rank < 10, 1.0 / np.log2(np.minimum(rank, 10) + 2.0), 0.0).mean())

    chosen = json.loads((run / "models" / "index.json").read_text())["chosen"]
    encoder = chosen.split("-")[0]
    rows = json.loads((run / "metrics.json").read_text())["results"]
    (row,) = [r for r in rows if r["encoder"] == encoder and r["mode"] == "finetune"]
    print(f"predict: HR@10 {hr10:.6f} NDCG@10 {ndcg10:.6f}; run: {row['metrics']['test_hr@10']:.6f} "
          f"{row['metrics']['test_ndcg@10']:.6f} ({targets.height} test users)")  # fmt: skip
    assert hr10 == pytest.approx(row["metrics"]["test_hr@10"], abs=1e-6)
    assert ndcg10 == pytest.approx(row["metrics"]["test_ndcg@10"], abs=1e-6)


def test_predict_as_of_sets_later_events_aside_and_lists_what_the_history_alone_gives(run, capsys, tmp_path):
    """The label window's events appended to the histories change nothing when scored `as_of` its start."""
    histories, _, window = leave_one_out_histories(run)
    assert window.height > 0
    histories.write_parquet(tmp_path / "history.parquet")
    pl.concat([histories, window]).write_parquet(tmp_path / "later.parquet")
    model = f"model={run / 'model.pt'}"
    cutoff = int(window["timestamp"].min())  # the window's start: every appended event is at or after it
    for name, extra in (("history", []), ("later", [f"as_of={cutoff}"])):
        data = f"dataset.path={tmp_path / name}.parquet"
        code, _, err = use(capsys, "predict", model, data, f"out={tmp_path / name}", *extra)
        assert code == 0, err
    alone, later = (pl.read_parquet(tmp_path / n / "predictions.parquet") for n in ("history", "later"))
    assert later.equals(alone)
    summary = json.loads((tmp_path / "later" / "predict.json").read_text())
    assert summary["set_aside"] == {"events at or after as_of": window.height}


def test_a_ranking_model_is_not_exported_as_a_scorer(run, capsys, tmp_path):
    code, _, err = use(capsys, "export", f"model={run / 'model.pt'}", f"out={tmp_path}")
    assert code == 2 and "is a next-item ranking model" in " ".join(err.split())
