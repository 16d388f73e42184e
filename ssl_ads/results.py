"""Result records of downstream evaluation, their schema versions and the sweep objectives read from them.

A leaf module (it imports nothing from this package): the evaluation engine writes `ResultRow`s, and the
report, the benchmark and the baselines read or produce them without depending on the engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# `schema_version` of a run's `metrics.json` (probe / finetune / pipeline): bumped on an incompatible change.
METRICS_SCHEMA_VERSION = 1
# `schema_version` of a benchmark suite's `results.json` (its JSON schema: ssl_ads/report/results_schema.json).
RESULTS_SCHEMA_VERSION = 1

# The encoder labels of result rows: a randomly initialised encoder, a checkpoint pretrained here, and a model
# that arrives pretrained elsewhere and is used frozen as it is (e.g. MiniLM sentence embeddings).
SCRATCH = "scratch"
PRETRAINED = "pretrained"
FROZEN_PRETRAINED = "frozen-pretrained"


@dataclass
class ResultRow:
    encoder: str  # SCRATCH, PRETRAINED or FROZEN_PRETRAINED (or a baseline's name, e.g. "gbdt")
    mode: str  # "probe" or "finetune" (a baseline: "baseline")
    label_fraction: float
    n_labels: int
    metrics: dict[str, float]
    seconds: float
    # 95 % interval of every test metric, by metric key: {"test_auroc": {"low", "high", "method"}}
    intervals: dict[str, dict] = field(default_factory=dict)
    # what the intervals rest on: test entities (`n_test`), and for binary tasks the positives of the test
    # split (`n_test_pos`) and of the row's label budget (`n_budget_pos`); with `task.split_by` groups also
    # `n_test_groups` and the positive groups (`n_test_pos_groups`, `n_budget_pos_groups`)
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def labels_percent(fraction: float) -> str:
    """A label fraction as a header or verdict shows it: 0.01 → "1%", and small budgets kept apart, 0.0025 →
    "0.25%" and 0.025 → "2.5%" (a whole percentage would print both as "0%" and "2%")."""
    return f"{fraction * 100:.3g}%"


def sweep_objective(rows: list[ResultRow], metric: str) -> float:
    """What a Hydra sweeper maximises for user / row tasks: the mean validation metric over label fractions
    of the pretrained probe rows (else the first of: pretrained fine-tune, frozen-pretrained probe / fine-tune,
    scratch probe / fine-tune).

    Validation, never test: a search that reads the test split would report an optimistic number.
    """
    for encoder in (PRETRAINED, FROZEN_PRETRAINED, SCRATCH):
        for mode in ("probe", "finetune"):
            chosen = [r.metrics[f"val_{metric}"] for r in rows if r.encoder == encoder and r.mode == mode]
            if chosen:
                return float(sum(chosen) / len(chosen))
    return float("nan")


def best_row_objective(rows: list[ResultRow], metric: str) -> float:
    """What a Hydra sweeper maximises for next-item ranking: the best validation metric of any row.

    A ranking probe trains nothing (the frozen model scores the catalogue), so its one row per encoder is
    compared with the fine-tuned ones and the best counts. Validation, never test.
    """
    return max((r.metrics[f"val_{metric}"] for r in rows), default=float("nan"))
