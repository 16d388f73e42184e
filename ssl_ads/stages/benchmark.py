"""`ssl-ads benchmark suite=<name> [key=value ...] [--out DIR]`: run a suite, aggregate over seeds, judge it.

Every case is validated before the first one runs (see `ssl_ads.benchmark.suite`). Cases run in this
process, one pipeline per (case, seed), composed with Hydra's compose API; extra `key=value` arguments are
appended to every case's overrides. Exit status: 0 when every expectation holds, 1 when one fails (listed),
2 for a configuration or data error.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.markup import escape

from ssl_ads.benchmark.aggregate import aggregate, long_table
from ssl_ads.benchmark.expectations import Verdict, check_case
from ssl_ads.benchmark.outputs import CaseRecord, print_summary, write_outputs
from ssl_ads.benchmark.suite import Suite, compose_case, load_suite
from ssl_ads.errors import ConfigError, SslAdsError
from ssl_ads.report.plots import label_efficiency_plot, pretraining_plot

USAGE = "usage: ssl-ads benchmark suite=<name or path.yaml> [key=value ...] [--out DIR]"


def run_suite(suite: Suite, out: Path, console: Console | None = None) -> tuple[bool, Path]:
    """Run every case × seed, write table/report/results/plots under `out`; returns (all passed, results.json)."""
    from ssl_ads.report.tracking import finish_tracking
    from ssl_ads.stages.downstream import pipeline_rows  # torch/Lightning only once we really run
    from ssl_ads.tasks.intervals import positive_warnings

    console = console or Console()
    started = time.perf_counter()
    frames, records = [], []
    for case in suite.cases:
        record = CaseRecord(case=case)
        for seed in suite.seeds:
            console.print(f"[bold]benchmark[/] {suite.name}: case [cyan]{case.name}[/], seed {seed}")
            cfg, _ = compose_case(suite, case, seed)
            outcome = pipeline_rows(cfg, out / "cases" / case.name / f"seed={seed}", tuple(suite.modes))
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


def parse_args(argv: list[str]) -> tuple[str, list[str], Path]:
    """`suite=<name>`, pass-through `key=value` overrides and `--out DIR` (default outputs/benchmark/<time>)."""
    suite, overrides, out = None, [], None
    args = iter(argv)
    for arg in args:
        if arg in ("-h", "--help"):
            raise ConfigError(USAGE)
        if arg == "--out":
            out = next(args, None)
            if out is None:
                raise ConfigError(f"--out needs a directory\n{USAGE}")
        elif arg.startswith("--out="):
            out = arg.split("=", 1)[1]
        elif arg.startswith("suite="):
            suite = arg.split("=", 1)[1]
        elif "=" in arg:
            overrides.append(arg)
        else:
            raise ConfigError(f"benchmark: unexpected argument '{arg}'\n{USAGE}")
    if not suite:
        raise ConfigError(f"benchmark: choose a suite with suite=<name>\n{USAGE}")
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return suite, overrides, Path(out) if out else Path("outputs") / "benchmark" / stamp


def help_text() -> str:
    """`ssl-ads benchmark --help`: the usage, the suites shipped with the package and the exit statuses."""
    from ssl_ads.config.choices import group_choices

    return "\n".join([
        USAGE, "",
        f"  suite=    a shipped suite ({', '.join(group_choices('benchmark'))}) or the path of a suite YAML file",
        "  key=value appended to every case's overrides (e.g. pretrain.max_epochs=2)",
        "  --out     the output folder (default outputs/benchmark/<time>): report.md, results.json, plots",
        "", "exit status: 0 every expectation holds, 1 one fails (listed), 2 a configuration or data error",
    ])  # fmt: skip


def main(argv: list[str]) -> int:
    """CLI entry: validate everything, run, and return the exit status."""
    from ssl_ads.cli import quiet_libraries

    console = Console(stderr=True)
    if any(arg in ("-h", "--help") for arg in argv):
        print(help_text())
        return 0
    try:
        name, overrides, out = parse_args(argv)
        if out.exists() and any(out.iterdir()):
            raise ConfigError(f"--out {out}: the directory already holds files; choose a new one")
        suite = load_suite(name, overrides)
        console.print(
            f"[bold]suite[/] {suite.name}: {len(suite.cases)} cases × {len(suite.seeds)} seeds, "
            f"fractions {suite.label_fractions}, modes {suite.modes} → {out}"
        )
        quiet_libraries()
        passed, _ = run_suite(suite, out, Console())
    except SslAdsError as err:
        console.print(f"[bold red]error:[/] {escape(str(err))}")
        return 2
    return 0 if passed else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
