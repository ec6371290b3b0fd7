"""Explaining interests: what each interest retrieves (dominant genres) and which history items
routing assigned to it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from mind_core.features.split import serving_histories

if TYPE_CHECKING:
    from mind_core.serving.retrieval import Recommendation


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
