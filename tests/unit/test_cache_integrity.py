"""Every cache entry verifies itself when opened: damage is said in one line and the entry is rebuilt.

Why: a fault campaign found a featurize cache zeroed in place used silently (pretext loss 1.60 instead of
2.37, exit 0), a truncated array or a garbled meta.json ending in a raw traceback, and an entry whose
meta.json was deleted failing on every later run. Each case damages one file of a real entry (sequence,
tabular and text featurize caches, the simulator's tables, the sentence-embedding cache) and checks that
the next open names that file in one line, rebuilds, and serves what a fresh build serves.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import pytest

from ssl_ads.data import cache_entry, sequence_features, tabular_features, text_features
from ssl_ads.data.sources import synthetic_marketplace, synthetic_tables
from ssl_ads.data.sources.synthetic_impressions import SyntheticImpressions
from ssl_ads.data.sources.synthetic_marketplace import SimulatorSettings
from ssl_ads.data.sources.synthetic_sequences import SyntheticSequences
from ssl_ads.data.sources.synthetic_tables import load_or_simulate, read_tables
from ssl_ads.data.sources.synthetic_texts import SyntheticCopy
from ssl_ads.encoders import embedding_cache

SIM = {"n_users": 120, "n_items": 60, "n_topics": 4, "n_advertisers": 6}
TEXTS = pl.Series(["Soft and warm.", "LOWEST PRICE!!!", "Handcrafted for you.", "Fits great", "New in"])


def _fake_encode(model: Any, texts: list[str], batch_size: int, max_length: int, precision: str) -> np.ndarray:
    return np.asarray([[len(t), t.count(" "), 1.0, 0.0] for t in texts], dtype=np.float32)


def _patch_sentence_model(mp: pytest.MonkeyPatch) -> None:
    """No real model: the embedding cache's logic is what is under test."""
    mp.setattr(embedding_cache, "load_sentence_model", lambda model: object())
    mp.setattr(embedding_cache, "fast_encode", _fake_encode)


def _content(value: Any) -> dict[str, Any]:
    """What a consumer of the cache sees, in plain containers that compare by value."""
    if isinstance(value, np.ndarray):
        return {"embeddings": np.array(value)}
    if isinstance(value, synthetic_marketplace.MarketplaceTables):
        tables = {name: getattr(value, name) for name in synthetic_marketplace.TABLES}
        return {**tables, "cutoff": value.cutoff_timestamp}
    meta = {k: v for k, v in value.meta.items() if k != "cache_dir"}
    split = {f"split_{part}": getattr(value.split, part) for part in ("train", "val", "test")} if value.split else {}
    return {**{k: np.array(v) for k, v in value.inputs.items()}, "rows": value.rows, "meta": meta, **split}


def _assert_same(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(actual[name], value), name
        elif isinstance(value, pl.DataFrame):
            assert actual[name].equals(value), name
        else:
            assert actual[name] == value, name


class Kind(NamedTuple):
    """One cache: how to open it from a cache root, and the function that builds it (patched to count)."""

    open: Callable[[Path, dict], Any]
    builder: tuple[ModuleType, str]


KINDS: dict[str, Kind] = {
    "sequence": Kind(
        lambda root, ctx: SyntheticSequences(**SIM, max_len=8, side_fields=["action"]).featurize(root),
        (sequence_features, "build_arrays"),
    ),
    "tabular": Kind(
        lambda root, ctx: SyntheticImpressions(**SIM, max_rows=400).featurize(root), (tabular_features, "build_arrays")
    ),
    # with the tokenizer given: WordPiece training breaks ties differently from run to run, so only a
    # given tokenizer makes two builds of the token arrays comparable
    "text": Kind(
        lambda root, ctx: SyntheticCopy(**SIM, max_len=16, min_frequency=1).featurize(root, ctx["text_state"]),
        (text_features, "build_arrays"),
    ),
    "synthetic": Kind(
        lambda root, ctx: read_tables(load_or_simulate(SimulatorSettings(**SIM), root)), (synthetic_tables, "simulate")
    ),
    "embeddings": Kind(
        lambda root, ctx: embedding_cache.cached_embeddings(root, ctx["model"], TEXTS, "bf16", 64, 8),
        (embedding_cache, "_write_npy"),
    ),
}


def _entry_of(kind: str, value: Any, root: Path) -> Path:
    if kind == "embeddings":
        return Path(value.filename)
    if kind == "synthetic":
        return root / "synthetic" / synthetic_tables.settings_hash(SimulatorSettings(**SIM))
    return Path(value.meta["cache_dir"])


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every kind built once into one cache root; each test works on a copy of it."""
    root = tmp_path_factory.mktemp("pristine")
    model = root.parent / f"{root.name}-model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 4}')
    (model / "model.safetensors").write_bytes(b"weights")
    ctx: dict[str, Any] = {"model": str(model)}
    with pytest.MonkeyPatch.context() as mp:
        _patch_sentence_model(mp)
        ctx["text_state"] = SyntheticCopy(**SIM, max_len=16, min_frequency=1).featurize(root / "scratch").state
        shutil.rmtree(root / "scratch")
        entries, contents = {}, {}
        for kind, spec in KINDS.items():
            value = spec.open(root, ctx)
            entries[kind] = _entry_of(kind, value, root).relative_to(root)
            contents[kind] = _content(value)
    return {"root": root, "ctx": ctx, "entries": entries, "contents": contents}


@pytest.fixture
def cache(pristine: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _patch_sentence_model(monkeypatch)
    shutil.copytree(pristine["root"], tmp_path / "cache")
    return tmp_path / "cache"


def _counting(monkeypatch: pytest.MonkeyPatch, kind: str) -> list[int]:
    module, name = KINDS[kind].builder
    original, calls = getattr(module, name), []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def _cache_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("cache:")]


# --- the damage table ------------------------------------------------------------------------------------


def zero_in_place(path: Path) -> None:
    """What the campaign did: the values overwritten, the size (and for arrays the header) kept."""
    before = path.read_bytes()
    if path.suffix == ".npy":
        array = np.load(path, mmap_mode="r+")
        array[...] = 0
        array.flush()
        del array
    else:
        path.write_bytes(before[: len(before) // 2] + bytes(len(before) - len(before) // 2))
    assert path.stat().st_size == len(before) and path.read_bytes() != before


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def garble(path: Path) -> None:
    text = path.read_bytes()
    path.write_bytes(b'{"garbled\x00' + text[10:])


def delete(path: Path) -> None:
    path.unlink()


ARRAY, TABLE, JSON = (zero_in_place, truncate, delete), (truncate, delete), (garble, delete)
ENTRY = "<entry>"  # a file entry's own name (its key hash), known only once built
FILES: dict[str, dict[str, tuple[Callable[[Path], None], ...]]] = {
    "sequence": {
        "items.npy": ARRAY, "side_action.npy": ARRAY, "age_days.npy": ARRAY, "lengths.npy": ARRAY,
        "users.parquet": TABLE, "item_vocab.parquet": TABLE, "side_vocab_action.parquet": TABLE, "meta.json": JSON,
        "manifest.json": JSON,
    },
    "tabular": {
        "cat.npy": ARRAY, "num.npy": ARRAY, "split.npy": ARRAY, "rows.parquet": TABLE, "state.json": JSON,
        "meta.json": JSON, "manifest.json": JSON,
    },
    "text": {
        "tokens.npy": ARRAY, "split.npy": ARRAY, "rows.parquet": TABLE, "empty_texts.parquet": TABLE,
        "tokenizer.json": JSON, "meta.json": JSON, "manifest.json": JSON,
    },
    "synthetic": {
        **{f"{name}.parquet": TABLE for name in synthetic_marketplace.TABLES}, "meta.json": JSON, "manifest.json": JSON,
    },
    # deleting the manifest beside the array is also an embeddings file written before manifests existed
    "embeddings": {ENTRY: ARRAY, f"{ENTRY}.manifest.json": JSON},
}  # fmt: skip
CASES = [
    pytest.param(kind, name, damage, id=f"{kind}-{name}-{damage.__name__}")
    for kind, files in FILES.items()
    for name, damages in files.items()
    for damage in damages
]


def _damaged_path(entry: Path, kind: str, name: str) -> tuple[Path, str]:
    """(the file to damage, the name the report must give it)."""
    if kind == "embeddings":
        name = name.replace(ENTRY, entry.name)
        return entry.parent / name, name
    return entry / name, name


def test_the_table_damages_every_file_of_every_entry(pristine: dict[str, Any]) -> None:
    for kind, relative in pristine["entries"].items():
        entry = pristine["root"] / relative
        if kind == "embeddings":
            listed = {p.name.replace(entry.name, ENTRY) for p in entry.parent.glob(f"{entry.name}*")}
        else:
            listed = {p.name for p in entry.iterdir()}
        assert listed == set(FILES[kind]), kind


@pytest.mark.parametrize(("kind", "name", "damage"), CASES)
def test_damage_is_reported_in_one_line_and_the_entry_rebuilt(
    kind: str,
    name: str,
    damage: Callable[[Path], None],
    pristine: dict[str, Any],
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry = cache / pristine["entries"][kind]
    path, reported = _damaged_path(entry, kind, name)
    damage(path)
    calls = _counting(monkeypatch, kind)
    value = KINDS[kind].open(cache, pristine["ctx"])
    lines = _cache_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    expected = rf"cache: {re.escape(str(entry))} is damaged \({re.escape(reported)}: .+\); rebuilding"
    assert re.fullmatch(expected, lines[0]), lines[0]
    assert len(calls) == 1  # rebuilt through the normal builder, once
    _assert_same(_content(value), pristine["contents"][kind])
    check = cache_entry.file_damage if kind == "embeddings" else cache_entry.directory_damage
    assert check(entry) is None
    assert not [p.name for p in entry.parent.iterdir() if p.name.startswith(".")]  # no temp or broken dirs left
    # the rebuilt entry is trusted from now on: nothing said, nothing rebuilt
    _assert_same(_content(KINDS[kind].open(cache, pristine["ctx"])), pristine["contents"][kind])
    assert not _cache_lines(capsys.readouterr().err) and len(calls) == 1


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_intact_entry_is_reused_without_rebuilding(
    kind: str, pristine: dict[str, Any], cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    entry = cache / pristine["entries"][kind]
    files = sorted(entry.parent.glob(f"{entry.name}*")) if kind == "embeddings" else sorted(entry.iterdir())
    mtimes = {p: p.stat().st_mtime_ns for p in files}

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"{kind}: an intact entry was rebuilt")

    monkeypatch.setattr(*KINDS[kind].builder, refuse)
    _assert_same(_content(KINDS[kind].open(cache, pristine["ctx"])), pristine["contents"][kind])
    assert not _cache_lines(capsys.readouterr().err)
    assert {p: p.stat().st_mtime_ns for p in files} == mtimes


def test_a_damaged_embedding_chunk_is_recomputed_when_the_joined_file_is_rebuilt(
    pristine: dict[str, Any], cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    entry = cache / pristine["entries"]["embeddings"]
    (chunk,) = entry.parent.glob("*.chunk.npy")
    delete(entry)
    zero_in_place(chunk)
    encoded = []
    monkeypatch.setattr(embedding_cache, "fast_encode", lambda *a: encoded.append(1) or _fake_encode(*a))
    value = KINDS["embeddings"].open(cache, pristine["ctx"])
    lines = _cache_lines(capsys.readouterr().err)
    assert len(lines) == 2 and f"({chunk.name}: checksum mismatch)" in lines[1], lines
    assert encoded == [1]
    _assert_same(_content(value), pristine["contents"]["embeddings"])


# --- publishing: another process's entry is kept only when it verifies --------------------------------------


def _write(tmp: Path, text: str) -> None:
    (tmp / "data.txt").write_text(text)
    (tmp / "meta.json").write_text("{}")


def test_publish_keeps_a_valid_entry_and_replaces_a_damaged_one(tmp_path: Path) -> None:
    final = tmp_path / "entry"
    with cache_entry.atomic_directory(final) as tmp:
        _write(tmp, "first")
    with cache_entry.atomic_directory(final) as tmp:  # another process finished first with a valid entry
        _write(tmp, "second")
    assert (final / "data.txt").read_text() == "first"
    (final / "meta.json").unlink()  # the old failure: a folder without meta.json was kept forever
    with cache_entry.atomic_directory(final) as tmp:
        _write(tmp, "third")
    assert (final / "data.txt").read_text() == "third" and cache_entry.directory_damage(final) is None
    with cache_entry.atomic_directory(final, replace=True) as tmp:
        _write(tmp, "fourth")
    assert (final / "data.txt").read_text() == "fourth"
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_a_manifest_edited_into_valid_json_is_caught_by_its_seal(tmp_path: Path) -> None:
    with cache_entry.atomic_directory(tmp_path / "entry") as tmp:
        _write(tmp, "data")
    manifest = tmp_path / "entry" / cache_entry.MANIFEST
    manifest.write_text(manifest.read_text().replace('"data.txt"', '"other.txt"'))
    assert cache_entry.directory_damage(tmp_path / "entry") == "manifest.json: does not match its seal"


def test_concurrent_builders_of_one_damaged_entry_end_with_one_valid_entry(tmp_path: Path) -> None:
    """Threads stand in for processes: each takes its own flock on the folder, as a process would."""
    final = tmp_path / "entry"
    with cache_entry.atomic_directory(final) as tmp:
        _write(tmp, "same")
    (final / "data.txt").write_text("zero")  # damaged in place, same size
    start, results, errors = threading.Barrier(4), [], []

    def build(tmp: Path) -> None:
        time.sleep(0.05)
        _write(tmp, "same")

    def worker() -> None:
        try:
            start.wait()
            directory = cache_entry.open_directory(final, build)
            results.append((directory / "data.txt").read_text())
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and results == ["same"] * 4
    assert cache_entry.directory_damage(final) is None
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]
