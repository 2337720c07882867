"""Errors the package raises on bad input, in a module that imports nothing of the package.

Domain modules raise :class:`UserError` for a bad command-line value without importing the CLI
(which imports them), so that no module's imports lead back through ``springstudy.cli``.
"""

from __future__ import annotations


class SpringStudyError(Exception):
    """Base of springstudy's own errors."""


class UserError(SpringStudyError):
    """An error caused by the input, reported by the CLI without a traceback."""
