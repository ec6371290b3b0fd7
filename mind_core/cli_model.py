"""Model commands of the ``mind-core`` CLI (train, evaluate, sweep, export, recommend)."""

from __future__ import annotations


def add_commands(sub) -> None:
    """Registered once the model lands."""
