"""The entry point: help, stage dispatch, and start-up failures that name the offending key."""

from __future__ import annotations

from ssl_ads.cli import hydra_argv
from ssl_ads.config.choices import all_groups


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
        "ssl-ads probe", "seed=0,1", "x=1", "stage=probe", "-m", "--info", "defaults", "--cfg", "job", "--info"
    ]  # fmt: skip


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
