"""The model card written beside every export: what the file computes, from which data, how it was measured.

A file that leaves the project loses its run directory; the card keeps with it what a reader needs to trust or
reject it: data and featurizer, evaluation protocol, pretext, metrics with their label fraction, label count and
seed, the decision rule, the exported inputs, the parity check against eager PyTorch, library versions and date.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from ssl_ads.encoders.bundle import dataset_label
from ssl_ads.use.export import ExportResult, InputSpec

LIBRARIES = ("ssl-ads", "torch", "pytorch-lightning", "torchmetrics", "polars", "numpy", "onnx", "onnxruntime")
DATA_KEYS = ("source", "modality", "num_rows", "num_users", "rows", "num_items", "max_len", "inputs", "fitted_on")


def model_card(
    bundle: dict[str, Any], kind: str, source: Path, results: list[ExportResult], specs: list[InputSpec],
    tolerance: float, opset: int,
) -> str:  # fmt: skip
    """Markdown for a `kind` ("model": probabilities of a fine-tuned model; "encoder": embeddings) exported from
    `source`, with `results` (one per format) and the graph's `specs`."""
    task = bundle.get("task") or {}
    data = bundle.get("featurized") or {}
    dataset = data.get("source") or dataset_label(bundle["dataset_config"].get("_target_"))
    title = f"{task.get('name', 'embedding')} on {dataset}"
    lines = [f"# Model card: {title}", ""]
    lines += [
        f"- **what**: {_what(bundle, kind)}",
        f"- **exported from**: `{source}` ({kind} bundle) on {_now()}",
        f"- **encoder**: {_short(bundle['encoder_config'].get('_target_'))} "
        f"({_settings(bundle['encoder_config'], skip=('cardinalities', 'numeric_quantiles'))})",
        f"- **pretext**: {_pretext(bundle)}",
        "",
        "## Files",
        "",
        "| file | format | max abs difference vs eager PyTorch (fp32) | checked on |",
        "|---|---|---:|---|",
    ]
    for r in results:
        fmt = f"ONNX (opset {opset})" if r.format == "onnx" else "TorchScript (traced)"
        verdict = "ok" if r.max_abs_diff <= tolerance else "**above tolerance**"
        lines.append(f"| `{r.path.name}` | {fmt} | {r.max_abs_diff:.2e} ({verdict}, tolerance {tolerance:g}) | "
                     f"{', '.join(r.checked)} |")  # fmt: skip
    lines += ["", "## Inputs", "", "Featurized batch fields, positional, in this order (the sequence mask is derived "
              "inside: id 0 is padding). Map raw data with the featurizer state in the bundle (`ssl-ads predict`, "
              "`ssl_ads.load_model(...).predict` or `load_encoder(...).embed` do it).", "",
              "| name | dtype | shape |", "|---|---|---|"]  # fmt: skip
    for spec in specs:
        dtype, shape = str(spec.dtype).removeprefix("torch."), ", ".join(map(str, spec.shape))
        lines.append(f"| `{spec.name}` | {dtype} | [{shape}] |")
    lines += ["", f"Output `output`: {_output(bundle, kind)}; axis 0 is `batch`.", "", "## Data", ""]
    lines += [f"- **{key}**: {data[key]}" for key in DATA_KEYS if data.get(key) not in (None, "", [])]
    report = data.get("data_report") or {}
    if report.get("read") is not None:
        lines.append(f"- **cleaning**: {report.get('read'):,} read, {report.get('kept'):,} kept ({report.get('unit')})")
    lines.append(f"- **dataset config**: {_short(bundle['dataset_config'].get('_target_'))} "
                 f"({_settings(bundle['dataset_config'])})")  # fmt: skip
    lines += _evaluation(bundle, kind, source)
    lines += ["", "## Library versions", ""]
    lines += [f"- {name} {_version(name)}" for name in LIBRARIES] + [f"- python {platform.python_version()}"]
    return "\n".join(lines) + "\n"


def _what(bundle: dict[str, Any], kind: str) -> str:
    if kind == "encoder":
        return "an encoder: one embedding vector per input row (what a linear probe or a task head reads)"
    task, decision = bundle["task"], bundle["decision"]
    rule = decision.get("rule", "")
    if decision.get("kind") == "threshold":
        threshold, f1 = decision["threshold"], decision.get("val_f1", 0.0)
        rule = f"predict 1 where probability >= {threshold:.6g} ({rule}, validation F1 {f1:.3f})"
    elif decision.get("kind") == "gate":
        rule = f"{rule} ({decision['threshold']:g})"
    return f"a fine-tuned classifier of `{task.get('label')}` ({task.get('name')}); decision: {rule}"


def _output(bundle: dict[str, Any], kind: str) -> str:
    if kind == "encoder":
        return "float32 [batch, dim], the embedding"
    classes = bundle["task"].get("classes") or []
    if classes:
        return f"float32 [batch, {len(classes)}], class probabilities in this order: {', '.join(map(str, classes))}"
    return "float32 [batch], probability of the positive class (1)"


def _pretext(bundle: dict[str, Any]) -> str:
    config = bundle.get("pretext_config")
    if not config:
        return "none: the encoder was trained from scratch on the labels"
    return f"{_short(config.get('_target_'))} ({_settings(config)})"


def _evaluation(bundle: dict[str, Any], kind: str, source: Path) -> list[str]:
    """The protocol and metrics: the model's own fit, and the run's whole table when its metrics.json is beside."""
    lines: list[str] = []
    run = _run_metrics(source)
    selection = bundle.get("selection") if kind == "model" else None
    protocol = (selection or {}).get("protocol") or (run or {}).get("protocol") or {}
    if protocol:
        lines += ["", "## Protocol", ""] + [f"- **{key}**: {value}" for key, value in protocol.items()]
    if selection:
        lines += ["", "## Metrics of this model", ""]
        lines += [
            f"- **fit**: {selection['encoder']} encoder fine-tuned at label fraction {selection['label_fraction']:g} "
            f"({selection['n_labels']:,} labels), seed {selection['seed']}; chosen as model.pt by: "
            f"{selection.get('model_rule', '-')}",
            "",
            "| metric | value | 95 % interval |",
            "|---|---:|---|",
        ]
        intervals = selection.get("intervals") or {}
        for name, value in sorted(selection["metrics"].items()):
            bounds = intervals.get(name) or {}
            span = f"[{bounds['low']:.4f}, {bounds['high']:.4f}]" if "low" in bounds else ""
            lines.append(f"| {name} | {value:.4f} | {span} |")
    rows = (run or {}).get("results") or []
    if rows:
        metric = f"test_{(protocol.get('metric') or 'test auroc').split()[-1]}"
        lines += ["", f"## The run's results ({metric}; `metrics.json` beside the checkpoint)", "",
                  "| method | label fraction | labels | seed | value |", "|---|---:|---:|---:|---:|"]  # fmt: skip
        seeds = ", ".join(map(str, protocol.get("seeds", []))) or "-"
        for r in rows:
            value = r.get("metrics", {}).get(metric)
            shown = f"{value:.4f}" if isinstance(value, (int, float)) else "-"
            method, fraction = f"{r['encoder']}-{r['mode']}", r["label_fraction"]
            lines.append(f"| {method} | {fraction:g} | {r['n_labels']:,} | {seeds} | {shown} |")
    if not selection and not rows:
        lines += ["", "## Metrics", "", "None recorded with this checkpoint (no metrics.json beside it)."]
    return lines


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _run_metrics(source: Path) -> dict[str, Any] | None:
    path = source.parent / "metrics.json"
    try:
        payload = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _settings(config: dict[str, Any], skip: tuple[str, ...] = ()) -> str:
    """`key=value` of a config's scalar settings, for one line."""
    items = [f"{k}={v}" for k, v in config.items() if k != "_target_" and k not in skip and _scalar(v)]
    return ", ".join(items) or "defaults"


def _scalar(value: object) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _short(target: object) -> str:
    return str(target).rsplit(".", 1)[-1] if target else "-"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
