"""Faults during pretraining: SIGTERM checkpoints and exits; kill -9 then `resume_from` ends where an
uninterrupted run with the same seed ends, bit for bit (deterministic mode)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ssl_ads.encoders.bundle import load_encoder

REPO = Path(__file__).resolve().parents[2]
REPO_ENV = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "HYDRA_FULL_ERROR": "0"}

# ~1 s per epoch on 2 cores: long enough to stop the run between two checkpoints.
ARGS = ["pretrain", "experiment=tiny", "pretrain.max_epochs=3", "pretrain.batch_size=8", "trainer.deterministic=true"]


def _start(cwd: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ssl_ads", *ARGS, *extra], cwd=cwd, env=REPO_ENV,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_checkpoint(cwd: Path, process: subprocess.Popen, timeout: float = 240) -> Path:
    """The run directory, once its first end-of-epoch checkpoint is on disk (the process still running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(cwd.glob("outputs/pretrain/*/checkpoints/pretrain/last.ckpt"))
        if found:
            return found[0].parents[2]
        if process.poll() is not None:
            pytest.fail(f"the run ended before its first checkpoint: {process.stderr.read()[-2000:]}")
        time.sleep(0.02)
    process.kill()
    pytest.fail("no checkpoint within the timeout")


def _run(cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ssl_ads", *ARGS, *extra], cwd=cwd, env=REPO_ENV, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def _final(run_dir: Path) -> tuple[dict, dict]:
    encoder, _ = load_encoder(run_dir / "encoder.pt")
    return encoder.state_dict(), json.loads((run_dir / "metrics.json").read_text())["pretrain"]


def test_kill_9_then_resume_reaches_the_uninterrupted_result(tmp_path):
    reference_cwd, crash_cwd = tmp_path / "reference", tmp_path / "crash"
    reference_cwd.mkdir()
    crash_cwd.mkdir()
    cache = f"cache_dir={tmp_path / 'cache'}"
    reference = _run(reference_cwd, cache)
    assert reference.returncode == 0, reference.stderr[-3000:]
    expected_weights, expected_metrics = _final(next(reference_cwd.glob("outputs/pretrain/*")))

    process = _start(crash_cwd, cache)
    crashed_dir = _wait_for_checkpoint(crash_cwd, process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (crashed_dir / "encoder.pt").exists()  # it really died before the end

    resumed = _run(crash_cwd, cache, f"resume_from={crashed_dir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    resumed_dir = next(d for d in crash_cwd.glob("outputs/pretrain/*") if d != crashed_dir)
    weights, metrics = _final(resumed_dir)
    assert metrics["epochs"] == expected_metrics["epochs"] == 3
    assert metrics["val_pretext_loss"] == expected_metrics["val_pretext_loss"]
    for name, tensor in expected_weights.items():
        assert torch.equal(weights[name], tensor), name


def test_sigterm_checkpoints_exits_143_and_the_run_resumes(tmp_path):
    process = _start(tmp_path, f"cache_dir={tmp_path / 'cache'}")
    run_dir = _wait_for_checkpoint(tmp_path, process)
    last = run_dir / "checkpoints" / "pretrain" / "last.ckpt"
    before = last.stat().st_mtime_ns
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "interrupted by SIGTERM" in stderr and f"resume_from={run_dir}" in stderr.replace("\n", "")
    assert "Traceback" not in stderr
    assert last.stat().st_mtime_ns > before  # written at the interruption, not only at the last epoch end
    assert not (run_dir / "encoder.pt").exists()
    encoder, _ = load_encoder(last)  # the interruption's checkpoint is a whole one
    assert sum(p.numel() for p in encoder.parameters()) > 0
