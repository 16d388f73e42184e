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
