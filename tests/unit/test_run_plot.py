"""One run's label-efficiency plot: drawn from its result rows, and a one-line note without matplotlib."""

from __future__ import annotations

import sys

from ssl_ads.report.write_results import write_results
from ssl_ads.results import ResultRow

PROTOCOL = {"task": "conversion", "dataset": "synthetic", "split": "by user", "label_sampling": "stratified",
            "seeds": [0]}  # fmt: skip


CASES = [
    ("scratch", "probe", 0.1, 0.6), ("scratch", "probe", 1.0, 0.7),
    ("pretrained", "probe", 0.1, 0.7), ("pretrained", "probe", 1.0, 0.8),
    ("frozen-pretrained", "probe", 1.0, 0.75), ("someone-else", "probe", 1.0, 0.5),  # no style of its own
]  # fmt: skip


def rows() -> list[ResultRow]:
    interval = {"method": "delong"}
    return [
        ResultRow(
            encoder,
            mode,
            fraction,
            10,
            {"test_auroc": value, "val_auroc": value},
            0.1,
            {"test_auroc": {**interval, "low": value - 0.1, "high": value + 0.05}},
        )
        for encoder, mode, fraction, value in CASES
    ]


def test_the_plot_is_written_and_named_in_the_report(tmp_path):
    write_results(tmp_path, "probe", rows(), PROTOCOL, "auroc")
    assert (tmp_path / "label_efficiency.png").read_bytes()[:4] == b"\x89PNG"
    assert "![label efficiency](label_efficiency.png)" in (tmp_path / "report.md").read_text()


def test_without_matplotlib_the_run_still_writes_its_results(tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith(("matplotlib.", "ssl_ads.report.plots"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    write_results(tmp_path, "probe", rows(), PROTOCOL, "auroc")
    out = capsys.readouterr().out
    assert "note: label_efficiency.png not written (matplotlib is not installed)" in " ".join(out.split())
    assert (tmp_path / "metrics.json").is_file() and not (tmp_path / "label_efficiency.png").exists()
    assert "label efficiency" not in (tmp_path / "report.md").read_text()
