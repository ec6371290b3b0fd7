"""Trained models on disk: one crash-safe bundle folder per model (``bundle``), checked against
its manifest of checksums (``manifest``), written by one process at a time (``lock``), named
and placed by ``paths``."""

from mind_core.artifacts.bundle import (
    Bundle,
    check_fingerprint,
    list_bundles,
    load_bundle,
    save_bundle,
)
from mind_core.artifacts.lock import Lock, TrainingLocked, acquire, hold, is_held, lock_path
from mind_core.artifacts.manifest import verify_bundle
from mind_core.artifacts.paths import artifacts_dir, default_bundle_path, model_name

__all__ = ["Bundle", "load_bundle", "save_bundle", "list_bundles", "check_fingerprint",
           "verify_bundle", "Lock", "TrainingLocked", "acquire", "hold", "is_held", "lock_path",
           "artifacts_dir", "default_bundle_path", "model_name"]
