"""A 2-D map of the catalogue and of every user's interests, computed once per bundle.

UMAP is fitted on the item vectors when a bundle is built (seeded, so the same bundle gives the
same map) and every user's active interest vectors are ``transform``ed into the same plane, so
an interest lands among the movies it points at. The metric is cosine: the model scores by inner
product, and cosine is the part of it that says "which direction" (norms mostly encode
popularity, which a map should not spread apart). Coordinates are stored in the bundle as
``projection.npz``; reading them (:func:`load_projection`) never imports umap.

UMAP's cost is numba compiling its kernels in every new process (~13-16 s before a first fit
here), because umap and pynndescent do not ask numba to keep them. :func:`import_umap` does
(:func:`cache_kernels`): the first process writes them to disk and every later one loads them,
so a process's first map of ml-100k takes ~3 s instead of ~18 s, with the same coordinates bit
for bit (tests/serving/test_projection.py; docs/benchmarks.md, "UMAP's kernels kept on disk").
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import numpy as np

from mind_core.errors import BundleError

PROJECTION_FILE = "projection.npz"
# UMAP settings: n_neighbors 15 (5..50: smaller keeps local genre clusters, larger shows global
# layout), min_dist 0.1 (0..0.5: how tightly points pack), 200 epochs (UMAP uses 500 below
# 10k points; 200 gives the same picture on 1,682 movies in a third of the time).
DEFAULTS = {"n_neighbors": 15, "min_dist": 0.1, "metric": "cosine", "n_epochs": 200, "seed": 0}


def fit_projection(items: np.ndarray, interests: np.ndarray, active: np.ndarray,
                   seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1,
                   n_epochs: int = 200, progress=None) -> dict:
    """UMAP of item vectors (I, D) (row 0 padding, left out) and the users' interest vectors
    (U, K, D) transformed into the same plane; inactive interests (``active`` (U, K) False) get
    NaN. Returns ``{"items_xy": (I, 2), "interests_xy": (U, K, 2)}`` float32 plus the settings.
    ``seed`` (default 0) makes the fit deterministic (UMAP then runs single-threaded)."""
    if progress is not None:
        progress("stage", {"message": "UMAP projection: fitting item vectors"})
    t0 = time.perf_counter()
    umap = import_umap()  # lazy: never needed to read stored coordinates
    reducer = umap.UMAP(n_neighbors=min(n_neighbors, len(items) - 2), min_dist=min_dist,
                        metric="cosine", n_epochs=n_epochs, random_state=seed,
                        transform_seed=seed, n_jobs=1)
    items_xy = np.full((len(items), 2), np.nan, dtype=np.float32)
    items_xy[1:] = reducer.fit_transform(np.asarray(items[1:], dtype=np.float32))
    U, K, _ = interests.shape
    interests_xy = np.full((U, K, 2), np.nan, dtype=np.float32)
    active = np.asarray(active, dtype=bool)
    vectors = np.asarray(interests, dtype=np.float32)[active]  # (A, D)
    # zero vectors (a dead interest) have no direction: cosine is undefined for them
    usable = np.linalg.norm(vectors, axis=1) > 0
    if usable.any():
        if progress is not None:
            progress("stage", {"message": f"UMAP projection: placing {int(usable.sum())} "
                                          "interest vectors"})
        placed = np.full((len(vectors), 2), np.nan, dtype=np.float32)
        if getattr(reducer, "_small_data", False) and \
                callable(getattr(reducer, "_input_distance_func", None)):
            # Below 4,096 items umap computes transform distances with sklearn calling its numba
            # cosine once per pair from Python (~70 s for 3,772 interests x 1,681 items here);
            # naming the metric lets sklearn use its vectorized cosine, same distances, ~2 s.
            reducer._input_distance_func = "cosine"
        placed[usable] = reducer.transform(vectors[usable])
        interests_xy[active] = placed
    return {"items_xy": items_xy, "interests_xy": interests_xy, "seed": seed,
            "n_neighbors": n_neighbors, "min_dist": min_dist, "n_epochs": n_epochs,
            "metric": "cosine", "seconds": time.perf_counter() - t0}


def import_umap():
    """``umap``, its numba kernels kept on disk (:func:`cache_kernels`)."""
    import umap  # lazy: ~2 s to import, and only a fit needs it

    cache_kernels()
    return umap


_CACHED = False


def cache_kernels(packages=("umap", "pynndescent")) -> int:
    """Ask numba to keep the compiled kernels of ``packages`` (imported already) on disk: in a
    ``__pycache__`` beside their sources, or under ``NUMBA_CACHE_DIR``. numba checks each entry
    against its source file and the CPU, and compiles again when either changed; a kernel it
    cannot cache (no writable place, or numba refuses it) is compiled as before. Returns how
    many kernels it saw (0 after the first call of a process)."""
    global _CACHED
    if _CACHED:
        return 0
    from numba.core.dispatcher import Dispatcher  # lazy: numba loads with umap, for a fit

    kernels = {id(obj): obj for name, module in list(sys.modules.items())
               if module is not None and name.split(".")[0] in packages
               for obj in list(vars(module).values()) if isinstance(obj, Dispatcher)}
    for kernel in kernels.values():
        # RuntimeError: numba found no writable place for it; it is then compiled as before
        with contextlib.suppress(RuntimeError):
            kernel.enable_caching()
    _CACHED = True
    return len(kernels)


def warm_up() -> float:
    """Pay UMAP's one-off cost now: its import and loading (or, the first time on a machine,
    compiling) the numba kernels of a fit and a transform, on a small random catalogue, so
    that a process's first real map takes its own seconds only (~2 s for the Playground's).
    Returns the seconds spent."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    items = rng.normal(size=(64, 8)).astype(np.float32)
    interests = rng.normal(size=(4, 2, 8)).astype(np.float32)
    fit_projection(items, interests, np.ones((4, 2), dtype=bool), n_epochs=10)
    return time.perf_counter() - t0


def save_projection(path, projection: dict) -> None:
    """Write ``projection.npz`` (arrays and settings; no pickles)."""
    np.savez(path, items_xy=projection["items_xy"].astype(np.float32),
             interests_xy=projection["interests_xy"].astype(np.float32),
             seed=np.int64(projection.get("seed", 0)),
             n_neighbors=np.int64(projection.get("n_neighbors", 15)),
             min_dist=np.float64(projection.get("min_dist", 0.1)),
             metric=np.str_(projection.get("metric", "cosine")))


def load_projection(bundle) -> dict:
    """The stored coordinates: ``items_xy`` (I, 2) float32 (row 0 NaN), ``interests_xy``
    (U, K, 2) float32 (NaN for inactive interests), and ``seed``, ``n_neighbors``,
    ``min_dist``, ``metric``. Reads a file; does not import umap."""
    path = Path(bundle.path) / PROJECTION_FILE
    if not path.is_file():
        raise BundleError(f"{bundle.path}: this bundle has no UMAP projection "
                          f"({PROJECTION_FILE}); build it with `mind-core build-index "
                          f"{bundle.path}`")
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except Exception as e:
        raise BundleError(f"{path}: corrupt projection ({e.__class__.__name__})") from None
    n_items = len(bundle.item_vectors)
    U, K = bundle.user_active.shape
    if out.get("items_xy") is None or out["items_xy"].shape != (n_items, 2) or \
            out.get("interests_xy") is None or out["interests_xy"].shape != (U, K, 2):
        raise BundleError(f"{path}: coordinates do not match the bundle ({n_items} items, "
                          f"{U} users x {K} interests); rebuild with `mind-core build-index "
                          f"{bundle.path}`")
    for key in ("seed", "n_neighbors"):
        if key in out:
            out[key] = int(out[key])
    if "min_dist" in out:
        out["min_dist"] = float(out["min_dist"])
    if "metric" in out:
        out["metric"] = str(out["metric"])
    return out


def nearest_items(bundle, item_code: int, n: int = 10, metric: str = "cosine"
                  ) -> list[tuple[int, float]]:
    """The ``n`` items closest to ``item_code`` in the model's item space, as (code, similarity),
    best first, the item itself and padding left out. ``metric``: "cosine" (default: what is
    alike regardless of popularity, which inflates norms) or "dot" (what an interest pointing
    at this movie would also retrieve)."""
    vectors = np.asarray(bundle.item_vectors, dtype=np.float32)  # (I, D)
    if not 1 <= item_code < len(vectors):
        raise ValueError(f"item code {item_code} out of range 1..{len(vectors) - 1}")
    if metric not in ("cosine", "dot"):
        raise ValueError(f"metric must be 'cosine' or 'dot', not {metric!r}")
    if metric == "cosine":
        norms = np.linalg.norm(vectors, axis=1)
        norms[norms == 0] = 1.0
        vectors = vectors / norms[:, None]
    scores = vectors @ vectors[item_code]  # (I,)
    scores[[0, item_code]] = -np.inf
    n = min(n, len(vectors) - 2)
    top = np.argpartition(-scores, n - 1)[:n] if n > 0 else np.zeros(0, dtype=np.int64)
    top = top[np.lexsort((top, -scores[top]))]
    return [(int(i), float(scores[i])) for i in top]


__all__ = ["fit_projection", "warm_up", "save_projection", "load_projection", "nearest_items",
           "PROJECTION_FILE", "DEFAULTS"]
