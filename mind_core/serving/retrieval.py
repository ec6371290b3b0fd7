"""Serving a bundle: search the catalogue with every active interest vector separately (paper
Sec. 4.5) through one of :mod:`mind_core.serving.backends`, then merge the K lists into one
(:mod:`mind_core.serving.merging`): :func:`load_index`, :func:`recommend`, :func:`user_history`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mind_core.errors import BundleError, DataError
from mind_core.serving import backends
from mind_core.serving.backends import PerInterest
from mind_core.serving.merging import MERGE_STRATEGIES, history_shares
from mind_core.serving.merging import merge as merge_lists

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
    path = Path(bundle.path) / backends.SERVING_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BundleError(f"{path}: corrupt JSON ({e})") from None



def load_index(bundle, backend: str = "annoy") -> backends.ItemIndex:
    """The bundle's index: ``annoy`` memory-maps ``items.ann`` (built with the bundle),
    ``exact`` scores ``bundle.item_vectors`` directly, ``faiss`` reads ``items.faiss`` when the
    bundle has one (``mind-core build-index BUNDLE --faiss hnsw|ivfpq``; built with the bundle
    past :data:`mind_core.serving.files.FAISS_STORE_MIN_ITEMS` items) and otherwise builds an HNSW
    graph from ``bundle.item_vectors`` in memory (0.5-1.5 s for 1,682 items x D 64 here)."""
    if backend == "exact":
        return backends.ExactIndex().build(bundle.item_vectors)
    if backend == "faiss":
        return _load_faiss(bundle)
    if backend != "annoy":
        raise ValueError(f"unknown backend {backend!r}; choose one of "
                         f"{', '.join(backends.BACKENDS)}")
    path = Path(bundle.path) / backends.ANNOY_FILE
    if not path.is_file():
        raise BundleError(f"{bundle.path}: this bundle has no Annoy index "
                          f"({backends.ANNOY_FILE}); build it with `mind-core build-index "
                          f"{bundle.path}` or use --backend exact")
    params = serving_params(bundle).get("annoy", {})
    index = backends.AnnoyIndex.load(path, bundle.config.embed_dim,
                                     search_k=params.get("search_k", backends.DEFAULT_SEARCH_K))
    if index.n_items != len(bundle.item_vectors):
        raise BundleError(f"{path}: indexes {index.n_items - 1} items, the bundle has "
                          f"{len(bundle.item_vectors) - 1}; rebuild it with "
                          f"`mind-core build-index {bundle.path}`")
    return index


def _load_faiss(bundle) -> backends.FaissIndex:
    path = Path(bundle.path) / backends.FAISS_FILE
    params = serving_params(bundle).get("faiss", {})
    if not path.is_file():
        ef_search = params.get("efSearch", backends.DEFAULT_EF_SEARCH)
        return backends.FaissIndex(bundle.config.embed_dim, kind="hnsw",
                                   ef_search=ef_search).build(bundle.item_vectors)
    index = backends.FaissIndex.load(path, bundle.config.embed_dim,
                                     ef_search=params.get("efSearch"),
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
              backend: str = "annoy", index: backends.ItemIndex | None = None, lam: float = 0.5
              ) -> Recommendation:
    """Per-interest top ``n`` and merged top ``n`` for one user, their history excluded and
    inactive interests skipped. ``index`` (from :func:`load_index`) saves reloading it per
    call; ``lam`` is the ``diverse`` strategy's penalty. The ``proportional`` merge weighs
    each interest by its share of the last ``max_length`` history items (the ones the interests
    were extracted from)."""
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
    weights = history_shares(bundle.user_interests[user_row], active, bundle.item_vectors,
                             history[-bundle.config.max_length:])
    merged = merge_lists(per_interest, n, merge, data.encoded.primary_genre, lam, weights)
    return Recommendation(user_row=int(user_row), per_interest=per_interest, merged=merged,
                          active=active, history=history.tolist(), strategy=merge,
                          backend=index.backend)





__all__ = ["Recommendation", "recommend", "load_index", "user_history", "all_histories",
           "serving_params"]
