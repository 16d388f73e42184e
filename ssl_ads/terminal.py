"""What every command does to the terminal: keep library chatter out of it, and print errors as one line.

Shared by the entry point (`ssl_ads.cli`) and the stages that parse their own arguments (benchmark, predict,
export, monitor), so neither imports the other.
"""

from __future__ import annotations

import logging
import warnings

from rich.console import Console
from rich.markup import escape


def quiet_libraries() -> None:
    """Keep the terminal for our tables and progress bars: Lightning's info lines go to the log only."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")
    # Lightning's own use of a torch API deprecated in torch 2.10+: nothing a user can act on
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


def report_error(err: Exception) -> None:
    """`error: <message>` on stderr as one line: never wrapped, brackets in it printed as typed."""
    Console(stderr=True).print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
