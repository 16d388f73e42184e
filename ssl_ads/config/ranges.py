"""Declarative value constraints, written into the type hints that already are the config's schema.

    def __init__(self, dim: Annotated[int, Range(min=1), DivisibleBy("heads")] = 64, ...)
    max_epochs: Annotated[int, Range(min=1)] = 10          # a run-level dataclass field

`ssl_ads.config.validate` reads them after a node has merged into its schema, so a wrong value fails at start-up,
before any data is read, as one line naming the key as the user types it, the value and what is allowed.
A list value (`label_fractions`, `ks`) is checked element by element; null and values of another kind (a string
such as `trainer.devices=auto`) are left to the type check.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def show(value: Any) -> str:
    """A value as a user would type it on the command line (`0.001`, `-1`, `[0, 0.5]`, `null`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Range:
    """The interval a numeric value (or each element of a list) must lie in; None leaves that side open."""

    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True

    def contains(self, value: float) -> bool:
        """Within the bounds, and a finite number (nan and inf are never a setting)."""
        if not math.isfinite(value):
            return False
        if self.min is not None and (value < self.min or (value == self.min and not self.min_inclusive)):
            return False
        return not (self.max is not None and (value > self.max or (value == self.max and not self.max_inclusive)))

    def describe(self, integer: bool) -> str:
        """`an integer ≥ 1`, `a number in (0, 1]`, `a number > 0`."""
        kind = "an integer" if integer else "a number"
        if self.min is not None and self.max is not None:
            left, right = "[" if self.min_inclusive else "(", "]" if self.max_inclusive else ")"
            return f"{kind} in {left}{show(self.min)}, {show(self.max)}{right}"
        if self.min is not None:
            return f"{kind} {'≥' if self.min_inclusive else '>'} {show(self.min)}"
        if self.max is not None:
            return f"{kind} {'≤' if self.max_inclusive else '<'} {show(self.max)}"
        return kind

    def problem(self, key: str, value: Any, integer: bool, optional: bool) -> str | None:
        """The one-line complaint about `key=value`, or None when it is allowed."""
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        bad = [v for v in values if is_number(v) and not self.contains(v)]
        if not bad:
            return None
        if isinstance(value, (list, tuple)):
            expected = self.describe(integer)
            return f"{key}={show(value)} is out of range: expected each value to be {expected}, got {show(bad[0])}"
        return f"{key}={show(value)} is out of range: expected {self.describe(integer)}{' or null' * optional}"


@dataclass(frozen=True)
class DivisibleBy:
    """The value must be a multiple of the sibling key `other` (a transformer's dim by its number of heads)."""

    other: str

    def problem(self, prefix: str, name: str, values: Mapping[str, Any]) -> str | None:
        value, divisor = values.get(name), values.get(self.other)
        if not (isinstance(value, int) and isinstance(divisor, int)) or divisor < 1 or value % divisor == 0:
            return None
        return (
            f"{prefix}{name}={value} is not divisible by {prefix}{self.other}={divisor}: "
            f"expected {name} to be a multiple of {self.other}"
        )


@dataclass(frozen=True)
class SumAtMost:
    """The value plus the sibling keys' values must not exceed `total` (strictly below it unless inclusive)."""

    others: tuple[str, ...]
    total: float
    inclusive: bool = True

    def problem(self, prefix: str, name: str, values: Mapping[str, Any]) -> str | None:
        names = [name, *self.others]
        parts = [values.get(n) for n in names]
        if not all(is_number(p) for p in parts):
            return None
        total = sum(parts)
        if total < self.total or (self.inclusive and total <= self.total + 1e-12):
            return None
        terms = " + ".join(f"{prefix}{n}={show(v)}" for n, v in zip(names, parts, strict=True))
        bound = f"{'≤' if self.inclusive else '<'} {show(self.total)}"
        return f"{terms} = {show(total)} is out of range: expected a sum {bound}"


@dataclass(frozen=True)
class OneOfKey:
    """The value must be one of the sibling list `other` (or of `default` when that key is null)."""

    other: str
    default: tuple[Any, ...] = ()

    def problem(self, prefix: str, name: str, values: Mapping[str, Any]) -> str | None:
        value, allowed = values.get(name), values.get(self.other)
        allowed = list(self.default) if allowed is None else list(allowed)
        if value is None or not allowed or value in allowed:
            return None
        return f"{prefix}{name}={show(value)} is not one of {prefix}{self.other}={show(allowed)}"


CrossField = DivisibleBy | SumAtMost | OneOfKey


UNION_TYPES = tuple(t for t in (typing.Union, getattr(types, "UnionType", None)) if t is not None)


@dataclass(frozen=True)
class Constraints:
    """What a type hint declares: its ranges and cross-field relations, its (element) type, whether null is ok."""

    ranges: tuple[Range, ...]
    relations: tuple[CrossField, ...]
    element: Any
    optional: bool

    def integer(self, value: Any) -> bool:
        """Describe the allowed values as integers (an `int` field, or an untyped one holding an int)."""
        return self.element is int or (self.element is Any and isinstance(value, int))


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in UNION_TYPES:
        args = typing.get_args(hint)
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else Any), len(rest) < len(args)
    return hint, False


def constraints_of(hint: Any) -> Constraints:
    """Read `Annotated[T, Range(...), ...]`, also as `Annotated[T | None, ...]` or `Annotated[T, ...] | None`."""
    hint, optional = _strip_optional(hint)
    metadata: tuple[Any, ...] = ()
    if typing.get_origin(hint) is typing.Annotated:
        hint, *rest = typing.get_args(hint)
        metadata = tuple(rest)
        hint, inner_optional = _strip_optional(hint)
        optional = optional or inner_optional
    if typing.get_origin(hint) in (list, tuple) and typing.get_args(hint):
        hint = typing.get_args(hint)[0]
    return Constraints(
        ranges=tuple(m for m in metadata if isinstance(m, Range)),
        relations=tuple(m for m in metadata if isinstance(m, (DivisibleBy, SumAtMost, OneOfKey))),
        element=hint,
        optional=optional,
    )


def check_values(prefix: str, hints: Mapping[str, Any], values: Mapping[str, Any]) -> str | None:
    """The first problem with `values` (a node's merged keys) under the hints' constraints, or None.

    Ranges come first, so a relation is only judged between values that are each allowed.
    """
    declared = {name: constraints_of(hint) for name, hint in hints.items()}
    for name, spec in declared.items():
        if name not in values:
            continue
        value = values[name]
        if spec.element is Any and isinstance(value, (list, tuple)):
            continue  # an untyped key's list is not a list of numbers to bound (trainer.devices=[0, 1])
        for allowed in spec.ranges:
            problem = allowed.problem(f"{prefix}{name}", value, spec.integer(value), spec.optional)
            if problem:
                return problem
    for name, spec in declared.items():
        for relation in spec.relations:
            problem = relation.problem(prefix, name, values)
            if problem:
                return problem
    return None
