"""The README as a user reads it: every command of its Usage section runs (on tiny settings), and every repository
file it names exists.

Each `ssl-ads ...` line of the Usage section's code blocks runs in one temporary directory, in order, with size
overrides appended (fewer users, one epoch, small encoder; two Optuna trials) and, for a single run, its own
`hydra.run.dir` (sweeps keep Hydra's `multirun/<stage>/<time>`, which the README's `ssl-ads report` line reads); a
`<run>` placeholder becomes the folder of the first `ssl-ads pretrain` above it. Commands that need other machines
or start their own processes are skipped with the reason (they have tests of their own); SSL_ADS_README_ALL=1
runs the DDP and joblib lines too.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()

# Appended to every command that runs a stage, unless the command sweeps that key itself.
TINY = {
    "dataset.n_users": "300", "dataset.n_items": "120", "dataset.max_len": "20", "encoder.dim": "16",
    "encoder.layers": "1", "encoder.heads": "2", "encoder.ff_dim": "32", "pretrain.max_epochs": "1",
    "probe.max_epochs": "2", "probe.patience": "0", "finetune.max_epochs": "1", "finetune.patience": "0",
    "online_probe.every_n_steps": "0", "trainer.enable_progress_bar": "false", "hydra.sweeper.n_trials": "2",
}  # fmt: skip
HYDRA_STAGES = ("pretrain", "probe", "finetune", "pipeline", "embed")
NOT_A_RUN = ("--help", "-h", "--cfg", "--hydra-help", "-sc", "--version")
# (what in the command, why it is skipped here)
ELSEWHERE = [
    ("hydra/launcher=submitit_slurm", "needs a SLURM cluster; the launcher's config is tested in test_launchers.py"),
    ("trainer=ddp", "starts its own processes; test_ddp.py runs it through the entry point (SSL_ADS_README_ALL=1)"),
    ("hydra/launcher=joblib", "starts its own processes; test_launchers.py runs it (SSL_ADS_README_ALL=1)"),
]


def section(title: str) -> str:
    """The text of a `## title` section, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def usage_commands() -> list[str]:
    """Every `ssl-ads ...` command of the Usage section's code blocks, comments cut, `a; b` and `eval "$(c)"` split."""
    commands = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", section("Usage"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            line = re.sub(r'^eval "\$\((.*)\)"$', r"\1", line).removesuffix("&").strip()
            commands += [part.strip() for part in line.split(";") if part.strip().startswith("ssl-ads")]
    return commands


COMMANDS = usage_commands()
# The user's own config folder `--config-dir my_configs encoder=my_encoder` reads: the README's example of it.
MY_ENCODER = re.search(r"my_configs/encoder/my_encoder\.yaml.*?```yaml\n(.*?)```", section("Usage"), re.S)


class Session:
    """Runs the commands in order in one directory (later ones read what earlier ones wrote)."""

    def __init__(self, cwd: Path, cli_in) -> None:
        self.cwd, self.cli_in = cwd, cli_in
        self.results: dict[int, subprocess.CompletedProcess] = {}
        self.first_pretrain: str | None = None
        encoder = cwd / "my_configs" / "encoder"
        encoder.mkdir(parents=True)
        (encoder / "my_encoder.yaml").write_text(MY_ENCODER.group(1) if MY_ENCODER else "")

    def args(self, index: int) -> list[str]:
        args = shlex.split(COMMANDS[index])[1:]
        if self.first_pretrain:
            args = [a.replace("outputs/pretrain/<run>", self.first_pretrain) for a in args]
        if not args or args[0] not in HYDRA_STAGES or any(a in NOT_A_RUN for a in args):
            return args
        multirun = "-m" in args or "--multirun" in args
        swept = {a.split("=", 1)[0] for a in args if "=" in a and "," in a.split("=", 1)[1]}
        optuna = multirun and any("optuna" in a for a in args)
        tiny = {k: v for k, v in TINY.items() if optuna or not k.startswith("hydra.sweeper")}
        args += [f"{key}={value}" for key, value in tiny.items() if key not in swept]
        if multirun:  # Hydra's own sweep folder (`multirun/<stage>/<time>`), which `ssl-ads report` lines name
            return args
        where = f"outputs/{args[0]}/{index}"  # a run folder of its own: two runs may start in the same second
        args.append(f"hydra.run.dir={where}")
        if args[0] == "pretrain" and self.first_pretrain is None:
            self.first_pretrain = where
        return args

    def run(self, index: int) -> subprocess.CompletedProcess:
        for earlier in range(index + 1):
            if earlier not in self.results and not skip_reason(COMMANDS[earlier]):
                self.results[earlier] = self.cli_in(self.cwd, *self.args(earlier))
        return self.results[index]


def skip_reason(command: str) -> str | None:
    for marker, why in ELSEWHERE:
        if marker in command and (marker.endswith("slurm") or os.environ.get("SSL_ADS_README_ALL") != "1"):
            return why
    if "<" in command.replace("outputs/pretrain/<run>", ""):
        return f"a placeholder to fill in: {command}"
    return None


@pytest.fixture(scope="module")
def session(tmp_path_factory, cli_in) -> Session:
    return Session(tmp_path_factory.mktemp("readme"), cli_in)


def test_the_usage_section_has_its_commands():
    assert len(COMMANDS) >= 10 and all(c.startswith("ssl-ads") for c in COMMANDS)
    assert MY_ENCODER, "the README shows no my_configs/encoder/my_encoder.yaml for its --config-dir example"


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=[c[:60] for c in COMMANDS])
def test_usage_command_runs(session, index):
    reason = skip_reason(COMMANDS[index])
    if reason:
        pytest.skip(reason)
    result = session.run(index)
    assert result.returncode == 0, f"{' '.join(result.args)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


# Repository paths the README may name: folders of the project, and its top-level files.
PATH = re.compile(r"(?<![\w./-])((?:configs|scripts|ssl_ads|tests|\.ci)/[\w./<>*-]*[\w/>*])")
TOP_LEVEL = re.compile(r"`([A-Z][A-Z_]*\.md|pyproject\.toml|constraints\.txt|setup\.py|Makefile)`")


def named_paths() -> list[str]:
    paths = {m.split("::")[0] for m in PATH.findall(README)} | set(TOP_LEVEL.findall(README))
    return sorted(paths)


def test_every_file_the_readme_names_exists():
    paths = named_paths()
    assert "constraints.txt" in paths and "configs/experiment/optuna.yaml" in paths  # the patterns find them
    missing = [p for p in paths if not list(REPO.glob(re.sub(r"<[^>]*>", "*", p)))]  # `<name>`: any name
    assert not missing, f"README names files that do not exist: {missing}"
