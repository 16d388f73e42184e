"""The `logger` group through the CLI, read back from a real local MLflow store and real TensorBoard event files.

One pretraining run with logger=mlflow, then a pipeline that resumes it: the same MLflow run carries the config,
the pretext loss across the restart, the test metrics, the outputs, and a nested run per downstream fit.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")

from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

FITS = {"scratch-probe-1", "scratch-finetune-1", "pretrained-probe-1", "pretrained-finetune-1"}


def _run_dir(root: Path, stage: str) -> Path:
    runs = list((root / "outputs" / stage).iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "tracking.json").read_text())


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def mlflow_runs(tmp_path_factory, cli_in, cache):
    """(cwd, the pretraining run dir, the pipeline run dir that resumed it)."""
    cwd = tmp_path_factory.mktemp("mlflow")
    first = cli_in(cwd, "pretrain", "experiment=tiny", "pretrain.max_epochs=1", "logger=mlflow", f"cache_dir={cache}")
    assert first.returncode == 0, first.stderr[-3000:]
    pretrain_dir = _run_dir(cwd, "pretrain")
    resumed = cli_in(
        cwd, "pipeline", "experiment=tiny", "pretrain.max_epochs=2", "label_fractions=[1.0]", "probe.max_epochs=2",
        "logger=mlflow", f"resume_from={pretrain_dir}", f"cache_dir={cache}",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return cwd, pretrain_dir, _run_dir(cwd, "pipeline")


@pytest.fixture(scope="module")
def client(mlflow_runs):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 refuses its file store unless asked
        yield MlflowClient((mlflow_runs[0] / "mlruns").as_uri())


def test_resume_from_keeps_the_mlflow_run_id(mlflow_runs):
    _, pretrain_dir, pipeline_dir = mlflow_runs
    first, resumed = _record(pretrain_dir)["mlflow"], _record(pipeline_dir)["mlflow"]
    assert resumed["run_id"] == first["run_id"]
    assert resumed["tracking_uri"] == (mlflow_runs[0] / "mlruns").resolve().as_uri()  # ./mlruns of the start dir


def test_mlflow_run_holds_the_flattened_config_as_params(mlflow_runs, client):
    run = client.get_run(_record(mlflow_runs[2])["mlflow"]["run_id"])
    params = run.data.params
    assert params["pretrain.lr"] == "0.001" and params["encoder.dim"] == "16"
    assert params["encoder._target_"].endswith("SequenceTransformer")
    assert params["choices.experiment"] == "tiny" and params["choices.logger"] == "mlflow"
    # params are written once: the resumed run keeps the first values and records what the resume changed
    assert params["pretrain.max_epochs"] == "1"
    assert "pretrain.max_epochs=2" in run.data.tags["ssl_ads.resumed_with"]
    assert run.info.status == "FINISHED" and run.data.tags["ssl_ads.stage"] == "pretrain"


def test_mlflow_run_has_the_pretext_loss_across_the_restart_and_the_test_metrics(mlflow_runs, client):
    run_id = _record(mlflow_runs[2])["mlflow"]["run_id"]
    history = client.get_metric_history(run_id, "val_pretext_loss")
    assert len(history) == 2 and history[0].step < history[1].step  # epoch 1 before, epoch 2 after the resume
    metrics = client.get_run(run_id).data.metrics
    assert metrics["pretrain/epochs"] == 2
    for fit in FITS:
        assert 0.0 <= metrics[f"test_auroc/{fit}"] <= 1.0


def test_mlflow_run_keeps_the_outputs_as_artifacts(mlflow_runs, client, tmp_path):
    run_id = _record(mlflow_runs[2])["mlflow"]["run_id"]
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"metrics.json", "report.md", "encoder.pt", "hydra"} <= names
    assert "hydra/config.yaml" in {a.path for a in client.list_artifacts(run_id, "hydra")}
    local = Path(client.download_artifacts(run_id, "metrics.json", str(tmp_path)))
    assert json.loads(local.read_text()) == json.loads((mlflow_runs[2] / "metrics.json").read_text())
    assert (mlflow_runs[2] / "logs" / "pretrain" / "metrics.csv").is_file()  # the run directory keeps its logs


def test_downstream_fits_are_nested_runs_with_lightnings_metric_names(mlflow_runs, client):
    record = _record(mlflow_runs[2])["mlflow"]
    children = client.search_runs(
        [record["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{record['run_id']}'"
    )
    assert {child.info.run_name for child in children} == FITS
    for child in children:
        assert child.info.status == "FINISHED"
        assert {"train_loss", "val_auroc", "test_auroc"} <= set(child.data.metrics)


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory, cli_in, cache) -> Path:
    cwd = tmp_path_factory.mktemp("tensorboard")
    result = cli_in(cwd, "pretrain", "experiment=tiny", "logger=tensorboard", f"cache_dir={cache}")
    assert result.returncode == 0, result.stderr[-3000:]
    return _run_dir(cwd, "pretrain")


def test_tensorboard_event_files_hold_the_pretraining_curves(tensorboard_run):
    events = EventAccumulator(str(tensorboard_run / "tensorboard" / "pretrain")).Reload()
    assert {"val_pretext_loss", "pretext_loss_epoch"} <= set(events.Tags()["scalars"])
    assert len(events.Scalars("val_pretext_loss")) == 2  # experiment=tiny: two epochs
    assert _record(tensorboard_run)["tensorboard"]["save_dir"] == str(tensorboard_run.resolve())


def test_tensorboard_summary_holds_the_config_and_final_metrics(tensorboard_run):
    summary = tensorboard_run / "tensorboard" / "summary"
    events = EventAccumulator(str(summary)).Reload()
    assert "pretrain/val_pretext_loss" in events.Tags()["scalars"]
    assert "pretrain.lr: '0.001'" in (summary / "hparams.yaml").read_text()


def test_fast_dev_run_passes_through_to_lightning(tmp_path, cli, cache):
    args = ("experiment=tiny", "trainer.fast_dev_run=true", "label_fractions=[1.0]", f"cache_dir={cache}")
    result = cli("pipeline", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((_run_dir(tmp_path, "pipeline") / "metrics.json").read_text())
    fitted = {f"{r['encoder']}-{r['mode']}" for r in metrics["results"] if r["mode"] != "baseline"}  # Lightning fits
    assert fitted == {f.rsplit("-", 1)[0] for f in FITS}


def test_trainer_logger_points_at_the_logger_group(tmp_path, cli):
    result = cli("pretrain", "experiment=tiny", "+trainer.logger=true")
    assert result.returncode == 2
    assert "logger=<csv|mlflow|tensorboard|wandb>" in result.stderr and "TypeError" not in result.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed")
def test_wandb_without_its_package_is_one_line_naming_the_extra(tmp_path, cli):
    result = cli("pretrain", "experiment=tiny", "logger=wandb")
    assert result.returncode == 2
    assert "logger=wandb needs the wandb package: pip install 'ssl-ads[wandb]'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "outputs").exists()
