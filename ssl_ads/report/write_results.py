"""Turn downstream result rows into the run's outputs: terminal table, `metrics.json`, `report.md` and the
label-efficiency plot `label_efficiency.png` (every probe, finetune and pipeline run, as the benchmark draws its)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from ssl_ads.data.cleaning_report import markdown_section
from ssl_ads.data.io import write_json_atomic, write_text_atomic
from ssl_ads.report.results_table import markdown_table, print_table
from ssl_ads.results import METRICS_SCHEMA_VERSION, ResultRow
from ssl_ads.tasks.positive_counts import MIN_POSITIVES, positive_warnings


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
        "schema_version": METRICS_SCHEMA_VERSION,
        "stage": stage,
        "protocol": protocol,
        "pretrain": pretrain,
        "results": [row.as_dict() for row in rows],
        "warnings": warnings,
        "data_report": data_report,
    }
    write_json_atomic(run_dir / "metrics.json", payload)
    plot = write_plot(run_dir, stage, rows, protocol, metric, console)
    report = run_report_markdown(stage, rows, protocol, metric, pretrain, warnings) + "".join(
        f"{line}\n" for line in markdown_section(data_report)
    )
    if plot is not None:
        report += f"\n## Label efficiency\n\n![label efficiency]({plot.name})\n"
    write_text_atomic(run_dir / "report.md", report)
    also = f", {plot.name}" if plot is not None else ""
    console.print(f"[green]wrote[/] {run_dir / 'metrics.json'}{also} and {run_dir / 'report.md'}")


def write_plot(
    run_dir: Path, stage: str, rows: list[ResultRow], protocol: dict, metric: str, console: Console
) -> Path | None:
    """`label_efficiency.png`: test `metric` per method against the label fraction, with 95 % intervals.
    matplotlib is a core dependency; an install without it gets one line and no plot, not a failed run."""
    try:
        from ssl_ads.report.plots import run_label_efficiency
    except ImportError as err:
        missing = err.name or "matplotlib"
        console.print(f"[yellow]note:[/] label_efficiency.png not written ({missing} is not installed)")
        return None
    title = f"{stage}: {protocol.get('task')} on {protocol.get('dataset')}"
    return run_label_efficiency(rows, metric, title, run_dir / "label_efficiency.png")


def run_report_markdown(
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
