"""A real two-process DDP pretraining on CPU (gloo): ranks read disjoint rows and the loss goes down."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from ssl_ads.data.batches import ShardedBatchSampler

SSL_ADS = Path(sys.executable).with_name("ssl-ads")  # this environment's console script


def _collect_shard(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    sampler = ShardedBatchSampler(101, 8, shuffle=True, seed=5)
    rows = np.concatenate(list(sampler))
    np.save(Path(out_dir) / f"rank{rank}.npy", rows)
    dist.barrier()
    dist.destroy_process_group()


def test_sampler_shards_are_disjoint_under_a_real_process_group(tmp_path):
    mp.spawn(_collect_shard, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    shards = [np.load(tmp_path / f"rank{r}.npy") for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 51
    assert set(shards[0]) | set(shards[1]) == set(range(101))
    # 101 rows on 2 ranks: exactly one row is read twice to even the shards out.
    assert len(set(shards[0]) & set(shards[1])) == 1


def test_ddp_pretraining_runs_on_two_cpu_processes_and_learns(cli, tmp_path):
    result = cli(
        "pretrain",
        "experiment=tiny",
        "trainer=ddp",
        "pretrain.max_epochs=4",
        "dataset.n_users=800",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next((tmp_path / "outputs" / "pretrain").iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())["pretrain"]
    assert metrics["world_size"] == 2
    with open(run_dir / "logs" / "pretrain" / "metrics.csv") as handle:
        epochs = [float(r["pretext_loss_epoch"]) for r in csv.DictReader(handle) if r.get("pretext_loss_epoch")]
    assert len(epochs) == 4
    assert epochs[-1] < epochs[0]


@pytest.mark.skipif(not SSL_ADS.is_file(), reason="no ssl-ads console script next to this Python")
def test_ddp_from_the_ssl_ads_console_script(tmp_path):
    """The README's `ssl-ads pretrain trainer=ddp` as typed: Lightning starts the second process as
    `python <sys.argv[0]> <sys.argv[1:]>`, so argv[0] must still be the console script."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "HYDRA_FULL_ERROR": "0"}
    args = [str(SSL_ADS), "pretrain", "experiment=tiny", "trainer=ddp", "pretrain.max_epochs=1", "dataset.n_users=300"]
    result = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "pretrain").iterdir()
    assert json.loads((run_dir / "metrics.json").read_text())["pretrain"]["world_size"] == 2
    assert (run_dir / "train_ddp_process_1.log").is_file()  # the second process ran the same stage, as rank 1
