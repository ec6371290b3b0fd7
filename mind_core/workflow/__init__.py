"""Whole runs: load -> train -> evaluate -> save (``pipeline``, used by the CLI, the app and
``jobs``, which trains in a child process for the app), every merge strategy scored
(``scoring``), each dataset's starting configuration and merge (``defaults``), sweeps of one
setting (``sweep``) and the taste-mixture playground (``playground``)."""

from mind_core.workflow.pipeline import (
    DEFAULT_INTEREST_NUMS,
    Data,
    bundle_data,
    ensure_bundle,
    load_data,
    report,
    train_bundle,
)

__all__ = ["Data", "load_data", "bundle_data", "train_bundle", "ensure_bundle", "report",
           "DEFAULT_INTEREST_NUMS"]
