"""Every evaluated user's lists at once, from stored vectors: each interest's own top list
(exact search, history excluded) and the merged list under any strategy of
:mod:`mind_core.serving.merging`.

This is serving as :func:`mind_core.serving.retrieval.recommend` does it for one user (search
each interest apart, then merge), run over a whole evaluation set with exact scores, so that
evaluation can score the merge, not only the model. ``max_score`` over the per-interest top
``m`` equals the full ranking's top ``m`` (an item in the merged top ``m`` is in the top ``m``
of the interest that gives its best score); the other strategies read at most ``m`` items of
each list when ``n <= m``, so ``m = n`` loses nothing.
"""

from __future__ import annotations

import numpy as np
import torch

from mind_core.evaluation.ranking import CHUNK_USERS, exclusion_mask
from mind_core.serving.merging import (
    MERGE_STRATEGIES,
    NEEDS_WEIGHTS,
    diverse_arrays,
    history_shares,
    merge_arrays,
    proportional_arrays,
    quota_arrays,
    round_robin_arrays,
)


def own_tops(split, ev, interests, active, item_vectors, m: int,
             chunk: int = CHUNK_USERS) -> tuple[np.ndarray, np.ndarray]:
    """Each active interest's own top ``m`` for every user of ``ev``: items (E, K, m) int64
    and scores (E, K, m) float32, best first, the user's history before the target excluded;
    inactive interests are all padding (item 0, score -inf)."""
    interests = torch.as_tensor(np.asarray(interests, dtype=np.float32))  # (E, K, D)
    active = torch.as_tensor(np.asarray(active, dtype=bool))  # (E, K)
    items = torch.as_tensor(np.asarray(item_vectors, dtype=np.float32))  # (I, D)
    assert len(interests) == len(active) == len(ev.users)
    n_items = len(items)
    m = min(m, n_items - 1)
    out_items, out_scores = [], []
    for i in range(0, len(ev.users), chunk):
        rows = slice(i, i + chunk)
        scores = torch.einsum("ekd,id->eki", interests[rows], items)  # (E, K, I)
        exclude = torch.as_tensor(exclusion_mask(split, ev, n_items, rows))  # (E, I)
        scores = scores.masked_fill(exclude.unsqueeze(1), -torch.inf)
        scores = scores.masked_fill(~active[rows].unsqueeze(-1), -torch.inf)
        top = torch.topk(scores, k=m, dim=2)
        found = torch.isfinite(top.values)
        out_items.append(torch.where(found, top.indices, 0).numpy())
        out_scores.append(top.values.numpy())
    K = interests.shape[1]
    if not out_items:
        return np.zeros((0, K, m), dtype=np.int64), np.zeros((0, K, m), dtype=np.float32)
    return np.concatenate(out_items), np.concatenate(out_scores)


def interest_weights(ev, interests, active, item_vectors) -> np.ndarray:
    """(E, K) the ``proportional`` merge's weights: each interest's share of the history the
    interests were extracted from (``ev.history``)."""
    return history_shares(interests, active, item_vectors, ev.history)


def merged_tops(own_items: np.ndarray, own_scores: np.ndarray, strategy: str, n: int,
                primary_genre: np.ndarray | None = None, weights: np.ndarray | None = None,
                lam: float = 0.5) -> np.ndarray:
    """(E, n) merged item codes, best first, padded with 0: ``strategy`` over the per-interest
    lists of :func:`own_tops`. ``weights`` (E, K) for ``proportional``, ``primary_genre`` for
    ``diverse``."""
    if strategy not in MERGE_STRATEGIES:
        raise ValueError(f"unknown merge strategy {strategy!r}; choose one of "
                         f"{', '.join(MERGE_STRATEGIES)}")
    if strategy == "max_score":
        return merge_arrays(own_items, own_scores, n)[0]
    if strategy in NEEDS_WEIGHTS and weights is None:
        raise ValueError(f"merge strategy {strategy!r} needs weights (E, K)")
    if own_items.shape[1] == 1 and strategy in ONE_LIST_KEPT:
        return _one_list(own_items, own_scores, strategy, n)
    if strategy == "diverse":
        if primary_genre is None:
            raise ValueError("merge strategy 'diverse' needs primary_genre (genre code per item)")
        return diverse_arrays(own_items, own_scores, n, primary_genre, lam)
    if strategy == "round_robin":
        return round_robin_arrays(own_items, own_scores, n)
    if strategy == "quota":
        return quota_arrays(own_items, own_scores, n)
    return proportional_arrays(own_items, own_scores, n, weights)


# With one interest (K=1), taking turns, an equal quota and history shares all give that
# interest's own list back (quota ranked by score, ties by the lower code, as in
# mind_core.serving.merging): read off the arrays instead of merged user by user in Python,
# what a K=1 model's validation paid every epoch. ``diverse`` reorders even one list.
ONE_LIST_KEPT = ("round_robin", "quota", "proportional")


def _one_list(own_items, own_scores, strategy: str, n: int) -> np.ndarray:
    m = min(n, own_items.shape[2])
    items, scores = own_items[:, 0, :m], own_scores[:, 0, :m]
    if strategy == "quota":
        order = np.lexsort((items, -scores), axis=-1)  # by score, then by code
        items = np.take_along_axis(items, order, -1)
        scores = np.take_along_axis(scores, order, -1)
    out = np.zeros((len(own_items), n), dtype=np.int64)
    out[:, :m] = np.where(np.isfinite(scores), items, 0)
    return out


__all__ = ["own_tops", "interest_weights", "merged_tops", "ONE_LIST_KEPT"]
