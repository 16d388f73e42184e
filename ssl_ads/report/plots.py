"""PNG plots for reports: label-efficiency curves (with error bars) and pretraining curves (loss, online probe).

`label_efficiency_plot` draws a benchmark's cells (mean ± std over seeds); `run_label_efficiency` draws one run's
rows (probe, finetune, pipeline: one seed, so the bars are each point's 95 % interval).

Matplotlib with the Agg backend, so it works headless in CI; every figure is written atomically.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import polars as pl
from matplotlib.ticker import FixedLocator, NullLocator

from ssl_ads.data.io import save_atomic
from ssl_ads.results import ResultRow

STYLES = {
    ("pretrained", "probe"): ("tab:blue", "-", "o"),
    ("pretrained", "finetune"): ("tab:blue", "--", "s"),
    ("scratch", "probe"): ("tab:gray", "-", "o"),
    ("scratch", "finetune"): ("tab:gray", "--", "s"),
    ("frozen-pretrained", "probe"): ("tab:brown", "-", "o"),
    ("frozen-pretrained", "finetune"): ("tab:brown", "--", "s"),
    ("gbdt", "baseline"): ("tab:purple", ":", "^"),
    ("bag-of-items", "baseline"): ("tab:green", ":", "v"),
}
OTHER_STYLE = ("tab:olive", "-.", "D")  # a method without a style of its own is still drawn
# One run's rows in the shape of a benchmark's cells (`ssl_ads.benchmark.aggregate`), with their intervals.
RUN_CELLS = {
    "encoder": pl.String, "mode": pl.String, "label_fraction": pl.Float64, "metric": pl.String, "mean": pl.Float64,
    "std": pl.Float64, "n_seeds": pl.Int64, "ci_low": pl.Float64, "ci_high": pl.Float64,
}  # fmt: skip

# (column, colour, label, marker); the per-epoch train loss is used when no per-step value was logged.
LOSS_LINES = (("pretext_loss_step", "tab:orange", "train", None), ("val_pretext_loss", "tab:red", "val", "."))
EPOCH_FALLBACK = {"pretext_loss_step": "pretext_loss_epoch"}


def label_efficiency_plot(cells: pl.DataFrame, metric: str, title: str, path: Path, spread: str = "std") -> Path:
    """Test `metric` (seed mean ± std) against the label fraction (log axis), one line per encoder × mode.

    `spread="interval"`: the bars are each cell's `ci_low`..`ci_high` instead (one run, one seed)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    data = cells.filter(pl.col("metric") == metric)
    fractions = sorted(data.get_column("label_fraction").unique().to_list())
    methods = data.select("encoder", "mode").unique(maintain_order=True).rows()
    for encoder, mode in [*[m for m in STYLES if m in methods], *[m for m in methods if m not in STYLES]]:
        color, line, marker = STYLES.get((encoder, mode), OTHER_STYLE)
        part = data.filter((pl.col("encoder") == encoder) & (pl.col("mode") == mode)).sort("label_fraction")
        mean = part.get_column("mean").to_numpy()
        if spread == "interval":
            low = part.get_column("ci_low").fill_null(part.get_column("mean")).to_numpy()
            high = part.get_column("ci_high").fill_null(part.get_column("mean")).to_numpy()
            yerr, what = [mean - low, high - mean], "95 % interval"
        else:
            n_seeds = int(part.get_column("n_seeds").min())
            yerr, what = part.get_column("std").to_numpy(), f"mean ± std, {n_seeds} seed{'s' if n_seeds > 1 else ''}"
        ax.errorbar(
            part.get_column("label_fraction").to_numpy() * 100, mean, yerr=yerr,
            color=color, linestyle=line, marker=marker, capsize=4, linewidth=1.8, label=f"{encoder} · {mode} ({what})",
        )  # fmt: skip
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([f * 100 for f in fractions]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{f * 100:g}%" for f in fractions])
    ax.set_xlabel("labeled training examples used (% of the train split, log scale)")
    ax.set_ylabel(f"test {metric.upper()} (higher is better)")
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def run_label_efficiency(rows: list[ResultRow], metric: str, title: str, path: Path) -> Path | None:
    """One run's test `metric` per method against the label fraction; None when no row has it."""
    key = f"test_{metric}"
    records = [
        {"encoder": r.encoder, "mode": r.mode, "label_fraction": float(r.label_fraction), "metric": metric,
         "mean": float(r.metrics[key]), "std": 0.0, "n_seeds": 1,
         "ci_low": (r.intervals.get(key) or {}).get("low"), "ci_high": (r.intervals.get(key) or {}).get("high")}
        for r in rows
        if key in r.metrics
    ]  # fmt: skip
    cells = pl.DataFrame(records, schema=RUN_CELLS)
    if cells.height == 0:
        return None
    return label_efficiency_plot(cells, metric, title, path, spread="interval")


def pretraining_plot(logs: dict[int, Path], title: str, path: Path, loss_label: str = "pretext loss") -> Path | None:
    """Train/validation pretext loss per step for each seed, with the online probe metric on a second axis."""
    frames = {seed: pl.read_csv(csv, infer_schema_length=None) for seed, csv in logs.items() if csv.is_file()}
    if not frames:
        return None
    fig, ax = plt.subplots(figsize=(7.2, 5.0), dpi=120)
    probe_ax = None
    handles = []
    for i, (seed, frame) in enumerate(sorted(frames.items())):
        alpha = 1.0 if i == 0 else 0.55
        for column, color, label, marker in LOSS_LINES:
            if column not in frame.columns or frame.get_column(column).drop_nulls().is_empty():
                column = EPOCH_FALLBACK.get(column, column)
            if column in frame.columns:
                part = frame.select("step", column).drop_nulls()
                label = f"{label} pretext loss (seed {seed})"
                (handle,) = ax.plot(part["step"], part[column], color=color, alpha=alpha, marker=marker, label=label)
                handles.append(handle)
        probe_columns = [c for c in frame.columns if c.startswith("online_probe_")]
        if probe_columns:
            probe_ax = probe_ax or ax.twinx()
            column = probe_columns[0]
            part = frame.select("step", column).drop_nulls()
            (handle,) = probe_ax.plot(part["step"], part[column], color="tab:green", alpha=alpha, marker="o",
                                      markersize=3, label=f"online linear probe (seed {seed})")  # fmt: skip
            handles.append(handle)
            probe_ax.set_ylabel(f"online probe val {column.removeprefix('online_probe_').upper()}", color="tab:green")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(f"{loss_label} (lower is better)")
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    save_atomic(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path
