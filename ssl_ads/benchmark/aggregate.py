"""Seeds → cells: mean ± std of every test metric per (case, encoder, mode, label fraction), with the seed mean
of each seed's 95 % interval bounds (`ci_low`, `ci_high`; null when a seed has none)."""

from __future__ import annotations

import polars as pl

from ssl_ads.results import ResultRow

CELL_KEYS = ["case", "encoder", "mode", "label_fraction"]


def long_table(case: str, seed: int, rows: list[ResultRow]) -> pl.DataFrame:
    """One row per (result row, test metric): the tidy form every aggregate is computed from."""
    records = [
        {
            "case": case,
            "seed": seed,
            "encoder": r.encoder,
            "mode": r.mode,
            "label_fraction": float(r.label_fraction),
            "n_labels": r.n_labels,
            "metric": name.removeprefix("test_"),
            "value": float(value),
            "ci_low": _bound(r.intervals.get(name), "low"),
            "ci_high": _bound(r.intervals.get(name), "high"),
        }
        for r in rows
        for name, value in r.metrics.items()
        if name.startswith("test_")
    ]
    return pl.DataFrame(records, schema=_LONG_SCHEMA)


_LONG_SCHEMA = {
    "case": pl.String,
    "seed": pl.Int64,
    "encoder": pl.String,
    "mode": pl.String,
    "label_fraction": pl.Float64,
    "n_labels": pl.Int64,
    "metric": pl.String,
    "value": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
}


def _bound(interval: dict | None, side: str) -> float | None:
    value = (interval or {}).get(side)
    return None if value is None else float(value)


def _seed_mean(column: str) -> pl.Expr:
    """The seed mean of an interval bound, null unless every seed has one (a partial mean would mislead)."""
    return pl.when(pl.col(column).null_count() == 0).then(pl.col(column).mean()).otherwise(None).alias(column)


def aggregate(long: pl.DataFrame) -> pl.DataFrame:
    """Mean, sample std (0 for one seed), seed count and the per-seed values of every cell and metric."""
    return (
        long.sort("seed")
        .group_by([*CELL_KEYS, "metric"], maintain_order=True)
        .agg(
            pl.col("value").mean().alias("mean"),
            pl.col("value").std(ddof=1).fill_null(0.0).alias("std"),
            pl.len().alias("n_seeds"),
            pl.col("n_labels").mean().round(0).cast(pl.Int64).alias("n_labels"),
            _seed_mean("ci_low"),
            _seed_mean("ci_high"),
            pl.col("value").alias("values"),
            pl.col("seed").alias("seeds"),
        )
        .sort([*CELL_KEYS, "metric"])
    )


def cell_value(cells: pl.DataFrame, case: str, encoder: str, mode: str, fraction: float, metric: str) -> dict | None:
    """The aggregated cell as a dict, or None when that combination was not run."""
    hit = cells.filter(
        (pl.col("case") == case)
        & (pl.col("encoder") == encoder)
        & (pl.col("mode") == mode)
        & ((pl.col("label_fraction") - fraction).abs() < 1e-9)
        & (pl.col("metric") == metric)
    )
    return hit.row(0, named=True) if hit.height else None
