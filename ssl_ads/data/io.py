"""Atomic writes and content hashes shared by the cache, the run outputs and the simulator."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def stable_hash(payload: Any, length: int = 16) -> str:
    """Short hex digest of a JSON-serialisable payload (keys sorted), used as a cache key."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file so that a reader never sees it half-written (temp file + os.replace)."""
    save_atomic(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def save_atomic(path: Path, writer: Callable[[Path], None]) -> None:
    """Call `writer(tmp_path)` then move the result into place, with the permissions a plain write would give
    (the umask's, not the private ones of a temporary file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        writer(Path(tmp_name))
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)


# Cache entries (a directory published atomically and verified on open) live in ssl_ads/data/cache_entry.py.


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
