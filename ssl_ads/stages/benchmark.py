"""`ssl-ads benchmark suite=<name> [key=value ...] [--out DIR]`: run a suite, aggregate over seeds, judge it.

The command's arguments and exit status; the suite runner is `ssl_ads.benchmark.run`. Every case is
validated before the first one runs (see `ssl_ads.benchmark.suite`). Cases run in this process, one pipeline
per (case, seed), composed with Hydra's compose API; extra `key=value` arguments are appended to every case's
overrides. Exit status: 0 when every expectation holds, 1 when one fails (listed),
2 for a configuration or data error.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ssl_ads.benchmark.suite import load_suite
from ssl_ads.errors import ConfigError, SslAdsError
from ssl_ads.terminal import quiet_libraries

USAGE = "usage: ssl-ads benchmark suite=<name or path.yaml> [key=value ...] [--out DIR | hydra.run.dir=DIR]"
RUN_DIR = "hydra.run.dir="  # where every other stage is told to write: here the same as --out


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
        elif arg.startswith(RUN_DIR):
            out = run_dir(arg.removeprefix(RUN_DIR))
        elif arg.startswith("suite="):
            suite = arg.split("=", 1)[1]
        elif "=" in arg:
            overrides.append(arg)
        else:
            raise ConfigError(f"benchmark: unexpected argument '{arg}'\n{USAGE}")
    if not suite:
        raise ConfigError(f"benchmark: choose a suite with suite=<name>\n{USAGE}")
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
    return suite, overrides, Path(out) if out else Path("outputs") / "benchmark" / stamp


def run_dir(value: str) -> str:
    """`hydra.run.dir=` as Hydra reads it: `${now:%H-%M-%S}` and other Hydra resolvers included."""
    from hydra.core.utils import setup_globals
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    setup_globals()  # Hydra's resolvers (`now`)
    try:
        return str(OmegaConf.create({"dir": value}).dir)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{RUN_DIR}{value}: cannot resolve it ({str(err).splitlines()[0]})") from err


def help_text() -> str:
    """`ssl-ads benchmark --help`: the usage, the suites shipped with the package and the exit statuses."""
    from ssl_ads.config.choices import group_choices

    return "\n".join([
        USAGE, "",
        f"  suite=    a shipped suite ({', '.join(group_choices('benchmark'))}) or the path of a suite YAML file",
        "  key=value appended to every case's overrides (e.g. pretrain.max_epochs=2)",
        "  --out     the output folder (default outputs/benchmark/<time>): report.md, results.json, plots;",
        "            hydra.run.dir=DIR says the same, as for every other stage",
        "", "exit status: 0 every expectation holds, 1 one fails (listed), 2 a configuration or data error",
    ])  # fmt: skip


def main(argv: list[str]) -> int:
    """CLI entry: validate everything, run, and return the exit status."""
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
        from ssl_ads.benchmark.run import run_suite  # torch/Lightning only once we really run
        from ssl_ads.evaluation.label_evaluator import pipeline_rows

        quiet_libraries()
        passed, _ = run_suite(suite, out, pipeline_rows, Console())
    except SslAdsError as err:
        console.print(f"[bold red]error:[/] {escape(str(err))}")
        return 2
    return 0 if passed else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
