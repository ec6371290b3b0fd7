"""Annoy: a forest of random-projection trees with the ``dot`` metric, memory-mapped from
``items.ann``.

Trade-offs (see :class:`AnnoyIndex` for the parameters):

- ``n_trees`` (default 20): more trees, better recall at a given ``search_k``; build time and
  index size grow linearly (5-8x the raw vectors at 1M items).
- ``search_k`` (default max(wanted x n_trees, 10,000)): nodes inspected per query; cost grows
  linearly with it, recall rises steeply then saturates.
- Good: the index is a file that many processes memory-map and share; build is simple and
  seeded. Bad: on inner-product search its trees lose recall as the catalogue grows (0.22-0.40
  at 1M items at the default budget, 0.66-0.93 at search_k 50,000; docs/benchmarks.md, "Scale").
  Past a few hundred thousand items use FAISS HNSW.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import annoy
import numpy as np

from mind_core.errors import BundleError
from mind_core.serving.backends.base import ItemIndex, as_set, pack_pairs

# Annoy defaults, chosen by measurement on a default MIND (K=4, D=64) over ml-100k, where the
# merged top 50 must match exact scoring (bench/bench_retrieval.py, docs/benchmarks.md,
# "Retrieval"). With `dot`, Annoy's own search_k (n x n_trees) is far too low on trained
# vectors: 10 trees recalled
# 0.62 of the exact merged top 50, 50 trees 0.98. A floor of 10,000 inspected nodes with 20
# trees recalled 0.9997; at a fixed budget fewer, deeper trees did better than more trees.
DEFAULT_N_TREES = 20
DEFAULT_SEARCH_K = None  # None = max(wanted x n_trees, SEARCH_K_FLOOR); -1 = Annoy's own default
SEARCH_K_FLOOR = 10_000


class AnnoyIndex(ItemIndex):
    """An Annoy forest with the ``dot`` metric (inner product, as the model scores).

    Trade-offs, measured on ml-100k and synthetic catalogues (docs/benchmarks.md, "Retrieval"):

    - ``n_trees`` (default 50; sensible 10..200): more trees, better recall at a given
      ``search_k``, but build time and index size grow linearly. Annoy's default ``search_k`` is
      ``n x n_trees``, so more trees also means more work per query by default.
    - ``search_k`` (default None = ``max(wanted x n_trees, 10_000)`` where wanted = n + the
      excluded count; -1 = Annoy's own ``wanted x n_trees``; sensible 10^3..10^5): nodes
      inspected per query. Cost per query grows linearly with it; recall rises steeply and
      then saturates. With ``dot`` at Annoy's defaults the exact top 10 of random 16-d data
      was recalled only ~0.70 and the merged top 50 of a trained MIND 0.62, hence the floor.
    - ``workers`` (default: all cores): threads for :meth:`search_arrays` (Annoy releases the
      GIL while searching).

    Items are stored under Annoy id ``code - 1`` (Annoy would otherwise allocate a zero vector
    for the unused id 0). Each query asks for ``n + len(exclude)`` neighbours so that ``n``
    remain after the user's history is removed.
    """

    backend = "annoy"

    def __init__(self, dim: int | None = None, n_trees: int = DEFAULT_N_TREES,
                 search_k: int | None = DEFAULT_SEARCH_K, seed: int = 0,
                 workers: int | None = None):
        self.dim = dim
        self.n_trees = n_trees
        self.search_k = search_k
        self.seed = seed
        self.workers = workers or os.cpu_count() or 1
        self.index = None

    def build(self, item_vectors: np.ndarray, n_jobs: int = 1) -> AnnoyIndex:
        """``n_jobs`` threads build the trees (default 1, which keeps a seeded build
        reproducible; -1 uses every core for big catalogues)."""
        vectors = np.asarray(item_vectors, dtype=np.float32)
        self.dim = vectors.shape[1]
        index = annoy.AnnoyIndex(self.dim, "dot")
        index.set_seed(self.seed)
        for code in range(1, len(vectors)):
            index.add_item(code - 1, vectors[code])
        index.build(self.n_trees, n_jobs=n_jobs)
        self.index = index
        return self

    def save(self, path) -> None:
        self._index().save(str(path))

    @classmethod
    def load(cls, path, dim: int, search_k: int | None = DEFAULT_SEARCH_K,
             workers: int | None = None) -> AnnoyIndex:
        """Memory-map an index written by :meth:`save` (no copy: pages load on demand)."""
        path = Path(path)
        if not path.is_file():
            raise BundleError(f"{path}: no Annoy index")
        index = annoy.AnnoyIndex(dim, "dot")
        try:
            index.load(str(path))
        except OSError as e:
            raise BundleError(f"{path}: unreadable Annoy index ({e})") from None
        self = cls(dim, n_trees=index.get_n_trees(), search_k=search_k, workers=workers)
        self.index = index
        return self

    @property
    def n_items(self) -> int:
        return self._index().get_n_items() + 1

    def _index(self):
        if self.index is None:
            raise RuntimeError("AnnoyIndex: build() or load() first")
        return self.index

    def _search_one(self, vector, n, excluded):
        index = self._index()
        want = min(n + len(excluded), index.get_n_items())
        search_k = self.search_k
        if search_k is None:
            search_k = max(want * self.n_trees, SEARCH_K_FLOOR)
        ids, dots = index.get_nns_by_vector(vector.tolist(), want, search_k=search_k,
                                            include_distances=True)
        out = []
        for i, s in zip(ids, dots, strict=True):
            if i + 1 not in excluded:
                out.append((i + 1, s))
                if len(out) == n:
                    break
        # Annoy returns candidates by its own ordering; break score ties by item code as the
        # exact backend does, so both agree whenever they find the same items
        out.sort(key=lambda p: (-p[1], p[0]))
        return out

    def search_arrays(self, interests, active, n, excludes=None):
        interests, active, n = self.batch_inputs(interests, active, n)
        U, K, _ = interests.shape
        sets = [as_set(excludes[u]) if excludes is not None else set() for u in range(U)]
        jobs = [(u, k) for u in range(U) for k in range(K) if active[u, k]]

        def run(job):
            u, k = job
            return job, self._search_one(interests[u, k], n, sets[u])

        if self.workers > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                results = list(pool.map(run, jobs, chunksize=64))
        else:
            results = [run(j) for j in jobs]
        return pack_pairs(results, (U, K, n))

