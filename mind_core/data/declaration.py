"""What a dataset may say about itself: ``dataset.json`` beside its files.

A benchmark defines how it is evaluated, so a dataset may declare its protocol
(``{"protocol": "future"}``: the taste mixture's targets are a set of later ratings). It never
declares the model's settings or the merge: those are the same for every dataset or chosen on
validation (:mod:`mind_core.workflow.defaults`). JSON, never pickle; only known keys.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mind_core.errors import DataError

DECLARATION_FILE = "dataset.json"
KEYS = {"protocol", "why"}
MAX_BYTES = 64 * 1024


def declared_protocol(dataset_path) -> str | None:
    """The protocol a dataset folder declares, or None (no declaration, or not a folder)."""
    path = Path(dataset_path) / DECLARATION_FILE
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_BYTES:
        raise DataError(path, f"larger than {MAX_BYTES} bytes; expected a small JSON object")
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(path, f"not JSON ({e}); expected {{\"protocol\": \"future\"}}") from None
    if not isinstance(doc, dict):
        raise DataError(path, "expected a JSON object such as {\"protocol\": \"future\"}")
    unknown = set(doc) - KEYS
    if unknown:
        raise DataError(path, f"unknown key(s) {sorted(unknown)}: a dataset declares only "
                        "its protocol (and why); settings and the merge are chosen on validation")
    protocol = doc.get("protocol")
    if protocol is not None and not isinstance(protocol, str):
        raise DataError(path, f"protocol: expected a protocol name, got {protocol!r}")
    return protocol


def write_declaration(folder, protocol: str, why: str) -> Path:
    """Write ``dataset.json`` into ``folder`` atomically."""
    path = Path(folder) / DECLARATION_FILE
    tmp = path.with_name(f".{DECLARATION_FILE}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"protocol": protocol, "why": why}, indent=1) + "\n")
    tmp.replace(path)
    return path


__all__ = ["declared_protocol", "write_declaration", "DECLARATION_FILE"]
