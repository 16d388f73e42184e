"""The monitor's figure: PSI per field against the threshold, and the bins of the most shifted field."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ssl_ads.data.io import save_atomic
from ssl_ads.use.drift import FieldDrift


def drift_plot(fields: list[FieldDrift], threshold: float, path: Path, title: str) -> Path:
    """Left: PSI per field (sorted, red above `threshold`). Right: reference vs current shares of the worst field."""
    ranked = sorted(fields, key=lambda f: -np.nan_to_num(f.psi, nan=-1.0))
    height = max(3.0, 0.35 * len(ranked) + 1.2)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, height), gridspec_kw={"width_ratios": [1, 1.3]})
    names = [f.name for f in ranked][::-1]
    values = [0.0 if np.isnan(f.psi) else f.psi for f in ranked][::-1]
    colors = ["tab:red" if v > threshold else "tab:blue" for v in values]
    left.barh(names, values, color=colors)
    left.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    left.set_xlabel("population stability index")
    left.legend(loc="lower right")
    left.set_title("PSI per field")
    if ranked:
        worst = ranked[0]
        x = np.arange(len(worst.labels))
        right.bar(x - 0.2, worst.reference, width=0.4, label="reference")
        right.bar(x + 0.2, worst.current, width=0.4, label="current")
        right.set_xticks(x, worst.labels, rotation=60, ha="right", fontsize=7)
        right.set_ylabel("share of values")
        right.set_title(f"{worst.name}: PSI {worst.psi:.3f}")
        right.legend()
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    save_atomic(path, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    plt.close(figure)
    return path
