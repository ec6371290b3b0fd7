"""Files a bundle needs for serving, built once with the bundle so no page load computes them:
``items.ann`` (the Annoy index, :mod:`mind_core.serving`), ``projection.npz`` (UMAP
coordinates, :mod:`mind_core.serving.projection`) and ``serving.json`` (the settings used), plus
``items.faiss`` (a FAISS index) for catalogues past :data:`FAISS_STORE_MIN_ITEMS` items or when
asked for. Below that the FAISS backend builds its HNSW graph from the item vectors when loaded
(0.5-1.5 s for ml-100k's 1,682 items), so building a bundle on ml-100k costs what it did.

:func:`build_serving_files` is called by :func:`mind_core.workflow.pipeline.train_bundle` on the
bundle's
temporary folder before the atomic rename; :func:`rebuild_serving_files` adds or refreshes them
in a finished bundle (each file written beside its target and renamed over it), and
:func:`add_projection` adds only the map to a bundle served without it so far (`make run` serves
its first model before UMAP has run: the map is not needed to search).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from mind_core.artifacts.manifest import update_manifest
from mind_core.serving.backends import (
    ANNOY_FILE,
    DEFAULT_N_TREES,
    DEFAULT_SEARCH_K,
    FAISS_FILE,
    SERVING_FILE,
    AnnoyIndex,
    FaissIndex,
)
from mind_core.serving.projection import DEFAULTS as PROJECTION_DEFAULTS
from mind_core.serving.projection import PROJECTION_FILE, fit_projection, save_projection

# Past this many items a bundle stores its FAISS HNSW index (building it on load would take
# seconds: about 10 s at 100k items x D 64 here); below it, loading builds it in memory.
FAISS_STORE_MIN_ITEMS = 100_000


def _stage(progress, message: str) -> None:
    if progress is not None:
        progress("stage", {"message": message})


def build_serving_files(tmpdir, items: np.ndarray, interests: np.ndarray, active: np.ndarray,
                        data=None, config=None, progress=None, n_trees: int = DEFAULT_N_TREES,
                        search_k: int = DEFAULT_SEARCH_K, projection: bool = True,
                        seed: int | None = None, faiss: str | None = "auto") -> dict:
    """Write ``items.ann``, ``projection.npz``, ``serving.json`` and, if wanted, ``items.faiss``
    into ``tmpdir``. ``faiss``: "auto" (an HNSW index past :data:`FAISS_STORE_MIN_ITEMS`
    items), "hnsw", "ivfpq" or None (none stored).

    items (I, D) float32 with row 0 padding; interests (U, K, D); active (U, K) bool.
    ``data``/``config`` are the bundle's Data and MINDConfig (the seed comes from ``config``
    unless ``seed`` is given). ``projection=False`` skips UMAP (e.g. for huge catalogues).
    Returns what serving.json records."""
    tmpdir = Path(tmpdir)
    if seed is None:
        seed = getattr(config, "seed", 0) if config is not None else 0
    _stage(progress, f"Annoy index: {len(items) - 1} items, {n_trees} trees, metric dot")
    t0 = time.perf_counter()
    AnnoyIndex(items.shape[1], n_trees=n_trees, search_k=search_k, seed=seed) \
        .build(items).save(tmpdir / ANNOY_FILE)
    record = {"annoy": {"metric": "dot", "n_trees": n_trees, "search_k": search_k,
                        "seed": seed, "build_seconds": round(time.perf_counter() - t0, 3)}}
    if faiss == "auto":
        faiss = "hnsw" if len(items) - 1 >= FAISS_STORE_MIN_ITEMS else None
    if faiss:
        _stage(progress, f"FAISS {faiss} index: {len(items) - 1} items, inner product")
        t0 = time.perf_counter()
        index = FaissIndex(items.shape[1], kind=faiss, seed=seed).build(items)
        index.save(tmpdir / FAISS_FILE)
        record["faiss"] = {**index.params(),
                           "build_seconds": round(time.perf_counter() - t0, 3)}
    if projection:
        record["projection"] = _write_projection(tmpdir, items, interests, active, seed, progress)
    (tmpdir / SERVING_FILE).write_text(json.dumps(record, indent=2))
    _stage(progress, "serving files ready")
    return record


def _write_projection(tmpdir: Path, items, interests, active, seed: int, progress) -> dict:
    """Fit the UMAP map, write ``projection.npz`` into ``tmpdir``; what serving.json records."""
    proj = fit_projection(items, interests, active, seed=seed,
                          n_neighbors=PROJECTION_DEFAULTS["n_neighbors"],
                          min_dist=PROJECTION_DEFAULTS["min_dist"],
                          n_epochs=PROJECTION_DEFAULTS["n_epochs"], progress=progress)
    save_projection(tmpdir / PROJECTION_FILE, proj)
    record = {k: proj[k] for k in ("metric", "seed", "n_neighbors", "min_dist", "n_epochs")}
    record["fit_seconds"] = round(proj["seconds"], 3)
    return record


def _move_in(tmp: Path, path: Path, names) -> list[str]:
    """Rename each of ``names`` present in ``tmp`` over its target in the bundle ``path``;
    the names moved (for the manifest to re-hash)."""
    moved = [n for n in names if (tmp / n).is_file()]
    for name in moved:
        os.replace(tmp / name, path / name)
    return moved


def rebuild_serving_files(bundle, data=None, progress=None, **kwargs) -> dict:
    """(Re)build a finished bundle's serving files from its stored vectors. Written to a
    temporary folder inside the bundle, then each file renamed over its target, so a crash
    leaves the old files or the new ones, never half of one."""
    path = Path(bundle.path)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-serving-", dir=path))
    try:
        record = build_serving_files(tmp, bundle.item_vectors, bundle.user_interests,
                                     bundle.user_active, data, bundle.config, progress, **kwargs)
        dropped = []
        if kwargs.get("faiss") is None and "faiss" in kwargs:  # asked for none: drop any
            (path / FAISS_FILE).unlink(missing_ok=True)
            dropped = [FAISS_FILE]
        moved = _move_in(tmp, path, [ANNOY_FILE, FAISS_FILE, PROJECTION_FILE, SERVING_FILE])
        update_manifest(path, moved + dropped)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return record


def has_projection(bundle) -> bool:
    return (Path(bundle.path) / PROJECTION_FILE).is_file()


def add_projection(bundle, progress=None) -> dict:
    """Add the UMAP map to a finished bundle, keeping its indexes: ``projection.npz`` and the
    updated ``serving.json``, written beside their targets and renamed over them. The caller
    holds the bundle's lock (:mod:`mind_core.artifacts.lock`). Returns serving.json's record."""
    path = Path(bundle.path)
    serving = path / SERVING_FILE
    record = json.loads(serving.read_text()) if serving.is_file() else {}
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-serving-", dir=path))
    try:
        record["projection"] = _write_projection(tmp, bundle.item_vectors, bundle.user_interests,
                                                 bundle.user_active, bundle.config.seed, progress)
        (tmp / SERVING_FILE).write_text(json.dumps(record, indent=2))
        update_manifest(path, _move_in(tmp, path, [PROJECTION_FILE, SERVING_FILE]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _stage(progress, "map ready")
    return record


__all__ = ["build_serving_files", "rebuild_serving_files", "add_projection", "has_projection"]
