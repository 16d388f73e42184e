"""The comparison table: method rows × label-fraction columns, in the terminal (rich) and as Markdown."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from ssl_ads.results import ResultRow, labels_percent

METHOD_ORDER = [
    ("scratch", "probe"),
    ("scratch", "finetune"),
    ("frozen-pretrained", "probe"),  # a model that arrives pretrained (MiniLM), in place of the scratch rows
    ("frozen-pretrained", "finetune"),
    ("pretrained", "probe"),
    ("pretrained", "finetune"),
    ("gbdt", "baseline"),  # tabular runs: scikit-learn HistGradientBoosting on the same features
    ("bag-of-items", "baseline"),  # sequence user tasks: TF-IDF over item counts + LogisticRegressionCV
]


def format_value(point: float, interval: dict | None = None) -> str:
    """`0.912 [0.897, 0.926]`: a test metric with its 95 % interval, to as many decimals as the interval's width
    supports (two significant digits of the width, between 2 and 4), so a wide interval is not dressed up in
    four decimals; without an interval, four decimals as before."""
    low, high = (interval or {}).get("low"), (interval or {}).get("high")
    if low is None or high is None or not math.isfinite(point):
        return f"{point:.4f}"
    width = high - low
    decimals = 4 if width <= 0 else min(4, max(2, 1 - math.floor(math.log10(width))))
    return f"{point:.{decimals}f} [{low:.{decimals}f}, {high:.{decimals}f}]"


def _grid(rows: list[ResultRow], metric: str) -> tuple[list[float], list[tuple[str, list[str]]]]:
    fractions = sorted({r.label_fraction for r in rows})
    lookup = {(r.encoder, r.mode, r.label_fraction): r for r in rows}
    body = []
    for encoder, mode in METHOD_ORDER:
        if not any((encoder, mode, f) in lookup for f in fractions):
            continue
        cells = []
        for fraction in fractions:
            row = lookup.get((encoder, mode, fraction))
            cells.append("–" if row is None else format_value(row.metrics[metric], row.intervals.get(metric)))
        body.append((f"{encoder}-{mode}", cells))
    return fractions, body


def _fraction_header(fraction: float, rows: list[ResultRow]) -> str:
    n = next(r.n_labels for r in rows if r.label_fraction == fraction)
    return f"{labels_percent(fraction)} labels (n={n})"


def print_table(rows: list[ResultRow], metric: str, protocol: dict, console: Console | None = None) -> None:
    fractions, body = _grid(rows, metric)
    shown = f"{metric} [95 % interval]" if any(metric in r.intervals for r in rows) else metric
    table = Table(title=f"{protocol['task']} on {protocol['dataset']}: {shown}", caption=_caption(protocol))
    table.add_column("method", style="bold")
    for fraction in fractions:
        table.add_column(_fraction_header(fraction, rows), justify="right")
    for name, cells in body:
        table.add_row(name, *cells)
    (console or Console()).print(table)


def markdown_table(rows: list[ResultRow], metric: str) -> str:
    fractions, body = _grid(rows, metric)
    header = "| method | " + " | ".join(_fraction_header(f, rows) for f in fractions) + " |"
    rule = "|---|" + "---:|" * len(fractions)
    return "\n".join([header, rule, *[f"| {name} | " + " | ".join(cells) + " |" for name, cells in body]])


def _caption(protocol: dict) -> str:
    numerics = f"; {protocol['numerics']}" if "numerics" in protocol else ""
    return f"split: {protocol['split']}; labels: {protocol['label_sampling']}; seeds {protocol['seeds']}{numerics}"
