"""Errors a user can act on: each names the file, column or config key and what was expected."""

from __future__ import annotations


class SslAdsError(Exception):
    """Base class: the CLI prints these as one clear message instead of a traceback."""


class ConfigError(SslAdsError):
    """A configuration key is missing, mistyped or names an incompatible combination."""


class DataError(SslAdsError):
    """Input data is missing, unreadable, empty or unusable (names the file and column)."""
