"""Lookalike expansion: the blocked top-k against a brute-force reference, and the stage's files and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from ssl_ads.stages.lookalike import main
from ssl_ads.use.lookalike import RunningTopK, top_k


def _brute_force(vectors: torch.Tensor, seeds: list[int], k: int, method: str) -> tuple[list[int], np.ndarray]:
    """Every cosine at once, seeds removed, sorted: what the blocked search must reproduce."""
    vectors = vectors.clone()
    unit = vectors / vectors.norm(dim=1, keepdim=True)
    if method == "centroid":
        centroid = unit[seeds].mean(0)
        scores = unit @ (centroid / centroid.norm())
    else:
        scores = (unit @ unit[seeds].T).max(dim=1).values
    scores[seeds] = -np.inf
    order = torch.argsort(scores, descending=True)[:k]
    return order.tolist(), scores[order].numpy()


@pytest.mark.parametrize("centred", [False, True])
@pytest.mark.parametrize("method", ["centroid", "max"])
def test_blocked_top_k_equals_brute_force_for_any_block_size(method, centred):
    vectors = torch.randn(1000, 16, generator=torch.Generator().manual_seed(0)) + 3.0
    seeds = [3, 17, 256, 999]
    centre = vectors.mean(0) if centred else None
    expected_rows, expected_scores = _brute_force(vectors - (centre if centred else 0.0), seeds, 50, method)
    for block in (1, 7, 64, 333, 1000, 5000):
        rows, scores = top_k(vectors, torch.tensor(seeds), 50, method, block, centre=centre)
        assert rows.tolist() == expected_rows, block
        np.testing.assert_allclose(scores.numpy(), expected_scores, rtol=1e-5, atol=1e-6)


def test_seeds_are_never_returned_and_k_beyond_the_candidates_returns_them_all():
    vectors = torch.randn(30, 4, generator=torch.Generator().manual_seed(1))
    seeds = torch.tensor([0, 5, 9])
    rows, scores = top_k(vectors, seeds, 100, block_size=8)
    assert sorted(rows.tolist()) == sorted(set(range(30)) - {0, 5, 9})
    assert torch.all(scores[:-1] >= scores[1:])


def test_ties_go_to_the_lower_row_whatever_the_blocks():
    vectors = torch.tensor([[1.0, 0.0]] * 10 + [[0.0, 1.0]] * 5)  # ten candidates tied at cosine 1
    for block in (1, 3, 15):
        rows, _ = top_k(vectors, torch.tensor([0]), 4, block_size=block)
        assert rows.tolist() == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="k must be >= 1"):
        RunningTopK(0)


@pytest.fixture
def embeddings(tmp_path: Path) -> Path:
    """Two clusters of users (ids 100.. and 200..) in an `ssl-ads embed`-shaped parquet."""
    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]], dtype=np.float32)
    vectors = np.concatenate([centres[0] + rng.normal(size=(20, 3)), centres[1] + rng.normal(size=(20, 3))])
    ids = np.concatenate([np.arange(100, 120), np.arange(200, 220)])
    path = tmp_path / "users.parquet"
    pl.DataFrame({"user_id": ids}).with_columns(pl.Series("embedding", vectors.astype(np.float32))).write_parquet(path)
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    return " ".join(err.split())


def test_stage_expands_within_the_seeds_cluster_and_counts_unknown_seeds(embeddings, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("100\n101\n102\n999999\n")  # a bare list of ids (no header), one of them unknown
    out = tmp_path / "audience.parquet"
    assert main([f"embeddings={embeddings}", f"seeds={seeds}", "k=10", f"out={out}", "block_size=7"]) == 0
    audience = pl.read_parquet(out)
    assert audience.columns == ["user_id", "score", "rank"]
    assert audience["user_id"].is_between(103, 119).all() and audience["rank"].to_list() == list(range(1, 11))
    (metrics,) = (tmp_path / "outputs" / "lookalike").glob("*/metrics.json")
    summary = json.loads(metrics.read_text())
    assert (summary["seed_ids_known"], summary["seed_ids_unknown"], summary["returned"]) == (3, 1, 10)
    assert "1 listed ids not in the embeddings" in " ".join(capsys.readouterr().out.split())


def test_seeds_with_no_known_id_are_refused_naming_file_and_column(embeddings, tmp_path, capsys):
    seeds = tmp_path / "seeds.csv"
    pl.DataFrame({"user_id": [1, 2], "note": ["a", "b"]}).write_csv(seeds)
    assert main([f"embeddings={embeddings}", f"seeds={seeds}", "k=5"]) == 2
    message = _one_error_line(capsys)
    assert f"none of the 2 ids in {seeds} (column 'user_id') is in {embeddings} (id column 'user_id'" in message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["k=0"], "k must be >= 1, got 0"),
        (["k=ten"], "k must be an integer >= 1, got 'ten'"),
        (["k=5", "method=mean"], "method must be one of centroid, max, got 'mean'"),
        (["k=5", "colour=red"], "unexpected argument 'colour=red'"),
        (["k=5", "centre=maybe"], "centre must be true or false, got 'maybe'"),
    ],
)
def test_bad_arguments_are_one_line_errors(embeddings, tmp_path, capsys, args, expected):
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("user_id\n100\n")
    assert main([f"embeddings={embeddings}", f"seeds={seeds}", *args]) == 2
    assert expected in _one_error_line(capsys)


def test_seeds_file_without_the_id_column_is_refused(embeddings, tmp_path, capsys):
    seeds = tmp_path / "seeds.csv"
    pl.DataFrame({"uid": [100], "other": [1]}).write_csv(seeds)
    assert main([f"embeddings={embeddings}", f"seeds={seeds}", "k=5"]) == 2
    assert f"seeds: {seeds} has no column 'user_id' (the embeddings' id column); columns: uid, other" in (
        _one_error_line(capsys)
    )


def test_the_stage_centres_on_the_streamed_mean_as_top_k_does_in_memory(tmp_path, monkeypatch):
    """`centre=true`: the mean of every user's vector, summed block by block, subtracted before the cosine; the
    audience is `top_k(..., centre=mean)`'s, and differs from the uncentred one on vectors sharing an offset."""
    monkeypatch.chdir(tmp_path)
    vectors = torch.randn(400, 8, generator=torch.Generator().manual_seed(0)) * torch.linspace(0.2, 3, 8) + 5.0
    path = tmp_path / "users.parquet"
    ids = pl.DataFrame({"user_id": np.arange(1000, 1400)})
    ids.with_columns(pl.Series("embedding", vectors.numpy())).write_parquet(path)
    (tmp_path / "seeds.csv").write_text("user_id\n" + "\n".join(map(str, range(1000, 1030))) + "\n")
    chosen = {}
    for centre in ("false", "true"):
        out = tmp_path / f"audience_{centre}.parquet"
        assert main([f"embeddings={path}", "seeds=seeds.csv", "k=100", f"out={out}", f"centre={centre}",
                     "block_size=64"]) == 0  # fmt: skip
        chosen[centre] = (pl.read_parquet(out)["user_id"] - 1000).to_list()
        rows, _ = top_k(vectors, torch.arange(30), 100, centre=vectors.mean(0) if centre == "true" else None)
        assert rows.tolist() == chosen[centre]
    assert chosen["true"] != chosen["false"]
    summaries = [json.loads(m.read_text()) for m in (tmp_path / "outputs" / "lookalike").glob("*/metrics.json")]
    assert sorted(summary["centre"] for summary in summaries) == [False, True]
