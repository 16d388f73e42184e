"""Item attribute files → one polars row per item: `item_id` plus its side columns (title, year, genres...).

Formats: RecBole `.item` (typed header `name:token|token_seq|float`), MovieLens ml-100k `u.item` (`|`-separated,
19 genre flags) and ml-1m `movies.dat` (`::`-separated, `Title (year)`, `Genre|Genre`), and any CSV / parquet
with an `item_id` column. MovieLens files all come out with the same names: `title`, `year` (a number, so it is
bucketed) and `genres` (a list, so it is multi-hot), whichever format they were read from.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ssl_ads.data.sources.common import existing_path
from ssl_ads.errors import DataError

KEY = "dataset.item_file"
ML100K_GENRES = (
    *("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama"),
    *("Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"),
)
# RecBole's ml-* item fields under the names the other MovieLens formats get
RECBOLE_MOVIELENS = {"movie_title": "title", "release_year": "year", "class": "genres"}
_YEAR = r"\((\d{4})\)\s*$"


def read_item_file(path: str) -> pl.DataFrame:
    """The item table of `path` with unique `item_id`s (a repeated id keeps its first row)."""
    file = existing_path(path, KEY)
    name = file.name.lower()
    try:
        if name == "u.item":
            frame = _ml100k(file)
        elif name.endswith(".item"):
            frame = _recbole(file)
        elif name.endswith(".dat"):
            frame = _ml1m(file)
        elif name.endswith(".parquet"):
            frame = pl.read_parquet(file)
        else:
            frame = pl.read_csv(file, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as err:
        raise DataError(f"{KEY}: cannot read {file} ({str(err).splitlines()[0]})") from err
    if "item_id" not in frame.columns:
        raise DataError(f"{file}: no item_id column ({KEY}); columns: {', '.join(frame.columns)}")
    return frame.unique("item_id", keep="first", maintain_order=True)


def _lines(file: Path, encoding: str = "utf8-lossy") -> pl.Series:
    """The file's non-empty lines (MovieLens files are latin-1: undecodable bytes become U+FFFD, never an error)."""
    text = file.read_bytes().decode("latin-1") if encoding == "latin-1" else file.read_text(errors="replace")
    lines = pl.Series("line", text.splitlines())
    return lines.filter(lines.str.strip_chars() != "")


def _recbole(file: Path) -> pl.DataFrame:
    """Tab-separated with a `name:type` header; `token_seq` fields become lists, `float` numbers."""
    lines = _lines(file)
    header = [field.split(":", 1) for field in lines[0].split("\t")]
    names = [h[0].strip() for h in header]
    types = [h[1].strip() if len(h) > 1 else "token" for h in header]
    rows = lines[1:].str.split("\t").list.to_struct(fields=names).struct.unnest()
    columns = []
    for name, kind in zip(names, types, strict=True):
        col = pl.col(name).str.strip_chars()
        if kind == "token_seq":
            columns.append(col.str.split(" ").list.eval(pl.element().filter(pl.element() != "")).alias(name))
        elif kind == "float":
            columns.append(col.cast(pl.Float64, strict=False).alias(name))
        else:
            columns.append(col.alias(name))
    frame = rows.select(columns).with_columns(pl.col("item_id").cast(pl.Int64, strict=False))
    if set(RECBOLE_MOVIELENS) <= set(names):  # MovieLens: the same names and types as u.item / movies.dat
        frame = frame.rename(RECBOLE_MOVIELENS).with_columns(
            pl.col("title").list.join(" ") if frame.schema["movie_title"] == pl.List(pl.String) else pl.col("title"),
            pl.col("year").cast(pl.Float64, strict=False),
        )
    return frame


def _ml100k(file: Path) -> pl.DataFrame:
    """`id|title (year)|release date|video date|url|19 genre flags`, latin-1."""
    parts = _lines(file, "latin-1").str.split("|")
    flags = [parts.list.get(5 + i, null_on_oob=True) == "1" for i in range(len(ML100K_GENRES))]
    genres = pl.concat_list(
        [pl.when(flag).then(pl.lit(g)).otherwise(None) for flag, g in zip(flags, ML100K_GENRES, strict=True)]
    ).list.drop_nulls()
    frame = pl.DataFrame({"parts": parts})
    return frame.select(
        pl.col("parts").list.get(0).cast(pl.Int64, strict=False).alias("item_id"),
        pl.col("parts").list.get(1).str.replace(_YEAR, "").str.strip_chars().alias("title"),
        pl.col("parts").list.get(2).str.slice(-4).cast(pl.Float64, strict=False).alias("year"),
        genres.alias("genres"),
    )


def _ml1m(file: Path) -> pl.DataFrame:
    """`id::Title (year)::Genre|Genre`, latin-1."""
    parts = pl.DataFrame({"parts": _lines(file, "latin-1").str.split("::")})
    title = pl.col("parts").list.get(1, null_on_oob=True)
    return parts.select(
        pl.col("parts").list.get(0).cast(pl.Int64, strict=False).alias("item_id"),
        title.str.replace(_YEAR, "").str.strip_chars().alias("title"),
        title.str.extract(_YEAR, 1).cast(pl.Float64, strict=False).alias("year"),
        pl.col("parts").list.get(2, null_on_oob=True).str.split("|").alias("genres"),
    )
