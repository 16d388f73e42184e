"""`ssl-ads report` over pretrain runs (no downstream results): one row each, ranked by the online probe when the
runs have one, else by val_pretext_loss, lowest first; sweep jobs named by their number, overrides as columns."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ssl_ads.report.rank_runs import collect, main


def _job(sweep: Path, number: int, overrides: list[str], pretrain: dict) -> None:
    """A finished `ssl-ads pretrain -m` job as the stage writes it: metrics.json and Hydra's overrides.yaml."""
    run = sweep / str(number)
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*overrides, "stage=pretrain"]))
    payload = {"stage": "pretrain", "encoder": str(run / "encoder.pt"), "data_report": {},
               "pretrain": {"pretext": "MaskedItem", "epochs": 2, "world_size": 1, **pretrain}}  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(payload))


def test_a_pretrain_sweep_is_ranked_by_val_pretext_loss_lowest_first(tmp_path, capsys):
    sweep = tmp_path / "multirun" / "pretrain" / "2026-01-01_00-00-00"
    for number, (mask, loss) in enumerate([(0.15, 5.2), (0.3, 4.8), (0.5, 5.0)]):
        _job(sweep, number, [f"pretext.mask_prob={mask}", "cache_dir=/data/cache"], {"val_pretext_loss": loss})
    table, metric, columns = collect([sweep])
    assert metric == "val_pretext_loss" and columns == ["pretext.mask_prob"]
    assert table["val_pretext_loss"].to_list() == [4.8, 5.0, 5.2]
    assert table["pretext.mask_prob"].to_list() == ["0.3", "0.5", "0.15"] and table["rank"].to_list() == [1, 2, 3]
    assert table["run"].to_list() == ["1", "2", "0"] and set(table["method"]) == {"pretrain"}
    assert main([str(sweep.parent)]) == 0
    out = capsys.readouterr().out
    assert "ranked by val_pretext_loss (lower is better)" in out and "| pretext.mask_prob |" in out


def test_the_online_probe_ranks_when_the_runs_have_one(tmp_path):
    sweep = tmp_path / "sweep"
    for number, (loss, auroc) in enumerate([(4.0, 0.61), (5.0, 0.70)]):
        pretrain = {"val_pretext_loss": loss, "online_probe_auroc_first": 0.5, "online_probe_auroc_last": auroc}
        _job(sweep, number, [f"seed={number}"], pretrain)
    table, metric, _ = collect([sweep])
    assert metric == "online_probe_auroc_last" and table["online_probe_auroc_last"].to_list() == [0.70, 0.61]
    table, metric, _ = collect([sweep], "val_pretext_loss")  # or any metric the runs have, by name
    assert metric == "val_pretext_loss" and table["val_pretext_loss"].to_list() == [4.0, 5.0]
