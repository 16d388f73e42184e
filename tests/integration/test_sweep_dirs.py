"""A `-m` sweep with a path among its overrides: one numbered folder per job (Hydra's ${hydra.job.num}), the
overrides in each job's .hydra/overrides.yaml, Python logging in its cli.log, and `ssl-ads report` ranking it."""

from __future__ import annotations

import yaml


def test_a_sweep_with_a_path_override_gets_numbered_job_folders_and_a_report(cli, tmp_path):
    cache = tmp_path / "a" / "cache" / "folder"  # once part of the job folder's name: nested folders
    result = cli("pretrain", "-m", "experiment=tiny", "dataset.n_users=300", "pretrain.max_epochs=1",
                 f"cache_dir={cache}", "seed=0,1")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "multirun" / "pretrain").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    for number in (0, 1):
        job = sweep / str(number)
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        assert f"cache_dir={cache}" in overrides and f"seed={number}" in overrides
        assert (job / "encoder.pt").is_file()
        assert "encoder saved to" in (job / "cli.log").read_text()  # Python logging: the job's cli.log ...
    assert "encoder saved to" in result.stdout and "val_pretext_loss" in result.stdout  # ... the console, a table
    report = cli("report", str(sweep))
    assert report.returncode == 0, report.stderr
    assert "ranked by val_pretext_loss (lower is better)" in report.stdout
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in report.stdout.splitlines()[4:]]
    header = [c.strip() for c in report.stdout.splitlines()[2].strip("|").split("|")]
    assert header[:4] == ["rank", "run", "seed", "method"] and "cache_dir" not in header  # varied only
    losses = [float(row[header.index("val_pretext_loss")]) for row in rows]
    assert len(rows) == 2 and losses == sorted(losses) and {row[1].rsplit("/", 1)[-1] for row in rows} == {"0", "1"}
