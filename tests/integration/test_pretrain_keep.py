"""`pretrain.keep=best` saves the encoder of the epoch with the lowest validation pretext loss (label-free model
selection for pretraining: on a small log the pretext overfits, and later epochs are worse encoders), records which
epoch that was, and reports the loss the kept encoder has; `last.ckpt` stays the last epoch's."""

from __future__ import annotations

import json

import polars as pl
import torch

from ssl_ads.encoders.bundle import read_bundle

# a small log and a high learning rate: the validation pretext loss turns up within a few epochs
RUN = ["pretrain", "experiment=tiny", "pretrain.max_epochs=8", "pretrain.lr=0.01", "trainer.enable_progress_bar=false"]


def test_the_encoder_kept_is_the_epoch_with_the_lowest_validation_pretext_loss(cli, tmp_path):
    result = cli(*RUN, "pretrain.keep=best")
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = (tmp_path / "outputs" / "pretrain").iterdir()
    log = pl.read_csv(run / "logs" / "pretrain" / "metrics.csv").drop_nulls("val_pretext_loss")
    best = log.sort("val_pretext_loss").row(0, named=True)
    recorded = json.loads((run / "metrics.json").read_text())["pretrain"]
    assert recorded["kept"] == f"epoch {best['epoch'] + 1} of 8, lowest val_pretext_loss"
    assert abs(recorded["val_pretext_loss"] - best["val_pretext_loss"]) < 1e-6
    assert recorded["val_pretext_loss_last"] == log["val_pretext_loss"][-1]
    _, saved = read_bundle(run / "encoder.pt")
    checkpoints = run / "checkpoints" / "pretrain"
    (chosen,) = checkpoints.glob(f"epoch={best['epoch']}-*.ckpt")
    # last.ckpt, which resume_from= continues from, is the last epoch's even after the best one
    assert torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True)["epoch"] == 7
    for path, same in ((chosen, True), (checkpoints / "last.ckpt", best["epoch"] == log["epoch"][-1])):
        weights = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        equal = all(torch.equal(saved[k], weights[f"encoder.{k}"]) for k in saved)
        assert equal == same, path.name


def test_a_resumed_run_keeps_its_best_epoch_too(cli, tmp_path):
    """Resumed into a new run folder, the best epoch is the best over the whole run (Lightning alone reloads only the
    best checkpoint's path, not its score, and counted the first resumed epoch as the best): an earlier epoch that
    no later one beats is still the one kept, and the earlier run's checkpoint stays where it was."""
    first = cli(*RUN, "pretrain.keep=best")  # its best epoch is an early one: later ones do not beat it
    assert first.returncode == 0, first.stderr[-2000:]
    (run,) = (tmp_path / "outputs" / "pretrain").iterdir()
    resumed = cli(*RUN[:2], "pretrain.max_epochs=10", *RUN[3:], "pretrain.keep=best", f"resume_from={run}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    (second,) = [d for d in (tmp_path / "outputs" / "pretrain").iterdir() if d != run]
    before = json.loads((run / "metrics.json").read_text())["pretrain"]
    after = json.loads((second / "metrics.json").read_text())["pretrain"]
    resumed_log = pl.read_csv(second / "logs" / "pretrain" / "metrics.csv").drop_nulls("val_pretext_loss")
    if resumed_log["val_pretext_loss"].min() > before["val_pretext_loss"]:  # no resumed epoch beat the earlier best
        assert after["kept"] == before["kept"].replace(" of 8,", " of 10,")
        assert after["val_pretext_loss"] == before["val_pretext_loss"]
    else:
        assert after["val_pretext_loss"] == resumed_log["val_pretext_loss"].min()
    assert list((run / "checkpoints" / "pretrain").glob("epoch=*.ckpt"))
