"""The `logger` group's plumbing without a training run: store URIs, metric names, resume, start-up checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from ssl_ads.config.choices import CONFIG_DIR
from ssl_ads.config.schema import register_configs
from ssl_ads.config.validate import validate_run_config
from ssl_ads.errors import ConfigError
from ssl_ads.report.tracking import finish_tracking, fit_logger, local_uri, summary_metrics


def _compose(*overrides: str):
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["stage=pretrain", *overrides], return_hydra_config=True)
    choices = {k: v for k, v in OmegaConf.to_container(cfg.hydra.runtime.choices).items() if "hydra" not in k}
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


def test_relative_stores_are_taken_from_the_start_directory(tmp_path: Path) -> None:
    assert local_uri("file:./mlruns", tmp_path) == (tmp_path / "mlruns").as_uri()
    assert local_uri("mlruns", tmp_path) == (tmp_path / "mlruns").as_uri()
    assert local_uri("sqlite:///mlflow.db", tmp_path) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    for uri in ("http://host:5000", "databricks", "file:///abs/mlruns", "sqlite:////abs/mlflow.db"):
        assert local_uri(uri, tmp_path) == uri


def test_final_metrics_are_named_metric_then_fit() -> None:
    outputs = {
        "pretrain": {"pretext": "MaskedItem", "epochs": 2, "val_pretext_loss": 5.4, "resumed": True},
        "results": [{"encoder": "pretrained", "mode": "probe", "label_fraction": 0.1, "metrics": {"test_mrr@10": 0.3}}],
    }
    assert summary_metrics(outputs) == {
        "pretrain/epochs": 2.0, "pretrain/val_pretext_loss": 5.4, "test_mrr10/pretrained-probe-0.1": 0.3,
    }  # fmt: skip


def test_default_logger_is_csv_and_mlflow_reads_its_uri_from_the_environment(monkeypatch) -> None:
    assert _compose()[0].logger._target_.endswith("CSVLogger")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert _compose("logger=mlflow")[0].logger.tracking_uri == "http://tracking.example:5000"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+trainer.logger=true", "choose it with logger=<csv|mlflow|tensorboard|wandb>"),
        ("+trainer.max_epochs=3", "set pretrain.max_epochs, probe.max_epochs or finetune.max_epochs"),
        ("+trainer.callbacks=[]", "trainer.callbacks is not a run setting"),
    ],
)
def test_trainer_arguments_ssl_ads_sets_itself_are_refused_at_start(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("|", r"\|")):
        validate_run_config(*_compose(override))


def test_lightning_passthroughs_compose_with_lightnings_defaults() -> None:
    trainer = _compose("trainer.fast_dev_run=true", "trainer.max_time=00:00:01:00", "trainer.limit_val_batches=2")[0]
    assert trainer.trainer.fast_dev_run is True and trainer.trainer.limit_val_batches == 2
    defaults = _compose()[0].trainer
    assert defaults.fast_dev_run is False and defaults.max_time is None and defaults.limit_test_batches is None


def test_a_missing_logger_package_names_the_extra(monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError, match=r"logger=mlflow needs the mlflow package: pip install 'ssl-ads\[tracking\]'"):
        validate_run_config(*_compose("logger=mlflow"))


def test_tensorboard_resume_keeps_writing_into_the_resumed_runs_folder(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "tracking.json").write_text(json.dumps({"logger": "tensorboard", "tensorboard": {"save_dir": str(old)}}))
    logger_cfg = OmegaConf.load(CONFIG_DIR / "logger" / "tensorboard.yaml")
    cfg = OmegaConf.create({"stage": "pretrain", "resume_from": str(old), "logger": logger_cfg})
    tracker, csv = fit_logger(cfg, new, "pretrain")
    assert Path(tracker.log_dir) == old / "tensorboard" / "pretrain"
    assert Path(csv.log_dir) == new / "logs" / "pretrain"  # the CSV logs stay with the new run
    assert json.loads((new / "tracking.json").read_text())["tensorboard"]["save_dir"] == str(old)
    finish_tracking(cfg, new, {"pretrain": {"epochs": 1}})
    assert (old / "tensorboard" / "summary" / "hparams.yaml").is_file()
