"""Figures both protocols report beside their accuracy metrics."""

from __future__ import annotations

import numpy as np

BREADTH_N = 50  # diversity and coverage are read on the top 50


def diversity(top: np.ndarray, primary_genre: np.ndarray) -> float:
    """Mean over users of the share of pairs of retrieved items whose primary genres differ."""
    genres = primary_genre[top]  # (E, N)
    n = top.shape[1]
    if n < 2:
        return 0.0
    same = np.zeros(len(top))
    for g in np.unique(genres):
        c = (genres == g).sum(1)
        same += c * (c - 1)
    return float(np.mean(1.0 - same / (n * (n - 1))))


def breadth(top: np.ndarray, primary_genre: np.ndarray, n_items: int) -> dict:
    """Diversity@50 and catalogue coverage@50 (share of real items in anyone's top 50)."""
    n = BREADTH_N
    return {f"Diversity@{n}": diversity(top[:, :n], primary_genre),
            f"Coverage@{n}": float(len(np.unique(top[:, :n])) / (n_items - 1))}
