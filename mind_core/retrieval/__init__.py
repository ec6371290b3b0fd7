"""Multi-interest retrieval: search the catalogue with every active interest vector separately
(paper Sec. 4.5), then merge the K lists into one.

The package, in reading order:

- :mod:`.base`: the contract every backend implements (:class:`ItemIndex`: ``build``, ``save``,
  ``load``, ``search``, ``search_arrays``) and shared helpers.
- One module per backend, each stating its trade-offs in its docstring:
  :mod:`.exact` (:class:`ExactIndex`, numpy inner product over the whole catalogue),
  :mod:`.annoy_index` (:class:`AnnoyIndex`, trees with the ``dot`` metric, ``n_trees`` /
  ``search_k``) and :mod:`.faiss_index` (:class:`FaissIndex`, HNSW with ``M`` /
  ``efConstruction`` / ``efSearch``, or IVF-PQ with ``nlist`` / ``nprobe`` / ``pq_m``; inner
  product).
- :mod:`.merging`: the K lists into one (:func:`merge`, :func:`merge_arrays`).
- :mod:`.explain`: what each interest stands for (:func:`interest_labels`).
- This module: serving a bundle (:func:`load_index`, :func:`recommend`, :func:`user_history`).

Which backend: ``exact`` at MovieLens sizes (fastest and exact); ``faiss`` (HNSW) past a few
hundred thousand items or wherever recall must stay >= 0.99 at low latency; ``faiss`` IVF-PQ
when memory is the limit; ``annoy`` when a memory-mapped file shared by many processes matters
most (README, "Scale"). ``from mind_core.retrieval import X`` works for every public name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BundleError, DataError
from .annoy_index import DEFAULT_N_TREES, DEFAULT_SEARCH_K, SEARCH_K_FLOOR, AnnoyIndex
from .base import ANNOY_FILE, FAISS_FILE, SERVING_FILE, ItemIndex, PerInterest
from .exact import ExactIndex
from .explain import interest_labels
from .faiss_index import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_M,
    DEFAULT_NPROBE,
    FAISS_KINDS,
    FaissIndex,
)
from .merging import MERGE_STRATEGIES, merge, merge_arrays

BACKENDS = ("annoy", "exact", "faiss")


# --- serving a bundle -------------------------------------------------------------------------

@dataclass
class Recommendation:
    """What one user is served.

    ``per_interest``: K lists of (item code, score), best first ([] for inactive interests);
    ``merged``: (item code, score, interest k); ``active``: (K,) bool; ``history``: the item
    codes excluded (the user's history at serving time)."""
    user_row: int
    per_interest: PerInterest
    merged: list[tuple[int, float, int]]
    active: np.ndarray
    history: list[int] = field(default_factory=list)
    strategy: str = "max_score"
    backend: str = "annoy"


def serving_params(bundle) -> dict:
    """What ``build_serving_files`` recorded in the bundle's serving.json ({} if absent)."""
    path = Path(bundle.path) / SERVING_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BundleError(f"{path}: corrupt JSON ({e})") from None



def load_index(bundle, backend: str = "annoy") -> ItemIndex:
    """The bundle's index: ``annoy`` memory-maps ``items.ann`` (built with the bundle),
    ``exact`` scores ``bundle.item_vectors`` directly, ``faiss`` reads ``items.faiss`` when the
    bundle has one (``mind-core build-index BUNDLE --faiss hnsw|ivfpq``; built with the bundle
    past :data:`mind_core.serving.FAISS_STORE_MIN_ITEMS` items) and otherwise builds an HNSW
    graph from ``bundle.item_vectors`` in memory (0.5-1.5 s for 1,682 items x D 64 here)."""
    if backend == "exact":
        return ExactIndex().build(bundle.item_vectors)
    if backend == "faiss":
        return _load_faiss(bundle)
    if backend != "annoy":
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    path = Path(bundle.path) / ANNOY_FILE
    if not path.is_file():
        raise BundleError(f"{bundle.path}: this bundle has no Annoy index ({ANNOY_FILE}); build "
                          f"it with `mind-core build-index {bundle.path}` or use --backend exact")
    params = serving_params(bundle).get("annoy", {})
    index = AnnoyIndex.load(path, bundle.config.embed_dim,
                            search_k=params.get("search_k", DEFAULT_SEARCH_K))
    if index.n_items != len(bundle.item_vectors):
        raise BundleError(f"{path}: indexes {index.n_items - 1} items, the bundle has "
                          f"{len(bundle.item_vectors) - 1}; rebuild it with "
                          f"`mind-core build-index {bundle.path}`")
    return index


def _load_faiss(bundle) -> FaissIndex:
    path = Path(bundle.path) / FAISS_FILE
    params = serving_params(bundle).get("faiss", {})
    if not path.is_file():
        return FaissIndex(bundle.config.embed_dim, kind="hnsw",
                          ef_search=params.get("efSearch", DEFAULT_EF_SEARCH)
                          ).build(bundle.item_vectors)
    index = FaissIndex.load(path, bundle.config.embed_dim, ef_search=params.get("efSearch"),
                            nprobe=params.get("nprobe"))
    if index.n_items != len(bundle.item_vectors):
        raise BundleError(f"{path}: indexes {index.n_items - 1} items, the bundle has "
                          f"{len(bundle.item_vectors) - 1}; rebuild it with "
                          f"`mind-core build-index {bundle.path} --faiss {index.kind}`")
    return index


def user_history(data, user_row: int) -> np.ndarray:
    """Item codes a user has seen at serving time: everything before their held-out test movie
    if they are evaluated, else their whole sequence (chronological)."""
    split = data.split
    if not 0 <= user_row < len(split.offsets) - 1:
        raise DataError(data.encoded.name, f"no user row {user_row} (the dataset has "
                        f"{len(split.offsets) - 1} users)")
    test = split.test
    i = int(np.searchsorted(test.users, user_row))
    if i < len(test.users) and test.users[i] == user_row:
        return split.seen_before(test, i)
    return split.sequence[split.offsets[user_row]: split.offsets[user_row + 1]]


def all_histories(data) -> list[np.ndarray]:
    """:func:`user_history` for every user row."""
    return [user_history(data, u) for u in range(len(data.split.offsets) - 1)]


def recommend(bundle, data, user_row: int, n: int = 10, merge: str = "max_score",
              backend: str = "annoy", index: ItemIndex | None = None, lam: float = 0.5
              ) -> Recommendation:
    """Per-interest top ``n`` and merged top ``n`` for one user, their history excluded and
    inactive interests skipped. ``index`` (from :func:`load_index`) saves reloading it per
    call; ``lam`` is the ``diverse`` strategy's penalty."""
    if merge not in MERGE_STRATEGIES:
        raise ValueError(f"unknown merge strategy {merge!r}; choose one of "
                         f"{', '.join(MERGE_STRATEGIES)}")
    history = user_history(data, user_row)
    raw = data.encoded.user_ids[user_row]
    if len(history) == 0:
        raise DataError(data.encoded.name, f"user {raw} has no history at serving time; MIND "
                        "needs at least one watched movie to extract interests")
    if index is None:
        index = load_index(bundle, backend)
    active = np.asarray(bundle.user_active[user_row], dtype=bool)
    per_interest = index.search(bundle.user_interests[user_row], active, n, history)
    merged = _merge(per_interest, n, merge, data.encoded.primary_genre, lam)
    return Recommendation(user_row=int(user_row), per_interest=per_interest, merged=merged,
                          active=active, history=history.tolist(), strategy=merge,
                          backend=index.backend)


_merge = merge  # recommend's ``merge`` argument shadows the function



__all__ = ["ItemIndex", "ExactIndex", "AnnoyIndex", "FaissIndex", "merge", "merge_arrays",
           "MERGE_STRATEGIES", "BACKENDS", "Recommendation", "recommend", "load_index",
           "interest_labels", "user_history", "all_histories", "serving_params",
           "DEFAULT_N_TREES", "DEFAULT_SEARCH_K", "SEARCH_K_FLOOR", "ANNOY_FILE", "FAISS_FILE",
           "SERVING_FILE", "PerInterest", "FAISS_KINDS", "DEFAULT_M", "DEFAULT_EF_CONSTRUCTION",
           "DEFAULT_EF_SEARCH", "DEFAULT_NPROBE"]
