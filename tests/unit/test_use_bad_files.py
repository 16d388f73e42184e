"""A file that is not a checkpoint, given to any use command (predict, export, monitor, embed), is one `error:` line
with exit status 2 that says what the file is not, before anything is unpickled.

Random bytes, a text file and a plain pickle are not torch archives at all; a torch file of bare tensors holds no
ssl-ads bundle; a pickled module names a class, which `weights_only` loading refuses to build.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import polars as pl
import pytest
import torch

FILES = {
    "random bytes": ("random.pt", "is not a torch checkpoint"),
    "text": ("notes.pt", "is not a torch checkpoint"),
    "pickle": ("pickle.pt", "is not a torch checkpoint"),
    "bare tensors": ("tensors.pt", "was not written by ssl-ads"),
    "pickled module": ("module.pt", "holds objects other than tensors and plain containers"),
}


def write_files(directory: Path) -> None:
    (directory / "random.pt").write_bytes(os.urandom(4096))
    (directory / "notes.pt").write_text("my model, version 2\n")
    with (directory / "pickle.pt").open("wb") as handle:
        pickle.dump({"state_dict": {"weight": [1.0, 2.0]}}, handle)
    torch.save({"weight": torch.zeros(2)}, directory / "tensors.pt")
    torch.save(torch.nn.Linear(2, 2), directory / "module.pt")
    pl.DataFrame({"user_id": [1], "item_id": [2], "timestamp": [3]}).write_csv(directory / "data.csv")


def commands(model: str, data: str) -> dict[str, list[str]]:
    return {
        "predict": ["predict", f"model={model}", f"dataset.path={data}", "out=never"],
        "export": ["export", f"encoder_ckpt={model}", "out=never"],
        "monitor": ["monitor", f"reference={data}", f"current={data}", f"encoder_ckpt={model}", "out=never"],
        "embed": ["embed", f"encoder_ckpt={model}", "experiment=tiny", "embed.out_dir=never"],
    }


@pytest.mark.parametrize("command", ["predict", "export", "monitor", "embed"])
@pytest.mark.parametrize("kind", list(FILES))
def test_a_file_that_is_not_a_checkpoint_is_one_line_naming_it(kind, command, cli, tmp_path):
    write_files(tmp_path)
    name, expected = FILES[kind]
    result = cli(*commands(str(tmp_path / name), str(tmp_path / "data.csv"))[command])
    assert result.returncode == 2, result.stderr[-2000:]
    message = " ".join(result.stderr.split())
    assert message.startswith("error:") and message.count("error:") == 1 and "Traceback" not in message, message
    assert name in message and expected in message, message
    assert not (tmp_path / "never").exists()
