"""Nothing dropped silently, end to end: the data report of a sequence (Taobao) and a tabular (CSV) file with
known bad rows is on the console, in metrics.json (`data_report`) and in report.md, a second run from the
cache reports the same, and a k-core filter that leaves too few users fails naming the step and its settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

T0 = 1_511_544_000
SMALL_SEQUENCE = [
    "encoder.dim=16", "encoder.layers=1", "encoder.heads=2", "encoder.ff_dim=32", "pretrain.max_epochs=1",
    "finetune.max_epochs=1", "label_fractions=[1.0]", "task.window=4", "dataset.max_len=10",
    "trainer.enable_progress_bar=false", "online_probe.every_n_steps=0",
]  # fmt: skip


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def _run_dir(root: Path, stage: str) -> Path:
    (run,) = (root / "outputs" / stage).glob("*")
    return run


def _flat(text: str) -> str:
    """Console text with rich's line wrapping undone."""
    return " ".join(text.split())


def _steps(report: dict) -> dict[str, dict]:
    return {step["name"].split(" (")[0]: step for step in report["steps"]}


@pytest.fixture(scope="module")
def taobao_run(tmp_path_factory, cli_in):
    """A Taobao UserBehavior file: 40 users x 8 views of 20 items, plus a duplicate, two negative timestamps,
    an unknown behaviour code, a short line and two users with 2 events (k-core at 5 removes them)."""
    cwd = tmp_path_factory.mktemp("taobao")
    lines = [f"{u},{100 + (u * 3 + k) % 20},{k % 4},pv,{T0 + 100 * u + k}" for u in range(1, 41) for k in range(8)]
    lines += [lines[5], "7,101,1,pv,-60", "8,102,1,pv,-1", "9,100,1,click,5", "9,100,1"]
    lines += ["90,100,1,pv,1", "90,101,1,pv,2", "91,102,1,pv,1", "91,103,1,pv,2"]
    data = _write(cwd / "UserBehavior.csv", lines)
    args = ["dataset=taobao", f"dataset.path={data}", f"cache_dir={cwd / 'cache'}", *SMALL_SEQUENCE]
    result = cli_in(cwd, "pipeline", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd, args, result


def test_sequence_report_is_in_metrics_json_report_md_and_on_the_console(taobao_run):
    cwd, _, result = taobao_run
    run = _run_dir(cwd, "pipeline")
    report = json.loads((run / "metrics.json").read_text())["data_report"]
    assert (report["read"], report["unit"], report["entities"], report["n_entities"]) == (329, "events", "users", 40)
    steps = _steps(report)
    quarantine = steps["quarantined as malformed"]
    assert quarantine["reasons"] == {"negative timestamp": 2, "unknown behavior_type": 1, "wrong field count": 1}
    assert Path(quarantine["path"]).is_file()
    assert steps["duplicate events"]["removed"] == 1
    k_core = steps["k-core filtering"]
    assert (k_core["removed"], k_core["detail"]["users"]) == (4, 2)
    assert k_core["settings"] == {"dataset.min_user_interactions": 5, "dataset.min_item_interactions": 5}
    markdown = (run / "report.md").read_text()
    assert "## Data cleaning" in markdown and "329 events read, 320 kept (40 users)" in markdown
    assert "negative timestamp: 2" in markdown and "unknown behavior_type: 1" in markdown
    assert "| k-core filtering (dataset.min_user_interactions=5, dataset.min_item_interactions=5) | removed | 4 |" in (
        markdown
    )
    console = _flat(result.stdout + result.stderr)
    assert "data: 329 events read, 320 kept (40 users)" in console
    assert "negative timestamp 2; unknown behavior_type 1; wrong field count 1" in console
    assert "k-core filtering (dataset.min_user_interactions=5, dataset.min_item_interactions=5): removed 4 events" in (
        console
    )


def test_a_second_run_from_the_cache_reports_the_same(taobao_run, cli_in):
    cwd, args, _ = taobao_run
    result = cli_in(cwd, "pretrain", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    before = json.loads((_run_dir(cwd, "pipeline") / "metrics.json").read_text())["data_report"]
    after = json.loads((_run_dir(cwd, "pretrain") / "metrics.json").read_text())["data_report"]
    assert after == before
    assert "negative timestamp 2" in _flat(result.stderr)


def test_tabular_report_counts_bad_rows_and_unlabeled_rows(cli, tmp_path):
    lines = ["click,site,price,device"]
    lines += [f"{i % 2},s{i % 5},{i * 0.5},d{i % 3}" for i in range(60)]
    lines += ["1,s1,cheap,d1", "0,s2,1.0", ",s3,2.0,d1", ",s4,2.5,d2", ",s1,3.0,d0"]
    data = _write(tmp_path / "impressions.csv", lines)
    result = cli(
        "probe", "dataset=tabular_file", f"dataset.path={data}", "dataset.label=click", "label_fractions=[1.0]",
        "probe.max_epochs=2", "encoder.dim=8", "encoder.hidden=[16]", "trainer.enable_progress_bar=false",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run = _run_dir(tmp_path, "probe")
    report = json.loads((run / "metrics.json").read_text())["data_report"]
    assert (report["read"], report["kept"], report["unit"]) == (65, 63, "rows")
    steps = _steps(report)
    assert steps["quarantined as malformed"]["reasons"] == {"non-numeric price": 1, "expected 4 fields": 1}
    unlabeled = steps["no value in task.label='click'"]
    assert (unlabeled["removed"], unlabeled["kind"], unlabeled["unit"]) == (3, "excluded", "rows")
    markdown = (run / "report.md").read_text()
    assert "## Data cleaning" in markdown and "non-numeric price: 1" in markdown and "expected 4 fields: 1" in markdown
    console = _flat(result.stdout + result.stderr)
    assert "data: 65 rows read, 63 kept" in console and "removed 2 rows (expected 4 fields 1; non-numeric price 1)" in (
        console
    )
    assert "no value in task.label='click' (left out of the task; pretraining still reads them): excluded 3 rows" in (
        console
    )


def test_k_core_that_leaves_too_few_users_names_the_step_and_its_settings(cli, tmp_path):
    """3 users view 2 items 3 times each (they pass k=5); 200 one-off users (on their own items) do not.

    A user task (conversion) needs a train/val/test split of users; next-item ranking would evaluate the 3 users by
    leave-one-out, tiny but well defined."""
    core = [f"{u},{item},1,pv,{T0 + 10 * u + k}" for u in (1, 2, 3) for item in (100, 101) for k in range(3)]
    noise = [f"{u},{1000 + u},1,pv,{T0 + u}" for u in range(10, 210)]
    data = _write(tmp_path / "UserBehavior.csv", core + noise)
    user_task = [arg for arg in SMALL_SEQUENCE if not arg.startswith("task.window")]  # conversion has no window
    result = cli("pretrain", "dataset=taobao", f"dataset.path={data}", "task=conversion", *user_task)
    assert result.returncode == 2, result.stderr[-3000:]
    assert (
        "k-core filtering (dataset.min_user_interactions=5, dataset.min_item_interactions=5) removed 200 of 218 "
        "events; 3 users remain, too few for a train/val/test split; lower those settings"
    ) in _flat(result.stderr)
    assert not list(tmp_path.rglob("metrics.json"))
