"""How far a model could go on a taste mixture: the ranking of an oracle that reads the truth.

A verdict says K=4 beats K=1 by some share; it cannot say whether that share is small because
the model is weak or because there was little left to win. On a taste mixture the generator
(:mod:`mind_core.data.tastes`) says what the best ranking is: a user's next ratings come from
their own tastes, picked by popularity within a taste, and the taste of the next rating follows
a sticky chain from the last one. The oracle ranks every movie the user has not rated by the
expected number of times it is among the targets under that process:

    score(i) = w_u(c_i) · pop(i) / Σ_{j in c_i, not rated by u} pop(j)

where pop is the training count (what a model sees) and w_u(c) the expected share of the
user's n targets that fall in taste c. With m tastes, stickiness s and the last rating before
the targets in taste t, the chain stays in t at step j with probability
1/m + (1 - 1/m) λ^j, λ = 1 - (1 - s) m / (m - 1) (each move goes to one of the m - 1 other
tastes), so w_u(t) is that averaged over j = 1..n and the other tastes share the rest evenly; a
last rating outside the tastes (a stray) or a single taste gives every taste 1/m. Strays are
not predicted (they are uniform over the other clusters).

Its figures are the ceiling of the protocol's metrics on that data, not a model: they read
``truth.json`` and the number of targets, so they only ever score (docs/design.md, "Choosing on
validation"), and docs/results.md compares the models against them ("How far from the truth").
"""

from __future__ import annotations

import numpy as np
import torch

from mind_core.evaluation.ranking import TOP_N, eval_set_metrics, exclusion_mask, ranked
from mind_core.evaluation.tastes import TruthCodes


def taste_weights(tastes: np.ndarray, last_cluster: np.ndarray, n_targets: np.ndarray,
                  stickiness: float | None) -> np.ndarray:
    """(E, C) expected share of each user's targets per cluster: tastes (E, C) bool, the
    cluster of the last rating before the targets (E,) (-1 if unknown), targets per user
    (E,). ``stickiness`` None: every taste the same share."""
    tastes = np.asarray(tastes, dtype=bool)
    m = tastes.sum(1)  # (E,)
    even = tastes / np.maximum(m, 1)[:, None]
    if stickiness is None:
        return even
    E = len(tastes)
    last = np.asarray(last_cluster)
    in_taste = (last >= 0) & tastes[np.arange(E), np.clip(last, 0, None)] & (m > 1)  # (E,)
    lam = 1.0 - (1.0 - stickiness) * m / np.maximum(m - 1, 1)  # (E,)
    n = np.maximum(np.asarray(n_targets), 1)
    j = np.arange(1, n.max() + 1)  # (J,)
    steps = j[None, :] <= n[:, None]  # (E, J)
    decay = np.where(steps, lam[:, None] ** j[None, :], 0.0).sum(1) / n  # mean of λ^j
    stay = 1.0 / np.maximum(m, 1) + (1.0 - 1.0 / np.maximum(m, 1)) * decay  # (E,)
    rest = (1.0 - stay) / np.maximum(m - 1, 1)
    rows, col = np.arange(E), np.clip(last, 0, None)
    w = tastes * rest[:, None]
    w[rows, col] = np.where(in_taste, stay, w[rows, col])
    return np.where(in_taste[:, None], w, even)


def oracle_top(data, truth: TruthCodes, ev=None, n: int = TOP_N) -> np.ndarray:
    """(E, n) the oracle's ranking for the users of ``ev`` (the test set by default), history
    excluded as for every model."""
    split, enc = data.split, data.encoded
    ev = split.test if ev is None else ev
    clusters = truth.item_cluster  # (I,) -1 for padding
    C = len(truth.clusters)
    pop = np.asarray(split.item_counts, dtype=np.float64)
    member = np.zeros((enc.n_items, C))  # (I, C) one-hot cluster of each item
    known = clusters >= 0
    member[np.flatnonzero(known), clusters[known]] = 1.0
    # the last rating before the targets (code 0, no cluster, for a user with no history)
    has_history = ev.positions > split.offsets[ev.users]
    last = np.where(has_history, split.sequence[np.maximum(ev.positions - 1, 0)], 0)
    weights = taste_weights(truth.tastes[ev.users], clusters[last], ev.target_counts(),
                            truth.stickiness)  # (E, C)

    def scores_of(rows: slice) -> torch.Tensor:
        seen = exclusion_mask(split, ev, enc.n_items, rows)  # (R, I)
        left = np.where(seen, 0.0, pop)  # (R, I) popularity of what each user can still rate
        share = weights[rows] / np.maximum(left @ member, 1e-12)  # (R, C) per unit of it
        return torch.as_tensor((share @ member.T) * left)  # (R, I)

    return ranked(split, ev, enc.n_items, scores_of, n)

def taste_ceiling(data, truth: TruthCodes, ev=None) -> dict:
    """The protocol's figures of the oracle's ranking (:func:`oracle_top`) on ``ev``."""
    ev = data.split.test if ev is None else ev
    return eval_set_metrics(oracle_top(data, truth, ev), data.split, ev, data.encoded)


__all__ = ["taste_weights", "oracle_top", "taste_ceiling"]
