"""Every downstream stage writes the label-efficiency plot beside its metrics, as the benchmark does."""

from __future__ import annotations

from pathlib import Path

import pytest

PIL = pytest.importorskip("PIL.Image", reason="matplotlib (a core dependency) brings pillow")
TINY = ["experiment=tiny", "dataset.n_users=300", "pretrain.max_epochs=1", "probe.max_epochs=2",
        "finetune.max_epochs=1"]  # fmt: skip


def valid_png(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    with PIL.open(path) as image:
        image.verify()  # a whole, readable PNG, not only its header
    with PIL.open(path) as image:
        return image.size


def test_pipeline_and_probe_write_the_label_efficiency_png(cli, tmp_path):
    result = cli("pipeline", *TINY, "hydra.run.dir=runs/pipeline")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / "pipeline"
    width, height = valid_png(run / "label_efficiency.png")
    assert width > 300 and height > 200
    assert "![label efficiency](label_efficiency.png)" in (run / "report.md").read_text()
    assert "label_efficiency.png" in result.stdout  # named in the "wrote ..." line

    probe = cli("probe", *TINY, f"encoder_ckpt={run / 'encoder.pt'}", "hydra.run.dir=runs/probe")
    assert probe.returncode == 0, probe.stderr[-3000:]
    valid_png(tmp_path / "runs" / "probe" / "label_efficiency.png")
