"""`ssl-ads benchmark`'s output folder: --out, or hydra.run.dir as for every other stage, else outputs/benchmark."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from ssl_ads.errors import ConfigError
from ssl_ads.stages.benchmark import parse_args


def test_hydra_run_dir_chooses_the_folder_like_out_does():
    assert parse_args(["suite=ci", "--out", "a/b"])[2] == Path("a/b")
    suite, overrides, out = parse_args(["suite=ci", "pretrain.max_epochs=1", "hydra.run.dir=runs/bench"])
    assert (suite, overrides, out) == ("ci", ["pretrain.max_epochs=1"], Path("runs/bench"))  # not a case override


def test_hydra_run_dir_resolves_hydra_s_now():
    out = parse_args(["suite=ci", "hydra.run.dir=runs/${now:%Y}/bench"])[2]
    assert out == Path("runs") / str(datetime.now().year) / "bench"
    with pytest.raises(ConfigError, match=r"hydra\.run\.dir=runs/\$\{nope:x\}: cannot resolve it"):
        parse_args(["suite=ci", "hydra.run.dir=runs/${nope:x}"])


def test_without_either_it_is_outputs_benchmark_time():
    out = parse_args(["suite=ci"])[2]
    assert out.parent == Path("outputs/benchmark") and datetime.strptime(out.name, "%Y-%m-%d_%H-%M-%S-%f")
