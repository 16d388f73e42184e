"""Optional dependencies (pip extras of pyproject.toml): a component that needs one declares it, and a missing
extra is one line naming what to install, before any work, not an ImportError in the middle of a run.

A component class declares `extra = "<name>"` (the text encoders: `extra = "text"`); `check_extras` is part of the
start-up validation (`ssl_ads.config.validate`). Modules are looked up, not imported, so checking stays fast.
"""

from __future__ import annotations

import importlib.util

from ssl_ads.errors import ConfigError

# extra -> the modules of it that this package imports (each is looked up by name)
EXTRA_MODULES: dict[str, tuple[str, ...]] = {"text": ("sentence_transformers",)}


def install_hint(extra: str) -> str:
    return f"pip install 'ssl-ads[{extra}]'"


def missing_module(modules: tuple[str, ...]) -> str | None:
    """The first of `modules` that is not installed, or None."""
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing, or a module set to None in sys.modules
            found = False
        if not found:
            return module
    return None


def require_extra(extra: str, what: str, modules: tuple[str, ...] | None = None) -> None:
    """ConfigError `<what> needs the <extra> extra: pip install 'ssl-ads[<extra>]'` when one of its modules is
    missing."""
    module = missing_module(modules if modules is not None else EXTRA_MODULES[extra])
    if module is not None:
        raise ConfigError(f"{what} needs the {extra} extra: {install_hint(extra)} ({module} is not installed)")
