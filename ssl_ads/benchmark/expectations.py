"""Check a suite's expectations against the aggregated cells (seed means), one verdict per threshold."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

from ssl_ads.benchmark.aggregate import cell_value
from ssl_ads.benchmark.suite import Case, Expectation


@dataclass
class Verdict:
    case: str
    metric: str
    at_fraction: float
    mode: str
    encoder: str
    check: str  # "min", "max" or "min_gain_over_scratch"
    threshold: float
    observed: float | None
    passed: bool

    def describe(self) -> str:
        what = f"{self.case}: {self.encoder}-{self.mode} test {self.metric} at {self.at_fraction:.0%} labels"
        if self.check == "min_gain_over_scratch":
            what = f"{self.case}: gain of pretrained over scratch ({self.mode}) in test {self.metric} at "
            what += f"{self.at_fraction:.0%} labels"
        shown = "not computed" if self.observed is None else f"{self.observed:.4f}"
        relation = "≤" if self.check == "max" else "≥"
        return f"{what} = {shown} (expected {relation} {self.threshold:g})"

    def as_dict(self) -> dict:
        return {**asdict(self), "description": self.describe()}


def check_case(case: Case, cells: pl.DataFrame) -> list[Verdict]:
    return [v for expect in case.expectations for v in _check(case.name, expect, cells)]


def _check(case: str, expect: Expectation, cells: pl.DataFrame) -> list[Verdict]:
    def mean(encoder: str) -> float | None:
        cell = cell_value(cells, case, encoder, expect.mode, expect.at_fraction, expect.metric)
        return None if cell is None else float(cell["mean"])

    observed = mean(expect.encoder)
    base = (case, expect.metric, expect.at_fraction, expect.mode, expect.encoder)
    verdicts = []
    if expect.min is not None:
        verdicts.append(Verdict(*base, "min", expect.min, observed, observed is not None and observed >= expect.min))
    if expect.max is not None:
        verdicts.append(Verdict(*base, "max", expect.max, observed, observed is not None and observed <= expect.max))
    if expect.min_gain_over_scratch is not None:
        pretrained, scratch = mean("pretrained"), mean("scratch")
        gain = None if pretrained is None or scratch is None else pretrained - scratch
        threshold = expect.min_gain_over_scratch
        verdicts.append(
            Verdict(
                case, expect.metric, expect.at_fraction, expect.mode, "pretrained", "min_gain_over_scratch",
                threshold, gain, gain is not None and gain >= threshold,
            )
        )  # fmt: skip
    return verdicts
