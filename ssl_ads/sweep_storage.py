"""An Optuna study's SQLite storage, set up once under a lock before parallel sweep workers open it.

optuna 2.10 (the release hydra-optuna-sweeper 1.3 allows) creates its tables and records its schema version the
first time a storage is opened, without a lock: two workers opening a new database at the same moment can both
insert that version row, and one dies with `UNIQUE constraint failed: alembic_version.version_num` (1 start in 6
with three workers started at once, measured). Opening the database here first, one process at a time (a flock on
its folder), hands every sweeper a database that is already set up. It runs before Hydra starts the sweeper
(`ssl_ads.config.preflight`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager, suppress
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ssl_ads.errors import ConfigError

SQLITE = "sqlite:///"


def sqlite_path(storage: Any) -> Path | None:
    """The database file of a `sqlite:///<path>` storage URL; None for anything else (or an unresolved `${…}`)."""
    if not isinstance(storage, str) or not storage.startswith(SQLITE) or "${" in storage:
        return None
    path = storage.removeprefix(SQLITE).split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def prepare_storage(sweeper: dict) -> None:
    """Create the tables of `hydra.sweeper.storage` when it is a SQLite file, serialised between processes."""
    path = sqlite_path(sweeper.get("storage"))
    if path is None:
        return
    try:
        import optuna
    except ImportError:
        return  # Hydra names the missing sweeper plugin itself
    _check_sqlalchemy(optuna.__version__)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent):
        try:
            optuna.storages.RDBStorage(sweeper["storage"])
        except Exception as err:  # a folder without write access, a file that is not a database...
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            where = f"hydra.sweeper.storage={sweeper['storage']}"
            raise ConfigError(f"{where}: cannot open it as a study database ({reason})") from err


def _check_sqlalchemy(optuna_version: str) -> None:
    """optuna 2.x cannot set up a database through SQLAlchemy 2 (an AssertionError deep inside it)."""
    try:
        sqlalchemy = version("sqlalchemy")
    except PackageNotFoundError:
        return
    if int(optuna_version.split(".")[0]) < 3 and int(sqlalchemy.split(".")[0]) >= 2:
        raise ConfigError(
            f"hydra.sweeper.storage: optuna {optuna_version} cannot use SQLAlchemy {sqlalchemy}; install the sweep "
            "extra's pin: pip install 'sqlalchemy>=1.4,<2' (pip install 'ssl-ads[sweep]')"
        )


@contextmanager
def _locked(folder: Path):
    """An exclusive flock on `folder` (best effort where flock is missing or refused)."""
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        with suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
