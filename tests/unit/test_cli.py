"""The entry point: help, stage dispatch, Hydra's own flags, and start-up failures that name the offending key."""

from __future__ import annotations

import importlib.metadata
import sys

import pytest

import ssl_ads
from ssl_ads.cli import STAGES, hydra_argv, main
from ssl_ads.config.choices import all_groups

PROGRAM = "/opt/venv/bin/ssl-ads"  # what sys.argv[0] is under the console script


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`main()` in this process, as the console script runs it: (exit status, standard output)."""
    monkeypatch.setattr(sys, "argv", [PROGRAM, *args])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
    return code, capsys.readouterr().out


def test_help_lists_stages_and_every_group_choice(cli):
    result = cli("--help")
    assert result.returncode == 0
    for stage in ("pretrain", "probe", "finetune", "pipeline"):
        assert stage in result.stdout
    for group, choices in all_groups().items():
        assert group in result.stdout
        for choice in choices:
            assert choice in result.stdout


def test_unknown_stage_exits_nonzero_and_lists_stages(cli):
    result = cli("pretrian")
    assert result.returncode == 2
    assert "unknown stage 'pretrian'" in result.stderr
    assert "pipeline" in result.stderr


def test_hydra_flags_work(cli):
    result = cli("pretrain", "--cfg", "job", "encoder.dim=32")
    assert result.returncode == 0, result.stderr
    assert "dim: 32" in result.stdout
    assert "stage: pretrain" in result.stdout
    assert "ssl-ads" in cli("pretrain", "--help").stdout


def test_overrides_may_stand_before_and_after_hydra_flags(cli):
    result = cli("pretrain", "experiment=tiny", "--cfg", "job", "encoder.dim=32")
    assert result.returncode == 0, result.stderr
    assert "dim: 32" in result.stdout and "stage: pretrain" in result.stdout
    assert hydra_argv("probe", ["-m", "seed=0,1", "--info", "defaults", "--cfg", "job", "--info", "x=1"]) == [
        "seed=0,1", "x=1", "stage=probe", "-m", "--info", "defaults", "--cfg", "job", "--info"
    ]  # fmt: skip
    # --hydra-help composes no run config: only hydra overrides go with it, and no stage=
    assert hydra_argv("pretrain", ["seed=1", "--hydra-help", "hydra.run.dir=x"]) == ["hydra.run.dir=x", "--hydra-help"]


def test_version_prints_the_package_version(monkeypatch, capsys):
    assert run_main(monkeypatch, capsys, "--version") == (0, f"ssl-ads {ssl_ads.__version__}\n")
    assert importlib.metadata.version("ssl-ads") == ssl_ads.__version__  # pyproject reads it (dynamic version)


@pytest.mark.parametrize("stage", list(STAGES))
def test_help_on_every_stage_exits_0(monkeypatch, capsys, stage):
    code, out = run_main(monkeypatch, capsys, stage, "--help")
    assert code == 0 and f"ssl-ads {stage}" in out


@pytest.mark.parametrize("args", [["--hydra-help"], ["pretrain", "--hydra-help"]])
def test_hydra_help_with_or_without_a_stage(monkeypatch, capsys, args):
    code, out = run_main(monkeypatch, capsys, *args)
    assert code == 0 and "Hydra (" in out and "--shell-completion" in out


def test_argv0_stays_the_program_and_the_stage_travels_as_an_override(monkeypatch, capsys):
    """Lightning's DDP launcher re-runs `python <sys.argv[0]> <sys.argv[1:]>`: argv[0] must stay a real file."""
    code, out = run_main(monkeypatch, capsys, "pretrain", "--cfg", "job", "encoder.dim=32")
    assert code == 0 and "dim: 32" in out
    assert sys.argv == [PROGRAM, "encoder.dim=32", "stage=pretrain", "--cfg", "job"]
    # ... and what such a relaunched worker receives finds its stage again
    code, out = run_main(monkeypatch, capsys, *sys.argv[1:], "hydra.job.name=train_ddp_process_1")
    assert code == 0 and "stage: pretrain" in out and "dim: 32" in out


def test_shell_completion_installs_for_the_program_and_completes_stages_then_keys(monkeypatch, capsys):
    code, out = run_main(monkeypatch, capsys, "-sc", "install=bash")
    assert code == 0 and out.rstrip().endswith("hydra_bash_completion ssl-ads")
    answers = {}
    for line in ("ssl-ads pre", "ssl-ads pretrain encoder=", "ssl-ads pretrain encoder.d"):
        monkeypatch.setenv("COMP_LINE", line)
        code, out = run_main(monkeypatch, capsys, "-sc", "query=bash")
        assert code == 0, line
        answers[line] = out.split()
    assert answers["ssl-ads pre"] == ["pretrain", "predict"]
    assert "encoder=transformer" in answers["ssl-ads pretrain encoder="]
    assert "encoder.dim=" in answers["ssl-ads pretrain encoder.d"]


def test_unknown_override_key_fails_naming_it(cli):
    result = cli("pretrain", "encoder.dimm=32")
    assert result.returncode != 0
    assert "dimm" in result.stderr


def test_added_unknown_key_fails_at_startup_naming_it(cli):
    result = cli("pretrain", "+encoder.depth=3", "experiment=tiny")
    assert result.returncode == 2
    assert "encoder.depth" in result.stderr


def test_wrong_type_fails_naming_the_key(cli):
    result = cli("pretrain", "encoder.dim=sixty-four", "experiment=tiny")
    assert result.returncode == 2
    assert "encoder.dim" in result.stderr


def test_wrong_type_in_run_schema_fails(cli):
    result = cli("pretrain", "pretrain.max_epochs=many")
    assert result.returncode != 0
    assert "max_epochs" in result.stderr


def test_unknown_group_choice_lists_options(cli):
    result = cli("pretrain", "encoder=lstm")
    assert result.returncode != 0
    assert "transformer" in result.stderr


def test_missing_required_path_names_the_key(cli):
    result = cli("pretrain", "dataset=movielens")
    assert result.returncode == 2
    assert "dataset.path" in result.stderr
