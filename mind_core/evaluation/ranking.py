"""The evaluation protocol of docs/design.md, steps 4-6.

4. Full ranking: every item is scored by exact inner product with each of the user's active
   interest vectors; an item's score is its max over interests. Items already in the user's
   history are excluded.
5. The split's protocol (:mod:`mind_core.protocols`) scores the ranking: leave-last-out's
   HR@10/50 and NDCG@10/50 (one target: HR@N = Recall@N), or the future set's Recall, HR and
   NDCG at 20 and 50; both add Diversity@50 (share of pairs of retrieved movies whose primary
   genres differ) and catalogue coverage@50.
6. Baselines under the same protocol: most-popular (training counts) and MIND with K=1.
"""

from __future__ import annotations

import numpy as np
import torch

from mind_core import protocols
from mind_core.features.split import EvalSet, Split
from mind_core.protocols import leave_last_out

CUTOFFS = leave_last_out.CUTOFFS
TOP_N = 50  # every protocol reads at most the top 50


CHUNK_USERS = 512  # users ranked at once: their (chunk, K, I) scores stay near 0.5 GB at 59k items


def exclusion_mask(split: Split, ev: EvalSet, n_items: int,
                   rows: slice = slice(None)) -> np.ndarray:
    """(E, I) bool for ``ev``'s users ``rows``: True where an item is in the user's history
    before their target; padding (column 0) is always excluded."""
    users, positions = ev.users[rows], ev.positions[rows]
    starts = split.offsets[users]
    lengths = positions - starts
    rows_of = np.repeat(np.arange(len(users)), lengths)
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cols = split.sequence[np.repeat(starts, lengths) + within]
    mask = np.zeros((len(users), n_items), dtype=bool)
    mask[rows_of, cols] = True
    mask[:, 0] = True
    return mask


def ranked(split: Split, ev: EvalSet, n_items: int, scores_of, n: int = TOP_N,
           chunk: int = CHUNK_USERS) -> np.ndarray:
    """(E, n) item codes, best first, history excluded, for every user of ``ev``:
    ``scores_of(rows)`` gives the (len(rows), I) scores of users ``rows`` (a slice). Ranked
    ``chunk`` users at a time, so memory does not grow with users x items."""
    parts = [top_n(scores_of(slice(i, i + chunk)),
                   exclusion_mask(split, ev, n_items, slice(i, i + chunk)), n)
             for i in range(0, len(ev.users), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, min(n, n_items)), dtype=np.int64)


def interest_scores(interests: torch.Tensor, active: torch.Tensor, items: torch.Tensor):
    """Max-over-interests inner product. interests (E, K, D), active (E, K), items (I, D)
    -> (E, I)."""
    scores = torch.einsum("ekd,id->eki", interests, items)
    return scores.masked_fill(~active.unsqueeze(-1), -torch.inf).amax(dim=1)


def top_n(scores: torch.Tensor, exclude: np.ndarray, n: int) -> np.ndarray:
    """(E, I) scores -> (E, n) item codes, best first, excluded items never returned."""
    scores = scores.masked_fill(torch.as_tensor(exclude), -torch.inf)
    return torch.topk(scores, k=min(n, scores.shape[1]), dim=1).indices.numpy()


def ranking_metrics(top: np.ndarray, targets: np.ndarray, primary_genre: np.ndarray,
                    n_items: int) -> dict:
    """Leave-last-out figures: top (E, N) with N >= 50, one target per user (E,)."""
    return leave_last_out.metrics(top, [np.atleast_1d(t) for t in targets], primary_genre,
                                  n_items)


def eval_set_metrics(top: np.ndarray, split: Split, ev: EvalSet, encoded) -> dict:
    """The figures of the split's protocol for ranked lists ``top`` of ``ev``'s users (the
    test set or the validation set, which has the test's shape)."""
    rule = protocols.get(split.protocol)
    return rule.metrics(top, split.target_sets(ev), encoded.primary_genre, encoded.n_items)


@torch.no_grad()
def model_interests(model, history: np.ndarray, features: np.ndarray, batch: int = 1024):
    """Interest vectors for many users, batched: (E, K, D) and (E, K) tensors."""
    model.eval()
    device = next(model.parameters()).device
    parts = [model.interests(torch.as_tensor(history[i:i + batch], device=device),
                             torch.as_tensor(features[i:i + batch], device=device))
             for i in range(0, len(history), batch)]
    return torch.cat([p[0] for p in parts]).cpu(), torch.cat([p[1] for p in parts]).cpu()


@torch.no_grad()
def evaluate_model(model, encoded, split: Split, which: str = "test") -> dict:
    ev = split.test if which == "test" else split.valid
    items = model.item_vectors().detach().cpu()

    def scores_of(rows):
        interests, active = model_interests(model, ev.history[rows],
                                            encoded.user_features[ev.users[rows]])
        return interest_scores(interests, active, items)

    return eval_set_metrics(ranked(split, ev, encoded.n_items, scores_of), split, ev, encoded)


def evaluate_popularity(encoded, split: Split, which: str = "test") -> dict:
    """Most-popular baseline: training counts, history excluded, same protocol."""
    ev = split.test if which == "test" else split.valid
    counts = torch.as_tensor(split.item_counts, dtype=torch.float32)

    def scores_of(rows):
        return counts.unsqueeze(0).expand(len(ev.users[rows]), -1).clone()

    return eval_set_metrics(ranked(split, ev, encoded.n_items, scores_of), split, ev, encoded)
