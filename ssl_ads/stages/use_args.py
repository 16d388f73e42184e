"""`key=value` arguments of the use commands (predict, export, monitor), typed by a dataclass per command.

Why not a Hydra-composed run: everything these commands need (encoder, featurizer, task, dataset schema) comes
from the checkpoint, and composing the training groups would only show defaults that do not apply (and refuse
`dataset.path=` on a dataset without a path). OmegaConf still parses the values (lists, numbers, null) and the
dataclass refuses an unknown key or a wrong type, naming it, before anything is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ssl_ads.errors import ConfigError, DataError, SslAdsError

T = TypeVar("T")


def parse_args(schema: type[T], argv: list[str], usage: str) -> T:
    """`argv` (`key=value`, dotted keys for nested fields) merged into `schema`; ConfigError in one line."""
    odd = [a for a in argv if "=" not in a or a.startswith("-")]
    if odd:
        raise ConfigError(f"expected key=value arguments, got {odd[0]!r} ({usage})")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(argv))
    except OmegaConfBaseException as err:
        raise ConfigError(_explain(err, usage)) from err
    missing = sorted(OmegaConf.missing_keys(merged))
    if missing:
        raise ConfigError(f"missing {', '.join(f'{k}=...' for k in missing)} ({usage})")
    return OmegaConf.to_object(merged)


def _explain(err: OmegaConfBaseException, usage: str) -> str:
    """OmegaConf's message without its location lines; an unknown key is named with the keys that exist."""
    key = getattr(err, "full_key", None)
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if "not in struct" in first or ("Key '" in first and "not" in first):
        return f"unknown key {key or first} ({usage})"
    if "Incompatible value 'None'" in first and key:
        return f"{key}= needs a value ({usage})"
    return f"{key}: {first}" if key else first


def output_dir(out: str | None, stage: str) -> Path:
    """`out=` as given, else `outputs/<stage>/<time>/` like the Hydra stages (a suffix if that exists)."""
    if out:
        return Path(out)
    base = Path("outputs") / stage / datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
    path, n = base, 1
    while path.exists():
        path, n = base.with_name(f"{base.name}_{n}"), n + 1
    return path


def run_command(body: Callable[[list[str]], int], argv: list[str], usage: str) -> int:
    """`--help` prints `usage`; a ConfigError or DataError is one `error:` line on stderr and exit status 2."""
    if any(a in ("-h", "--help") for a in argv):
        print(usage)
        return 0
    from ssl_ads.terminal import quiet_libraries, report_error

    quiet_libraries()
    import polars as pl

    try:
        return body(argv)
    except SslAdsError as err:
        report_error(err)
        return 2
    except pl.exceptions.PolarsError as err:  # the input's values, read past what was checked up front
        first = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
        report_error(DataError(f"the input data cannot be read: {first}"))
        return 2
