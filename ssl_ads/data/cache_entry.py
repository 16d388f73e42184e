"""Cache entries that check themselves: a manifest of every file's size and checksum, verified on every open.

Why: an entry used to count as valid as soon as its `meta.json` existed, so arrays zeroed in place trained a
model silently, a truncated array raised a raw traceback, and an entry missing its `meta.json` was never
rebuilt. Now an entry is trusted only when every file it was written with is there, at its size, with its
checksum; anything else is said in one line on stderr and the entry is rebuilt atomically.

Two shapes share one manifest format: a directory entry (featurized arrays, simulator tables) holds
`manifest.json` written last inside its temp directory before the rename; a file entry (an embeddings
`.npy`) has a `<name>.manifest.json` beside it. Entries written before manifests existed have none, so they
are reported as damaged and rebuilt once. Checksums are sha256 over the whole file, streamed in 1 MB chunks
(1.0-1.7 s per GiB on one shared core, measured; blake2b took twice as long here: no hardware support).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

MANIFEST = "manifest.json"
FORMAT = 1
ALGORITHM = "sha256"
CHUNK_BYTES = 1 << 20


def checksum(path: Path) -> str:
    """Hex digest of the file's bytes, read in fixed chunks so a large array never sits in RAM twice."""
    digest = hashlib.new(ALGORITHM)
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


def _seal(files: dict[str, Any]) -> str:
    """Checksum of the file table itself, so an edited manifest that still parses is caught too."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def write_manifest(manifest: Path, base: Path, names: list[str]) -> None:
    """Record size and checksum of `names` (relative to `base`) in `manifest`, written atomically."""
    files = {name: {"bytes": (base / name).stat().st_size, ALGORITHM: checksum(base / name)} for name in names}
    text = json.dumps({"format": FORMAT, "files": files, "seal": _seal(files)}, indent=2, sort_keys=True) + "\n"
    tmp = manifest.with_name(f".{manifest.name}.{os.getpid()}.tmp")  # a plain file: the umask's permissions
    tmp.write_text(text)
    os.replace(tmp, manifest)


def seal_directory(directory: Path) -> None:
    """Write the directory entry's manifest over every file in it; call it after the last file is written."""
    names = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    write_manifest(directory / MANIFEST, directory, [name for name in names if name != MANIFEST])


def damage(manifest: Path, base: Path, expected: set[str] | None = None) -> str | None:
    """Why the files recorded in `manifest` cannot be trusted ("items.npy: checksum mismatch"), None if intact."""
    try:
        payload = json.loads(manifest.read_text())
        files = payload["files"]
        if payload["format"] != FORMAT or payload["seal"] != _seal(files):
            return f"{manifest.name}: does not match its seal"
        records = {str(name): (int(rec["bytes"]), str(rec[ALGORITHM])) for name, rec in files.items()}
    except FileNotFoundError:
        return f"{manifest.name}: missing"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"{manifest.name}: unreadable ({type(exc).__name__})"
    if expected is not None and set(records) != expected:
        return f"{manifest.name}: lists {sorted(records)}, expected {sorted(expected)}"
    for name, (size, digest) in records.items():
        path = base / name
        try:
            actual = path.stat().st_size
            if actual != size:
                return f"{name}: {actual} bytes, {size} written (truncated or overwritten)"
            if checksum(path) != digest:
                return f"{name}: checksum mismatch"
        except FileNotFoundError:
            return f"{name}: missing"
        except OSError as exc:
            return f"{name}: unreadable ({exc.strerror})"
    return None


def directory_damage(directory: Path) -> str | None:
    return damage(directory / MANIFEST, directory)


def report(entry: Path, reason: str) -> None:
    """The one line a person reads about a damaged entry (never wrapped, so logs keep it whole)."""
    Console(stderr=True).print(
        f"[yellow]cache: {escape(str(entry))} is damaged ({escape(reason)}); rebuilding[/]", soft_wrap=True
    )


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise the publish step of entries in `directory` between processes (flock on the folder itself).

    Best effort: without fcntl, or on a file system that refuses the lock, `publish` still never leaves a
    broken entry in place; two racing processes may then both rebuild, and both results are valid.
    """
    try:
        import fcntl

        fd = os.open(directory, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        with suppress(OSError):  # e.g. NFS refusing flock on a directory
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _discard(path: Path) -> None:
    """Move `path` out of the way first (one rename, so no one sees it half-deleted), then delete it."""
    aside = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-"))
    with suppress(FileNotFoundError):  # another process moved it first
        os.replace(path, aside / path.name)
    shutil.rmtree(aside, ignore_errors=True)


def publish(tmp: Path, final: Path, replace: bool = False) -> None:
    """Rename the sealed temp directory `tmp` to `final`.

    An entry already at `final` means another process finished first only if it verifies: then `tmp` is
    dropped and both processes use the same entry. A damaged one is moved aside and replaced.
    """
    with _locked(final.parent):
        for attempt in range(3):
            if final.exists() or final.is_symlink():
                if not replace and directory_damage(final) is None:
                    shutil.rmtree(tmp)
                    return
                _discard(final)
            try:
                os.replace(tmp, final)
                return
            except OSError:  # only without the lock: another process renamed its entry in between
                if attempt == 2 or not final.is_dir():
                    raise


@contextmanager
def atomic_directory(final: Path, replace: bool = False) -> Iterator[Path]:
    """Yield a temp directory beside `final`; it is sealed with a manifest and becomes `final` only if the
    block finishes. An existing `final` is kept only when it verifies (or replaced whatever it is: `replace`)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; a cache entry is readable like any other folder
        yield tmp
        seal_directory(tmp)
        publish(tmp, final, replace)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _confirmed_damage(entry: Path, check: Callable[[], str | None]) -> str | None:
    """None if the entry verifies. Damage seen without the lock is checked again under it, so an entry that
    another process is publishing at this moment is neither reported nor rebuilt."""
    reason = check()
    if reason is not None:
        with _locked(entry.parent):
            reason = check()
    return reason


def open_directory(directory: Path, build: Callable[[Path], None]) -> Path:
    """`directory` holding a verified entry: reused when intact, else `build(tmp)` fills a temp directory
    that replaces it (a damaged entry is reported in one line first)."""
    if directory.exists() or directory.is_symlink():
        reason = _confirmed_damage(directory, lambda: directory_damage(directory))
        if reason is None:
            return directory
        report(directory, reason)
    with atomic_directory(directory) as tmp:
        build(tmp)
    return directory


def file_manifest(path: Path) -> Path:
    return path.with_name(f"{path.name}.{MANIFEST}")


def file_damage(path: Path) -> str | None:
    return damage(file_manifest(path), path.parent, {path.name})


def open_file(path: Path, write: Callable[[Path], None]) -> Path:
    """`path` holding a verified single-file entry: reused when intact, else `write(tmp)` makes it anew.

    Built outside the lock (it may take minutes); under it the file is renamed into place, then its manifest
    is written, and readers confirm damage under the same lock, so none sees the file without its manifest.
    """
    if path.exists() or file_manifest(path).exists():
        reason = _confirmed_damage(path, lambda: file_damage(path))
        if reason is None:
            return path
        report(path, reason)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with _locked(path.parent):
            if file_damage(path) is None:  # another process finished first and its entry checks out
                return path
            file_manifest(path).unlink(missing_ok=True)
            os.replace(tmp, path)
            write_manifest(file_manifest(path), path.parent, [path.name])
    finally:
        tmp.unlink(missing_ok=True)
    return path
