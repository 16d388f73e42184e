"""Run a suite: every case × seed through the pipeline, then aggregate over seeds, judge and write the outputs.

The pipeline itself is passed in (`run_case`, the evaluation engine's `pipeline_rows`), so this package
depends only on what it aggregates (result rows), not on the stages that produce them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import polars as pl
from omegaconf import DictConfig
from rich.console import Console

from ssl_ads import progress
from ssl_ads.benchmark.aggregate import aggregate, long_table
from ssl_ads.benchmark.expectations import Verdict, check_case
from ssl_ads.benchmark.outputs import CaseRecord, print_summary, write_outputs
from ssl_ads.benchmark.suite import Suite, compose_case
from ssl_ads.report.plots import label_efficiency_plot, pretraining_plot
from ssl_ads.results import ResultRow


class CaseOutcome(Protocol):
    """What one pipeline run of a case seed hands back (before anything is written)."""

    rows: list[ResultRow]
    protocol: dict
    metric: str
    pretrain_info: dict
    run_dir: Path


RunCase = Callable[[DictConfig, Path, tuple[str, ...]], CaseOutcome]


def run_suite(suite: Suite, out: Path, run_case: RunCase, console: Console | None = None) -> tuple[bool, Path]:
    """Run every case × seed with `run_case(cfg, run_dir, modes)`, write table/report/results/plots under `out`;
    returns (all passed, results.json)."""
    from ssl_ads.report.tracking import finish_tracking
    from ssl_ads.tasks.positive_counts import positive_warnings

    console = console or Console()
    started = time.perf_counter()
    frames, records = [], []
    for case in suite.cases:
        record = CaseRecord(case=case)
        for seed in suite.seeds:
            console.print(f"[bold]benchmark[/] {suite.name}: case [cyan]{case.name}[/], seed {seed}")
            cfg, _ = compose_case(suite, case, seed)
            progress.configure(cfg.trainer.enable_progress_bar)  # as the CLI does for a single run
            outcome = run_case(cfg, out / "cases" / case.name / f"seed={seed}", tuple(suite.modes))
            results = {"pretrain": outcome.pretrain_info, "results": [row.as_dict() for row in outcome.rows]}
            finish_tracking(cfg, outcome.run_dir, results)  # with logger=<tracker>: one tracked run per case seed
            frames.append(long_table(case.name, seed, outcome.rows))
            record.protocol, record.metric = outcome.protocol, outcome.metric
            record.pretrain.append({"seed": seed, **_jsonable(outcome.pretrain_info)})
            record.warnings += [f"seed {seed}: {w}" for w in positive_warnings(outcome.rows, cfg.min_positives)]
        records.append(record)
    cells = aggregate(pl.concat(frames))
    verdicts: list[Verdict] = [v for record in records for v in check_case(record.case, cells)]
    plots = _plots(suite, records, cells, out)
    passed = all(v.passed for v in verdicts)
    seconds = round(time.perf_counter() - started, 1)
    print_summary(suite, records, cells, verdicts, console)
    results = write_outputs(suite, records, cells, verdicts, plots, out, seconds)
    console.print(f"[green]wrote[/] {out / 'report.md'}, {results} and {len(plots)} plots ({seconds} s)")
    return passed, results


def _plots(suite: Suite, records: list[CaseRecord], cells: pl.DataFrame, out: Path) -> list[Path]:
    plots = []
    for record in records:
        name, choices = record.case.name, record.case.choices
        title = f"{name}: {record.protocol.get('task')} on {record.protocol.get('dataset')}"
        case_cells = cells.filter(pl.col("case") == name)
        plots.append(label_efficiency_plot(case_cells, record.metric, title, out / f"label_efficiency_{name}.png"))
        logs = {s: out / "cases" / name / f"seed={s}" / "logs" / "pretrain" / "metrics.csv" for s in suite.seeds}
        pretext = choices.get("pretext")
        curve = pretraining_plot(
            logs, f"{name}: pretraining ({pretext})", out / f"pretraining_{name}.png", f"{pretext} loss"
        )
        if curve is not None:
            plots.append(curve)
    return plots


def _jsonable(info: dict) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in info.items()}
