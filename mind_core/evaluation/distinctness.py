"""Do a user's interests differ? Distinctness figures from a bundle's stored vectors.

The product shows what each interest retrieves, so the interests must differ. These figures
measure routing collapse (docs/results.md, "Interests that differ"), over the evaluated test users
of the leave-last-out protocol, by exact search with the user's history (everything before the
test movie) and the padding item excluded, as in :mod:`mind_core.evaluation.ranking`:

- ``busiest_share_50``: over users with >= 2 active interests, the largest share of the merged
  top 50 (an item's score is its max over the active interests) that one interest supplies; an
  item is supplied by the interest whose inner product with it is largest. 1/K' = perfectly
  balanced, 1 = one interest supplies the whole list.
- ``mean_cosine``: the mean pairwise cosine between a user's active interests, averaged over
  users with >= 2 active interests (1 = parallel interests).
- ``top10_overlap``: for each pair of a user's active interests, |T_i ∩ T_j| / 10, where T_k is
  interest k's own top 10 (history excluded): the share of one interest's list the other also
  retrieves (0 = disjoint lists, 1 = the same list). Averaged over a user's pairs, then over
  users with >= 2 active interests. (Not Jaccard: for lists of equal length n, Jaccard =
  o / (2 - o) where o is this overlap.)
- ``genre_purity``: for each active interest of every evaluated user, the share of its own top
  10 in its most common primary genre (``encoded.primary_genre``); the mean over all of them.
- ``users``: how many users the pairwise figures (the first three) cover.

Scores are computed in float64, so an independent computation (e.g. numpy on the files of
``mind-core export-embeddings``) ranks the same items and agrees to rounding.
"""

from __future__ import annotations

import numpy as np
import torch

from mind_core.evaluation.ranking import exclusion_mask, interest_scores, top_n

MERGED_N = 50  # the merged list whose busiest interest is measured
OWN_N = 10  # each interest's own list, for overlap and genre purity


CHUNK_USERS = 256  # users measured at once: their (chunk, K, I) float64 scores stay bounded


def interest_metrics(bundle, data) -> dict:
    """Distinctness of a bundle's interests over ``data.split.test.users`` (see the module
    docstring). ``data`` is a :class:`mind_core.workflow.pipeline.Data`. Returns
    ``{"busiest_share_50",
    "mean_cosine", "top10_overlap", "genre_purity", "users"}``; the pairwise figures are None
    when no user has two active interests (a K=1 model). Measured ``CHUNK_USERS`` users at a
    time, so memory does not grow with users x items."""
    split, enc = data.split, data.encoded
    ev = split.test
    parts = [_per_user(bundle.user_interests[ev.users[rows]], bundle.user_active[ev.users[rows]],
                       bundle.item_vectors, exclusion_mask(split, ev, enc.n_items, rows),
                       enc.primary_genre)
             for rows in (slice(i, i + CHUNK_USERS) for i in range(0, len(ev.users), CHUNK_USERS))]
    return _summary(parts)


def interest_metrics_from_arrays(interests: np.ndarray, active: np.ndarray, items: np.ndarray,
                                 exclude: np.ndarray, primary_genre: np.ndarray) -> dict:
    """The same figures from plain arrays: interests (E, K, D), active (E, K) bool, items (I, D)
    (row 0 padding), exclude (E, I) bool (True = never ranked; column 0 must be True),
    primary_genre (I,) int."""
    return _summary([_per_user(interests, active, items, exclude, primary_genre)])


def _summary(parts: list[dict]) -> dict:
    """Per-user figures of every chunk -> the means over users (pairwise ones over users with
    two or more active interests)."""
    cat = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0)
           for k in ("multi", "busiest", "mean_cos", "overlap", "purity")}
    multi = cat["multi"].astype(bool)

    def mean(values):
        return float(values[multi].mean()) if multi.any() else None

    purity = cat["purity"]
    return {"busiest_share_50": mean(cat["busiest"]), "mean_cosine": mean(cat["mean_cos"]),
            "top10_overlap": mean(cat["overlap"]),
            "genre_purity": float(purity.mean()) if len(purity) else None,
            "users": int(multi.sum())}


@torch.no_grad()
def _per_user(interests, active, items, exclude, primary_genre) -> dict:
    """Per-user figures of one chunk: ``multi`` (E,) has >= 2 active interests; ``busiest``,
    ``mean_cos``, ``overlap`` (E,); ``purity`` one value per active interest."""
    V = torch.as_tensor(np.asarray(interests, dtype=np.float64))  # (E, K, D)
    act = torch.as_tensor(np.asarray(active, dtype=bool))  # (E, K)
    X = torch.as_tensor(np.asarray(items, dtype=np.float64))  # (I, D)
    exclude = np.asarray(exclude, dtype=bool)
    E, K, _ = V.shape
    n_items = X.shape[0]
    multi = (act.sum(1) >= 2).numpy()  # users the pairwise figures cover
    dots = torch.einsum("ekd,id->eki", V, X).masked_fill(~act.unsqueeze(-1), -torch.inf)

    # busiest_share_50: who supplies the merged top 50
    merged = top_n(interest_scores(V, act, X), exclude, MERGED_N)  # (E, N)
    n = merged.shape[1]
    supplier = dots.gather(2, torch.as_tensor(merged).unsqueeze(1).expand(-1, K, -1)).argmax(1)
    counts = torch.nn.functional.one_hot(supplier, K).sum(1)  # (E, K)
    busiest = (counts.max(1).values.double() / n).numpy()

    # mean_cosine over a user's pairs of active interests
    unit = V / V.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    cos = torch.bmm(unit, unit.transpose(1, 2))  # (E, K, K)
    pairs = (act.unsqueeze(2) & act.unsqueeze(1)
             & ~torch.eye(K, dtype=torch.bool)).numpy()  # (E, K, K), ordered pairs
    n_pairs = np.maximum(pairs.sum((1, 2)), 1)
    mean_cos = np.where(pairs, cos.numpy(), 0.0).sum((1, 2)) / n_pairs

    # each active interest's own top 10, history excluded
    own_n = min(OWN_N, n_items)
    own = dots.masked_fill(torch.as_tensor(exclude).unsqueeze(1), -torch.inf)
    own_top = torch.topk(own, own_n, dim=2).indices.numpy()  # (E, K, 10)
    common = (own_top[:, :, None, :, None] == own_top[:, None, :, None, :]).sum((3, 4))
    overlap = np.where(pairs, common / own_n, 0.0).sum((1, 2)) / n_pairs

    genres = np.asarray(primary_genre)[own_top]  # (E, K, 10)
    same = (genres[..., :, None] == genres[..., None, :]).sum(-1)  # (E, K, 10) count per slot
    purity = same.max(-1) / own_n  # (E, K): share of the most common genre
    return {"multi": multi, "busiest": busiest, "mean_cos": mean_cos, "overlap": overlap,
            "purity": purity[act.numpy()]}


__all__ = ["interest_metrics", "interest_metrics_from_arrays", "MERGED_N", "OWN_N"]
