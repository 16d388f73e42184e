"""Lookalike expansion: the blocked top-k against a brute-force reference, and the stage's files and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from ssl_ads.stages.lookalike import main
from ssl_ads.use.embedding_space import SPACES, PopulationStats, population_space
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


@pytest.mark.parametrize("kind", SPACES)
@pytest.mark.parametrize("method", ["centroid", "max"])
def test_blocked_top_k_equals_brute_force_for_any_block_size(method, kind):
    vectors = torch.randn(1000, 16, generator=torch.Generator().manual_seed(0)) * torch.linspace(0.1, 4, 16) + 3.0
    seeds = [3, 17, 256, 999]
    space = population_space(vectors, kind)
    expected_rows, expected_scores = _brute_force(space.apply(vectors), seeds, 50, method)
    for block in (1, 7, 64, 333, 1000, 5000):
        rows, scores = top_k(vectors, torch.tensor(seeds), 50, method, block, space=space)
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
        (["k=5", "space=pca"], "space must be one of auto, raw, centred, whitened, got 'pca'"),
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


def test_the_stage_fits_its_space_on_the_streamed_population_as_top_k_does_in_memory(tmp_path, monkeypatch):
    """`space=`: the population's mean and covariance summed block by block; the audience is `top_k`'s with the
    same space fitted in memory, and the three spaces choose differently on anisotropic vectors."""
    monkeypatch.chdir(tmp_path)
    vectors = torch.randn(400, 8, generator=torch.Generator().manual_seed(0)) * torch.linspace(0.2, 3, 8) + 5.0
    path = tmp_path / "users.parquet"
    ids = pl.DataFrame({"user_id": np.arange(1000, 1400)})
    ids.with_columns(pl.Series("embedding", vectors.numpy())).write_parquet(path)
    (tmp_path / "seeds.csv").write_text("user_id\n" + "\n".join(map(str, range(1000, 1030))) + "\n")
    chosen = {}
    for kind in SPACES:
        out = tmp_path / f"audience_{kind}.parquet"
        assert main([f"embeddings={path}", "seeds=seeds.csv", "k=100", f"out={out}", f"space={kind}",
                     "block_size=64"]) == 0  # fmt: skip
        chosen[kind] = (pl.read_parquet(out)["user_id"] - 1000).to_list()
        rows, _ = top_k(vectors, torch.arange(30), 100, space=population_space(vectors, kind))
        assert rows.tolist() == chosen[kind]
    assert len({tuple(rows) for rows in chosen.values()}) == 3
    summaries = [json.loads(m.read_text()) for m in (tmp_path / "outputs" / "lookalike").glob("*/metrics.json")]
    assert sorted(summary["space"] for summary in summaries) == sorted(SPACES)


def test_whitening_gives_the_population_unit_covariance_and_survives_a_constant_dimension():
    vectors = torch.randn(5000, 6, generator=torch.Generator().manual_seed(1)) @ torch.randn(6, 6) + 2.0
    vectors[:, 5] = 7.0  # a dimension with no variance: floored, not divided by zero
    mapped = population_space(vectors, "whitened").apply(vectors)
    assert torch.isfinite(mapped).all()
    covariance = torch.cov(mapped.T.double())  # five directions at unit variance, the constant one at none
    expected = torch.tensor([0.0, 1, 1, 1, 1, 1], dtype=torch.float64)
    torch.testing.assert_close(torch.linalg.eigvalsh(covariance), expected, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(covariance, torch.diag(covariance.diagonal()), atol=1e-3, rtol=1e-3)


def test_auto_whitens_with_ten_users_per_dimension_and_centres_with_fewer():
    for users, expected in ((80, "whitened"), (79, "centred")):
        stats = PopulationStats()
        stats.add(torch.randn(users, 8, generator=torch.Generator().manual_seed(0)))
        assert stats.resolve("auto") == expected and stats.resolve("raw") == "raw"


def test_non_finite_vectors_are_named_unless_the_space_is_raw(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the stage writes outputs/lookalike/ where it runs
    vectors = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    vectors[7, 2] = np.nan
    path = tmp_path / "users.parquet"
    pl.DataFrame({"user_id": np.arange(50)}).with_columns(pl.Series("embedding", vectors)).write_parquet(path)
    (tmp_path / "seeds.csv").write_text("user_id\n1\n2\n")
    args = [f"embeddings={path}", f"seeds={tmp_path / 'seeds.csv'}", "k=5", f"out={tmp_path / 'a.parquet'}"]
    assert main(args) == 2
    assert f"embeddings: {path} holds NaN or infinite values" in _one_error_line(capsys)
    assert main([*args, "space=raw"]) == 0
