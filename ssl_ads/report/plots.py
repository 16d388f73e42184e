"""PNG plots for reports: label-efficiency curves (with error bars) and pretraining curves (loss, online probe).

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

STYLES = {
    ("pretrained", "probe"): ("tab:blue", "-", "o"),
    ("pretrained", "finetune"): ("tab:blue", "--", "s"),
    ("scratch", "probe"): ("tab:gray", "-", "o"),
    ("scratch", "finetune"): ("tab:gray", "--", "s"),
    ("gbdt", "baseline"): ("tab:purple", ":", "^"),
}

# (column, colour, label, marker); the per-epoch train loss is used when no per-step value was logged.
LOSS_LINES = (("pretext_loss_step", "tab:orange", "train", None), ("val_pretext_loss", "tab:red", "val", "."))
EPOCH_FALLBACK = {"pretext_loss_step": "pretext_loss_epoch"}


def label_efficiency_plot(cells: pl.DataFrame, metric: str, title: str, path: Path) -> Path:
    """Test `metric` (seed mean ± std) against the label fraction (log axis), one line per encoder × mode."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    data = cells.filter(pl.col("metric") == metric)
    fractions = sorted(data.get_column("label_fraction").unique().to_list())
    for (encoder, mode), (color, line, marker) in STYLES.items():
        part = data.filter((pl.col("encoder") == encoder) & (pl.col("mode") == mode)).sort("label_fraction")
        if part.height == 0:
            continue
        n_seeds = int(part.get_column("n_seeds").min())
        ax.errorbar(
            part.get_column("label_fraction").to_numpy() * 100,
            part.get_column("mean").to_numpy(),
            yerr=part.get_column("std").to_numpy(),
            color=color, linestyle=line, marker=marker, capsize=4, linewidth=1.8,
            label=f"{encoder} · {mode} (mean ± std, {n_seeds} seed{'s' if n_seeds > 1 else ''})",
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
