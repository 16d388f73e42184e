"""`ssl-ads report <run or multirun dirs...>`: one ranked table over finished runs, sweeps included.

Every `metrics.json` under the given folders (pipeline, probe and finetune runs; Hydra `-m` job folders)
becomes one row per method × label fraction; a pretrain run, which has no downstream results, is one `pretrain`
row of its pretraining metrics, so a pretrain sweep is ranked by its online-probe metric where it has one, else
by `val_pretext_loss` (lower is better, as for every `*loss*` metric). The Hydra overrides that differ between the
runs (each job's `.hydra/overrides.yaml`) become columns, so a sweep's table shows what was varied next to the
metric it is ranked by. An Optuna sweep's `optimization_results.yaml` (best parameters and value) is reported too.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import polars as pl
import yaml

from ssl_ads.data.io import write_text_atomic
from ssl_ads.errors import ConfigError, SslAdsError

FORMATS = ("md", "json", "csv")
# Columns a report shows besides the one it ranks by: test and validation metrics, the pipeline's online probe.
METRIC_PREFIXES = ("test_", "val_", "online_probe_")


def find_runs(roots: list[Path]) -> list[Path]:
    """Run directories (a metrics.json with downstream results, or a pretrain run's) under `roots`, sorted."""
    runs = set()
    for root in roots:
        if not root.exists():
            raise ConfigError(f"report: '{root}' does not exist")
        candidates = [root / "metrics.json"] if (root / "metrics.json").is_file() else []
        candidates += sorted(root.rglob("metrics.json"))
        for path in candidates:
            if _is_finished_run(_read_json(path)):
                runs.add(path.parent.resolve())
    return sorted(runs)


def run_overrides(run: Path) -> dict[str, str]:
    """The run's command-line overrides (Hydra writes them to `.hydra/overrides.yaml`), as key → value."""
    path = run / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    pairs = [item.lstrip("+~").split("=", 1) for item in (yaml.safe_load(path.read_text()) or [])]
    return {key: value for key, value in (p if len(p) == 2 else (p[0], "") for p in pairs) if key != "stage"}


def distinguishing(overrides: list[dict[str, str]]) -> list[str]:
    """Override keys whose value is not the same in every run (absent counts as a value)."""
    keys = sorted({k for o in overrides for k in o})
    return [k for k in keys if len({o.get(k) for o in overrides}) > 1]


def collect(roots: list[Path], metric: str | None = None) -> tuple[pl.DataFrame, str, list[str]]:
    """The ranked table, the metric column it is ranked by, and the override columns."""
    runs = find_runs(roots)
    if not runs:
        raise ConfigError(f"report: no finished run (a metrics.json of a run) under {', '.join(map(str, roots))}")
    overrides = [run_overrides(run) for run in runs]
    columns = distinguishing(overrides)
    base = _common_root(runs)
    records = []
    for run, over in zip(runs, overrides, strict=True):
        payload = _read_json(run / "metrics.json")
        if "results" not in payload:  # a pretrain run: one row of its pretraining metrics
            records.append({"run": _run_label(run, base), **{key: over.get(key, "") for key in columns},
                            "stage": payload.get("stage", ""), "method": "pretrain", "label_fraction": None,
                            "n_labels": None, **_numbers(payload["pretrain"])})  # fmt: skip
            continue
        primary = str(payload.get("protocol", {}).get("metric", "test auroc")).replace(" ", "_")
        metric = metric or primary
        for row in payload["results"]:
            records.append(
                {
                    "run": _run_label(run, base),
                    **{key: over.get(key, "") for key in columns},
                    "stage": payload.get("stage", ""),
                    "method": f"{row['encoder']}-{row['mode']}",
                    "label_fraction": float(row["label_fraction"]),
                    "n_labels": int(row["n_labels"]),
                    **{k: float(v) for k, v in row["metrics"].items() if isinstance(v, (int, float))},
                }
            )
    table = pl.DataFrame(records, infer_schema_length=None)  # every row's keys: pretrain rows have their own
    metric = metric or _pretrain_metric(table.columns)
    metric = metric if metric in table.columns else _full_metric_name(metric)
    if metric not in table.columns:
        available = sorted(c for c in table.columns if c.startswith(METRIC_PREFIXES))
        raise ConfigError(f"report: --metric {metric} is not in these runs; available: {', '.join(available)}")
    table = table.sort(metric, descending=not lower_is_better(metric), nulls_last=True)
    return table.with_row_index("rank", offset=1), metric, columns


def lower_is_better(metric: str) -> bool:
    """Losses rank ascending (val_pretext_loss, test_logloss); every other metric descending."""
    return "loss" in metric


def _pretrain_metric(columns: list[str]) -> str:
    """What a table of pretrain runs only is ranked by: the online probe's last value, else the pretext loss on the
    validation rows."""
    online = sorted(c for c in columns if c.startswith("online_probe_") and c.endswith("_last"))
    return online[0] if online else "val_pretext_loss"


def _is_finished_run(payload: dict) -> bool:
    return "results" in payload or (payload.get("stage") == "pretrain" and isinstance(payload.get("pretrain"), dict))


def _numbers(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def render(table: pl.DataFrame, metric: str, columns: list[str], fmt: str, extras: dict) -> str:
    keep = ["rank", "run", *columns, "method", "label_fraction", "n_labels", metric]
    keep += [c for c in table.columns if c.startswith(METRIC_PREFIXES) and c not in keep]
    table = table.select(keep)
    if fmt == "json":
        return json.dumps({"ranked_by": metric, "varied": columns, "rows": table.to_dicts(), **extras}, indent=2) + "\n"
    if fmt == "csv":
        return table.write_csv()
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---:" if table.schema[c].is_numeric() else "---" for c in table.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.iter_rows()]
    order = " (lower is better)" if lower_is_better(metric) else ""
    lines = [f"# ssl-ads report: {table.height} rows ranked by {metric}{order}", "", header, rule, *body]
    for name, best in extras.get("optuna", {}).items():
        lines += ["", f"Optuna ({name}): best value {best.get('best_value')} with {best.get('best_params')}"]
    return "\n".join(lines) + "\n"


def optuna_results(roots: list[Path]) -> dict[str, dict]:
    """`optimization_results.yaml` files an Optuna sweep leaves in its multirun folder."""
    found = {}
    for root in roots:
        for path in sorted(root.rglob("optimization_results.yaml")):
            found[str(path.parent)] = yaml.safe_load(path.read_text()) or {}
    return found


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ssl-ads report", description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="run directories or multirun sweep folders")
    parser.add_argument("--metric", help="rank by this metric (test_auroc, val_auroc, auroc = test_auroc, ...)")
    parser.add_argument("--method", help="keep one method, e.g. pretrained-probe")
    parser.add_argument("--fraction", type=float, help="keep one label fraction, e.g. 0.1")
    parser.add_argument("--format", choices=FORMATS, default="md")
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        table, metric, columns = collect(args.dirs, args.metric)
        if args.method:
            table = table.filter(pl.col("method") == args.method)
        if args.fraction is not None:
            table = table.filter((pl.col("label_fraction") - args.fraction).abs() < 1e-9)
        if table.height == 0:
            raise ConfigError("report: no row matches --method/--fraction")
        table = table.drop("rank").with_row_index("rank", offset=1)
        text = render(table, metric, columns, args.format, {"optuna": optuna_results(args.dirs)})
    except SslAdsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.output:
        write_text_atomic(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _run_label(run: Path, base: Path) -> str:
    """Short name: a sweep job `<n>` (or `<n>_<all overrides>`, as sweeps were once named) is `<sweep>/<n>`."""
    name = run.name.split("_", 1)[0] if re.match(r"^\d+_", run.name) else run.name
    parent = run.parent.relative_to(base) if run.parent != base and run != base else Path()
    return str(parent / name) if run != base else run.name


def _full_metric_name(metric: str) -> str:
    return metric if metric.startswith(("test_", "val_")) else f"test_{metric}"


def _common_root(runs: list[Path]) -> Path:
    parts = [run.parts for run in runs]
    common = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return Path(*common) if common else Path("/")


def _read_json(path: Path) -> dict:
    try:
        payload = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"report: cannot read {path} ({err})") from err
    return payload if isinstance(payload, dict) else {}


def _cell(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
