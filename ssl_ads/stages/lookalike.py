"""`ssl-ads lookalike embeddings=<users.parquet> seeds=<ids.csv> k=<n>`: a seed audience expanded to k users.

A direct stage (no Hydra composition: there is no dataset, encoder or task to compose): it reads an `embed` output
(an id column and `embedding`), fits the cosine's space on every user (`ssl_ads.use.embedding_space`, one streamed
pass), finds the seeds' vectors, streams the other users through the exact blocked top-k of `ssl_ads.use.lookalike`
(parquet batches of `block_size` rows, so memory holds one block), and writes (id, score, rank) atomically. Seed
ids the embeddings do not know are counted and reported; none known is an error.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import torch
from rich.console import Console
from rich.markup import escape

from ssl_ads.data.io import write_json_atomic
from ssl_ads.errors import ConfigError, DataError, SslAdsError
from ssl_ads.use.embedding_space import CHOICES, PopulationStats, Space
from ssl_ads.use.lookalike import BLOCK_SIZE, METHODS, RunningTopK, audience_query, block_scores
from ssl_ads.use.parquet_out import write_parquet_atomic

USAGE = """usage: ssl-ads lookalike embeddings=<users.parquet> seeds=<ids.csv> k=<n> [key=value ...]

  embeddings=  an `ssl-ads embed` output: an id column and `embedding` (users.parquet)
  seeds=       CSV (or parquet) of seed ids: the column named like the embeddings' id column, or a one-column
               file without that header (read as a bare list of ids)
  k=           users to add to the audience (seeds excluded)
  method=      centroid (cosine to the seeds' mean direction, default) or max (highest cosine to any seed)
  space=       auto (default): whitened when there are at least 10 users per dimension, else centred;
               whitened: cosines after whitening by every user's mean and covariance (one more pass over the
               file), so every direction counts alike; centred: minus the mean only; raw: the vectors as they are
  id_col=      the embeddings' id column, when it has more than one besides `embedding`
  out=         output parquet (id, score, rank); default outputs/lookalike/<time>/lookalike.parquet
  block_size=  candidates scored per block (memory: one block), default 65536"""

KEYS = ("embeddings", "seeds", "k", "method", "space", "id_col", "out", "block_size")
EMBEDDING = "embedding"


@dataclass
class Request:
    embeddings: Path
    seeds: Path
    k: int
    method: str = "centroid"
    space: str = "auto"
    id_col: str | None = None
    out: Path | None = None
    block_size: int = BLOCK_SIZE


def parse_args(argv: list[str]) -> Request:
    """`key=value` arguments, checked before anything is read: unknown keys, missing ones and bad values."""
    values: dict[str, str] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in KEYS:
            raise ConfigError(f"lookalike: unexpected argument {arg!r}; expected key=value with keys {', '.join(KEYS)}")
        values[key] = value
    missing = [key for key in ("embeddings", "seeds", "k") if not values.get(key)]
    if missing:
        raise ConfigError(f"lookalike: {', '.join(missing)} not set; pass {' '.join(f'{m}=...' for m in missing)}")
    k, block_size = _integer(values, "k", None), _integer(values, "block_size", BLOCK_SIZE)
    method = values.get("method", "centroid")
    if method not in METHODS:
        raise ConfigError(f"lookalike: method must be one of {', '.join(METHODS)}, got {method!r}")
    space = values.get("space", "auto")
    if space not in CHOICES:
        raise ConfigError(f"lookalike: space must be one of {', '.join(CHOICES)}, got {space!r}")
    return Request(
        embeddings=Path(values["embeddings"]),
        seeds=Path(values["seeds"]),
        k=k,
        method=method,
        space=space,
        id_col=values.get("id_col") or None,
        out=Path(values["out"]) if values.get("out") else None,
        block_size=block_size,
    )


def _integer(values: dict[str, str], key: str, default: int | None) -> int:
    text = values.get(key)
    if text is None:
        return int(default)  # type: ignore[arg-type]
    try:
        number = int(text)
    except ValueError:
        raise ConfigError(f"lookalike: {key} must be an integer >= 1, got {text!r}") from None
    if number < 1:
        raise ConfigError(f"lookalike: {key} must be >= 1, got {number}")
    return number


def id_column(path: Path, requested: str | None) -> tuple[str, pl.DataType]:
    """The embeddings' id column (the only column besides `embedding`, or `id_col=`) and its type."""
    if not path.is_file():
        raise DataError(f"embeddings: no file at {path} (expected an `ssl-ads embed` output such as users.parquet)")
    try:
        schema = pl.read_parquet_schema(path)
    except Exception as err:  # polars raises several kinds for a file that is not parquet
        raise DataError(f"embeddings: cannot read {path} as parquet ({str(err).splitlines()[0]})") from err
    if not isinstance(schema.get(EMBEDDING), pl.Array):
        columns = ", ".join(schema)
        raise DataError(f"embeddings: {path} has no fixed-size array column '{EMBEDDING}' (columns: {columns})")
    others = [c for c in schema if c != EMBEDDING]
    if requested is not None:
        if requested not in schema:
            raise DataError(f"embeddings: {path} has no column id_col={requested!r} (columns: {', '.join(others)})")
        return requested, schema[requested]
    if len(others) != 1:
        raise ConfigError(f"lookalike: {path} has id columns {', '.join(others) or 'none'}; choose one with id_col=")
    return others[0], schema[others[0]]


def read_seeds(path: Path, column: str, dtype: pl.DataType) -> tuple[pl.Series, int]:
    """Distinct seed ids in the embeddings' id type, and how many distinct values the file held."""
    if not path.is_file():
        raise DataError(f"seeds: no file at {path} (expected a CSV of ids)")
    try:
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
        else:
            frame = pl.read_csv(path, infer_schema=False)
            if column not in frame.columns and frame.width == 1:  # a bare list of ids: its first line is an id
                frame = pl.read_csv(path, infer_schema=False, has_header=False, new_columns=[column])
    except Exception as err:
        raise DataError(f"seeds: cannot read {path} ({str(err).splitlines()[0]})") from err
    if column not in frame.columns and frame.width == 1:
        frame = frame.rename({frame.columns[0]: column})
    if column not in frame.columns:
        raise DataError(f"seeds: {path} has no column '{column}' (the embeddings' id column); columns: "
                        f"{', '.join(frame.columns)}")  # fmt: skip
    raw = frame.get_column(column).cast(pl.String).str.strip_chars().drop_nulls().unique()
    return raw.cast(dtype, strict=False).drop_nulls().unique(), raw.len()


def expand(request: Request) -> tuple[pl.DataFrame, dict]:
    """The expansion (id, score, rank) and its summary; errors name the file and column at fault."""
    column, dtype = id_column(request.embeddings, request.id_col)
    seeds, n_listed = read_seeds(request.seeds, column, dtype)
    found = pl.scan_parquet(request.embeddings).filter(pl.col(column).is_in(seeds.implode())).collect()
    if found.height == 0:
        raise DataError(
            f"seeds: none of the {n_listed:,} ids in {request.seeds} (column '{column}') is in {request.embeddings} "
            f"(id column '{column}', {dtype}); e.g. {', '.join(map(str, seeds.head(3).to_list())) or 'no valid id'}"
        )
    known = found.get_column(column).unique()
    kind, space = population(request.embeddings, request.block_size, request.space)
    query = audience_query(space.apply(torch.from_numpy(found.get_column(EMBEDDING).to_numpy(writable=True))),
                           request.method)  # fmt: skip
    top = RunningTopK(request.k)
    offset = 0
    for batch in pq.ParquetFile(request.embeddings).iter_batches(request.block_size, columns=[column, EMBEDDING]):
        block = pl.from_arrow(batch)
        keep = torch.from_numpy(~block.get_column(column).is_in(known.implode()).to_numpy(writable=True))
        vectors = torch.from_numpy(block.get_column(EMBEDDING).to_numpy(writable=True))
        scores = block_scores(space.apply(vectors), query)
        top.update(scores[keep], torch.arange(offset, offset + block.height)[keep])
        offset += block.height
    ids = pl.read_parquet(request.embeddings, columns=[column]).get_column(column).gather(top.rows.numpy())
    result = pl.DataFrame({column: ids, "score": top.scores.numpy(), "rank": np.arange(1, len(ids) + 1)})
    summary = {
        "embeddings": str(request.embeddings), "seeds": str(request.seeds), "id_col": column,
        "seed_ids_listed": n_listed, "seed_ids_known": known.len(), "seed_ids_unknown": n_listed - known.len(),
        "k": request.k, "returned": result.height, "candidates": offset - known.len(), "method": request.method,
        "space": kind, "space_requested": request.space,
    }  # fmt: skip
    return result, summary


def population(path: Path, block_size: int, kind: str) -> tuple[str, Space]:
    """The space chosen (`auto` resolved) and its map fitted on every user's vector, in one streamed pass (none
    for `raw`)."""
    stats = PopulationStats()
    if kind != "raw":
        for batch in pq.ParquetFile(path).iter_batches(block_size, columns=[EMBEDDING]):
            stats.add(torch.from_numpy(pl.from_arrow(batch).get_column(EMBEDDING).to_numpy(writable=True)))
        if stats.outer is not None and not torch.isfinite(stats.outer).all():
            raise DataError(f"embeddings: {path} holds NaN or infinite values; space={kind} needs finite vectors "
                            "(space=raw scores such users last)")  # fmt: skip
    return stats.resolve(kind), stats.space(kind)


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    started = time.perf_counter()
    try:
        request = parse_args(argv)
        result, summary = expand(request)
        run_dir = Path("outputs") / "lookalike" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
        out = request.out or run_dir / "lookalike.parquet"
        write_parquet_atomic(out, [result])
    except SslAdsError as err:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
        return 2
    summary |= {"output": str(out), "seconds": round(time.perf_counter() - started, 2)}
    write_json_atomic(run_dir / "metrics.json", summary)
    console = Console()
    unknown = summary["seed_ids_unknown"]
    note = f" ({unknown:,} listed ids not in the embeddings, ignored)" if unknown else ""
    short = f"; only {summary['returned']:,} candidates besides the seeds" if summary["returned"] < request.k else ""
    scores = f"scores {result['score'].max():.3f} to {result['score'].min():.3f}" if result.height else "no candidates"
    console.print(
        f"[green]lookalike:[/] {summary['seed_ids_known']:,} seeds{escape(note)} → {summary['returned']:,} users by "
        f"{request.method} cosine, {summary['space']} ({scores}{escape(short)}) → "
        f"{escape(str(out))}"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
