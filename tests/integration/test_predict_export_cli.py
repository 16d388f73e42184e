"""Issue 15's use commands on real runs: `model.pt` from finetune / pipeline, `predict` reproducing the test metric
exactly, `export` (ONNX, TorchScript) within 1e-4 of eager PyTorch, `monitor` gating on drift, and bad inputs as
one-line errors with exit status 2.

One tiny run per modality (module-scoped, through the CLI: Hydra, Lightning, the real stages); the use commands
then run in this process through `ssl_ads.cli.main` (the same entry point, without paying the imports again).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from hydra.utils import instantiate
from torchmetrics.classification import BinaryAUROC, BinaryAveragePrecision, MulticlassAccuracy

import ssl_ads
from ssl_ads.cli import main
from ssl_ads.data.split import SplitSettings
from ssl_ads.use.model_bundle import read_model

RUNS = {
    "tabular": ("finetune", "experiment=tabular_tiny"),
    "sequence": (
        "pipeline",
        "experiment=tiny",
        "probe.max_epochs=1",
        "pretrain.max_epochs=1",
        "online_probe.every_n_steps=0",
    ),
    "text": ("finetune", "experiment=text_tiny"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cli_in) -> dict[str, Path]:
    """One tiny fine-tuning run per modality (one epoch, all labels): their run directories."""
    out = {}
    for modality, (stage, *overrides) in RUNS.items():
        cwd = tmp_path_factory.mktemp(modality)
        result = cli_in(cwd, stage, *overrides, "finetune.max_epochs=1", "label_fractions=[1.0]", timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
        (run,) = (cwd / "outputs" / stage).iterdir()
        out[modality] = run
    return out


def use(capsys, *args: str) -> tuple[int, str, str]:
    """`ssl-ads <args>` in this process: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    captured = capsys.readouterr()
    return int(stopped.value.code or 0), captured.out, captured.err


def refused(capsys, *args: str) -> str:
    """A use command that must stop with exit status 2 and one `error:` line (rich may wrap it): its text."""
    code, _, err = use(capsys, *args)
    assert code == 2, err
    assert err.startswith("error:") and "Traceback" not in err, err
    return " ".join(err.split())


def chosen_row(run: Path) -> dict:
    """The metrics.json row of the fit `model.pt` is (by models/index.json)."""
    chosen = json.loads((run / "models" / "index.json").read_text())["chosen"]
    encoder, _, fraction = chosen.removesuffix(".pt").split("-")
    rows = json.loads((run / "metrics.json").read_text())["results"]
    (row,) = [r for r in rows if r["encoder"] == encoder and r["mode"] == "finetune" and r["label_fraction"] == 1.0]
    assert fraction == "1"
    return row


SPLIT = SplitSettings(0.1, 0.1, 0)  # the runs' split settings (val_share, test_share, seed)


def dataset_of(run: Path):
    """The run's dataset (from the model bundle's config)."""
    return instantiate(read_model(run / "model.pt")["dataset_config"])


def cache(run: Path) -> Path:
    return run.parents[2] / ".ssl_ads_cache"


def tabular_test_rows(run: Path) -> pl.DataFrame:
    dataset = dataset_of(run)
    source = dataset.source(cache(run))
    return source.frame[SPLIT.apply(source.frame, source.name).test]


def sequence_test_events(run: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the test users' events before the label window, their labels)."""
    dataset = dataset_of(run)
    data = dataset.featurize(cache(run))
    users = data.rows[SPLIT.apply(data.rows, data.source).test].select("user_id", "conversion")
    source = dataset.source(cache(run))
    events = source.events.filter(pl.col("timestamp") < source.cutoff_timestamp)
    return events.join(users.lazy(), on="user_id", how="semi", maintain_order="left").collect(), users


def predict(capsys, run: Path, data: Path, out: Path, *extra: str) -> pl.DataFrame:
    code, stdout, err = use(
        capsys, "predict", f"model={run / 'model.pt'}", f"dataset.path={data}", f"out={out}", *extra
    )
    assert code == 0, err
    assert "scored" in stdout
    return pl.read_parquet(out / "predictions.parquet")


def as_tensor(series: pl.Series) -> torch.Tensor:
    return torch.from_numpy(series.to_numpy().copy())


def test_model_bundle_is_written_beside_encoder_and_per_fit(runs):
    for modality, run in runs.items():
        assert (run / "model.pt").is_file() and (run / "models" / "index.json").is_file(), modality
        bundle = read_model(run / "model.pt")
        assert bundle["selection"]["label_fraction"] == 1.0 and bundle["selection"]["seed"] == 0
        assert set(bundle["selection"]["metrics"]) >= {"val_" + bundle["task"]["primary_metric"]}
    assert (runs["sequence"] / "encoder.pt").is_file()
    index = json.loads((runs["sequence"] / "models" / "index.json").read_text())
    assert {f["encoder"] for f in index["fits"]} == {"scratch", "pretrained"}
    assert read_model(runs["text"] / "model.pt")["decision"]["kind"] == "gate"
    decision = read_model(runs["tabular"] / "model.pt")["decision"]
    assert decision["kind"] == "threshold" and 0.0 <= decision["threshold"] <= 1.0


def test_predict_on_tabular_test_rows_reproduces_the_test_metric(runs, capsys, tmp_path):
    run = runs["tabular"]
    rows = tabular_test_rows(run)
    rows.write_parquet(tmp_path / "test_rows.parquet")
    scored = predict(capsys, run, tmp_path / "test_rows.parquet", tmp_path / "out")
    assert scored.height == rows.height and scored["row_id"].to_list() == rows["row_id"].to_list()
    metrics = chosen_row(run)["metrics"]
    score, label = as_tensor(scored["score"]), as_tensor(scored["click"]).long()
    assert float(BinaryAUROC()(score, label)) == metrics["test_auroc"]
    assert float(BinaryAveragePrecision()(score, label)) == metrics["test_auprc"]
    # the Python API the stage calls gives the same scores
    api = ssl_ads.load_model(run / "model.pt", cache(run)).predict(rows)
    assert api["score"].to_list() == scored["score"].to_list() and api.columns == scored.columns


def test_predict_on_sequence_test_users_reproduces_the_test_metric(runs, capsys, tmp_path):
    run = runs["sequence"]
    events, users = sequence_test_events(run)
    events.write_csv(tmp_path / "events.csv")  # CSV this time: the reader is the user's
    scored = predict(capsys, run, tmp_path / "events.csv", tmp_path / "out").join(users, on="user_id")
    assert scored.height == users.height
    auroc = float(BinaryAUROC()(as_tensor(scored["score"]), as_tensor(scored["conversion"]).long()))
    assert auroc == chosen_row(run)["metrics"]["test_auroc"]


def test_predict_as_of_the_label_window_sets_its_events_aside_and_reproduces_the_test_metric(runs, capsys, tmp_path):
    """A file that runs into the label window, scored `as_of` its start, is scored as training featurized it."""
    run = runs["sequence"]
    before, users = sequence_test_events(run)
    source = dataset_of(run).source(cache(run))
    events = source.events.join(users.lazy(), on="user_id", how="semi", maintain_order="left").collect()
    assert events.height > before.height  # the file holds label-window events
    events.write_parquet(tmp_path / "events.parquet")
    scored = predict(capsys, run, tmp_path / "events.parquet", tmp_path / "out", f"as_of={source.cutoff_timestamp}")
    summary = json.loads((tmp_path / "out" / "predict.json").read_text())
    assert summary["set_aside"] == {"events at or after as_of": events.height - before.height}
    scored = scored.join(users, on="user_id")
    auroc = float(BinaryAUROC()(as_tensor(scored["score"]), as_tensor(scored["conversion"]).long()))
    assert auroc == chosen_row(run)["metrics"]["test_auroc"]


def test_predict_on_text_test_rows_reproduces_accuracy_and_the_gate(runs, capsys, tmp_path):
    run = runs["text"]
    dataset = dataset_of(run)
    data = dataset.featurize(cache(run), split=SPLIT)
    data.rows[data.split.test].select("id", "text", "voice").write_parquet(tmp_path / "copy.parquet")
    scored = predict(capsys, run, tmp_path / "copy.parquet", tmp_path / "out")
    classes = read_model(run / "model.pt")["task"]["classes"]
    codes = {c: i for i, c in enumerate(classes)}
    predicted = torch.tensor([codes[c] for c in scored["predicted"]])
    truth = torch.tensor([codes[str(c)] for c in scored["voice"]])
    metrics = chosen_row(run)["metrics"]
    assert float(MulticlassAccuracy(len(classes), average="micro")(predicted, truth)) == metrics["test_accuracy"]
    coverage = float((scored["decision"] == "forward").mean())
    assert coverage == pytest.approx(metrics["test_gate_coverage"], abs=1e-6)


@pytest.mark.parametrize("modality", ["tabular", "sequence"])
def test_export_onnx_and_torchscript_match_eager(runs, capsys, tmp_path, modality):
    run = runs[modality]
    formats = "format=[onnx,torchscript]"
    code, stdout, err = use(capsys, "export", f"model={run / 'model.pt'}", formats, f"out={tmp_path}")
    assert code == 0, err
    diffs = [float(d) for d in re.findall(r"max abs difference vs eager ([0-9.e+-]+)", " ".join(stdout.split()))]
    print(f"{modality}: max abs difference vs eager, onnx / torchscript: {diffs}")
    assert len(diffs) == 2 and max(diffs) <= 1e-4
    card = (tmp_path / "model_card.md").read_text()
    for part in ("## Protocol", "label fraction 1", "seed 0", "onnxruntime", "torch", "pretext", "max abs difference"):
        assert part in card, part
    import onnx

    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    if modality == "sequence":
        assert graph.input[0].type.tensor_type.shape.dim[1].dim_param == "length"


def test_exported_onnx_scores_real_rows_as_predict_does(runs, capsys, tmp_path):
    """Beyond random parity batches: the ONNX file on the featurized test rows gives predict's scores."""
    import onnxruntime

    from ssl_ads.use.featurize import Counts, tabular_chunks

    run = runs["tabular"]
    rows = tabular_test_rows(run)
    rows.write_parquet(tmp_path / "rows.parquet")
    scored = predict(capsys, run, tmp_path / "rows.parquet", tmp_path / "pred")
    assert use(capsys, "export", f"model={run / 'model.pt'}", f"out={tmp_path / 'onnx'}")[0] == 0
    state = read_model(run / "model.pt")["data_state"]
    (chunk,) = tabular_chunks(rows, state, [], 4096, Counts(), "rows").batches
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_scores = session.run(None, {"cat": chunk.inputs["cat"].astype(np.int64), "num": chunk.inputs["num"]})[0]
    diff = float(np.abs(onnx_scores - scored["score"].to_numpy()).max())
    print(f"onnxruntime vs predict on {rows.height} real rows: max abs difference {diff:.2e}")
    assert diff <= 1e-4


def test_export_of_an_encoder_writes_its_embedding_graph(runs, capsys, tmp_path):
    code, _, err = use(capsys, "export", f"encoder_ckpt={runs['sequence'] / 'encoder.pt'}", f"out={tmp_path}")
    assert code == 0, err
    assert (tmp_path / "encoder.onnx").is_file() and "embedding" in (tmp_path / "model_card.md").read_text()


def test_monitor_passes_identical_data_and_fails_shifted_data(runs, capsys, tmp_path):
    run = runs["tabular"]
    dataset = dataset_of(run)
    frame = dataset.source(cache(run)).frame
    train = SPLIT.apply(frame, "rows").train
    # the reference is the run's training split: its own rows match it exactly, the whole file (with the
    # validation and test rows the model never fitted on) does not
    frame[train].write_parquet(tmp_path / "same.parquet")
    code, stdout, err = use(capsys, "monitor", f"reference={run}", f"current={tmp_path / 'same.parquet'}",
                            f"out={tmp_path / 'same'}")  # fmt: skip
    assert code == 0, err + stdout
    report = json.loads((tmp_path / "same" / "drift.json").read_text())
    assert max(f["psi"] for f in report["fields"]) == 0.0 and report["embedding_mean_shift"] == 0.0
    assert (report["reference_rows"], report["reference_rows_of"]) == (len(train), frame.height)
    frame.write_parquet(tmp_path / "all.parquet")
    assert use(capsys, "monitor", f"reference={run}", f"current={tmp_path / 'all.parquet'}",
               f"out={tmp_path / 'all'}")[0] == 0  # fmt: skip
    report = json.loads((tmp_path / "all" / "drift.json").read_text())
    assert max(f["psi"] for f in report["fields"]) > 0.0
    shifted = frame.with_columns(pl.lit("smart-tv").alias("device"), pl.col("price") * 4)
    shifted.write_parquet(tmp_path / "shifted.parquet")
    code, stdout, err = use(capsys, "monitor", f"reference={run}", f"current={tmp_path / 'shifted.parquet'}",
                            f"out={tmp_path / 'shifted'}")  # fmt: skip
    assert code == 1, err + stdout
    report = json.loads((tmp_path / "shifted" / "drift.json").read_text())
    assert set(report["drifted"]) == {"device", "price"} and report["oov_share"]["current"] > 0
    assert (tmp_path / "shifted" / "drift.png").stat().st_size > 1000
    assert "PSI" in stdout and "drift:" in " ".join(stdout.split())


def test_monitor_on_sequence_events_of_the_run_is_quiet(runs, capsys, tmp_path):
    run = runs["sequence"]
    dataset = dataset_of(run)
    data = dataset.featurize(cache(run))
    train_users = data.rows[SPLIT.apply(data.rows, data.source).train]
    source = dataset.source(cache(run))
    events = source.events.join(train_users.lazy().select("user_id"), on="user_id", how="semi", maintain_order="left")
    before = events.filter(pl.col("timestamp") < source.cutoff_timestamp).collect()
    before.write_parquet(tmp_path / "e.parquet")  # the training users' events: the reference itself
    code, stdout, err = use(capsys, "monitor", f"reference={run}", f"current={tmp_path / 'e.parquet'}",
                            f"out={tmp_path / 'm'}", "embedding_rows=200")  # fmt: skip
    assert code == 0, err + stdout
    fields = json.loads((tmp_path / "m" / "drift.json").read_text())["fields"]
    assert [f["name"] for f in fields] == ["item_id", "action", "history length"]
    assert max(f["psi"] for f in fields) == pytest.approx(0.0, abs=1e-12)
    # the same users' events running into the label window: seen whole they differ from training's; `as_of` the
    # window's start sets the window's events aside, counted, and what is left is the reference again
    events.collect().write_parquet(tmp_path / "all.parquet")
    psi = {}
    for name, extra in (("whole", []), ("as_of", [f"as_of={source.cutoff_timestamp}"])):
        code, stdout, err = use(capsys, "monitor", f"reference={run}", f"current={tmp_path / 'all.parquet'}",
                                f"out={tmp_path / name}", "embedding_rows=0", *extra)  # fmt: skip
        assert code in (0, 1), err + stdout
        report = json.loads((tmp_path / name / "drift.json").read_text())
        psi[name] = max(f["psi"] for f in report["fields"])
    assert psi["whole"] > 1e-3 and psi["as_of"] == pytest.approx(0.0, abs=1e-12)
    assert report["current_set_aside"] == {"events at or after as_of": events.collect().height - before.height}
    assert "set aside" in stdout


def test_bad_inputs_are_one_line_errors(runs, capsys, tmp_path, monkeypatch):
    tabular, sequence = runs["tabular"], runs["sequence"]
    rows = tabular_test_rows(tabular)
    rows.write_parquet(tmp_path / "rows.parquet")
    data = f"dataset.path={tmp_path / 'rows.parquet'}"
    out = f"out={tmp_path / 'never'}"
    # a file that is not a model bundle: text, an encoder checkpoint, a bundle naming a foreign task class
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    assert "is not a torch checkpoint" in refused(capsys, "predict", f"model={tmp_path / 'notes.pt'}", data, out)
    message = refused(capsys, "predict", f"model={sequence / 'encoder.pt'}", data, out)
    assert "is an encoder checkpoint, not a fine-tuned model" in message
    bundle = torch.load(tabular / "model.pt", weights_only=True)
    bundle["task_config"]["_target_"] = "os.system"
    torch.save(bundle, tmp_path / "crafted.pt")
    assert "not an ssl-ads task" in refused(capsys, "predict", f"model={tmp_path / 'crafted.pt'}", data, out)
    # columns that do not match the training schema: the missing ones are named
    rows.drop("price", "device").write_csv(tmp_path / "short.csv")
    message = refused(capsys, "predict", f"model={tabular / 'model.pt'}", f"dataset.path={tmp_path / 'short.csv'}", out)
    assert "lacks column(s) device, price of the model's training schema" in message
    # data of another modality than the model's
    events, _ = sequence_test_events(sequence)
    events.write_parquet(tmp_path / "events.parquet")
    message = refused(capsys, "predict", f"model={tabular / 'model.pt'}", f"dataset.path={tmp_path / 'events.parquet'}")
    assert "holds sequence data" in message and "is a tabular model" in message
    message = refused(capsys, "monitor", f"reference={sequence}", f"current={tmp_path / 'rows.parquet'}", out)
    assert "lacks column(s) timestamp, action of the checkpoint's training schema (dataset synthetic" in message
    # as_of: for event sequences only, and a time it can read; both checked before the data is
    message = refused(capsys, "monitor", f"reference={tabular}", f"current={tmp_path / 'rows.parquet'}", "as_of=0", out)
    assert "as_of applies to event sequences" in message and "is a tabular encoder" in message
    message = refused(capsys, "monitor", f"reference={sequence}", f"current={tmp_path / 'nowhere.parquet'}",
                      "as_of=last tuesday", out)  # fmt: skip
    assert message.startswith("error: as_of") and "last tuesday" in message
    # config mistakes: an unknown key, a missing one, both checkpoints
    assert "unknown key dataset.pth" in refused(capsys, "predict", f"model={tabular / 'model.pt'}", "dataset.pth=x")
    assert "missing dataset.path=..." in refused(capsys, "predict", f"model={tabular / 'model.pt'}")
    message = refused(capsys, "export", f"model={tabular / 'model.pt'}", f"encoder_ckpt={sequence / 'encoder.pt'}")
    assert "exactly one of model=" in message
    # the [export] extra missing: named, before anything is loaded
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)
    message = refused(capsys, "export", f"model={tabular / 'model.pt'}", "format=onnx", out)
    assert "needs the export extra: pip install 'ssl-ads[export]'" in message
    assert not (tmp_path / "never").exists()
