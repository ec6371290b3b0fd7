"""Scoring interests against known tastes: the figures only a taste-mixture dataset can give.

Recall@N says whether the merged list hits the held-out movies; it cannot say whether the K
interests found the user's tastes or whether the merge let one of them fill the list. With the
truth of :mod:`mind_core.data.tastes` (each movie's cluster, each user's tastes) three figures
can, and they come apart exactly where multi-interest models win or lose:

- **purity**: the share of an interest's own top list (its own top 10) in that list's majority
  cluster, averaged over the user's active interests. Do interests specialise?
- **taste recall**: the share of a user's tastes that some active interest's own list is mostly
  made of (its majority cluster is the taste, with a share >= ``threshold``, 0.6 by default).
  Does routing find every taste?
- **merged taste coverage**: the share of a user's tastes with at least ``min_items`` (3)
  movies in the merged top ``n`` (50). Does the merge keep the tastes the interests found?

Each is computed per user, then averaged over the users for whom it is defined (an active
interest for purity, a taste for the other two); users where it is not are NaN in the per-user
array. Pure numpy on arrays of item codes, so the figures are tested against hand-built cases
and a plain loop, and serve any model or merge. Ties for the majority go to the lowest cluster
id. An item of cluster -1 (padding, or a movie outside the truth) counts in a list's length but
in no cluster. :func:`truth_codes` maps a :class:`~mind_core.data.tastes.Truth` (raw ids) onto
an encoding's item codes and user rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mind_core.data.tastes import Truth
from mind_core.features.encoding import Encoded

THRESHOLD = 0.6  # an interest's list is "mostly made of" a taste from this share on
TOP_N = 50  # merged list length for coverage
MIN_ITEMS = 3  # movies of a taste in the merged list for it to count as covered


@dataclass(frozen=True)
class TruthCodes:
    """A truth in an encoding's terms."""

    clusters: list[str]  # cluster id -> genre name
    item_cluster: np.ndarray  # (I+1,) cluster of each item code; -1 for padding (code 0)
    tastes: np.ndarray  # (U, C) bool: user row u has taste c
    stickiness: float | None = None  # the generator's chance to stay in a taste, if known


def truth_codes(truth: Truth, encoded: Encoded) -> TruthCodes:
    """Map ``truth`` (raw ids) onto ``encoded``'s item codes and user rows. Every encoded
    movie and user must be in the truth, else a ValueError says the truth is of other data."""
    C = len(truth.clusters)
    raw_items = encoded.item_ids[1:]
    missing = [int(i) for i in raw_items if int(i) not in truth.item_cluster]
    if missing:
        raise ValueError(f"item_ids: {len(missing)} movie(s) of {encoded.name!r} are not in the "
                         f"truth {truth.path} (e.g. {missing[0]}): is it the truth of other "
                         f"data?")
    missing = [int(u) for u in encoded.user_ids if int(u) not in truth.user_tastes]
    if missing:
        raise ValueError(f"user_ids: {len(missing)} user(s) of {encoded.name!r} are not in the "
                         f"truth {truth.path} (e.g. {missing[0]}): is it the truth of other "
                         f"data?")
    item_cluster = np.full(encoded.n_items, -1, dtype=np.int64)
    item_cluster[1:] = [truth.item_cluster[int(i)] for i in raw_items]
    tastes = np.zeros((encoded.n_users, C), dtype=bool)
    rows = [(r, c) for r, u in enumerate(encoded.user_ids) for c in truth.user_tastes[int(u)]]
    if rows:
        r, c = np.asarray(rows).T
        tastes[r, c] = True
    return TruthCodes(clusters=list(truth.clusters), item_cluster=item_cluster, tastes=tastes,
                      stickiness=float(truth.config.stickiness))


# --- checks -----------------------------------------------------------------------------------

def _item_cluster(item_cluster) -> np.ndarray:
    item_cluster = np.asarray(item_cluster)
    if item_cluster.ndim != 1 or not np.issubdtype(item_cluster.dtype, np.integer):
        raise ValueError(f"item_cluster: expected a 1-D integer array (item code -> cluster), "
                         f"found shape {item_cluster.shape} of {item_cluster.dtype}")
    if len(item_cluster) and item_cluster.min() < -1:
        raise ValueError("item_cluster: expected cluster ids >= 0, or -1 for none")
    return item_cluster.astype(np.int64)


def _clusters_of(codes, name: str, ndim: int, item_cluster: np.ndarray) -> np.ndarray:
    """The cluster of every item code in ``codes`` (checked: shape and code range)."""
    codes = np.asarray(codes)
    if codes.ndim != ndim or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"{name}: expected a {ndim}-D integer array of item codes, found shape "
                         f"{codes.shape} of {codes.dtype}")
    if codes.size and (codes.min() < 0 or codes.max() >= len(item_cluster)):
        raise ValueError(f"{name}: expected item codes 0 to {len(item_cluster) - 1}, found "
                         f"{codes.min()} to {codes.max()}")
    return item_cluster[codes]


def _tastes(tastes, n_users: int, item_cluster: np.ndarray) -> np.ndarray:
    tastes = np.asarray(tastes)
    if tastes.ndim != 2 or tastes.dtype != bool or len(tastes) != n_users:
        raise ValueError(f"tastes: expected a ({n_users}, clusters) bool array, found shape "
                         f"{tastes.shape} of {tastes.dtype}")
    if len(item_cluster) and item_cluster.max() >= tastes.shape[1]:
        raise ValueError(f"tastes: {tastes.shape[1]} cluster columns, but item_cluster holds "
                         f"cluster {item_cluster.max()}")
    return tastes


def _active(active, shape: tuple[int, int]) -> np.ndarray:
    active = np.asarray(active)
    if active.shape != shape or active.dtype != bool:
        raise ValueError(f"active: expected a {shape} bool array (users, interests), found "
                         f"shape {active.shape} of {active.dtype}")
    return active


def _counts(clusters: np.ndarray, n_clusters: int) -> np.ndarray:
    """(..., L) cluster ids (-1: none) -> (..., C) how many of each, per row."""
    lead = clusters.shape[:-1]
    rows = np.repeat(np.arange(int(np.prod(lead))), clusters.shape[-1])
    flat = clusters.reshape(-1)
    keep = flat >= 0
    counts = np.bincount(rows[keep] * n_clusters + flat[keep],
                         minlength=int(np.prod(lead)) * n_clusters)
    return counts.reshape(*lead, n_clusters)


def _mean(per_user: np.ndarray) -> float:
    defined = per_user[~np.isnan(per_user)]
    return float(defined.mean()) if len(defined) else float("nan")


# --- the figures ------------------------------------------------------------------------------

def interest_clusters(own_top, item_cluster, n_clusters: int | None = None):
    """Each interest's majority cluster and its share of the interest's own list.

    own_top (U, K, L) item codes -> majority (U, K) cluster ids (-1 when the list holds no
    clustered item) and share (U, K) in [0, 1] (the majority's count over L)."""
    item_cluster = _item_cluster(item_cluster)
    clusters = _clusters_of(own_top, "own_top", 3, item_cluster)
    if n_clusters is None:
        n_clusters = int(item_cluster.max()) + 1 if len(item_cluster) else 0
    counts = _counts(clusters, max(n_clusters, 1))
    top = counts.max(-1)
    majority = np.where(top > 0, counts.argmax(-1), -1)  # argmax: the lowest id among ties
    share = top / max(clusters.shape[-1], 1)
    return majority, share


def purity(own_top, active, item_cluster) -> tuple[float, np.ndarray]:
    """Mean over users of the mean share of an active interest's own list in its majority
    cluster; and the (U,) per-user values (NaN for a user with no active interest)."""
    _, share = interest_clusters(own_top, item_cluster)
    active = _active(active, share.shape)
    n = active.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_user = np.where(n > 0, (share * active).sum(1) / n, np.nan)
    return _mean(per_user), per_user


def taste_recall(own_top, active, item_cluster, tastes,
                 threshold: float = THRESHOLD) -> tuple[float, np.ndarray]:
    """Mean over users of the share of a user's tastes that some active interest's own list is
    mostly made of (majority cluster = the taste, share >= ``threshold``); and the (U,)
    per-user values (NaN for a user with no taste)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold: expected a share in (0, 1], found {threshold!r}")
    item_cluster = _item_cluster(item_cluster)
    own_top = np.asarray(own_top)
    tastes = _tastes(tastes, len(own_top), item_cluster)
    majority, share = interest_clusters(own_top, item_cluster, tastes.shape[1])
    active = _active(active, majority.shape)
    found = np.zeros(tastes.shape, dtype=bool)
    u, k = np.nonzero(active & (share >= threshold) & (majority >= 0))
    found[u, majority[u, k]] = True
    n = tastes.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_user = np.where(n > 0, (found & tastes).sum(1) / n, np.nan)
    return _mean(per_user), per_user


def merged_coverage(merged, item_cluster, tastes, n: int = TOP_N,
                    min_items: int = MIN_ITEMS) -> tuple[float, np.ndarray]:
    """Mean over users of the share of a user's tastes with at least ``min_items`` movies in
    the first ``n`` of the merged list; and the (U,) per-user values (NaN for no taste)."""
    item_cluster = _item_cluster(item_cluster)
    clusters = _clusters_of(merged, "merged", 2, item_cluster)
    if not isinstance(n, int | np.integer) or not 1 <= n <= clusters.shape[1]:
        raise ValueError(f"n: expected 1 to {clusters.shape[1]} (the merged list's length), "
                         f"found {n!r}")
    if not isinstance(min_items, int | np.integer) or min_items < 1:
        raise ValueError(f"min_items: expected an integer >= 1, found {min_items!r}")
    tastes = _tastes(tastes, len(clusters), item_cluster)
    counts = _counts(clusters[:, :n], tastes.shape[1])
    covered = (counts >= min_items) & tastes
    size = tastes.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_user = np.where(size > 0, covered.sum(1) / size, np.nan)
    return _mean(per_user), per_user


@dataclass(frozen=True)
class TasteFigures:
    """The three figures (means over users) and their per-user arrays."""

    purity: float
    taste_recall: float
    coverage: float
    per_user_purity: np.ndarray  # (U,)
    per_user_taste_recall: np.ndarray  # (U,)
    per_user_coverage: np.ndarray  # (U,)
    majority: np.ndarray  # (U, K) each interest's majority cluster (-1: none)
    share: np.ndarray  # (U, K) its share of the interest's own list
    threshold: float
    n: int
    min_items: int

    def summary(self) -> dict:
        """JSON-ready means and the settings that produced them."""
        return {"purity": self.purity, "taste_recall": self.taste_recall,
                "coverage": self.coverage, "threshold": self.threshold, "n": self.n,
                "min_items": self.min_items}


def taste_figures(own_top, active, merged, item_cluster, tastes, threshold: float = THRESHOLD,
                  n: int = TOP_N, min_items: int = MIN_ITEMS) -> TasteFigures:
    """All three figures for one model and merge: own_top (U, K, L) each interest's own top
    list (L = 10 in the issue's figures), active (U, K), merged (U, >= n), item_cluster
    (I+1,), tastes (U, C) bool (see :func:`truth_codes`)."""
    p, per_p = purity(own_top, active, item_cluster)
    r, per_r = taste_recall(own_top, active, item_cluster, tastes, threshold)
    c, per_c = merged_coverage(merged, item_cluster, tastes, n, min_items)
    majority, share = interest_clusters(own_top, item_cluster, np.asarray(tastes).shape[1])
    return TasteFigures(purity=p, taste_recall=r, coverage=c, per_user_purity=per_p,
                        per_user_taste_recall=per_r, per_user_coverage=per_c,
                        majority=majority, share=share, threshold=threshold, n=int(n),
                        min_items=int(min_items))


__all__ = ["TruthCodes", "truth_codes", "interest_clusters", "purity", "taste_recall",
           "merged_coverage", "TasteFigures", "taste_figures", "THRESHOLD", "TOP_N",
           "MIN_ITEMS"]
