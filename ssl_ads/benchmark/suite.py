"""A benchmark suite: cases (config overrides) × seeds × label fractions, with expectations on the results.

Everything is validated before the first case runs: every case must compose (unknown dataset/encoder/
pretext names fail here, listing the choices), pass the run-config checks (keys, types, modalities), and
every expectation must name a metric the case's task produces at a label fraction and mode the suite runs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from ssl_ads.config.choices import CONFIG_DIR, group_choices
from ssl_ads.config.schema import register_configs
from ssl_ads.config.validate import validate_run_config
from ssl_ads.errors import ConfigError, SslAdsError
from ssl_ads.results import FROZEN_PRETRAINED, PRETRAINED, SCRATCH

SUITE_DIR = CONFIG_DIR / "benchmark"
MODES = ("probe", "finetune")
SUITE_KEYS = {"name", "description", "seeds", "label_fractions", "modes", "overrides", "cases"}
CASE_KEYS = {"name", "overrides", "expect"}
EXPECT_KEYS = {"metric", "at_fraction", "mode", "encoder", "min", "max", "min_gain_over_scratch", "use"}
# What an expectation compares with its threshold: the seed mean of the point estimate, or of a bound of the
# 95 % interval (ci_low: "clearly above", ci_high: "not clearly below"; see `ssl_ads.benchmark.expectations`).
USES = ("point", "ci_low", "ci_high")
# Encoders an expectation can name: ours pretrained, the from-scratch baseline, a model that arrives pretrained.
ENCODERS = (PRETRAINED, SCRATCH, FROZEN_PRETRAINED)


@dataclass(frozen=True)
class Expectation:
    metric: str
    at_fraction: float
    mode: str = "probe"
    encoder: str = "pretrained"
    min: float | None = None
    max: float | None = None
    min_gain_over_scratch: float | None = None
    use: str = "point"


@dataclass
class Case:
    name: str
    overrides: list[str]
    expectations: list[Expectation]
    # Filled by validation: the composed config of seed 0 and facts about the parts it names.
    choices: dict[str, str] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    pretext_trains: bool = True


@dataclass
class Suite:
    name: str
    description: str
    seeds: list[int]
    label_fractions: list[float]
    modes: list[str]
    overrides: list[str]
    cases: list[Case]
    path: Path

    def case_overrides(self, case: Case, seed: int) -> list[str]:
        """Suite-wide overrides, then the case's, then what the suite fixes per run."""
        fractions = ",".join(f"{f:g}" for f in self.label_fractions)
        return [*self.overrides, *case.overrides, f"seed={seed}", f"label_fractions=[{fractions}]", "stage=pipeline"]


def suite_path(name: str) -> Path:
    """`ci` → configs/benchmark/ci.yaml; a path to a YAML file is taken as is."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise ConfigError(f"suite={name}: file not found")
        return candidate
    path = SUITE_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(SUITE_DIR.glob("*.yaml")))
        raise ConfigError(f"suite={name}: no such suite; choose one of: {known} (or a path to a suite YAML)")
    return path


def load_suite(name: str, extra_overrides: list[str] = ()) -> Suite:
    """Read and fully validate a suite (composes every case once); raises ConfigError before any work."""
    path = suite_path(name)
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a suite is a mapping with keys {sorted(SUITE_KEYS)}")
    _check_keys(raw, SUITE_KEYS, str(path))
    modes = list(raw.get("modes", ["probe"]))
    if not modes or not set(modes) <= set(MODES):
        raise ConfigError(f"{path}: modes must be a non-empty subset of {list(MODES)}, got {modes}")
    fractions = [float(f) for f in raw.get("label_fractions", [0.01, 0.1, 1.0])]
    if not fractions or not all(0 < f <= 1 for f in fractions):
        raise ConfigError(f"{path}: label_fractions must be non-empty values in (0, 1], got {fractions}")
    seeds = [int(s) for s in raw.get("seeds", [0])]
    if not raw.get("cases"):
        raise ConfigError(f"{path}: a suite needs at least one entry under 'cases'")
    cases = [_parse_case(entry, i, str(path)) for i, entry in enumerate(raw["cases"])]
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: case names must be unique, got {names}")
    suite = Suite(
        name=str(raw.get("name", path.stem)),
        description=str(raw.get("description", "")),
        seeds=seeds or [0],
        label_fractions=fractions,
        modes=modes,
        overrides=[*raw.get("overrides", []), *extra_overrides],
        cases=cases,
        path=path,
    )
    for case in suite.cases:
        _validate_case(suite, case)
    return suite


def compose_case(suite: Suite, case: Case, seed: int) -> tuple[DictConfig, dict[str, str]]:
    """The case's full run config for one seed and the group choices it made (hydra node removed)."""
    register_configs()
    where = f"{suite.path}: case '{case.name}'"
    try:
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("config", overrides=suite.case_overrides(case, seed), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(f"{where}: {_explain_compose_error(err)}") from err
    choices = {k: v for k, v in OmegaConf.to_container(cfg.hydra.runtime.choices).items() if "hydra" not in k}
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


def _validate_case(suite: Suite, case: Case) -> None:
    where = f"{suite.path}: case '{case.name}'"
    cfg, case.choices = compose_case(suite, case, suite.seeds[0])
    try:
        validate_run_config(cfg, case.choices)
        task = instantiate(cfg.task)
        case.pretext_trains = bool(instantiate(cfg.pretext).trains)
    except SslAdsError as err:
        raise ConfigError(f"{where}: {err}") from err
    case.metrics = task_metric_names(task, where)
    for expect in case.expectations:
        _validate_expectation(suite, case, expect, where)


def task_metric_names(task: object, where: str) -> list[str]:
    """The metrics a task reports, known before any data is read.

    A task may declare `metric_names`; otherwise its MetricCollection is built, and when that needs the data
    (e.g. the number of classes) the task module's `METRICS` tuple is used.
    """
    declared = getattr(task, "metric_names", None)
    if declared:
        return sorted(declared)
    try:
        return sorted(task.metrics().keys())
    except SslAdsError:
        module = sys.modules[type(task).__module__]
        names = getattr(module, "METRICS", None)
        if names:
            return sorted(names)
        raise ConfigError(
            f"{where}: cannot tell which metrics {type(task).__name__} reports before reading data "
            "(declare `metric_names` on the task class)"
        ) from None


def _validate_expectation(suite: Suite, case: Case, expect: Expectation, where: str) -> None:
    if expect.metric not in case.metrics:
        raise ConfigError(
            f"{where}: expect.metric '{expect.metric}' is not produced by task={case.choices.get('task')}; "
            f"it reports: {', '.join(case.metrics)}"
        )
    if not any(abs(expect.at_fraction - f) < 1e-12 for f in suite.label_fractions):
        raise ConfigError(
            f"{where}: expect.at_fraction {expect.at_fraction:g} is not among the suite's label_fractions "
            f"{suite.label_fractions}"
        )
    if expect.mode not in suite.modes:
        raise ConfigError(f"{where}: expect.mode '{expect.mode}' is not run by this suite (modes: {suite.modes})")
    if expect.encoder not in ENCODERS:
        raise ConfigError(f"{where}: expect.encoder must be one of {list(ENCODERS)}, got '{expect.encoder}'")
    needs_pretrained = expect.encoder == "pretrained" or expect.min_gain_over_scratch is not None
    if needs_pretrained and not case.pretext_trains:
        raise ConfigError(
            f"{where}: expectation on the pretrained encoder, but pretext={case.choices.get('pretext')} trains "
            "nothing; use encoder: scratch and drop min_gain_over_scratch"
        )
    if expect.use not in USES:
        raise ConfigError(f"{where}: expect.use must be one of {list(USES)}, got '{expect.use}'")
    if expect.min is None and expect.max is None and expect.min_gain_over_scratch is None:
        raise ConfigError(f"{where}: an expectation needs at least one of min, max, min_gain_over_scratch")


def _parse_case(entry: Any, index: int, where: str) -> Case:
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError(f"{where}: cases[{index}] must be a mapping with a 'name'")
    _check_keys(entry, CASE_KEYS, f"{where}: cases[{index}]")
    overrides = entry.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
        raise ConfigError(f"{where}: cases[{index}].overrides must be a list of key=value strings")
    expects = entry.get("expect", [])
    expects = [expects] if isinstance(expects, dict) else expects
    parsed = []
    for j, spec in enumerate(expects):
        label = f"{where}: cases[{index}].expect[{j}]"
        if not isinstance(spec, dict) or "metric" not in spec or "at_fraction" not in spec:
            raise ConfigError(f"{label}: needs at least 'metric' and 'at_fraction'")
        _check_keys(spec, EXPECT_KEYS, label)
        try:
            parsed.append(Expectation(**{**spec, "at_fraction": float(spec["at_fraction"])}))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{label}: {err}") from err
    return Case(name=str(entry["name"]), overrides=list(overrides), expectations=parsed)


def _check_keys(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _explain_compose_error(err: Exception) -> str:
    """Hydra's message, plus the valid choices when a group option does not exist."""
    text = str(err).splitlines()[0]
    for group in ("dataset", "encoder", "pretext", "task", "trainer", "experiment"):
        if f"'{group}/" in text or f"group {group}" in text or f"{group}=" in text:
            return f"{text} (choices for {group}: {', '.join(group_choices(group))})"
    return text
