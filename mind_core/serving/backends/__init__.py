"""Nearest-neighbour search over the item vectors, by inner product: one small class per backend
behind the :class:`ItemIndex` contract (``build``, ``save``, ``load``, ``search``,
``search_arrays``).

Each module states its trade-offs in its docstring: :mod:`.exact` (numpy over the whole
catalogue), :mod:`.annoy_index` (trees, ``n_trees`` / ``search_k``), :mod:`.faiss_index` (HNSW
with ``M`` / ``efConstruction`` / ``efSearch``, IVF-Flat or IVF-PQ with ``nlist`` / ``nprobe`` /
``pq_m``). Which one: ``exact`` at MovieLens sizes (fastest and exact); ``faiss`` HNSW past a
few hundred thousand items or wherever recall must stay >= 0.99 at low latency; IVF-PQ when
memory is the limit; ``annoy`` when one memory-mapped file shared by many processes matters
most (docs/benchmarks.md, "Scale").
"""

from mind_core.serving.backends.annoy_index import (
    DEFAULT_N_TREES,
    DEFAULT_SEARCH_K,
    SEARCH_K_FLOOR,
    AnnoyIndex,
)
from mind_core.serving.backends.base import (
    ANNOY_FILE,
    FAISS_FILE,
    SERVING_FILE,
    ItemIndex,
    PerInterest,
)
from mind_core.serving.backends.exact import ExactIndex
from mind_core.serving.backends.faiss_index import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_M,
    DEFAULT_NPROBE,
    FAISS_KINDS,
    FaissIndex,
)

BACKENDS = ("annoy", "exact", "faiss")

__all__ = ["ItemIndex", "PerInterest", "ExactIndex", "AnnoyIndex", "FaissIndex", "BACKENDS",
           "ANNOY_FILE", "FAISS_FILE", "SERVING_FILE", "DEFAULT_N_TREES", "DEFAULT_SEARCH_K",
           "SEARCH_K_FLOOR", "FAISS_KINDS", "DEFAULT_M", "DEFAULT_EF_CONSTRUCTION",
           "DEFAULT_EF_SEARCH", "DEFAULT_NPROBE"]
