"""How many positives a test split and a label budget hold, and the warnings when they are too few.

A metric resting on a handful of positives is noise, whatever its decimals; every results table says so.
"""

from __future__ import annotations

import numpy as np

MIN_POSITIVES = 30  # RunConfig.min_positives' default


def count_positives(labels: np.ndarray) -> int:
    return int((np.asarray(labels) == 1).sum())


def count_positive_groups(labels: np.ndarray, groups: np.ndarray) -> int:
    """Groups with at least one positive row (a bot's 40 impressions are one bot, not 40 independent cases)."""
    return len(np.unique(np.asarray(groups)[np.asarray(labels) == 1]))


def positive_warnings(rows: list, min_positives: int) -> list[str]:
    """One line per test split or label budget (of rows carrying `counts`) with fewer than `min_positives`
    positives (positive groups, when rows come in groups): a metric resting on a handful of positives is noise,
    whatever its decimals."""
    lines: dict[str, None] = {}
    for row in rows:
        counts = getattr(row, "counts", None) or {}
        if "n_test_pos_groups" in counts:
            test_pos, what = (
                counts["n_test_pos_groups"],
                (
                    f"{counts['n_test_pos_groups']} positive groups ({counts['n_test_pos']} positive rows) of "
                    f"{counts['n_test_groups']}"
                ),
            )
        else:
            test_pos, what = counts.get("n_test_pos"), f"{counts.get('n_test_pos')} positives of {counts.get('n_test')}"
        if test_pos is not None and test_pos < min_positives:
            lines[
                f"the test split holds {what} (< min_positives={min_positives}): every test metric rests on them; "
                "read the intervals, not the decimals"
            ] = None
    for row in sorted(rows, key=lambda r: r.label_fraction):
        counts = getattr(row, "counts", None) or {}
        budget_pos = counts.get("n_budget_pos_groups", counts.get("n_budget_pos"))
        unit = "positive groups" if "n_budget_pos_groups" in counts else "positives"
        if budget_pos is not None and budget_pos < min_positives:
            lines[
                f"label fraction {row.label_fraction:g} ({row.n_labels} labels) holds {budget_pos} {unit} "
                f"(< min_positives={min_positives}): its models are fitted on very few positive cases"
            ] = None
    return list(lines)
