"""Exceptions that the CLI turns into one-line messages with exit code 2.

Library code raises :class:`UserInputError` (a ``ValueError``) when the problem lies in what the user
gave: a file, an option, a shape. Anything else that escapes is an internal error (exit code 1).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["UserInputError", "CheckpointError", "DataError"]


class UserInputError(ValueError):
    """Bad input from the user. ``str(err)`` is a complete one-line message."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        text = f"{self.path}: {message}" if self.path else message
        super().__init__(text)


class CheckpointError(UserInputError):
    """A checkpoint that cannot be loaded: wrong architecture, tampered, unreadable."""


class DataError(UserInputError):
    """Input data that cannot be used: unreadable, wrong shape, NaN, empty selection."""
