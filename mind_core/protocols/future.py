"""The future set: several targets per user, where several interests should pay.

Multi-interest models are usually shown to pay when a *set* of future items is predicted
(ComiRec, Cen et al., KDD 2020). ComiRec holds out whole users and embeds them from the first
80% of their behaviours; we keep every user and hold out the end of each user's timeline
instead, so the same users, profiles and training code serve both protocols and the figures
sit beside leave-last-out's (MIND embeds any user from history and profile, so the choice
does not change what is measured: the next tastes of a user the model did not see them form).

Per user, time-ordered (ties in file order): the last 20% of the ratings, rounded up and at
least 2, are the target set; the 10% just before them, rounded up and at least 2, are the
validation set, scored the same way (early stopping and every choice made on validation, such
as the merge, read a set of later ratings, as the test does, not the single next one);
earlier ratings make the training samples. The ranking's history is everything before the
first target, and those items are excluded from it.

Recall@N = |top-N ∩ targets| / |targets|; HR@N = 1 if any target is in the top N; NDCG@N =
DCG / ideal DCG with a gain of 1 per target in the list (ideal: min(|targets|, N) hits at the
top). N in {20, 50}; each averaged over evaluated users. Also Diversity@50 and Coverage@50.
"""

from __future__ import annotations

import numpy as np

from mind_core.protocols.common import breadth

NAME = "future"
CUTOFFS = (20, 50)
METRICS = ["Recall@20", "Recall@50", "HR@20", "HR@50", "NDCG@20", "NDCG@50",
           "Diversity@50", "Coverage@50"]
HEADLINE = "Recall@50"  # what early stopping and the choices made on validation read
TARGET_SHARE = 0.2
MIN_TARGETS = 2
VALID_SHARE = 0.1  # a validation set of the same shape, smaller: it is taken from training
MIN_VALID = 2
MIN_HISTORY = 1
SPLIT_REVISION = 2  # 1: one validation rating (before issue 23); 2: a validation set


def held_out(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U,) ratings per user -> (U,) test targets and (U,) validation targets per user:
    ceil(20%) and ceil(10%), each at least 2, or (0, 0) when the user cannot also keep a
    non-empty history."""
    lengths = np.asarray(lengths, dtype=np.int64)
    n = np.maximum(MIN_TARGETS, np.ceil(TARGET_SHARE * lengths).astype(np.int64))
    v = np.maximum(MIN_VALID, np.ceil(VALID_SHARE * lengths).astype(np.int64))
    ok = lengths - n - v >= MIN_HISTORY
    return np.where(ok, n, 0), np.where(ok, v, 0)


def n_targets(lengths: np.ndarray) -> np.ndarray:
    """(U,) test targets per user (0 = not evaluated)."""
    return held_out(lengths)[0]


def metrics(top: np.ndarray, target_sets: list[np.ndarray], primary_genre: np.ndarray,
            n_items: int) -> dict:
    """top (E, N) best first with N >= 50; target_sets: E arrays of item codes."""
    assert top.shape[1] >= max(CUTOFFS) and len(top) == len(target_sets)
    E = len(top)
    sizes = np.asarray([len(t) for t in target_sets])
    rows = np.repeat(np.arange(E), sizes)
    flat = np.concatenate(target_sets) if E else np.zeros(0, dtype=top.dtype)
    # (E, N): is top[e, r] in user e's target set? One sorted (row, item) key per target.
    keys = np.sort(rows.astype(np.int64) * n_items + flat)
    cand = np.arange(E, dtype=np.int64)[:, None] * n_items + top
    pos = np.clip(np.searchsorted(keys, cand), 0, max(len(keys) - 1, 0))
    is_target = (keys[pos] == cand) if len(keys) else np.zeros(cand.shape, dtype=bool)
    discount = 1.0 / np.log2(np.arange(top.shape[1]) + 2)  # (N,)
    out = {}
    for k in CUTOFFS:
        hits = is_target[:, :k]
        n_hit = hits.sum(1)
        ideal = np.cumsum(discount[:k])[np.minimum(sizes, k) - 1]
        out[f"Recall@{k}"] = float(np.mean(n_hit / sizes))
        out[f"HR@{k}"] = float(np.mean(n_hit > 0))
        out[f"NDCG@{k}"] = float(np.mean((hits * discount[:k]).sum(1) / ideal))
    return {**{m: out[m] for m in METRICS if m in out},
            **breadth(top, primary_genre, n_items)}
