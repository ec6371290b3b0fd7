"""Multi-interest retrieval: search the catalogue with every active interest vector separately
(paper Sec. 4.5), then merge the K lists into one.

Two backends behind one small interface (:class:`ItemIndex`):

- :class:`ExactIndex` scores every item by inner product in numpy. At MovieLens sizes (1,682 or
  3,706 items) it is both the fastest and exact, so it is the floor every number is compared to.
- :class:`AnnoyIndex` is an Annoy forest with the ``dot`` metric, so its neighbours are ranked
  by the same inner product the model is trained and evaluated with (``angular`` would rank by
  cosine and drop the item-norm part of the score). It memory-maps ``items.ann``, so many
  processes share one copy, and it is what to use when the catalogue is too big to score whole.

Item codes are the encoded codes of :mod:`mind_core.encoding` (1..I-1); code 0 (padding) is
never returned. Each per-interest list holds ``(item code, score)`` pairs, best first; an
inactive interest gets an empty list.

Merging (:func:`merge`) turns the K lists into one ranked list of ``(item, score, interest)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import BundleError, DataError

ANNOY_FILE = "items.ann"
SERVING_FILE = "serving.json"
MERGE_STRATEGIES = ("max_score", "round_robin", "quota", "diverse")
BACKENDS = ("annoy", "exact")

# Annoy defaults, chosen by measurement on a default MIND (K=4, D=64) over ml-100k, where the
# merged top 50 must match exact scoring (bench/bench_retrieval.py, README "Retrieval"). With
# `dot`, Annoy's own search_k (n x n_trees) is far too low on trained vectors: 10 trees recalled
# 0.62 of the exact merged top 50, 50 trees 0.98. A floor of 10,000 inspected nodes with 20
# trees recalled 0.9997; at a fixed budget fewer, deeper trees did better than more trees.
DEFAULT_N_TREES = 20
DEFAULT_SEARCH_K = None  # None = max(wanted x n_trees, SEARCH_K_FLOOR); -1 = Annoy's own default
SEARCH_K_FLOOR = 10_000

PerInterest = list[list[tuple[int, float]]]


# --- indexes ----------------------------------------------------------------------------------

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
        excluded = _as_set(exclude)
        return [self._search_one(interests[k], n, excluded) if active[k] else []
                for k in range(len(interests))]

    def search_batch(self, interests: np.ndarray, active: np.ndarray, n: int,
                     excludes: Sequence[Iterable[int]] | None = None) -> list[PerInterest]:
        """:meth:`search` for many users: interests (U, K, D), active (U, K), ``excludes`` one
        iterable of item codes per user (or None) -> U lists of K lists."""
        items, scores = self.search_arrays(interests, active, n, excludes)
        return [[_pairs(items[u, k], scores[u, k]) for k in range(items.shape[1])]
                for u in range(items.shape[0])]

    def search_arrays(self, interests: np.ndarray, active: np.ndarray, n: int,
                      excludes: Sequence[Iterable[int]] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """The batched search as arrays: items (U, K, n) int64 and scores (U, K, n) float32,
        best first, padded with item 0 and score -inf where fewer than n exist (inactive
        interests are all padding). The fast path for all-users retrieval."""
        raise NotImplementedError


def _as_set(exclude) -> set[int]:
    if exclude is None:
        return set()
    if isinstance(exclude, np.ndarray):
        return set(exclude.ravel().tolist())
    return {int(i) for i in exclude}


def _pairs(items: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
    keep = items > 0
    return list(zip(items[keep].tolist(), scores[keep].tolist(), strict=True))


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
        return [_pairs(items[0, k], scores[0, k]) for k in range(len(interests))]

    def _search_one(self, vector, n, excluded):
        scores = self._vectors() @ vector  # (I,)
        scores[0] = -np.inf
        if excluded:
            scores[np.fromiter(excluded, dtype=np.int64)] = -np.inf
        items = _top(scores[None], n)[0]
        items = items[np.isfinite(scores[items])]  # fewer than n left after exclusion
        return _pairs(items, scores[items])

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
                    codes = np.asarray(list(_as_set(excludes[u])), dtype=np.int64)
                    if len(codes):
                        scores[u - lo, :, codes] = -np.inf
            scores[~active[lo:hi]] = -np.inf
            flat = scores.reshape(-1, scores.shape[-1])
            top = _top(flat, n)  # (B*K, n)
            top_scores = np.take_along_axis(flat, top, axis=1)
            top = np.where(np.isfinite(top_scores), top, 0)
            out_items[lo:hi] = top.reshape(hi - lo, K, n)
            out_scores[lo:hi] = top_scores.reshape(hi - lo, K, n)
        return out_items, out_scores


def _top(scores: np.ndarray, n: int) -> np.ndarray:
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


class AnnoyIndex(ItemIndex):
    """An Annoy forest with the ``dot`` metric (inner product, as the model scores).

    Trade-offs, measured on ml-100k and synthetic catalogues (README, "Retrieval"):

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
        import annoy

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
        import annoy

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
        interests = np.asarray(interests, dtype=np.float32)
        active = np.asarray(active, dtype=bool)
        U, K, _ = interests.shape
        n = min(n, self.n_items - 1)
        out_items = np.zeros((U, K, n), dtype=np.int64)
        out_scores = np.full((U, K, n), -np.inf, dtype=np.float32)
        sets = [_as_set(excludes[u]) if excludes is not None else set() for u in range(U)]
        jobs = [(u, k) for u in range(U) for k in range(K) if active[u, k]]

        def run(job):
            u, k = job
            return job, self._search_one(interests[u, k], n, sets[u])

        if self.workers > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                results = list(pool.map(run, jobs, chunksize=64))
        else:
            results = [run(j) for j in jobs]
        for (u, k), pairs in results:
            if pairs:
                m = len(pairs)
                out_items[u, k, :m] = [p[0] for p in pairs]
                out_scores[u, k, :m] = [p[1] for p in pairs]
        return out_items, out_scores


# --- merging ----------------------------------------------------------------------------------

def merge(per_interest: PerInterest, n: int, strategy: str = "max_score",
          primary_genre: np.ndarray | None = None, lam: float = 0.5
          ) -> list[tuple[int, float, int]]:
    """Merge K per-interest lists (each best first) into the top ``n`` distinct items, as
    ``(item, score, interest)``: the score the item has in the list it was taken from and that
    list's index k.

    Strategies:

    - ``max_score`` (default): every item once with its best score over interests (the
      evaluation protocol's ranking); ties by lower item code, an item's interest is the one
      giving the best score (the lower k on a tie).
    - ``round_robin``: interests take turns (k = 0, 1, ...) each adding its best item not
      yet chosen; the order of turns is the ranking. Equal say for every interest.
    - ``quota``: each non-empty interest keeps its best ``n // K'`` items not yet chosen (the
      first ``n % K'`` interests one more); slots an interest cannot fill go to the best
      remaining candidates by score. The result is ranked by score.
    - ``diverse``: greedy, as in ComiRec's controllable aggregation: repeatedly take the
      candidate maximising ``score - lam x (chosen items sharing its primary genre)``. Needs
      ``primary_genre`` (I,) genre code per item code. ``lam`` (default 0.5; 0 = max_score,
      sensible 0..2 relative to the score scale) trades accuracy for genre diversity. The
      reported score is the model's score, not the penalised one.

    Fewer than ``n`` items come back when the lists hold fewer distinct items.
    """
    if strategy not in MERGE_STRATEGIES:
        raise ValueError(f"unknown merge strategy {strategy!r}; choose one of "
                         f"{', '.join(MERGE_STRATEGIES)}")
    if n <= 0:
        return []
    lists = [list(lst) for lst in per_interest]
    if strategy == "round_robin":
        return _round_robin(lists, n)
    if strategy == "quota":
        return _quota(lists, n)
    best = _best_per_item(lists)
    if strategy == "max_score":
        return best[:n]
    if primary_genre is None:
        raise ValueError("merge strategy 'diverse' needs primary_genre (genre code per item)")
    return _diverse(best, n, primary_genre, lam)


def _best_per_item(lists) -> list[tuple[int, float, int]]:
    """Each item once with its best score and that interest, ranked by score then code."""
    best: dict[int, tuple[float, int]] = {}
    for k, lst in enumerate(lists):
        for item, score in lst:
            item, score = int(item), float(score)
            if item not in best or score > best[item][0]:
                best[item] = (score, k)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [(item, score, k) for item, (score, k) in ranked]


def _round_robin(lists, n):
    chosen: list[tuple[int, float, int]] = []
    taken: set[int] = set()
    pointers = [0] * len(lists)
    while len(chosen) < n:
        progressed = False
        for k, lst in enumerate(lists):
            while pointers[k] < len(lst) and int(lst[pointers[k]][0]) in taken:
                pointers[k] += 1
            if pointers[k] < len(lst):
                item, score = lst[pointers[k]]
                chosen.append((int(item), float(score), k))
                taken.add(int(item))
                pointers[k] += 1
                progressed = True
                if len(chosen) == n:
                    break
        if not progressed:
            break
    return chosen


def _quota(lists, n):
    live = [k for k, lst in enumerate(lists) if lst]
    if not live:
        return []
    base, extra = divmod(n, len(live))
    quota = {k: base + (1 if i < extra else 0) for i, k in enumerate(live)}
    chosen: list[tuple[int, float, int]] = []
    taken: set[int] = set()
    for k in live:
        got = 0
        for item, score in lists[k]:
            if got == quota[k]:
                break
            if int(item) not in taken:
                chosen.append((int(item), float(score), k))
                taken.add(int(item))
                got += 1
    if len(chosen) < n:  # unfilled quota goes to the best remaining candidates
        rest = [c for c in _best_per_item(lists) if c[0] not in taken]
        chosen += rest[: n - len(chosen)]
    chosen.sort(key=lambda c: (-c[1], c[0]))
    return chosen


def _diverse(best, n, primary_genre, lam):
    genres = np.asarray(primary_genre)
    remaining = list(best)  # ranked by score: argmax ties fall to the better-scored, lower code
    counts: dict[int, int] = {}
    chosen = []
    while remaining and len(chosen) < n:
        gains = [score - lam * counts.get(int(genres[item]), 0) for item, score, _ in remaining]
        i = int(np.argmax(gains))
        pick = remaining.pop(i)
        chosen.append(pick)
        g = int(genres[pick[0]])
        counts[g] = counts.get(g, 0) + 1
    return chosen


def merge_arrays(items: np.ndarray, scores: np.ndarray, n: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorized ``max_score`` merge for many users at once: items/scores (U, K, M) as from
    :meth:`ItemIndex.search_arrays` -> merged items (U, n), scores (U, n), interest (U, n),
    padded with item 0, -inf and -1. Same result as :func:`merge` per user."""
    U, K, M = items.shape
    flat_items = items.reshape(U, K * M)
    flat_scores = scores.reshape(U, K * M).astype(np.float32, copy=True)
    source = np.broadcast_to(np.repeat(np.arange(K), M), (U, K * M))
    # group each item's copies together, best score (then lower k) first; drop the rest
    order = np.lexsort((source, -flat_scores, flat_items), axis=1)
    s_items = np.take_along_axis(flat_items, order, axis=1)
    s_scores = np.take_along_axis(flat_scores, order, axis=1)
    s_source = np.take_along_axis(source, order, axis=1)
    dup = np.zeros_like(s_items, dtype=bool)
    dup[:, 1:] = s_items[:, 1:] == s_items[:, :-1]
    s_scores[dup | (s_items == 0)] = -np.inf
    rank = np.lexsort((s_items, -s_scores), axis=1)[:, :n]
    m_items = np.take_along_axis(s_items, rank, axis=1)
    m_scores = np.take_along_axis(s_scores, rank, axis=1)
    m_source = np.take_along_axis(s_source, rank, axis=1)
    empty = ~np.isfinite(m_scores)
    return (np.where(empty, 0, m_items), m_scores, np.where(empty, -1, m_source))


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
    ``exact`` scores ``bundle.item_vectors`` directly."""
    if backend == "exact":
        return ExactIndex().build(bundle.item_vectors)
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


# --- explaining interests ---------------------------------------------------------------------

def interest_labels(bundle, data, user_row: int, recommendation: Recommendation,
                    model=None, top_genres: int = 3) -> list[dict]:
    """One dict per interest (K):

    - ``genres``: up to ``top_genres`` (default 3) genre names dominating what the interest
      retrieves (share of its items carrying each genre; a genre is kept if it covers at least
      half as many items as the leading one);
    - ``genre_shares``: those shares (0..1);
    - ``routed``: history item codes whose routing weight is largest for this interest, by
      weight (from ``model.explain`` on the serving history of ``max_length`` items);
    - ``label``: short text, e.g. "Action / Sci-Fi";
    - ``active``: bool.

    ``model`` (a loaded MIND) saves loading the weights per call."""
    import torch

    from .bundle import serving_histories

    enc = data.encoded
    K = len(recommendation.per_interest)
    routed: list[list[int]] = [[] for _ in range(K)]
    if model is None:
        model = bundle.load_model(enc)
    history = serving_histories(data.split, enc.n_users)[user_row]  # (L,)
    weights = model.explain(torch.as_tensor(history),
                            torch.as_tensor(enc.user_features[user_row])).numpy()  # (K, L)
    active = np.asarray(recommendation.active, dtype=bool)
    positions = np.flatnonzero(history > 0)
    if len(positions) and active.any():
        w = np.where(active[:, None], weights[:, positions], -np.inf)  # (K, P)
        owner = w.argmax(0)  # (P,)
        for k in range(K):
            mine = positions[owner == k]
            order = np.argsort(-weights[k, mine], kind="stable")
            routed[k] = [int(c) for c in history[mine[order]]]
    out = []
    for k in range(K):
        items = [i for i, _ in recommendation.per_interest[k]]
        names, shares = _dominant_genres(items, enc, top_genres)
        if not active[k]:
            label = "inactive"
        elif names:
            label = " / ".join(names[:2])
        else:
            label = f"interest {k}"
        out.append({"interest": k, "active": bool(active[k]), "genres": names,
                    "genre_shares": shares, "routed": routed[k], "label": label})
    return out


def _dominant_genres(items, enc, top: int) -> tuple[list[str], list[float]]:
    if not items:
        return [], []
    codes = enc.item_genres[np.asarray(items)]  # (n, G)
    counts = np.bincount(codes[codes > 0], minlength=len(enc.genre_names))
    order = np.argsort(-counts, kind="stable")[:top]
    lead = counts[order[0]]
    keep = [g for g in order if counts[g] > 0 and counts[g] * 2 >= lead]
    return ([enc.genre_names[g] for g in keep],
            [round(float(counts[g] / len(items)), 3) for g in keep])


__all__ = ["ItemIndex", "ExactIndex", "AnnoyIndex", "merge", "merge_arrays", "MERGE_STRATEGIES",
           "BACKENDS", "Recommendation", "recommend", "load_index", "interest_labels",
           "user_history", "all_histories", "serving_params", "DEFAULT_N_TREES",
           "DEFAULT_SEARCH_K", "SEARCH_K_FLOOR"]
