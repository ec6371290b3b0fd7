"""Where artifacts live and what they are called: the data folder's ``artifacts/<dataset>/``,
and a model's bundle name ``mind-k<K>-<hash>`` (the hash of its config's identity, see
:meth:`mind_core.config.MINDConfig.identity`)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from mind_core.config import MINDConfig
from mind_core.data.fetch import data_dir


def model_name(config: MINDConfig) -> str:
    d = config.identity()
    digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]
    return f"mind-k{config.interest_num}-{digest}"


def artifacts_dir(dataset_name: str) -> Path:
    return data_dir() / "artifacts" / dataset_name


def default_bundle_path(config: MINDConfig, dataset_name: str) -> Path:
    return artifacts_dir(dataset_name) / model_name(config)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (ours included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
