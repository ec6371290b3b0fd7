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
model of the same name survives until the new one is whole. ``manifest.json`` (sha256 and size
of every file, :mod:`mind_core.artifacts.manifest`) is written last and checked on every load, so a
damaged or swapped file is refused by name.

Crash safety, step by step (``save_bundle``): every file and the temporary folder are fsynced
before any rename; the old bundle is renamed to ``.old-<name>-p<pid>-<ns>``, the new one into
place, the parent folder fsynced after each rename, then the old one removed. A process killed
between the two renames leaves no bundle at the destination: the next save, load or listing
puts the ``.old-*`` back (once its writer is dead), and removes temporary folders
(``.tmp-<name>-p<pid>-*``) whose writer is dead or that are more than a day old. Tests kill a
real ``mind-core train`` at each point of :data:`CRASH_POINTS` through the environment
variable ``MIND_CORE_CRASH_AT`` (test-only: it SIGKILLs the process there).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from mind_core import __version__
from mind_core.artifacts.manifest import (
    MANIFEST_FILE,
    fsync_dir,
    fsync_tree,
    read_json,
    verify_bundle,
    write_manifest,
)
from mind_core.artifacts.paths import artifacts_dir, pid_alive
from mind_core.config import MINDConfig, field_kind
from mind_core.errors import BundleError
from mind_core.evaluation.ranking import model_interests
from mind_core.features.split import serving_histories
from mind_core.model.mind import MIND, build_model

FORMAT_VERSION = 1
REQUIRED = ["config.json", "weights.pt", "id_maps.json", "metrics.json", "item_vectors.npy",
            "user_interests.npy", "user_active.npy"]


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
        try:
            model = build_model(self.config, encoded)
        except (TypeError, ValueError, RuntimeError, OverflowError) as e:  # values out of range
            raise BundleError(f"{self.path / 'config.json'}: cannot build the model it "
                              f"describes ({str(e).splitlines()[0][:200]})") from None
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


def _atomic_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False))


# --- crash safety ----------------------------------------------------------------------------

CRASH_ENV = "MIND_CORE_CRASH_AT"
CRASH_POINTS = ("files_written", "before_rename", "after_old_rename", "after_new_rename")
OLD_ORPHAN_SECONDS = 600  # an .old-* this old is an orphan even if its pid was reused
TMP_STALE_SECONDS = 24 * 3600
_LEFTOVER = re.compile(r"^\.(?P<kind>tmp|old)-(?P<name>.+)-p(?P<pid>\d+)-[^-]+$")
_LEGACY_OLD = re.compile(r"^\.old-(?P<name>.+)-(?P<ns>\d{16,})$")
_LEGACY_TMP = re.compile(r"^\.tmp-(?P<name>.+)-[a-z0-9_]{8}$")


def _crash_point(name: str) -> None:
    """Test hook: ``MIND_CORE_CRASH_AT=<name>`` kills this process here with SIGKILL."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _leftovers(parent: Path):
    """(kind, bundle name, writer pid or None, path) of every .tmp-*/.old-* in ``parent``."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return []
    out = []
    for p in entries:
        if not p.name.startswith((".tmp-", ".old-")) or not p.is_dir():
            continue
        m = _LEFTOVER.match(p.name)
        if m:
            out.append((m["kind"], m["name"], int(m["pid"]), p))
        elif m := _LEGACY_OLD.match(p.name):
            out.append(("old", m["name"], None, p))
        elif m := _LEGACY_TMP.match(p.name):
            out.append(("tmp", m["name"], None, p))
    return out


def _age(path: Path) -> float:
    """Seconds since the folder was last renamed or written into (its ctime: a bundle renamed
    to .old-* keeps the mtime of when it was built, but the rename sets its ctime)."""
    try:
        return time.time() - path.stat().st_ctime
    except OSError:
        return 0.0


def recover_leftovers(parent, name: str | None = None) -> list[str]:
    """Finish what a killed writer left in folder ``parent`` (only bundle ``name`` if given):
    an ``.old-*`` whose destination is missing is renamed back, one whose destination exists
    is removed; a ``.tmp-*`` whose writer is dead (or that is over a day old) is removed. A
    live writer's folders are left alone. Returns what was done, one line each."""
    parent = Path(parent)
    done = []
    found = [x for x in _leftovers(parent) if name is None or x[1] == name]
    # newest .old first, so the most recent previous bundle is the one restored
    found.sort(key=lambda x: x[3].name, reverse=True)
    for kind, bundle, pid, path in found:
        if pid is not None and pid_alive(pid) and not (
                kind == "old" and _age(path) > OLD_ORPHAN_SECONDS
                or kind == "tmp" and _age(path) > TMP_STALE_SECONDS):
            continue  # its writer is still at work
        if pid is None and kind == "tmp" and _age(path) < 3600:
            continue  # an older mind_core's temporary folder, maybe still being written
        dest = parent / bundle
        try:
            if kind == "old" and not dest.exists():
                path.rename(dest)
                fsync_dir(parent)
                done.append(f"restored {dest} from {path.name}")
            else:
                shutil.rmtree(path)
                done.append(f"removed {path}")
        except OSError:
            continue  # read-only or raced with another cleaner: leave it
    return done


def save_bundle(dest: Path, model: MIND, encoded, split, metrics: dict,
                extras: Callable[[Path, np.ndarray, np.ndarray, np.ndarray], None] | None = None
                ) -> Path:
    """Write a complete bundle to ``dest`` atomically and durably (see the module docstring).
    ``extras(tmpdir, item_vectors, user_interests, user_active)`` may add files (index,
    projection) before the manifest is written and the folder renamed into place."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    recover_leftovers(dest.parent)
    config = model.config
    with torch.no_grad():
        items = model.item_vectors().detach().cpu().numpy().astype(np.float32)
    interests, active = model_interests(model, serving_histories(split, encoded.n_users),
                                        encoded.user_features)
    pid = os.getpid()
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{dest.name}-p{pid}-", dir=dest.parent))
    try:
        meta = {"format_version": FORMAT_VERSION, "mind_core_version": __version__,
                "dataset": encoded.name, "fingerprint": encoded.fingerprint,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "name": dest.name,
                "manifest": MANIFEST_FILE}
        _atomic_json(tmp / "config.json", {"meta": meta, "config": config.to_dict()})
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp / "weights.pt")
        _atomic_json(tmp / "id_maps.json", encoded.id_maps())
        _atomic_json(tmp / "metrics.json", metrics)
        np.save(tmp / "item_vectors.npy", items)
        np.save(tmp / "user_interests.npy", interests.numpy().astype(np.float32))
        np.save(tmp / "user_active.npy", active.numpy().astype(bool))
        if extras:
            extras(tmp, items, interests.numpy(), active.numpy())
        _crash_point("files_written")
        write_manifest(tmp)  # last: it vouches for every file above
        fsync_tree(tmp)
        _crash_point("before_rename")
        if dest.exists():
            old = dest.with_name(f".old-{dest.name}-p{pid}-{time.time_ns()}")
            dest.rename(old)
            fsync_dir(dest.parent)
            _crash_point("after_old_rename")
            tmp.rename(dest)
            fsync_dir(dest.parent)
            _crash_point("after_new_rename")
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(dest)
            fsync_dir(dest.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _read_json(path: Path) -> dict:
    obj = read_json(path)
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
    """Read a bundle; with ``encoded`` given, refuse one trained on other data. Every file is
    checked against ``manifest.json`` first (BundleError naming the file on a mismatch); a
    bundle from before manifests loads with an :class:`~mind_core.artifacts.manifest.
    UnverifiedBundleWarning`. A previous bundle a killed writer left as ``.old-*`` is put back
    first."""
    path = Path(path)
    recover_leftovers(path.parent, path.name)
    if not path.is_dir():
        raise BundleError(f"{path}: no such model bundle (a folder with {', '.join(REQUIRED)})")
    missing = [f for f in REQUIRED if not (path / f).is_file()]
    if missing:
        raise BundleError(f"{path}: incomplete bundle, missing {', '.join(missing)}")
    verify_bundle(path)
    raw = _read_json(path / "config.json")
    meta = raw.get("meta", {})
    if not isinstance(meta, dict):
        raise BundleError(f"{path / 'config.json'}: field 'meta' must be an object")
    version = meta.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise BundleError(f"{path / 'config.json'}: bundle format version "
                          f"{meta.get('format_version')!r}, this mind_core reads version "
                          f"{FORMAT_VERSION}; retrain the model")
    _check_config_types(raw.get("config"), path / "config.json")
    try:
        config = MINDConfig.from_dict(raw["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{path / 'config.json'}: invalid config ({e})") from None
    id_maps = _read_json(path / "id_maps.json")
    for key in ("user_ids", "item_ids"):
        ids = id_maps.get(key)
        if not isinstance(ids, list) or not all(type(i) is int for i in ids):
            raise BundleError(f"{path / 'id_maps.json'}: field {key!r} must be a list of "
                              "integer ids")
    n_users, n_items = len(id_maps.get("user_ids", [])), len(id_maps.get("item_ids", []))
    K, D = config.interest_num, config.embed_dim
    bundle = Bundle(
        path=path, config=config, meta=meta, id_maps=id_maps,
        metrics=_read_json(path / "metrics.json"),
        item_vectors=_read_npy(path / "item_vectors.npy", np.float32, (n_items, D)),
        user_interests=_read_npy(path / "user_interests.npy", np.float32, (n_users, K, D)),
        user_active=_read_npy(path / "user_active.npy", np.bool_, (n_users, K)),
    )
    if (path / "serving.json").is_file():  # optional; what its readers expect
        serving = _read_json(path / "serving.json")
        for key in ("annoy", "projection"):
            if not isinstance(serving.get(key, {}), dict):
                raise BundleError(f"{path / 'serving.json'}: field {key!r} must be an object")
        search_k = serving.get("annoy", {}).get("search_k")
        if search_k is not None and type(search_k) is not int:
            raise BundleError(f"{path / 'serving.json'}: annoy.search_k must be an integer")
    if encoded is not None:
        check_fingerprint(bundle, encoded)
    return bundle


def _check_config_types(config, path: Path) -> None:
    """Each stored field has its declared type: a damaged or hand-edited config.json is refused
    here, by field, rather than deep inside model building (``"seed": true``, ``null``)."""
    if not isinstance(config, dict):
        raise BundleError(f"{path}: field 'config' must be an object")
    for f in fields(MINDConfig):
        kind = field_kind(MINDConfig, f.name)
        if f.name in config and not kind.accepts(config[f.name]):
            raise BundleError(f"{path}: invalid config (field {f.name!r} must be "
                              f"{kind.describe()}, found {config[f.name]!r})")


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
    recover_leftovers(root)
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "config.json").is_file())
