"""`encoder_ckpt=` through the CLI: a checkpoint of another modality or feature schema, or one holding code, is a
one-line error (exit 2, no traceback) naming both sides; real checkpoints still load under weights_only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ssl_ads.encoders.bundle import load_encoder


def _run_dir(root: Path, stage: str) -> Path:
    runs = list((root / "outputs" / stage).iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, cli_in) -> dict[str, Path]:
    """One tiny tabular and one tiny sequence pretraining run (one epoch each): their run directories."""
    runs = {}
    for modality, experiment in (("tabular", "tabular_tiny"), ("sequence", "tiny")):
        cwd = tmp_path_factory.mktemp(modality)
        result = cli_in(cwd, "pretrain", f"experiment={experiment}", "pretrain.max_epochs=1", timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[modality] = _run_dir(cwd, "pretrain")
    return runs


def _refused(result, *parts: str) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())  # rich wraps long lines at the terminal width
    for part in parts:
        assert part in message, message
    return message


def test_a_checkpoint_of_another_modality_is_refused_naming_both_sides(pretrained, cli):
    ckpt = pretrained["tabular"] / "encoder.pt"
    result = cli("probe", "experiment=tiny", f"encoder_ckpt={ckpt}")
    _refused(
        result,
        f"encoder_ckpt {ckpt} was pretrained on tabular data (dataset synthetic_impressions) but dataset=synthetic "
        "is sequence data",
    )
    assert "KeyError" not in result.stderr


def test_other_sequence_side_fields_are_refused(pretrained, cli):
    ckpt = pretrained["sequence"] / "encoder.pt"
    result = cli("finetune", "experiment=tiny", "dataset.side_fields=[]", f"encoder_ckpt={ckpt}")
    _refused(
        result,
        f"encoder_ckpt {ckpt} was pretrained on sequence data (dataset synthetic) with side fields action but "
        "dataset=synthetic has side fields none (dataset.side_fields)",
    )


def test_a_table_of_other_fields_is_refused_naming_both_schemas(pretrained, cli, tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(60):
        ints = [str(int(rng.integers(0, 50))) for _ in range(13)]
        cats = [f"{int(rng.integers(0, 6)):08x}" for _ in range(26)]
        lines.append("\t".join([str(int(rng.random() < 0.3)), *ints, *cats]))
    data = tmp_path / "dac_sample.txt"
    data.write_text("\n".join(lines) + "\n")
    ckpt = pretrained["tabular"] / "encoder.pt"
    result = cli(
        "probe", "dataset=criteo", f"dataset.path={data}", "dataset.min_count=1", "task=ctr", "encoder=field_mlp",
        "trainer.enable_progress_bar=false", f"encoder_ckpt={ckpt}",
    )  # fmt: skip
    _refused(
        result,
        f"encoder_ckpt {ckpt} was pretrained on tabular data (dataset synthetic_impressions) with 10 categorical",
        "but dataset=criteo has 26 categorical (C1, C2, C3, C4, C5, C6, ... 20 more) and 13 numeric",
    )


class _Marker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (exec, (f"open({str(self.path)!r}, 'w').write('pwned')",))


def test_a_malicious_checkpoint_runs_nothing(pretrained, cli, tmp_path):
    marker = tmp_path / "marker"
    payload = torch.load(pretrained["tabular"] / "encoder.pt", weights_only=True)
    ckpt = tmp_path / "encoder.pt"
    torch.save({**payload, "featurized": _Marker(marker)}, ckpt)
    result = cli("probe", "experiment=tabular_tiny", f"encoder_ckpt={ckpt}")
    _refused(result, f"encoder_ckpt: {ckpt} holds objects other than tensors and plain containers (it refers to exec)")
    assert not marker.exists()


def test_a_malicious_resume_checkpoint_runs_nothing(pretrained, cli, tmp_path):
    marker = tmp_path / "marker"
    last = tmp_path / "old_run" / "checkpoints" / "pretrain" / "last.ckpt"
    last.parent.mkdir(parents=True)
    payload = torch.load(pretrained["tabular"] / "checkpoints" / "pretrain" / "last.ckpt", weights_only=True)
    torch.save({**payload, "loops": _Marker(marker)}, last)
    result = cli("pretrain", "experiment=tabular_tiny", f"resume_from={last.parents[2]}")
    _refused(result, f"resume_from: {last} holds objects other than tensors and plain containers")
    assert not marker.exists()


def test_the_lightning_checkpoint_loads_the_same_encoder_under_weights_only(pretrained):
    run_dir = pretrained["tabular"]
    torch.load(run_dir / "checkpoints" / "pretrain" / "last.ckpt", weights_only=True)
    encoder, bundle = load_encoder(run_dir / "encoder.pt")
    from_ckpt, ckpt_bundle = load_encoder(run_dir / "checkpoints" / "pretrain" / "last.ckpt")
    assert ckpt_bundle["data_state"] == bundle["data_state"]
    for (name, a), (_, b) in zip(encoder.state_dict().items(), from_ckpt.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
