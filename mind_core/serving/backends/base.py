"""The contract every retrieval backend implements (:class:`ItemIndex`) and the helpers they
share. Item codes are the encoded codes of :mod:`mind_core.features.encoding` (1..I-1); code 0
(padding)
is never returned. Each per-interest list holds ``(item code, score)`` pairs, best first; an
inactive interest gets an empty list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

ANNOY_FILE = "items.ann"
FAISS_FILE = "items.faiss"
SERVING_FILE = "serving.json"

PerInterest = list[list[tuple[int, float]]]


class ItemIndex:
    """Nearest items by inner product. Subclasses implement ``build``, ``save``, ``load`` and
    ``_search_one``; ``search_batch`` serves many users."""

    backend = ""

    def build(self, item_vectors: np.ndarray) -> ItemIndex:
        """Index ``item_vectors`` (I, D) float32 whose row 0 is the padding item (never
        returned). Returns self."""
        raise NotImplementedError

    def save(self, path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, path, dim: int) -> ItemIndex:
        raise NotImplementedError

    @property
    def n_items(self) -> int:
        """Number of item codes including padding (I)."""
        raise NotImplementedError

    def search(self, interests: np.ndarray, active: np.ndarray, n: int,
               exclude: Iterable[int] = ()) -> PerInterest:
        """Top ``n`` items for each interest. interests (K, D) float32, active (K,) bool,
        ``exclude`` item codes never returned (the user's history). -> K lists of
        (item code, score), best first; [] for an inactive interest. ``n`` >= 1; fewer are
        returned when the catalogue minus ``exclude`` is smaller."""
        interests = np.asarray(interests, dtype=np.float32)
        active = np.asarray(active, dtype=bool)
        excluded = as_set(exclude)
        return [self._search_one(interests[k], n, excluded) if active[k] else []
                for k in range(len(interests))]

    def search_batch(self, interests: np.ndarray, active: np.ndarray, n: int,
                     excludes: Sequence[Iterable[int]] | None = None) -> list[PerInterest]:
        """:meth:`search` for many users: interests (U, K, D), active (U, K), ``excludes`` one
        iterable of item codes per user (or None) -> U lists of K lists."""
        items, scores = self.search_arrays(interests, active, n, excludes)
        return [[score_pairs(items[u, k], scores[u, k]) for k in range(items.shape[1])]
                for u in range(items.shape[0])]

    def search_arrays(self, interests: np.ndarray, active: np.ndarray, n: int,
                      excludes: Sequence[Iterable[int]] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """The batched search as arrays: items (U, K, n) int64 and scores (U, K, n) float32,
        best first, padded with item 0 and score -inf where fewer than n exist (inactive
        interests are all padding). The fast path for all-users retrieval."""
        raise NotImplementedError

    def batch_inputs(self, interests, active, n: int):
        """What every ``search_arrays`` starts from: interests (U, K, D) float32, active
        (U, K) bool, ``n`` capped at the catalogue's real items."""
        return (np.asarray(interests, dtype=np.float32), np.asarray(active, dtype=bool),
                min(n, self.n_items - 1))


def as_set(exclude) -> set[int]:
    if exclude is None:
        return set()
    if isinstance(exclude, np.ndarray):
        return set(exclude.ravel().tolist())
    return {int(i) for i in exclude}


def pack_pairs(results, shape: tuple[int, int, int]):
    """((u, k), [(item, score), ...]) per searched interest -> (U, K, n) item codes and scores,
    the layout of :meth:`ItemIndex.search_arrays` (unfilled slots: item 0, score -inf)."""
    items = np.zeros(shape, dtype=np.int64)
    scores = np.full(shape, -np.inf, dtype=np.float32)
    for (u, k), pairs in results:
        if pairs:
            m = len(pairs)
            items[u, k, :m] = [p[0] for p in pairs]
            scores[u, k, :m] = [p[1] for p in pairs]
    return items, scores


def score_pairs(items: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
    keep = items > 0
    return list(zip(items[keep].tolist(), scores[keep].tolist(), strict=True))


def top_indices(scores: np.ndarray, n: int) -> np.ndarray:
    """(R, I) -> (R, min(n, I)) column indices of the best scores, best first, ties broken by
    the lower index. Rows with fewer finite scores end in -inf columns, which callers mask."""
    rows, width = scores.shape
    n = min(n, width)
    if n <= 0:
        return np.zeros((rows, 0), dtype=np.int64)
    if n < width:
        part = np.argpartition(-scores, n - 1, axis=1)[:, :n]  # (R, n) unordered
    else:
        part = np.broadcast_to(np.arange(width), (rows, width))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1)

