"""Artifact bundles: one folder per trained model, e.g.
``data/artifacts/ml-100k/mind-k4-<hash>/``.

Files: ``config.json`` (MINDConfig, format version, dataset name and fingerprint),
``weights.pt`` (state_dict, loaded with ``weights_only=True``), ``id_maps.json``,
``metrics.json`` (test/valid metrics, baselines, training curves), ``item_vectors.npy``
float32 (I, D) with row 0 the padding item, ``user_interests.npy`` float32 (U, K, D) and
``user_active.npy`` bool (U, K) for every user at serving time (history = everything before
their held-out test movie), plus what retrieval and projection add (Annoy index, UMAP
coordinates).

A bundle is written into a temporary folder beside its destination and renamed into place
when complete, so a crash or Ctrl-C never leaves a half model that looks whole, and an older
model of the same name survives until the new one is whole.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .errors import BundleError
from .model import MIND, MINDConfig, build_model

FORMAT_VERSION = 1
REQUIRED = ["config.json", "weights.pt", "id_maps.json", "metrics.json", "item_vectors.npy",
            "user_interests.npy", "user_active.npy"]
# Fields that do not change what a model learns: left out of its name.
_NAME_EXCLUDES = {"device"}


def model_name(config: MINDConfig) -> str:
    d = {k: v for k, v in config.to_dict().items() if k not in _NAME_EXCLUDES}
    digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]
    return f"mind-k{config.interest_num}-{digest}"


def artifacts_dir(dataset_name: str) -> Path:
    from .fetch import data_dir

    return data_dir() / "artifacts" / dataset_name


def default_bundle_path(config: MINDConfig, dataset_name: str) -> Path:
    return artifacts_dir(dataset_name) / model_name(config)


@dataclass
class Bundle:
    path: Path
    config: MINDConfig
    meta: dict
    id_maps: dict
    metrics: dict
    item_vectors: np.ndarray  # (I, D), row 0 padding
    user_interests: np.ndarray  # (U, K, D)
    user_active: np.ndarray  # (U, K) bool
    _state: dict | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    def load_model(self, encoded) -> MIND:
        """The trained MIND (weights loaded with ``weights_only=True``), in eval mode."""
        check_fingerprint(self, encoded)
        model = build_model(self.config, encoded)
        try:
            model.load_state_dict(self._weights())
        except (RuntimeError, TypeError) as e:  # TypeError: not a dict (a tensor, a list)
            raise BundleError(f"{self.path / 'weights.pt'}: weights do not fit the model "
                              f"described by config.json ({str(e).splitlines()[0]})") from None
        return model.eval()

    def _weights(self) -> dict:
        if self._state is None:
            path = self.path / "weights.pt"
            try:
                self._state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:  # truncated, not a torch file, or a pickle we will not run
                raise BundleError(f"{path}: corrupt or unreadable weights ({e.__class__.__name__}:"
                                  f" {str(e).splitlines()[0][:200]})") from None
        return self._state


def serving_histories(split, n_users: int) -> np.ndarray:
    """(U, L): each user's history at serving time. Evaluated users: everything before their
    test movie (DESIGN.md step 3); others: their whole sequence."""
    from .samples import _windows

    ends = split.offsets[1:].copy()
    ends[split.test.users] = split.test.positions
    return _windows(split.sequence, split.offsets[:-1], ends, split.max_length)


def _atomic_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False))


def save_bundle(dest: Path, model: MIND, encoded, split, metrics: dict,
                extras: Callable[[Path, np.ndarray, np.ndarray, np.ndarray], None] | None = None
                ) -> Path:
    """Write a complete bundle to ``dest`` atomically. ``extras(tmpdir, item_vectors,
    user_interests, user_active)`` may add files (index, projection) before the rename."""
    from .evaluate import model_interests

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    config = model.config
    with torch.no_grad():
        items = model.item_vectors().detach().cpu().numpy().astype(np.float32)
    interests, active = model_interests(model, serving_histories(split, encoded.n_users),
                                        encoded.user_features)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{dest.name}-", dir=dest.parent))
    try:
        meta = {"format_version": FORMAT_VERSION, "mind_core_version": __version__,
                "dataset": encoded.name, "fingerprint": encoded.fingerprint,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "name": dest.name}
        _atomic_json(tmp / "config.json", {"meta": meta, "config": config.to_dict()})
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp / "weights.pt")
        _atomic_json(tmp / "id_maps.json", encoded.id_maps())
        _atomic_json(tmp / "metrics.json", metrics)
        np.save(tmp / "item_vectors.npy", items)
        np.save(tmp / "user_interests.npy", interests.numpy().astype(np.float32))
        np.save(tmp / "user_active.npy", active.numpy().astype(bool))
        if extras:
            extras(tmp, items, interests.numpy(), active.numpy())
        if dest.exists():
            old = dest.with_name(f".old-{dest.name}-{time.time_ns()}")
            dest.rename(old)
            tmp.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _read_json(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{path}: corrupt JSON ({e})") from None
    if not isinstance(obj, dict):
        raise BundleError(f"{path}: corrupt JSON (expected an object, found "
                          f"{type(obj).__name__})")
    return obj


def _read_npy(path: Path, dtype, shape) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as e:
        raise BundleError(f"{path}: corrupt array ({e.__class__.__name__})") from None
    if arr.dtype != dtype or arr.shape != shape:
        raise BundleError(f"{path}: expected {np.dtype(dtype)} of shape {shape}, found "
                          f"{arr.dtype} {arr.shape}")
    return arr


def load_bundle(path, encoded=None) -> Bundle:
    """Read a bundle; with ``encoded`` given, refuse one trained on other data."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: no such model bundle (a folder with {', '.join(REQUIRED)})")
    missing = [f for f in REQUIRED if not (path / f).is_file()]
    if missing:
        raise BundleError(f"{path}: incomplete bundle, missing {', '.join(missing)}")
    raw = _read_json(path / "config.json")
    meta = raw.get("meta", {})
    if not isinstance(meta, dict):
        raise BundleError(f"{path / 'config.json'}: field 'meta' must be an object")
    version = meta.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise BundleError(f"{path / 'config.json'}: bundle format version "
                          f"{meta.get('format_version')!r}, this mind_core reads version "
                          f"{FORMAT_VERSION}; retrain the model")
    try:
        config = MINDConfig.from_dict(raw["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{path / 'config.json'}: invalid config ({e})") from None
    id_maps = _read_json(path / "id_maps.json")
    n_users, n_items = len(id_maps.get("user_ids", [])), len(id_maps.get("item_ids", []))
    K, D = config.interest_num, config.embed_dim
    bundle = Bundle(
        path=path, config=config, meta=meta, id_maps=id_maps,
        metrics=_read_json(path / "metrics.json"),
        item_vectors=_read_npy(path / "item_vectors.npy", np.float32, (n_items, D)),
        user_interests=_read_npy(path / "user_interests.npy", np.float32, (n_users, K, D)),
        user_active=_read_npy(path / "user_active.npy", np.bool_, (n_users, K)),
    )
    if encoded is not None:
        check_fingerprint(bundle, encoded)
    return bundle


def check_fingerprint(bundle: Bundle, encoded) -> None:
    if bundle.meta.get("fingerprint") != encoded.fingerprint:
        raise BundleError(f"{bundle.path}: trained on dataset {bundle.meta.get('dataset')!r} "
                          f"(fingerprint {bundle.meta.get('fingerprint')}), not on "
                          f"{encoded.name!r} (fingerprint {encoded.fingerprint}); retrain it "
                          "on this data")


def list_bundles(dataset_name: str) -> list[Path]:
    root = artifacts_dir(dataset_name)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "config.json").is_file())
