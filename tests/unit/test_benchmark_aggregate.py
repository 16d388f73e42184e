"""Seed aggregation (mean ± sample std per cell) and the expectation verdicts computed from it."""

from __future__ import annotations

import math

import polars as pl
import pytest

from ssl_ads.benchmark.aggregate import aggregate, cell_value, long_table
from ssl_ads.benchmark.expectations import check_case
from ssl_ads.benchmark.suite import Case, Expectation
from ssl_ads.results import ResultRow


def rows(scratch: float, pretrained: float) -> list[ResultRow]:
    return [
        ResultRow("scratch", "probe", 1.0, 100, {"test_auroc": scratch, "val_auroc": 0.9, "test_auprc": 0.3}, 1.0),
        ResultRow("pretrained", "probe", 1.0, 100, {"test_auroc": pretrained, "val_auroc": 0.9}, 1.0),
    ]


@pytest.fixture
def cells() -> pl.DataFrame:
    return aggregate(pl.concat([long_table("c", 0, rows(0.60, 0.70)), long_table("c", 1, rows(0.62, 0.74))]))


def test_cells_hold_mean_sample_std_and_per_seed_values(cells):
    cell = cell_value(cells, "c", "pretrained", "probe", 1.0, "auroc")
    assert cell["mean"] == pytest.approx(0.72)
    assert cell["std"] == pytest.approx(math.sqrt(((0.70 - 0.72) ** 2 + (0.74 - 0.72) ** 2) / 1))
    assert cell["values"] == pytest.approx([0.70, 0.74]) and cell["seeds"] == [0, 1] and cell["n_seeds"] == 2
    assert cell_value(cells, "c", "scratch", "probe", 1.0, "auprc")["std"] == pytest.approx(0.0)
    assert cell_value(cells, "c", "scratch", "finetune", 1.0, "auroc") is None
    assert set(cells.get_column("metric")) == {"auroc", "auprc"}  # validation metrics are not reported cells


def test_single_seed_has_zero_std():
    one = aggregate(long_table("c", 0, rows(0.6, 0.7)))
    assert one.get_column("std").to_list() == [0.0] * one.height


def test_expectations_pass_and_fail_on_seed_means(cells):
    case = Case(
        "c",
        [],
        [
            Expectation("auroc", 1.0, min=0.71),
            Expectation("auroc", 1.0, encoder="scratch", max=0.6),
            Expectation("auroc", 1.0, min_gain_over_scratch=0.12),
            Expectation("auroc", 1.0, min_gain_over_scratch=0.05),
            Expectation("auroc", 1.0, mode="finetune", min=0.1),
        ],
    )
    verdicts = check_case(case, cells)
    assert [v.passed for v in verdicts] == [True, False, False, True, False]
    assert verdicts[2].observed == pytest.approx(0.11)
    assert verdicts[4].observed is None and "not computed" in verdicts[4].describe()
    assert "scratch-probe test auroc at 100% labels = 0.6100 (expected ≤ 0.6)" in verdicts[1].describe()
