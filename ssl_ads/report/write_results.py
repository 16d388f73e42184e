"""Turn downstream result rows into the run's outputs: terminal table, `metrics.json`, `report.md`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from ssl_ads.data.cleaning_report import markdown_section
from ssl_ads.data.io import write_json_atomic, write_text_atomic
from ssl_ads.report.results_table import markdown_table, print_table
from ssl_ads.stages.evaluate import ResultRow
from ssl_ads.tasks.intervals import MIN_POSITIVES, positive_warnings

RESULTS_SCHEMA_VERSION = 1


def write_results(
    run_dir: Path,
    stage: str,
    rows: list[ResultRow],
    protocol: dict,
    metric: str,
    pretrain: dict | None = None,
    data_report: dict | None = None,
    min_positives: int = MIN_POSITIVES,
) -> None:
    """`data_report` (`Featurized.meta["data_report"]`): what cleaning removed, under `data_report` in
    metrics.json and as the report's "Data cleaning" section. A test split or label budget with fewer than
    `min_positives` positives is a warning in the terminal, under `warnings` in metrics.json and in report.md."""
    console = Console()
    print_table(rows, f"test_{metric}", protocol, console)
    warnings = positive_warnings(rows, min_positives)
    for line in warnings:
        console.print(f"[bold yellow]warning:[/] {line}")
    payload = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "stage": stage,
        "protocol": protocol,
        "pretrain": pretrain,
        "results": [row.as_dict() for row in rows],
        "warnings": warnings,
        "data_report": data_report,
    }
    write_json_atomic(run_dir / "metrics.json", payload)
    report = markdown_report(stage, rows, protocol, metric, pretrain, warnings) + "".join(
        f"{line}\n" for line in markdown_section(data_report)
    )
    write_text_atomic(run_dir / "report.md", report)
    console.print(f"[green]wrote[/] {run_dir / 'metrics.json'} and {run_dir / 'report.md'}")


def markdown_report(
    stage: str, rows: list[ResultRow], protocol: dict, metric: str, pretrain: dict | None, warnings: Sequence[str] = ()
) -> str:
    metric_names = sorted({k for row in rows for k in row.metrics if k.startswith("test_")})
    lines = [f"# ssl-ads {stage}: {protocol['task']} on {protocol['dataset']}", ""]
    if warnings:  # first: they qualify every number below
        lines += ["## Warnings", "", *[f"- **warning**: {line}" for line in warnings], ""]
    lines += ["## Protocol", ""]
    lines += [f"- **{key}**: {value}" for key, value in protocol.items()]
    if pretrain:
        lines += ["", "## Pretraining", ""]
        lines += [f"- **{key}**: {value}" for key, value in pretrain.items()]
    for name in [f"test_{metric}", *[m for m in metric_names if m != f"test_{metric}"]]:
        lines += ["", f"## {name}", "", markdown_table(rows, name)]
    lines += ["", "## Wall time per row (s)", "", "| method | fraction | labels | seconds |", "|---|---:|---:|---:|"]
    lines += [f"| {r.encoder}-{r.mode} | {r.label_fraction:g} | {r.n_labels} | {r.seconds} |" for r in rows]
    return "\n".join(lines) + "\n"
