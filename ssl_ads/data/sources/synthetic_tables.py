"""The simulated marketplace on disk: one cache entry of parquet tables per settings, written atomically.

The simulation itself is `ssl_ads.data.sources.synthetic_marketplace`; the data sets of each modality
(`synthetic_sequences`, `synthetic_impressions`, `synthetic_texts`) read the tables through `load_or_simulate`.
Fixed parquet options keep the files byte-identical for the same settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import polars as pl

from ssl_ads.data.cache_entry import atomic_directory, open_directory
from ssl_ads.data.sources.synthetic_marketplace import (
    SIMULATOR_VERSION,
    TABLES,
    MarketplaceTables,
    SimulatorSettings,
    simulate,
    validate,
)
from ssl_ads.errors import DataError

_PARQUET = {"compression": "zstd", "compression_level": 3, "statistics": True, "row_group_size": 1 << 20}


def settings_hash(settings: SimulatorSettings) -> str:
    """Stable short hex digest of the settings and the simulator version (the cache directory name)."""
    payload = json.dumps({"simulator_version": SIMULATOR_VERSION, **asdict(settings)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def write_tables(tables: MarketplaceTables, directory: Path) -> None:
    """Write the five parquet files, meta.json and the manifest into a temp dir beside `directory`, then rename it.

    Readers never see a half-written directory; an existing `directory` is replaced whole.
    """
    with atomic_directory(Path(directory), replace=True) as tmp:
        _write_into(tables, tmp)


def _write_into(tables: MarketplaceTables, out: Path) -> None:
    for name in TABLES:
        getattr(tables, name).write_parquet(out / f"{name}.parquet", **_PARQUET)
    meta = {"cutoff_timestamp": int(tables.cutoff_timestamp), "simulator_version": SIMULATOR_VERSION}
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load_or_simulate(settings: SimulatorSettings, cache_dir: Path) -> Path:
    """Directory holding the tables for `settings`; simulates them only when absent or damaged (cache_entry)."""
    validate(settings)
    directory = Path(cache_dir) / "synthetic" / settings_hash(settings)
    return open_directory(directory, lambda tmp: _write_into(simulate(settings), tmp))


def read_tables(directory: Path) -> MarketplaceTables:
    """Load tables written by `write_tables`, naming the missing or unreadable file on failure."""
    directory = Path(directory)
    meta_path = directory / "meta.json"
    try:
        cutoff = int(json.loads(meta_path.read_text())["cutoff_timestamp"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{meta_path}: cannot read cutoff_timestamp ({exc})") from exc
    frames = {}
    for name in TABLES:
        path = directory / f"{name}.parquet"
        try:
            frames[name] = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise DataError(f"{path}: cannot read simulated table '{name}' ({exc})") from exc
    return MarketplaceTables(cutoff_timestamp=cutoff, **frames)
