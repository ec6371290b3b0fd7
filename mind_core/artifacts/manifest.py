"""Bundle manifests and durable writes.

``manifest.json`` records the sha256 and size of every file of a bundle. It is written last,
after every other file (the index and the projection included), so a bundle whose files do not
all match it was damaged or edited after it was written: a truncated ``weights.pt``, a flipped
byte in ``items.ann``, another model's ``user_interests.npy`` of the same shape. Reading the
stored arrays alone (``evaluate``, ``recommend``) would not notice any of these; the manifest
does, and the error names the file.

Hidden names (``.tmp-serving-*`` folders of a rebuild in progress) are not part of a bundle.
The serving files (:data:`OPTIONAL`: index, map, their settings) are derived from the vectors
and may be deleted to be rebuilt: a listed one that is missing is not an error here (whoever
needs it says it is missing and how to build it, and ``build-index`` must still load the
bundle to rebuild it); a present one must match like every other file.

Hashes are cached per process by each file's ``(device, inode, size, mtime, ctime)``: the
ctime of a file changes on every write and cannot be set back by a user, so a cached hash is
never stale, and calling :func:`verify_bundle` again on an unchanged bundle costs a few
``stat`` calls (the app lists every bundle on every page).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from pathlib import Path, PurePosixPath

from mind_core.errors import BundleError

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
OPTIONAL = ("items.ann", "items.faiss", "projection.npz", "serving.json")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_hash_cache: dict[str, tuple[tuple, str]] = {}


class UnverifiedBundleWarning(UserWarning):
    """A bundle written before manifests existed: loaded, but its files cannot be checked."""


# --- durable writes ------------------------------------------------------------------------

def fsync_file(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path) -> None:
    """Make a rename or a new entry in folder ``path`` durable (a no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(root) -> None:
    """fsync every file and folder under ``root`` (a bundle about to be renamed into place)."""
    root = Path(root)
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fsync_file(Path(dirpath) / name)
        fsync_dir(dirpath)


# --- hashing -------------------------------------------------------------------------------

def bundle_files(root) -> list[str]:
    """Relative POSIX paths of the bundle's files: regular files, hidden names and the manifest
    itself left out."""
    root = Path(root)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if rel != MANIFEST_FILE:
                out.append(rel)
    return sorted(out)


def file_digest(path) -> tuple[str, int]:
    """(sha256 hex, size) of a file, cached by its stat signature."""
    path = Path(path)
    st = path.stat()
    sig = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    key = str(path.absolute())
    hit = _hash_cache.get(key)
    if hit is not None and hit[0] == sig:
        return hit[1], st.st_size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if len(_hash_cache) > 4096:
        _hash_cache.clear()
    _hash_cache[key] = (sig, h.hexdigest())
    return h.hexdigest(), st.st_size


def _write_json_durably(path: Path, obj) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_manifest(root) -> dict:
    """Hash every file of the bundle at ``root`` and write ``manifest.json`` (durably)."""
    root = Path(root)
    files = {}
    for rel in bundle_files(root):
        sha, size = file_digest(root / rel)
        files[rel] = {"sha256": sha, "size": size}
    manifest = {"version": MANIFEST_VERSION, "algorithm": "sha256", "files": files}
    _write_json_durably(root / MANIFEST_FILE, manifest)
    return manifest


def update_manifest(root, names) -> dict:
    """Re-hash only ``names`` (files just rewritten in place, e.g. by ``build-index``); every
    other entry stays as recorded, so a file damaged meanwhile is still caught. A bundle
    without a manifest (older format) gets a full one."""
    root = Path(root)
    if not (root / MANIFEST_FILE).is_file():
        return write_manifest(root)
    manifest = read_manifest(root)
    for rel in names:
        if (root / rel).is_file():
            sha, size = file_digest(root / rel)
            manifest["files"][rel] = {"sha256": sha, "size": size}
        else:
            manifest["files"].pop(rel, None)
    _write_json_durably(root / MANIFEST_FILE, manifest)
    return manifest


# --- checking ------------------------------------------------------------------------------

def read_json(path: Path, what: str = "JSON"):
    """A bundle file's parsed JSON, or a BundleError naming the file: ``{path}: corrupt
    {what} (...)``."""
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{path}: corrupt {what} ({e})") from None
    except RecursionError:
        raise BundleError(f"{path}: corrupt {what} (nested too deeply)") from None


def read_manifest(root) -> dict:
    """The parsed manifest, or a BundleError naming ``manifest.json`` and what is wrong."""
    path = Path(root) / MANIFEST_FILE
    obj = read_json(path, "manifest")
    if not isinstance(obj, dict) or obj.get("version") != MANIFEST_VERSION \
            or not isinstance(obj.get("files"), dict):
        raise BundleError(f"{path}: corrupt manifest (expected an object with version "
                          f"{MANIFEST_VERSION} and a 'files' object)")
    for rel, entry in obj["files"].items():
        p = PurePosixPath(rel)
        if not rel or p.is_absolute() or ".." in p.parts or p.name.startswith(".") \
                or rel == MANIFEST_FILE:
            raise BundleError(f"{path}: corrupt manifest (bad file name {rel!r})")
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) \
                or not _HEX64.match(entry["sha256"]) or type(entry.get("size")) is not int:
            raise BundleError(f"{path}: corrupt manifest (entry for {rel!r} needs a sha256 hex "
                              "digest and an integer size)")
    return obj


def _declares_manifest(root: Path) -> bool:
    """Whether config.json says a manifest was written (so its absence is damage)."""
    try:
        raw = json.loads((root / "config.json").read_bytes())
        return bool(raw.get("meta", {}).get("manifest"))
    except Exception:  # unreadable config: load_bundle reports it by name
        return False


def verify_bundle(path) -> dict | None:
    """Check every file of the bundle at ``path`` against its manifest; cheap to call again.

    Returns the manifest, or None (with an :class:`UnverifiedBundleWarning`) for a bundle
    written before manifests. Raises BundleError naming the first file that is missing,
    unlisted, of another size or another content, or the manifest itself if it is damaged."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root}: no such model bundle")
    if not (root / MANIFEST_FILE).is_file():
        if _declares_manifest(root):
            raise BundleError(f"{root / MANIFEST_FILE}: missing, but config.json records that "
                              "the bundle was written with one; the bundle was damaged")
        warnings.warn(f"{root}: no {MANIFEST_FILE} (a bundle from before manifests); its files "
                      "cannot be checked. Retrain it, or run `mind-core build-index` on it to "
                      "record one.", UnverifiedBundleWarning, stacklevel=2)
        return None
    manifest = read_manifest(root)
    listed = manifest["files"]
    for rel in sorted(listed):
        entry, file = listed[rel], root / rel
        if rel in OPTIONAL and not file.exists():
            continue
        if not file.is_file():
            raise BundleError(f"{root}: incomplete bundle, missing {rel} (listed in "
                              f"{MANIFEST_FILE})")
        size = file.stat().st_size
        if size != entry["size"]:
            raise BundleError(f"{file}: {size} bytes, {MANIFEST_FILE} records "
                              f"{entry['size']} (truncated or replaced)")
        sha, _ = file_digest(file)
        if sha != entry["sha256"]:
            raise BundleError(f"{file}: content differs from {MANIFEST_FILE} (sha256 {sha[:12]}…, "
                              f"expected {entry['sha256'][:12]}…): damaged or replaced")
    for rel in bundle_files(root):
        if rel not in listed:
            raise BundleError(f"{root / rel}: not listed in {MANIFEST_FILE} (added after the "
                              "bundle was written)")
    return manifest
