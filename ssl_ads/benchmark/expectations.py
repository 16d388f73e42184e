"""Check a suite's expectations against the aggregated cells (seed means), one verdict per threshold.

`use` chooses what is compared with the threshold: `point` (the seed mean of the test metric), `ci_low` or
`ci_high` (the seed mean of that bound of each seed's 95 % interval). So `min` with `ci_low` holds only when
the metric is clearly above the threshold, `min` with `ci_high` fails only when it is clearly below; for
`min_gain_over_scratch`, `ci_low` takes pretrained's lower bound minus scratch's upper bound (the intervals
must be apart by the gain) and `ci_high` the reverse (pretrained must not be clearly worse).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

from ssl_ads.benchmark.aggregate import cell_value
from ssl_ads.benchmark.suite import Case, Expectation
from ssl_ads.results import labels_percent

COLUMNS = {"point": "mean", "ci_low": "ci_low", "ci_high": "ci_high"}  # the cell column each `use` reads
OPPOSITE = {"point": "point", "ci_low": "ci_high", "ci_high": "ci_low"}  # scratch's side in a gain
BOUND_NAMES = {"ci_low": " (lower 95 % bound)", "ci_high": " (upper 95 % bound)"}
GAIN_NAMES = {
    "ci_low": " (pretrained's lower 95 % bound minus scratch's upper)",
    "ci_high": " (pretrained's upper 95 % bound minus scratch's lower)",
}


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
    use: str = "point"  # "point", "ci_low" or "ci_high": what `observed` is (see the module docstring)

    def describe(self) -> str:
        bound = BOUND_NAMES.get(self.use, "")
        at = labels_percent(self.at_fraction)
        what = f"{self.case}: {self.encoder}-{self.mode} test {self.metric}{bound} at {at} labels"
        if self.check == "min_gain_over_scratch":
            what = f"{self.case}: gain of pretrained over scratch ({self.mode}) in test {self.metric}"
            what += GAIN_NAMES.get(self.use, "") + f" at {at} labels"
        shown = "not computed" if self.observed is None else f"{self.observed:.4f}"
        relation = "≤" if self.check == "max" else "≥"
        return f"{what} = {shown} (expected {relation} {self.threshold:g})"

    def as_dict(self) -> dict:
        return {**asdict(self), "description": self.describe()}


def check_case(case: Case, cells: pl.DataFrame) -> list[Verdict]:
    return [v for expect in case.expectations for v in _check(case.name, expect, cells)]


def _check(case: str, expect: Expectation, cells: pl.DataFrame) -> list[Verdict]:
    def mean(encoder: str, use: str = expect.use) -> float | None:
        cell = cell_value(cells, case, encoder, expect.mode, expect.at_fraction, expect.metric)
        value = None if cell is None else cell.get(COLUMNS[use])
        return None if value is None else float(value)

    use = expect.use
    observed = mean(expect.encoder)
    base = (case, expect.metric, expect.at_fraction, expect.mode, expect.encoder)
    verdicts = []
    if expect.min is not None:
        passed = observed is not None and observed >= expect.min
        verdicts.append(Verdict(*base, "min", expect.min, observed, passed, use))
    if expect.max is not None:
        passed = observed is not None and observed <= expect.max
        verdicts.append(Verdict(*base, "max", expect.max, observed, passed, use))
    if expect.min_gain_over_scratch is not None:
        pretrained, scratch = mean("pretrained"), mean("scratch", OPPOSITE[use])
        gain = None if pretrained is None or scratch is None else pretrained - scratch
        threshold = expect.min_gain_over_scratch
        verdicts.append(
            Verdict(
                case, expect.metric, expect.at_fraction, expect.mode, "pretrained", "min_gain_over_scratch",
                threshold, gain, gain is not None and gain >= threshold, use,
            )
        )  # fmt: skip
    return verdicts
