"""Exact retrieval: every item scored by inner product in numpy.

Trade-offs: exact, nothing to build or store beyond the item matrix (I x D float32), and at
MovieLens sizes (1,682 or 3,706 items) faster than any approximate index. Cost grows as I x D
per query: about 5-10 ms per user (K = 4) at 100k items and 110-175 ms at 1M (docs/benchmarks.md,
"Scale"),
so past a few hundred thousand items it stops being interactive; use FAISS HNSW there (or IVF-PQ
where memory is the limit). Batched all-users retrieval (``search_arrays``) is one BLAS call per
``chunk`` users and stays the right tool for offline evaluation at any size that fits.
"""

from __future__ import annotations

import numpy as np

from mind_core.errors import BundleError
from mind_core.serving.backends.base import ItemIndex, as_set, score_pairs, top_indices


class ExactIndex(ItemIndex):
    """Brute-force inner product over the whole catalogue in numpy: exact, no build step, and at
    a few thousand items faster than any tree. Cost grows as I x D per query, so past about a
    million items x 64 dims per query batch it stops being interactive; use Annoy (or a
    quantized index such as faiss IVF-PQ) there."""

    backend = "exact"

    def __init__(self, chunk: int = 256):
        """``chunk``: users scored per matrix product in :meth:`search_arrays` (default 256;
        memory is chunk x K x I floats)."""
        self.vectors: np.ndarray | None = None
        self.chunk = chunk

    def build(self, item_vectors: np.ndarray) -> ExactIndex:
        self.vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)  # (I, D)
        return self

    def save(self, path) -> None:
        np.save(path, self._vectors())

    @classmethod
    def load(cls, path, dim: int) -> ExactIndex:
        vectors = np.load(path, mmap_mode="r")
        if vectors.ndim != 2 or vectors.shape[1] != dim:
            raise BundleError(f"{path}: expected item vectors of width {dim}, found "
                              f"{vectors.shape}")
        return cls().build(vectors)

    @property
    def n_items(self) -> int:
        return len(self._vectors())

    def _vectors(self) -> np.ndarray:
        if self.vectors is None:
            raise RuntimeError("ExactIndex: build() or load() first")
        return self.vectors

    def search(self, interests, active, n, exclude=()):
        # one matrix product for all K interests rather than K matrix-vector products
        interests = np.asarray(interests, dtype=np.float32)
        items, scores = self.search_arrays(interests[None], np.asarray(active, bool)[None], n,
                                           [exclude])
        return [score_pairs(items[0, k], scores[0, k]) for k in range(len(interests))]

    def _search_one(self, vector, n, excluded):
        scores = self._vectors() @ vector  # (I,)
        scores[0] = -np.inf
        if excluded:
            scores[np.fromiter(excluded, dtype=np.int64)] = -np.inf
        items = top_indices(scores[None], n)[0]
        items = items[np.isfinite(scores[items])]  # fewer than n left after exclusion
        return score_pairs(items, scores[items])

    def search_arrays(self, interests, active, n, excludes=None):
        vectors = self._vectors()
        interests = np.asarray(interests, dtype=np.float32)  # (U, K, D)
        active = np.asarray(active, dtype=bool)  # (U, K)
        U, K, _ = interests.shape
        n = min(n, len(vectors) - 1)
        out_items = np.zeros((U, K, n), dtype=np.int64)
        out_scores = np.full((U, K, n), -np.inf, dtype=np.float32)
        for lo in range(0, U, self.chunk):
            hi = min(U, lo + self.chunk)
            scores = interests[lo:hi] @ vectors.T  # (B, K, I), one BLAS call
            scores[:, :, 0] = -np.inf
            if excludes is not None:
                for u in range(lo, hi):
                    codes = np.asarray(list(as_set(excludes[u])), dtype=np.int64)
                    if len(codes):
                        scores[u - lo, :, codes] = -np.inf
            scores[~active[lo:hi]] = -np.inf
            flat = scores.reshape(-1, scores.shape[-1])
            top = top_indices(flat, n)  # (B*K, n)
            top_scores = np.take_along_axis(flat, top, axis=1)
            top = np.where(np.isfinite(top_scores), top, 0)
            out_items[lo:hi] = top.reshape(hi - lo, K, n)
            out_scores[lo:hi] = top_scores.reshape(hi - lo, K, n)
        return out_items, out_scores

