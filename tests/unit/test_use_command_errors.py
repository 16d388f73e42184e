"""A use command (predict, export, monitor, lookalike) that meets a value polars cannot read, past the checks made
up front, still ends in one `error:` line and exit status 2, never a traceback."""

from __future__ import annotations

import polars as pl

from ssl_ads.stages.use_args import run_command


def test_a_polars_read_error_is_one_error_line(capsys):
    def body(argv: list[str]) -> int:
        pl.DataFrame({"zip": ["K1A 0B1"]}).select(pl.col("zip").cast(pl.Int64, strict=True))
        return 0

    assert run_command(body, [], "usage") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the input data cannot be read: ") and "\n" not in err and "K1A 0B1" in err
