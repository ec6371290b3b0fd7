"""mind_core: MIND (Multi-Interest Network with Dynamic Routing, Li et al., CIKM 2019) on MovieLens.

The folders read as the data flow (docs/design.md, "Layout"): ``data`` (MovieLens files into
tables) -> ``protocols`` (which ratings are targets, how a ranking is scored) -> ``features``
(ids, chronological samples, negatives) -> ``model`` (MIND) -> ``training`` -> ``evaluation``
-> ``artifacts`` (bundles on disk) -> ``serving`` (per-interest search, merge, map, ONNX) ->
``workflow`` (load -> train -> evaluate -> save; sweeps; jobs) -> ``cli``. ``config`` holds
:class:`MINDConfig`, ``errors`` the error types.

The public API, importable from here::

    from mind_core import MINDConfig, load_bundle, load_data, recommend, train_bundle
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> the module defining it. Imported on first use, so that `import mind_core.data`
# (the CLI's `data` commands, the readers' fuzz tests) does not load torch and the model.
_PUBLIC = {
    "MINDConfig": "mind_core.config",
    "PAPER_FAITHFUL": "mind_core.config",
    "load_data": "mind_core.workflow.pipeline",
    "train_bundle": "mind_core.workflow.pipeline",
    "ensure_bundle": "mind_core.workflow.pipeline",
    "report": "mind_core.workflow.pipeline",
    "load_bundle": "mind_core.artifacts.bundle",
    "list_bundles": "mind_core.artifacts.bundle",
    "recommend": "mind_core.serving.retrieval",
    "load_index": "mind_core.serving.retrieval",
    "read_dataset": "mind_core.data.readers",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'mind_core' has no attribute {name!r}")
