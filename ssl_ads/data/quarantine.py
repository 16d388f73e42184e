"""Split malformed rows from good ones, keep them on disk with their line numbers, and count them.

Why: real files have a few broken lines. Dropping them silently hides data problems, failing on the
first one makes big public dumps unusable. So bad rows go to a quarantine parquet file (line number,
reason, raw fields), the counts travel with the data, and a mostly-broken file is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ssl_ads.data.io import save_atomic, stable_hash
from ssl_ads.errors import DataError

LINE = "_line"  # 1-based line (CSV/text, header counted) or row (parquet) number in the source file
FILE = "_file"  # optional: which file of a folder the row came from
REASON = "reason"
EXAMPLES_PER_REASON = 3
TOP_REASONS = 3


@dataclass(frozen=True)
class QuarantineReport:
    """What was set aside from one source: counts per reason and where the rows were written."""

    source: str
    n_rows: int
    n_bad: int
    reasons: dict[str, int] = field(default_factory=dict)
    path: str | None = None  # None when no row was bad

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quarantine_rows(
    frame: pl.DataFrame | pl.LazyFrame,
    checks: Mapping[str, pl.Expr],
    *,
    source: str | Path,
    cache_dir: Path,
    key: Any,
    raw_columns: Sequence[str] | None = None,
    keep: Sequence[str] | None = None,
    max_bad_share: float = 0.5,
) -> tuple[pl.DataFrame, QuarantineReport]:
    """Return the good rows and a report; write the bad rows (line, reason, raw fields).

    `checks` maps a reason to an expression evaluated on `frame`: a Boolean one marks bad rows with
    that reason; a String one marks a row bad with its (non-null) value as the reason. The first
    failing check in order names a row's reason. `key` (e.g. the data set fingerprint) names the
    quarantine file together with the source's file name, so a changed file gets a new one.

    Good rows keep every column, or only `keep` when given: then a lazy `frame` is parsed by the
    streaming engine and raw fields are materialized for bad rows only, so a large file never sits in
    memory as text.
    """
    lazy = frame.lazy()
    names = lazy.collect_schema().names()
    if LINE not in names:
        raise ValueError(f"quarantine_rows needs a '{LINE}' column; got {names}")
    kept = names if keep is None else list(keep)
    where = [c for c in (FILE, LINE) if c in names and c not in kept]
    raw = [c for c in (names if raw_columns is None else raw_columns) if c not in (FILE, LINE)]
    flagged = collect_rows(
        lazy.with_columns(_reason(lazy, checks)).select(
            *kept,
            *where,
            REASON,
            *[pl.when(pl.col(REASON).is_not_null()).then(pl.col(c)).alias(c) for c in raw if c not in kept],
        ),
        source,
    )
    bad = flagged.filter(pl.col(REASON).is_not_null())
    good = flagged.select(kept) if bad.height == 0 else flagged.filter(pl.col(REASON).is_null()).select(kept)
    counts = bad.group_by(REASON).len().sort(["len", REASON], descending=[True, False])
    report = QuarantineReport(
        source=str(source),
        n_rows=flagged.height,
        n_bad=bad.height,
        reasons=dict(counts.select(REASON, "len").iter_rows()),
    )
    if bad.height:
        columns = list(dict.fromkeys(c for c in (FILE, LINE, REASON, *raw) if c in bad.columns))
        path = Path(cache_dir) / "quarantine" / f"{Path(source).name}-{stable_hash(key)}.parquet"
        save_atomic(path, bad.select(columns).write_parquet)
        report = QuarantineReport(**{**report.as_dict(), "path": str(path)})
    if report.n_rows and report.n_bad / report.n_rows > max_bad_share:
        raise DataError(_too_many_bad_message(report, bad, max_bad_share))
    return good, report


def collect_rows(frame: pl.LazyFrame, source: str | Path, what: str = "data") -> pl.DataFrame:
    """Collect with the streaming engine, turning polars' read errors into a DataError naming the file."""
    try:
        return frame.collect(engine="streaming")
    except pl.exceptions.NoDataError as err:
        raise DataError(f"{source}: the file is empty (no data)") from err
    except (pl.exceptions.PolarsError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{source}: cannot be read as {what} ({first}){not_utf8_hint(first)}") from err


def not_utf8_hint(message: str) -> str:
    """What to do when a reader says the bytes are not UTF-8 (a Latin-1 or Windows-1252 export, often)."""
    if "utf-8" in message.lower() or "utf8" in message.lower():
        return "; the file is not UTF-8 text: re-encode it, e.g. iconv -f windows-1252 -t utf-8 in.csv > out.csv"
    return ""


def _reason(frame: pl.LazyFrame, checks: Mapping[str, pl.Expr]) -> pl.Expr:
    """The first failing check's reason, or null for a good row."""
    if not checks:
        return pl.lit(None, pl.String).alias(REASON)
    dtypes = frame.select(expr.alias(f"__check_{i}") for i, expr in enumerate(checks.values())).collect_schema()
    reasons = [
        _as_reason(dtype, expr, reason) for (reason, expr), dtype in zip(checks.items(), dtypes.dtypes(), strict=True)
    ]
    return pl.coalesce(reasons).alias(REASON)


def _as_reason(dtype: pl.DataType, check: pl.Expr, reason: str) -> pl.Expr:
    """A Boolean check becomes its reason where true; a String check already is the reason."""
    if dtype == pl.Boolean:
        return pl.when(check).then(pl.lit(reason))
    if dtype == pl.String:
        return check
    raise TypeError(f"quarantine check '{reason}' must be a Boolean or String expression, got {dtype}")


def _too_many_bad_message(report: QuarantineReport, bad: pl.DataFrame, max_bad_share: float) -> str:
    """Name the file, the share and the commonest reasons with example lines to look at."""
    where = pl.col(LINE).cast(pl.String)
    if FILE in bad.columns and bad.get_column(FILE).n_unique() > 1:
        where = pl.col(FILE) + pl.lit(":") + where
    examples = (
        bad.group_by(REASON, maintain_order=True)
        .agg(pl.len(), where.head(EXAMPLES_PER_REASON).alias("where"))
        .sort(["len", REASON], descending=[True, False])
        .head(TOP_REASONS)
    )
    parts = [
        f"{reason} ({count} row{'s' * (count != 1)}, e.g. line {', '.join(lines)})"
        for reason, count, lines in examples.select(REASON, "len", "where").iter_rows()
    ]
    return (
        f"{report.source}: {report.n_bad} of {report.n_rows} rows ({report.n_bad / report.n_rows:.0%}) are "
        f"malformed, more than dataset.max_bad_share={max_bad_share}. Top reasons: {'; '.join(parts)}. "
        f"Bad rows were written to {report.path}"
    )
