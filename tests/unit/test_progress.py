"""When progress bars are drawn: only when the run allows them and stderr is a terminal (ssl_ads/progress.py)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from ssl_ads import progress
from ssl_ads.progress import progress_enabled


@pytest.fixture(autouse=True)
def _restore_setting():
    """Each test starts from the default (an in-process CLI run earlier in this worker may have switched bars off)."""
    progress.configure(True)
    yield
    progress.configure(True)


def console(terminal: bool) -> Console:
    return Console(file=io.StringIO(), force_terminal=terminal, width=100)


def drawn(target: Console) -> str:
    with progress.progress("featurizing rows", total=3, console=target) as bar:
        bar.advance()
        with progress.progress("embedding texts", total=10, console=target) as inner:  # nested: a second line
            inner.advance(10)
        bar.step("writing the cache")
        bar.advance(2)
    return target.file.getvalue()


def test_a_terminal_gets_bars_and_nested_ones_share_the_display():
    target = console(terminal=True)
    assert progress_enabled(target)
    text = drawn(target)
    assert "featurizing rows" in text and "embedding texts" in text
    assert progress._active is None  # the display is closed afterwards


def test_no_bars_when_the_output_is_not_a_terminal():
    target = console(terminal=False)
    assert not progress_enabled(target)
    assert drawn(target) == ""


def test_no_bars_when_the_run_switches_them_off():
    progress.configure(False)  # trainer.enable_progress_bar=false
    target = console(terminal=True)
    assert not progress_enabled(target)
    assert drawn(target) == ""


def test_the_terminal_test_is_rich_s_own(monkeypatch):
    """stderr piped to a file or captured: off; TTY_COMPATIBLE=1 (a CI log that renders escapes): on."""
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    assert not progress_enabled()
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert progress_enabled()


def test_the_stand_in_takes_the_same_calls():
    progress.configure(False)
    with progress.progress("x", total=2) as bar:
        bar.advance()
        bar.step("y")
        assert not bar.shown
