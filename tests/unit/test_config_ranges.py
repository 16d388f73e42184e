"""Value ranges declared in type hints: how they read, what they say, and that every numeric key has one."""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf

from ssl_ads.config.choices import COMPONENT_GROUPS, CONFIG_DIR, group_choices, target_of
from ssl_ads.config.ranges import DivisibleBy, OneOfKey, Range, SumAtMost, check_values, constraints_of
from ssl_ads.config.schema import RunConfig

# Numeric keys whose every value is allowed (unix times and thresholds on the user's own scale).
UNBOUNDED = {"cutoff_timestamp", "min_timestamp", "max_timestamp", "rating_threshold"}


@pytest.mark.parametrize(
    ("allowed", "integer", "text"),
    [
        (Range(min=1), True, "an integer ≥ 1"),
        (Range(min=0, min_inclusive=False), False, "a number > 0"),
        (Range(0, 1, max_inclusive=False), False, "a number in [0, 1)"),
        (Range(0, 1, min_inclusive=False, max_inclusive=False), False, "a number in (0, 1)"),
        (Range(max=10), True, "an integer ≤ 10"),
    ],
)
def test_a_range_describes_itself(allowed: Range, integer: bool, text: str):
    assert allowed.describe(integer) == text


def test_bounds_and_their_ends():
    unit = Range(0, 1, min_inclusive=False)
    assert not unit.contains(0) and unit.contains(1) and unit.contains(0.5) and not unit.contains(1.01)
    assert Range(min=1).contains(10**9) and not Range(min=1).contains(0)
    assert not Range(min=0).contains(float("nan")) and not Range(min=0).contains(float("inf"))


def test_hints_are_read_in_every_spelling():
    for hint in (Annotated[int | None, Range(min=1)], Annotated[int, Range(min=1)] | None):
        spec = constraints_of(hint)
        assert spec.ranges == (Range(min=1),) and spec.optional and spec.element is int
    listed = constraints_of(Annotated[list[float] | None, Range(0, 1)])
    assert listed.element is float and listed.ranges == (Range(0, 1),)
    assert constraints_of(int).ranges == () and constraints_of(Any).element is Any


def test_values_are_judged_with_one_line_naming_key_value_and_range():
    hints = {
        "dim": Annotated[int, Range(min=1), DivisibleBy("heads")],
        "heads": Annotated[int, Range(min=1)],
        "ks": Annotated[list[int] | None, Range(min=1)],
        "k": Annotated[int, OneOfKey("ks", (5, 10))],
        "a": Annotated[float, Range(0, 1), SumAtMost(("b",), 1.0)],
        "b": Annotated[float, Range(0, 1)],
        "devices": Annotated[Any, Range(min=1)],
        "decay": Annotated[float | None, Range(0, 1, False, False)],
    }
    ok = {"dim": 8, "heads": 2, "ks": None, "k": 10, "a": 0.2, "b": 0.3, "devices": "auto", "decay": None}
    assert check_values("x.", hints, ok) is None
    assert check_values("x.", hints, {**ok, "devices": [0, 1]}) is None  # device indices, not a count
    cases = {
        "dim": (0, "x.dim=0 is out of range: expected an integer ≥ 1"),
        "heads": (3, "x.dim=8 is not divisible by x.heads=3: expected dim to be a multiple of heads"),
        "ks": ([5, 0], "x.ks=[5, 0] is out of range: expected each value to be an integer ≥ 1, got 0"),
        "k": (7, "x.k=7 is not one of x.ks=[5, 10]"),
        "a": (0.9, "x.a=0.9 + x.b=0.3 = 1.2 is out of range: expected a sum ≤ 1"),
        "devices": (0, "x.devices=0 is out of range: expected an integer ≥ 1"),
        "decay": (1.0, "x.decay=1 is out of range: expected a number in (0, 1) or null"),
    }
    for key, (value, message) in cases.items():
        assert check_values("x.", hints, {**ok, key: value}) == message


def _user_facing_numeric_keys():
    """(where, key, hint) for every int/float key a config YAML sets, on every component and the run schema."""
    for group in COMPONENT_GROUPS:
        for choice in group_choices(group):
            target = target_of(group, choice)
            if target is None:
                continue
            node = OmegaConf.load(CONFIG_DIR / group / f"{choice}.yaml")
            hints = typing.get_type_hints(get_class(target).__init__, include_extras=True)
            for key in node:
                if key in hints and key not in UNBOUNDED:
                    yield f"{group}/{choice}", key, hints[key]
    schemas = [RunConfig]
    while schemas:
        schema = schemas.pop()
        hints = typing.get_type_hints(schema, include_extras=True)
        for item in dataclasses.fields(schema):
            if dataclasses.is_dataclass(hints[item.name]):
                schemas.append(hints[item.name])
            else:
                yield schema.__name__, item.name, hints[item.name]


def test_every_numeric_config_key_declares_its_range():
    missing = []
    for where, key, hint in _user_facing_numeric_keys():
        spec = constraints_of(hint)
        if spec.element in (int, float) and not spec.ranges:
            missing.append(f"{where}: {key}")
    assert not missing, f"numeric keys without a Range: {missing}"
