"""Negative sampling for the list-wise loss and shared negatives for the sampled softmax."""

from __future__ import annotations

import numpy as np

SAMPLE_METHODS = ("uniform", "popularity")


class NegativeSampler:
    """Draws item codes in ``1..n_items-1`` (never padding).

    ``method="uniform"``: every item equally likely. ``method="popularity"``: proportional to its
    training count (items never seen in training are never drawn). ``probabilities`` is the
    sampling distribution q, used for the log-Q correction of the sampled softmax.
    """

    def __init__(self, item_counts: np.ndarray, method: str = "uniform", seed: int = 0):
        if method not in SAMPLE_METHODS:
            raise ValueError(f"sample_method: expected one of {SAMPLE_METHODS}, got {method!r}")
        self.method = method
        self.n_items = len(item_counts)
        weights = np.ones(self.n_items) if method == "uniform" else item_counts.astype(np.float64)
        weights[0] = 0.0
        if weights.sum() <= 0:
            raise ValueError("NegativeSampler: no item can be drawn (all training counts are 0)")
        self.probabilities = weights / weights.sum()
        # normalise by the last sum, not 1.0: rounding must never let u in [0, 1) fall past the
        # last drawable item onto a trailing item of weight 0
        cdf = np.cumsum(weights)
        self._cdf = cdf / cdf[-1]
        self._rng = np.random.default_rng(seed)

    def draw(self, shape) -> np.ndarray:
        u = self._rng.random(shape)
        return np.minimum(np.searchsorted(self._cdf, u, side="right"), self.n_items - 1)

    def sample(self, positives: np.ndarray, n: int) -> np.ndarray:
        """(len(positives), n) negatives, none equal to its row's positive (redrawn until so)."""
        if np.any(self.probabilities[positives] >= 1.0):
            # the positive is the only drawable item: redrawing would never end
            raise ValueError("NegativeSampler: a positive is the only item that can be drawn")
        out = self.draw((len(positives), n))
        clash = out == positives[:, None]
        while clash.any():
            out[clash] = self.draw(int(clash.sum()))
            clash = out == positives[:, None]
        return out
