"""A suite's outputs: the rich summary in the terminal, `report.md` and the versioned `results.json`."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

from ssl_ads.benchmark.expectations import Verdict
from ssl_ads.benchmark.suite import Case, Suite
from ssl_ads.data.io import write_json_atomic, write_text_atomic
from ssl_ads.results import RESULTS_SCHEMA_VERSION, labels_percent

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "report" / "results_schema.json"
METHODS = [
    ("gbdt", "baseline"),
    ("bag-of-items", "baseline"),
    ("scratch", "probe"),
    ("scratch", "finetune"),
    ("frozen-pretrained", "probe"),
    ("frozen-pretrained", "finetune"),
    ("pretrained", "probe"),
    ("pretrained", "finetune"),
]


@dataclass
class CaseRecord:
    case: Case
    protocol: dict = field(default_factory=dict)
    metric: str = ""
    pretrain: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # per seed: too few positives in a test split or budget


def _grid(cells: pl.DataFrame, case: str, metric: str) -> tuple[list[float], list[tuple[str, list[str]]]]:
    """Method rows × fraction columns of "mean ± std" strings for one case and metric."""
    part = cells.filter((pl.col("case") == case) & (pl.col("metric") == metric))
    fractions = sorted(part.get_column("label_fraction").unique().to_list())
    lookup = {(r["encoder"], r["mode"], r["label_fraction"]): r for r in part.iter_rows(named=True)}
    body = []
    for encoder, mode in METHODS:
        if any((encoder, mode, f) in lookup for f in fractions):
            cells_text = [_pm(lookup.get((encoder, mode, f))) for f in fractions]
            body.append((f"{encoder}-{mode}", cells_text))
    return fractions, body


def _pm(cell: dict | None) -> str:
    """`mean ± std` over seeds, then the seed means of the 95 % interval bounds when every seed has them."""
    if cell is None:
        return "–"
    text = f"{cell['mean']:.4f} ± {cell['std']:.4f}"
    if cell.get("ci_low") is not None and cell.get("ci_high") is not None:
        text += f" [{cell['ci_low']:.3f}, {cell['ci_high']:.3f}]"
    return text


def print_summary(
    suite: Suite, records: list[CaseRecord], cells: pl.DataFrame, verdicts: list[Verdict], console: Console
) -> None:
    for record in records:
        fractions, body = _grid(cells, record.case.name, record.metric)
        table = Table(
            title=f"{suite.name} · {record.case.name}: test {record.metric} (mean ± std over seeds {suite.seeds})",
            caption=f"{' '.join(record.case.overrides)} | split: {record.protocol.get('split', '?')} | "
            f"{record.protocol.get('numerics', '')}",
        )
        table.add_column("method", style="bold")
        for fraction in fractions:
            table.add_column(f"{labels_percent(fraction)} labels", justify="right")
        for name, row in body:
            table.add_row(name, *row)
        console.print(table)
    if verdicts:
        table = Table(title=f"{suite.name}: expectations")
        table.add_column("result")
        table.add_column("expectation")
        for v in verdicts:
            table.add_row("[green]PASS[/]" if v.passed else "[bold red]FAIL[/]", v.describe())
        console.print(table)
    failed = [v for v in verdicts if not v.passed]
    if failed:
        console.print(f"[bold red]{len(failed)} expectation(s) failed:[/]")
        for v in failed:
            console.print(f"  FAILED {v.describe()}")
    else:
        console.print(f"[bold green]all {len(verdicts)} expectations hold[/]")


def environment() -> dict:
    import pytorch_lightning
    import torch

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "pytorch_lightning": pytorch_lightning.__version__,
        "polars": pl.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def results_payload(
    suite: Suite,
    records: list[CaseRecord],
    cells: pl.DataFrame,
    verdicts: list[Verdict],
    plots: list[Path],
    out: Path,
    seconds: float,
) -> dict:
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "kind": "ssl-ads-benchmark",
        "suite": suite.name,
        "description": suite.description,
        "passed": all(v.passed for v in verdicts),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": seconds,
        "environment": environment(),
        "seeds": suite.seeds,
        "label_fractions": suite.label_fractions,
        "modes": suite.modes,
        "cases": [
            {
                "name": r.case.name,
                "overrides": [*suite.overrides, *r.case.overrides],
                "choices": r.case.choices,
                "task": str(r.protocol.get("task", "")),
                "metric": r.metric,
                "protocol": r.protocol,
                "pretrain": r.pretrain,
                "warnings": r.warnings,
            }
            for r in records
        ],
        "cells": cells.to_dicts(),
        "expectations": [v.as_dict() for v in verdicts],
        "plots": [str(p.relative_to(out)) for p in plots],
    }


def write_outputs(
    suite: Suite,
    records: list[CaseRecord],
    cells: pl.DataFrame,
    verdicts: list[Verdict],
    plots: list[Path],
    out: Path,
    seconds: float,
) -> Path:
    payload = results_payload(suite, records, cells, verdicts, plots, out, seconds)
    write_json_atomic(out / "results.json", payload)
    write_text_atomic(out / "report.md", suite_report_markdown(payload, records, cells))
    return out / "results.json"


def suite_report_markdown(payload: dict, records: list[CaseRecord], cells: pl.DataFrame) -> str:
    verdict = "PASSED" if payload["passed"] else "FAILED"
    lines = [f"# ssl-ads benchmark `{payload['suite']}`: {verdict}", ""]
    if payload["description"]:
        lines += [payload["description"], ""]
    lines += [
        f"- seeds: {payload['seeds']} (cells are mean ± sample std over seeds [seed means of the 95 % interval "
        "bounds])",
        f"- label fractions: {payload['label_fractions']}; modes: {payload['modes']}",
        f"- wall time: {payload['seconds']} s; environment: {json.dumps(payload['environment'])}",
        "",
        "## Expectations",
        "",
        "| result | expectation |",
        "|---|---|",
    ]
    lines += [f"| {'PASS' if e['passed'] else '**FAIL**'} | {e['description']} |" for e in payload["expectations"]]
    for record, case in zip(records, payload["cases"], strict=True):
        lines += ["", f"## Case `{case['name']}`", "", f"Overrides: `{' '.join(case['overrides'])}`", ""]
        lines += [f"- **{key}**: {value}" for key, value in case["protocol"].items() if key != "seeds"]
        lines += [f"- **warning**: {line}" for line in case.get("warnings", [])]
        metrics = sorted(set(cells.filter(pl.col("case") == case["name"]).get_column("metric").to_list()))
        for metric in [case["metric"], *[m for m in metrics if m != case["metric"]]]:
            fractions, body = _grid(cells, case["name"], metric)
            lines += [
                "",
                f"### test {metric}",
                "",
                "| method | " + " | ".join(f"{labels_percent(f)} labels" for f in fractions) + " |",
            ]
            lines += ["|---|" + "---:|" * len(fractions)]
            lines += [f"| {name} | " + " | ".join(row) + " |" for name, row in body]
        lines += ["", "### Pretraining", "", "| seed | " + " | ".join(_pretrain_keys(record)) + " |"]
        lines += ["|---:|" + "---:|" * len(_pretrain_keys(record))]
        for info in record.pretrain:
            lines += [f"| {info['seed']} | " + " | ".join(_fmt(info.get(k)) for k in _pretrain_keys(record)) + " |"]
        for plot in payload["plots"]:
            if Path(plot).stem.endswith(case["name"]):
                lines += ["", f"![{Path(plot).stem}]({plot})"]
    return "\n".join(lines) + "\n"


def _pretrain_keys(record: CaseRecord) -> list[str]:
    keys = sorted({k for info in record.pretrain for k in info if k != "seed"})
    return keys or ["(none)"]


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("" if value is None else str(value))
