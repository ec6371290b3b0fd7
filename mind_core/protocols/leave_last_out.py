"""Leave-last-out, the headline protocol (docs/design.md, "Evaluation protocols").

Per user, time-ordered (ties in file order): the last rating is the test target, the one before
it the validation target, earlier ratings make the training samples. At test time the history
is everything before the target. With one target, HR@N equals Recall@N.

Reports HR@10, HR@50, NDCG@10, NDCG@50 (averaged over evaluated users), Diversity@50 and
Coverage@50.
"""

from __future__ import annotations

import numpy as np

from mind_core.protocols.common import breadth

NAME = "leave_last_out"
HEADLINE = "HR@50"  # what early stopping and the choices made on validation read
CUTOFFS = (10, 50)
METRICS = ["HR@10", "HR@50", "NDCG@10", "NDCG@50", "Diversity@50", "Coverage@50"]
MIN_INTERACTIONS = 3  # a history, a validation target and a test target


def held_out(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U,) ratings per user -> (U,) test targets and (U,) validation targets per user: 1 and
    1, or 0 and 0 if too short."""
    n = (np.asarray(lengths) >= MIN_INTERACTIONS).astype(np.int64)
    return n, n.copy()


def n_targets(lengths: np.ndarray) -> np.ndarray:
    """(U,) ratings per user -> (U,) test targets per user: 1, or 0 if too short."""
    return held_out(lengths)[0]


def metrics(top: np.ndarray, target_sets: list[np.ndarray], primary_genre: np.ndarray,
            n_items: int) -> dict:
    """top (E, N) best first with N >= 50; one target per user."""
    assert top.shape[1] >= max(CUTOFFS)
    assert all(len(t) == 1 for t in target_sets), "leave-last-out has one target per user"
    targets = np.asarray([t[0] for t in target_sets], dtype=top.dtype).reshape(-1)
    hit_rank = np.full(len(targets), np.inf)
    rows, ranks = np.nonzero(top == targets[:, None])
    hit_rank[rows] = ranks
    out = {}
    for k in CUTOFFS:
        hit = hit_rank < k
        out[f"HR@{k}"] = float(hit.mean())
        out[f"NDCG@{k}"] = float(np.where(hit, 1.0 / np.log2(hit_rank + 2), 0.0).mean())
    return {**{m: out[m] for m in METRICS if m in out},
            **breadth(top, primary_genre, n_items)}
