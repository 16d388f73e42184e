"""Progress bars for work a person would otherwise wait on in silence: reading and featurizing files, building
windows, embedding texts, writing caches.

One rule decides whether a bar is drawn: the run allows it (`trainer.enable_progress_bar`, which the CLI hands to
`configure`) and stderr is a terminal (rich's test, so `TTY_COMPATIBLE=1`/`FORCE_COLOR` count as a terminal). Off,
`progress` yields a stand-in with the same methods that draws nothing, so call sites never branch. Bars go to
stderr and vanish when done (`transient`): stdout keeps only the tables and logs. A bar opened while another is
showing becomes a second line of the same display (rich draws one live display per console).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_allowed = True
_active: Progress | None = None


def configure(enabled: bool) -> None:
    """The run's choice (`trainer.enable_progress_bar`); set once per run, before any work."""
    global _allowed
    _allowed = bool(enabled)


def progress_enabled(console: Console | None = None) -> bool:
    """Whether bars are drawn: allowed by the run and stderr (or `console`) is a terminal."""
    return _allowed and (console or Console(stderr=True)).is_terminal


class Bar:
    """One line of the display: `advance(n)` when `n` units are done, `step(text)` when the work moves on."""

    def __init__(self, progress: Progress | None = None, task: TaskID | None = None) -> None:
        self._progress, self._task = progress, task

    def advance(self, amount: float = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, amount)

    def step(self, description: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=description)

    @property
    def shown(self) -> bool:
        return self._progress is not None


@contextmanager
def progress(description: str, total: float | None = None, console: Console | None = None) -> Iterator[Bar]:
    """A bar of `total` units (a spinner with the elapsed time when the size is unknown), or a silent stand-in."""
    global _active
    if not progress_enabled(console):
        yield Bar()
        return
    if _active is not None:  # nested: a line of the display already on screen
        task = _active.add_task(description, total=total)
        try:
            yield Bar(_active, task)
        finally:
            _active.remove_task(task)
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console or Console(stderr=True), transient=True) as display:
        _active = display
        try:
            yield Bar(display, display.add_task(description, total=total))
        finally:
            _active = None
