"""Experiment tracking (the `logger` config group): one Lightning logger per fit, one tracked run per stage run.

Lightning's own loggers (`configs/logger/*.yaml`, built with Hydra's `_target_`) do the logging. A stage fits
several models (pretraining, then a probe or fine-tune per encoder and label fraction); this module decides
where each fit's logger writes so that they stay one tracked run, records the run's id in `tracking.json` in
the run directory so `resume_from` continues it, and at the stage's end sends the run's final metrics and
output files (metrics.json, report.md, plots, encoder.pt, the resolved config).

- csv: `logs/<fit>/metrics.csv` only. Every other choice logs there too (the run directory stays the record,
  and `ssl-ads benchmark` plots pretraining from it), the tracker coming first in the Trainer's loggers.
- tensorboard: `<run>/tensorboard/<fit>/` per fit (same tag names, overlaid by TensorBoard) and
  `tensorboard/summary/` with the flattened config as hparams beside the final metrics.
- mlflow: one MLflow run per stage run holding the config as params, the pretraining curves, the final metrics
  and the outputs as artifacts; each downstream fit is a nested run under it, named after the fit, with
  Lightning's own metric names, so the UI overlays e.g. `val_auroc` of every fit in one chart while the stage
  run stays one row of the experiment's table (sweep jobs compare there side by side).
- wandb: one W&B run per stage run (offline by default); downstream fits log into it with the fit's name as
  metric prefix (W&B keeps one run per process); the outputs are one artifact.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import MLFlowLogger
from pytorch_lightning.utilities import rank_zero_only

from ssl_ads.data.io import write_json_atomic
from ssl_ads.errors import ConfigError

TRACKING_FILE = "tracking.json"
# The fit that logs into the stage's run itself (every other fit is nested under it or prefixed).
STAGE_FIT = "pretrain"
OUTPUT_FILES = ("metrics.json", "report.md", "encoder.pt")
HYDRA_FILES = ("config.yaml", "overrides.yaml")
# Tracked runs started by this process, by run directory (a stage run starts one; DDP ranks > 0 none).
_RUNS: dict[Path, dict[str, Any]] = {}


def fit_logger(cfg: DictConfig, directory: Path, fit: str) -> Any:
    """The Lightning logger(s) of one fit named `fit` (e.g. "pretrain", "scratch-probe-0.1"): the chosen
    tracker first, then the CSV logs every run keeps in its own directory (`logs/<fit>/metrics.csv`, which
    `ssl-ads benchmark` plots)."""
    from pytorch_lightning.loggers import CSVLogger

    node = cfg.get("logger")
    csv = CSVLogger(directory, name="logs", version=fit)
    if node is None:  # a config built by hand (tests): the CSV logs alone
        return csv
    backend = backend_of(node)
    if backend == "csv":
        return _build(node, save_dir=str(directory), name="logs", version=fit)
    if rank_zero_only.rank != 0:  # under DDP only rank 0 tracks (Lightning logs from rank 0 only anyway)
        return csv
    return [_tracker(cfg, node, backend, directory, fit), csv]


def _tracker(cfg: DictConfig, node: DictConfig, backend: str, directory: Path, fit: str) -> Any:
    record = stage_run(cfg, directory)
    if backend == "tensorboard":
        return _build(node, save_dir=record["tensorboard"]["save_dir"], name="tensorboard", version=fit)
    if backend == "mlflow":
        run = record["mlflow"]
        where = {"tracking_uri": run["tracking_uri"], "experiment_name": run["experiment_name"]}
        if fit == STAGE_FIT:  # MLFlowLogger would end the stage's run with this fit; the subclass keeps it open
            own = {"_target_": f"{__name__}.StageRunMLFlowLogger"} if _class(node) is MLFlowLogger else {}
            return _build(node, **where, **own, run_id=run["run_id"])
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        tags = {**_user_tags(node), MLFLOW_PARENT_RUN_ID: run["run_id"], "ssl_ads.fit": fit}
        return _build(node, **where, run_name=fit, tags=tags)
    if backend == "wandb":  # reuses the stage's W&B run, which stage_run started in this process
        return _build(node, save_dir=str(directory), prefix="" if fit == STAGE_FIT else fit)
    return _build(node)


def stage_run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """The stage run's tracking record, started on first use: created, or continued from `resume_from`'s
    `tracking.json` when that run used the same backend (and, for MLflow, the same store)."""
    key = run_dir.resolve()
    if key in _RUNS:
        return _RUNS[key]
    node = cfg.logger
    backend = backend_of(node)
    previous = resumed_record(cfg).get(backend) or {}
    record: dict[str, Any] = {"logger": backend, "stage": cfg.get("stage")}
    if backend == "tensorboard":
        record["tensorboard"] = {"save_dir": previous.get("save_dir") or str(key)}
    elif backend == "mlflow":
        record["mlflow"] = _start_mlflow(cfg, node, key, previous)
    elif backend == "wandb":
        record["wandb"] = _start_wandb(cfg, node, key, previous)
    write_json_atomic(key / TRACKING_FILE, record)
    _RUNS[key] = record
    return record


def finish_tracking(cfg: DictConfig, run_dir: Path, outputs: dict | None = None) -> None:
    """End the stage's tracked run: final metrics of `outputs` (default: the run's metrics.json) and the run's
    output files go to the tracker. Called once per stage run, after its outputs are written."""
    node = cfg.get("logger")
    if node is None or rank_zero_only.rank != 0 or backend_of(node) in ("csv", "other"):
        return
    if outputs is None:
        path = run_dir / "metrics.json"
        outputs = json.loads(path.read_text()) if path.is_file() else {}
    record = stage_run(cfg, run_dir)
    summary = summary_metrics(outputs)
    files = output_files(run_dir)
    if record["logger"] == "mlflow":
        _finish_mlflow(record["mlflow"], summary, files)
    elif record["logger"] == "tensorboard":
        _finish_tensorboard(cfg, record["tensorboard"], summary)
    elif record["logger"] == "wandb":
        _finish_wandb(record.get("stage") or "stage", summary, files)
    _RUNS.pop(run_dir.resolve(), None)


def backend_of(node: DictConfig) -> str:
    """csv, tensorboard, mlflow, wandb (Lightning's logger classes or subclasses of them), or other."""
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger, WandbLogger

    cls = _class(node)
    kinds = {CSVLogger: "csv", TensorBoardLogger: "tensorboard", MLFlowLogger: "mlflow", WandbLogger: "wandb"}
    return next((name for base, name in kinds.items() if issubclass(cls, base)), "other")


def _class(node: DictConfig) -> type:
    from hydra.utils import get_class

    try:
        return get_class(node["_target_"])
    except Exception as err:
        raise ConfigError(f"logger._target_: cannot import '{node['_target_']}' ({err})") from err


def resumed_record(cfg: DictConfig) -> dict[str, Any]:
    """`tracking.json` of the run `resume_from` names ({} without one: that run is then tracked anew)."""
    resume = cfg.get("resume_from")
    path = Path(resume) / TRACKING_FILE if resume else None
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def flat_params(cfg: DictConfig) -> dict[str, str]:
    """The resolved run config as dotted keys with the values as one would type them (`pretrain.lr: 0.001`),
    plus each config group's choice (`choices.encoder: gru`) when Hydra made them."""
    values = OmegaConf.to_container(cfg, resolve=True)
    flat: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}{k}.", v)
        else:
            flat[prefix[:-1]] = value if isinstance(value, str) else json.dumps(value)

    walk("", {k: v for k, v in values.items() if k != "hydra"})
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        for group, choice in HydraConfig.get().runtime.choices.items():
            if not group.startswith("hydra"):
                flat[f"choices.{group}"] = json.dumps(choice) if choice is None else str(choice)
    return flat


def summary_metrics(outputs: dict) -> dict[str, float]:
    """The numbers of a run's metrics.json: `pretrain/<key>` and `<metric>/<encoder>-<mode>-<fraction>` (one
    name per result row and metric, grouped by metric: what one compares across methods and runs)."""
    summary = {f"pretrain/{k}": float(v) for k, v in (outputs.get("pretrain") or {}).items() if _number(v)}
    for row in outputs.get("results") or []:
        fit = f"{row.get('encoder')}-{row.get('mode')}-{row.get('label_fraction'):g}"
        for name, value in (row.get("metrics") or {}).items():
            if _number(value):
                summary[f"{name}/{fit}"] = float(value)
    return {_metric_key(k): v for k, v in summary.items()}


def output_files(run_dir: Path) -> list[tuple[Path, str | None]]:
    """The run's outputs worth keeping with the tracked run, each with its artifact folder (None: top level)."""
    files: list[tuple[Path, str | None]] = [(run_dir / n, None) for n in OUTPUT_FILES if (run_dir / n).is_file()]
    files += [(p, None) for p in sorted(run_dir.glob("*.png"))]
    files += [(run_dir / ".hydra" / n, "hydra") for n in HYDRA_FILES if (run_dir / ".hydra" / n).is_file()]
    return files


def local_uri(uri: str, base: Path) -> str:
    """A relative local store (`file:./mlruns`, `./mlruns`, `sqlite:///mlflow.db`) made absolute from `base`,
    the directory ssl-ads was started in (DDP workers and launchers may run elsewhere); others unchanged."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(base / uri[len('sqlite:///') :]).resolve()}"
    if uri.startswith("file:") and not uri.startswith("file:/"):
        return (base / uri[len("file:") :]).resolve().as_uri()
    if "://" not in uri and not uri.startswith(("file:", "databricks")):
        return (base / uri).resolve().as_uri()
    return uri


def _start_mlflow(cfg: DictConfig, node: DictConfig, run_dir: Path, previous: dict) -> dict[str, Any]:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    # resolved first: Lightning's MLflow logger sets $MLFLOW_TRACKING_URI, which the default config reads
    params = flat_params(cfg)
    uri = local_uri(str(node.get("tracking_uri") or "file:./mlruns"), _start_dir())
    if uri.startswith("file:"):
        # MLflow 3 keeps the file store in maintenance mode and refuses it unless asked: the default here.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(uri)
    run_id = previous.get("run_id") if previous.get("tracking_uri") == uri else None
    if run_id is not None:
        try:
            client.update_run(run_id, status="RUNNING")
            client.set_tag(run_id, "ssl_ads.resumed_in", str(run_dir))
        except MlflowException:
            run_id = None  # deleted from the store since: track the resumed run anew
    if run_id is None:
        experiment = str(node.get("experiment_name") or "ssl-ads")
        if client.get_experiment_by_name(experiment) is None:  # created here, not by Lightning's warning line
            client.create_experiment(experiment, artifact_location=node.get("artifact_location"))
        tags = {**_user_tags(node), "ssl_ads.stage": str(cfg.get("stage")), "ssl_ads.run_dir": str(run_dir)}
        name = node.get("run_name") or _run_name(run_dir)
        run_id = _build(node, tracking_uri=uri, run_name=name, tags=tags).run_id
    _log_params(client, run_id, params)
    experiment_id = client.get_run(run_id).info.experiment_id
    experiment = client.get_experiment(experiment_id).name
    return {"tracking_uri": uri, "run_id": run_id, "experiment_id": experiment_id, "experiment_name": experiment}


def _log_params(client: Any, run_id: str, params: dict[str, str]) -> None:
    """Params once per run: MLflow refuses to change one, so a resumed run keeps the first values and notes
    what the resuming command changed in the `ssl_ads.resumed_with` tag."""
    from mlflow.entities import Param
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH, MAX_TAG_VAL_LENGTH

    params = {_metric_key(k): v[:MAX_PARAM_VAL_LENGTH] for k, v in params.items()}
    existing = client.get_run(run_id).data.params
    new = [Param(k, v) for k, v in params.items() if k not in existing]
    for start in range(0, len(new), MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, params=new[start : start + MAX_PARAMS_TAGS_PER_BATCH])
    changed = [f"{k}={v}" for k, v in params.items() if k in existing and existing[k] != v]
    if changed:
        client.set_tag(run_id, "ssl_ads.resumed_with", " ".join(changed)[:MAX_TAG_VAL_LENGTH])


def _finish_mlflow(run: dict[str, Any], summary: dict[str, float], files: list[tuple[Path, str | None]]) -> None:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient
    from mlflow.utils.validation import MAX_METRICS_PER_BATCH

    client = MlflowClient(run["tracking_uri"])
    now = _now_ms()
    metrics = [Metric(k, v, now, 0) for k, v in summary.items()]
    for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
        client.log_batch(run["run_id"], metrics=metrics[start : start + MAX_METRICS_PER_BATCH])
    for path, folder in files:
        client.log_artifact(run["run_id"], str(path), folder)
    client.set_terminated(run["run_id"], "FINISHED")


def _finish_tensorboard(cfg: DictConfig, run: dict[str, Any], summary: dict[str, float]) -> None:
    """The config as hparams with the final metrics (TensorBoard's HParams tab: one row per stage run)."""
    from pytorch_lightning.loggers import TensorBoardLogger

    logger = TensorBoardLogger(run["save_dir"], name="tensorboard", version="summary", default_hp_metric=False)
    logger.log_hyperparams(flat_params(cfg), summary or None)
    logger.finalize("success")


def _start_wandb(cfg: DictConfig, node: DictConfig, run_dir: Path, previous: dict) -> dict[str, Any]:
    import wandb

    run_id = previous.get("id") or wandb.util.generate_id()
    name = node.get("name") or _run_name(run_dir)
    logger = _build(node, save_dir=str(run_dir), id=run_id, name=name, job_type=str(cfg.get("stage")))
    logger.log_hyperparams(flat_params(cfg))  # starts the W&B run every fit of this stage then logs into
    return {"id": run_id, "project": node.get("project")}


def _finish_wandb(stage: str, summary: dict[str, float], files: list[tuple[Path, str | None]]) -> None:
    import wandb

    if wandb.run is None:
        return
    wandb.run.summary.update(summary)
    artifact = wandb.Artifact(f"{stage}-outputs", type="ssl-ads-outputs")
    for path, folder in files:
        artifact.add_file(str(path), name=f"{folder}/{path.name}" if folder else path.name)
    wandb.run.log_artifact(artifact)
    wandb.finish()


class StageRunMLFlowLogger(MLFlowLogger):
    """The MLflow logger of the fit that logs into the stage's own run. Lightning ends a logger's run when its
    fit ends; the stage's run ends with the stage (`finish_tracking`), or with a fit that failed."""

    def finalize(self, status: str = "success") -> None:
        if status != "success":
            super().finalize(status)


def _build(node: DictConfig, **overrides: Any) -> Any:
    """Instantiate the logger node with the per-fit arguments; a constructor's complaint names the group."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **overrides, _convert_="all")
    except InstantiationException as err:
        cause = str(err.__cause__ or err).strip().splitlines()
        raise ConfigError(f"logger ({node['_target_']}): {cause[0] if cause else err}") from err


def _user_tags(node: DictConfig) -> dict[str, str]:
    tags = node.get("tags")
    return {str(k): str(v) for k, v in OmegaConf.to_container(tags).items()} if tags else {}


def _start_dir() -> Path:
    """Where ssl-ads was started (Hydra's runtime.cwd), whatever the job's working directory is now."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.cwd) if HydraConfig.initialized() else Path.cwd()


def _run_name(run_dir: Path) -> str:
    """The run directory relative to the start directory (outputs/pipeline/<time>), else its full path."""
    try:
        return str(run_dir.relative_to(_start_dir().resolve()))
    except ValueError:
        return str(run_dir)


def _metric_key(key: str) -> str:
    """Names as Lightning's MLFlowLogger writes them: MLflow allows letters, digits and `_-./ ` only."""
    return re.sub(r"[^a-zA-Z0-9_/. -]+", "", key)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
