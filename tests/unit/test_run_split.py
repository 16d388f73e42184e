"""`monitor reference=<run>` compares with the run's training rows: the split `final_split` gave that run, from the
settings `model.pt` records or, for an `encoder.pt`, the run's `.hydra/config.yaml`."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from omegaconf import OmegaConf

from ssl_ads.data.split import final_split
from ssl_ads.errors import DataError
from ssl_ads.use.run_split import recorded_split, split_record, training_rows

ROWS = pl.DataFrame({"user_id": np.arange(500) % 37, "x": np.arange(500)})


def test_a_run_config_gives_the_runs_own_train_rows():
    record = split_record({"val_share": 0.2, "test_share": 0.1, "seed": 3, "task": {"_target_": "x.Task"}}, "tabular")
    train = training_rows(record, ROWS, "rows")
    assert np.array_equal(train, final_split(ROWS, 0.2, 0.1, 3).train) and len(train) == 350


def test_a_tasks_split_by_applies_to_tables_and_texts_as_in_build_context():
    cfg = {"val_share": 0.1, "test_share": 0.1, "seed": 0, "task": {"_target_": "x.Fraud", "split_by": "user_id"}}
    train = training_rows(split_record(cfg, "tabular"), ROWS, "rows")
    assert np.array_equal(train, final_split(ROWS, 0.1, 0.1, 0, split_by="user_id").train)
    held_out = set(np.delete(ROWS["user_id"].to_numpy(), train))
    assert not held_out & set(ROWS["user_id"].to_numpy()[train])  # whole users on one side
    assert "split_by" not in split_record(cfg, "sequence")["settings"]


def test_next_item_runs_keep_every_user():
    record = split_record({"val_share": 0.1, "test_share": 0.1, "seed": 0,
                           "task": {"_target_": "ssl_ads.tasks.next_item.NextItemTask"}}, "sequence")  # fmt: skip
    assert np.array_equal(training_rows(record, ROWS, "rows"), np.arange(ROWS.height))


def test_an_encoder_checkpoint_reads_its_runs_hydra_config(tmp_path):
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save({"val_share": 0.2, "test_share": 0.2, "seed": 7, "task": {"_target_": "x.Task"}},
                   tmp_path / ".hydra" / "config.yaml")  # fmt: skip
    record = recorded_split({}, tmp_path / "encoder.pt", "sequence", "reference run")
    assert record == {"scheme": "rows", "settings": {"val_share": 0.2, "test_share": 0.2, "seed": 7}}
    assert recorded_split({"split": {"scheme": "leave-one-out"}}, tmp_path / "model.pt", "sequence", "r")["scheme"] == (
        "leave-one-out"
    )


def test_no_record_and_no_run_config_is_one_line_naming_the_way_out(tmp_path):
    with pytest.raises(DataError, match="pass reference=<the training data file>"):
        recorded_split({}, tmp_path / "encoder.pt", "tabular", "reference run")
