"""FAISS (``faiss-cpu``): a graph index (HNSW) or a compressed inverted-file index (IVF-PQ), both
with ``METRIC_INNER_PRODUCT``, so neighbours are ranked by the score the model is trained and
evaluated with.

Three kinds behind one class (:class:`FaissIndex`):

- ``kind="hnsw"`` (default): ``IndexHNSWFlat``, a navigable small-world graph over the raw
  vectors. The choice past a few hundred thousand items, where exact scoring costs 100+ ms per
  user and Annoy's trees lose recall on inner-product search: on 1M items x D 64 it recalls
  the exact top 50 at >= 0.99 within a few ms per user (docs/benchmarks.md, "Scale").

  - ``M`` (default 64; sensible 32..96): graph links per node. More links, better recall at a
    given ``efSearch`` and a slower, bigger index (memory about I x (4 D + 8 M) bytes: 3x the
    raw vectors at D 64, M 64). Inner-product graphs need more links than L2 ones: an item
    links to the items with the largest inner product with it, which are the high-norm ones,
    so mid-norm items get few in-links and are hard to reach. On the clustered catalogue of
    ``bench_scale`` (100k x D 64) M 32 saturated at recall@50 0.95-0.976 whatever the
    efSearch (up to 512) and efConstruction (up to 200); M 64 reached 0.999 at efSearch 128.
  - ``efConstruction`` (default 80; sensible 40..400): candidate list while building. Build
    time grows about linearly with it (100k x D 64: 13 s at M 32 / 80, 69 s at M 32 / 200, 22 s
    at M 64 / 80 on 2 cores); too low leaves a poor graph that no ``efSearch`` fixes.
  - ``efSearch`` (default 192; sensible 32..512, never below the number of neighbours asked
    for, which is n + the user's history length): candidate list per query. The recall/latency
    knob at query time: cost grows about linearly, recall rises and saturates. On 1M x D 64
    (``bench_scale``, one thread, 4 interests a user): 128 recalls 0.985 (p99 6.5 ms), 192
    0.992 (p99 6.3 ms), 256 0.993 (p99 7.3 ms).
  - Build is multithreaded (OpenMP) and not bit-reproducible across thread counts; queries are.

- ``kind="ivfflat"``: ``IndexIVFFlat``, k-means cells over the raw vectors, exact scores within
  the ``nprobe`` cells scanned. Builds in seconds (1.8 s at 100k x D 64 against 22 s for HNSW)
  at the raw vectors' memory, and on clustered catalogues recalls as well as HNSW (1.000 at
  nprobe 16 there); its latency grows with the cell size, I / nlist.

- ``kind="ivfpq"``: ``IndexIVFPQ`` for when memory is the limit. Items are assigned to
  ``nlist`` k-means cells and stored as product-quantized codes of ``pq_m`` bytes (8 bits per
  sub-quantizer), e.g. 16 bytes per item at D 64 instead of 256 (16x smaller), plus the cell
  centroids. Scores are approximate (computed from the codes), so recall is lower than HNSW's
  at any budget; it trades recall for memory, not for speed.

  - ``nlist`` (default about sqrt(I), at most I / 39): cells. More cells, each scanned cell
    smaller, coarser recall per probe.
  - ``nprobe`` (default 16; sensible 1..nlist): cells scanned per query; the recall/latency
    knob.
  - ``pq_m`` (default D / 4; must divide D): bytes per item code. More bytes, better scores and
    recall, more memory.
  - Training (k-means for the cells and the codebooks) runs on a seeded sample of up to 64
    points per cell (at least 256 x 39 = 9,984, what 8-bit codebooks need).

Items are stored under FAISS id ``code - 1``; each user's K interests are searched in one call
asking ``n + len(history)`` neighbours, so ``n`` remain after the history is removed. Item code
0 (padding) is never returned.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mind_core.errors import BundleError
from mind_core.serving.backends.base import ItemIndex, as_set, pack_pairs

FAISS_KINDS = ("hnsw", "ivfflat", "ivfpq")
DEFAULT_M = 64
DEFAULT_EF_CONSTRUCTION = 80
DEFAULT_EF_SEARCH = 192
DEFAULT_NPROBE = 16


def _faiss():
    try:
        import faiss  # lazy: a large native library, only loaded when this backend is used
    except ImportError:  # pragma: no cover - faiss-cpu is in requirements.txt
        raise BundleError("the faiss backend needs faiss-cpu (pip install -r "
                          "requirements.txt)") from None
    return faiss


class FaissIndex(ItemIndex):
    """HNSW (default) or IVF-PQ over the item vectors, inner product. See the module docstring
    for what each parameter trades."""

    backend = "faiss"

    def __init__(self, dim: int | None = None, kind: str = "hnsw", M: int = DEFAULT_M,
                 ef_construction: int = DEFAULT_EF_CONSTRUCTION,
                 ef_search: int = DEFAULT_EF_SEARCH, nlist: int | None = None,
                 nprobe: int = DEFAULT_NPROBE, pq_m: int | None = None, seed: int = 0,
                 threads: int | None = None):
        if kind not in FAISS_KINDS:
            raise ValueError(f"unknown FAISS index kind {kind!r}; choose one of "
                             f"{', '.join(FAISS_KINDS)}")
        self.dim, self.kind, self.M = dim, kind, M
        self.ef_construction, self.ef_search = ef_construction, ef_search
        self.nlist, self.nprobe, self.pq_m, self.seed = nlist, nprobe, pq_m, seed
        self.threads = threads
        self.index = None

    # --- building, saving, loading ----------------------------------------------------------

    def build(self, item_vectors: np.ndarray) -> FaissIndex:
        faiss = _faiss()
        if self.threads:
            faiss.omp_set_num_threads(self.threads)
        vectors = np.ascontiguousarray(np.asarray(item_vectors, dtype=np.float32)[1:])
        n, self.dim = vectors.shape
        if n == 0:
            raise ValueError("no items to index")
        if self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, self.M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
            index.hnsw.efSearch = self.ef_search
            index.add(vectors)
        else:
            index = self._build_ivf(faiss, vectors)
        self.index = index
        return self

    def _build_ivf(self, faiss, vectors):
        n, d = vectors.shape
        nlist = self.nlist or int(min(max(1, round(math.sqrt(n))), max(1, n // 39)))
        quantizer = faiss.IndexFlatIP(d)
        if self.kind == "ivfflat":
            nbits = 0
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            pq_m = None
        else:
            pq_m = self.pq_m or max(1, d // 4)
            if d % pq_m:
                raise ValueError(f"pq_m={pq_m} must divide the dimension {d}")
            nbits = 8 if n >= 256 * 39 else max(1, min(8, int(math.log2(max(2, n // 39)))))
            index = faiss.IndexIVFPQ(quantizer, d, nlist, pq_m, nbits,
                                     faiss.METRIC_INNER_PRODUCT)
            index.pq.cp.seed = self.seed
        index.cp.seed = self.seed
        rng = np.random.default_rng(self.seed)
        cap = max(64 * nlist, 39 << nbits)
        train = vectors if n <= cap else vectors[np.sort(rng.choice(n, cap, replace=False))]
        index.train(train)
        index.add(vectors)
        index.nprobe = min(self.nprobe, nlist)
        self.nlist, self.pq_m = nlist, pq_m
        return index

    def save(self, path) -> None:
        _faiss().write_index(self._index(), str(path))

    @classmethod
    def load(cls, path, dim: int, ef_search: int | None = None, nprobe: int | None = None,
             threads: int | None = None) -> FaissIndex:
        faiss = _faiss()
        path = Path(path)
        if not path.is_file():
            raise BundleError(f"{path}: no FAISS index")
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as e:
            raise BundleError(f"{path}: unreadable FAISS index "
                              f"({str(e).strip().splitlines()[-1][:200]})") from None
        if index.d != dim:
            raise BundleError(f"{path}: FAISS index of width {index.d}, the bundle's vectors "
                              f"have {dim}")
        self = cls(dim, threads=threads)
        if hasattr(index, "hnsw"):
            self.kind, self.M = "hnsw", int(index.hnsw.nb_neighbors(1))
            self.ef_construction = int(index.hnsw.efConstruction)
            self.ef_search = ef_search or int(index.hnsw.efSearch)
        else:
            ivf = faiss.extract_index_ivf(index)
            pq = isinstance(index, faiss.IndexIVFPQ)
            self.kind, self.nlist = ("ivfpq" if pq else "ivfflat"), int(ivf.nlist)
            self.pq_m = int(index.pq.M) if pq else None
            self.nprobe = nprobe or int(ivf.nprobe)
            ivf.nprobe = self.nprobe
        self.index = index
        return self

    def params(self) -> dict:
        """What serving.json records about this index."""
        if self.kind == "hnsw":
            return {"kind": "hnsw", "metric": "inner_product", "M": self.M,
                    "efConstruction": self.ef_construction, "efSearch": self.ef_search}
        out = {"kind": self.kind, "metric": "inner_product", "nlist": self.nlist,
               "nprobe": self.nprobe}
        return {**out, "pq_m": self.pq_m} if self.kind == "ivfpq" else out

    @property
    def n_items(self) -> int:
        return int(self._index().ntotal) + 1

    def _index(self):
        if self.index is None:
            raise RuntimeError("FaissIndex: build() or load() first")
        return self.index

    # --- searching --------------------------------------------------------------------------

    def _raw_search(self, queries: np.ndarray, want: int):
        """FAISS search of (Q, D) queries for ``want`` neighbours -> labels, scores (Q, want)."""
        faiss = _faiss()
        index = self._index()
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_search, want)
            scores, labels = index.search(queries, want, params=params)
        else:
            params = faiss.SearchParametersIVF()
            params.nprobe = self.nprobe
            scores, labels = index.search(queries, want, params=params)
        return labels, scores

    def _user(self, interests: np.ndarray, n: int, excluded: set[int]):
        """The K given interests of one user -> K lists of (code, score), history removed."""
        want = min(n + len(excluded), self.n_items - 1)
        labels, scores = self._raw_search(interests, want)
        out = []
        for row_labels, row_scores in zip(labels, scores, strict=True):
            pairs = []
            for i, s in zip(row_labels.tolist(), row_scores.tolist(), strict=True):
                if i >= 0 and i + 1 not in excluded:
                    pairs.append((i + 1, s))
                    if len(pairs) == n:
                        break
            pairs.sort(key=lambda p: (-p[1], p[0]))  # ties by code, as the exact backend
            out.append(pairs)
        return out

    def _search_one(self, vector, n, excluded):
        return self._user(np.asarray(vector, np.float32)[None], n, excluded)[0]

    def search(self, interests, active, n, exclude=()):
        interests = np.asarray(interests, dtype=np.float32)
        active = np.asarray(active, dtype=bool)
        out: list[list[tuple[int, float]]] = [[] for _ in range(len(interests))]
        ks = np.flatnonzero(active)
        if len(ks):  # the user's active interests in one call
            for k, pairs in zip(ks, self._user(interests[ks], n, as_set(exclude)), strict=True):
                out[k] = pairs
        return out

    def search_arrays(self, interests, active, n, excludes=None):
        interests, active, n = self.batch_inputs(interests, active, n)
        U, K, _ = interests.shape
        results = []
        for u in range(U):  # one FAISS call per user: all its active interests at once
            per = self.search(interests[u], active[u], n,
                              excludes[u] if excludes is not None else ())
            results.extend(((u, k), pairs) for k, pairs in enumerate(per))
        return pack_pairs(results, (U, K, n))


__all__ = ["FaissIndex", "FAISS_KINDS", "DEFAULT_M", "DEFAULT_EF_CONSTRUCTION",
           "DEFAULT_EF_SEARCH", "DEFAULT_NPROBE"]
