"""`ssl-ads report` over a small Hydra `-m` sweep: ranked rows, the varied overrides as columns, 3 formats."""

from __future__ import annotations

import csv
import io
import json

import pytest


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, cli_in):
    cwd = tmp_path_factory.mktemp("sweep")
    args = ["probe", "-m", "experiment=tiny", "probe.lr=0.001,0.1", "probe.max_epochs=3", "label_fractions=[1.0]"]
    result = cli_in(cwd, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    (root,) = (cwd / "multirun" / "probe").iterdir()
    return cwd, root


def test_markdown_table_is_ranked_with_the_varied_override_as_a_column(sweep, cli_in):
    cwd, root = sweep
    result = cli_in(cwd, "report", str(root))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:6] == ["rank", "run", "probe.lr", "method", "label_fraction", "n_labels"]
    assert header[6] == "test_auroc" and "experiment" not in header and "probe.max_epochs" not in header
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert len(body) == 2 and {row[2] for row in body} == {"0.001", "0.1"}
    scores = [float(row[6]) for row in body]
    assert scores == sorted(scores, reverse=True) and [row[0] for row in body] == ["1", "2"]


def test_json_and_csv_formats_and_metric_choice(sweep, cli_in):
    cwd, root = sweep
    result = cli_in(cwd, "report", str(root), "--format", "json", "--metric", "val_auroc")
    payload = json.loads(result.stdout)
    assert payload["ranked_by"] == "val_auroc" and payload["varied"] == ["probe.lr"]
    values = [row["val_auroc"] for row in payload["rows"]]
    assert values == sorted(values, reverse=True)
    result = cli_in(cwd, "report", str(root / ".."), "--format", "csv", "--method", "scratch-probe")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 2 and {r["probe.lr"] for r in rows} == {"0.001", "0.1"}


def test_report_errors_name_the_problem(sweep, cli_in, tmp_path):
    cwd, root = sweep
    result = cli_in(cwd, "report", str(root), "--metric", "ndcg")
    assert result.returncode == 2 and "test_ndcg" in result.stderr and "test_auroc" in result.stderr
    result = cli_in(cwd, "report", str(tmp_path))
    assert result.returncode == 2 and "no finished run" in result.stderr
