"""How much two models' recommendation lists agree, and whether a difference beats seed noise.

Retrain a model with another seed and about half of a user's top 10 changes (docs/results.md, "Is a
difference real?"), so a difference between two configurations' lists means something only beside
the difference between two seeds of the same configuration. Everything here uses the evaluation
protocol's setting: the test-time history of every evaluated user, exact search over the whole
catalogue, the ``max_score`` merge (an item's score is its best interest's inner product, which
is what merging the K per-interest top-N lists by score gives) and the history excluded.
"""

from __future__ import annotations

import statistics

import numpy as np
import torch

from mind_core.errors import BundleError
from mind_core.evaluation.ranking import interest_scores, ranked
from mind_core.evaluation.verdict import DIFFERS, ONE_SEED, UNDECIDED, welch


def merged_top_n(bundle, data, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(E,) evaluated user rows and (E, n) their merged top-n item codes, best first."""
    ev = data.split.test
    items = torch.as_tensor(bundle.item_vectors)

    def scores_of(rows):
        return interest_scores(torch.as_tensor(bundle.user_interests[ev.users[rows]]),
                               torch.as_tensor(bundle.user_active[ev.users[rows]]), items)

    return ev.users, ranked(data.split, ev, data.encoded.n_items, scores_of, n)


def jaccard_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(E, n) and (E, m) item codes -> (E,) Jaccard overlap |A ∩ B| / |A ∪ B| of each row."""
    assert len(a) == len(b)
    out = np.empty(len(a))
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        x, y = set(x.tolist()), set(y.tolist())
        out[i] = len(x & y) / max(1, len(x | y))
    return out


def check_comparable(a, b) -> None:
    """Refuse to compare bundles of other data or another protocol (other held-out movies)."""
    if a.meta.get("fingerprint") != b.meta.get("fingerprint"):
        raise BundleError(f"{b.path}: trained on other data than {a.path} "
                          f"({b.meta.get('dataset')!r} vs {a.meta.get('dataset')!r}); overlaps "
                          "compare models of one dataset")
    if a.config.protocol != b.config.protocol:
        raise BundleError(f"{b.path}: protocol {b.config.protocol!r}, but {a.path} follows "
                          f"{a.config.protocol!r}; their users' held-out movies differ")


def user_jaccards(a, b, data, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(E,) user rows and the (E,) Jaccard of the two bundles' merged top-n for each. ``data``
    is either bundle's (:func:`mind_core.workflow.pipeline.bundle_data`): with one protocol, both
    have the same evaluated users and held-out positions, whatever their ``max_length``."""
    check_comparable(a, b)
    users, top_a = merged_top_n(a, data, n)
    _, top_b = merged_top_n(b, data, n)
    return users, jaccard_rows(top_a, top_b)


def overlap(a, b, data, n: int = 10) -> dict:
    """``{"users", "n", "jaccard", "jaccard_sd"}``: the mean (and sd over users) Jaccard of two
    bundles' merged top-n lists over the evaluated users."""
    _, j = user_jaccards(a, b, data, n)
    return {"users": int(len(j)), "n": int(n), "jaccard": float(j.mean()) if len(j) else 0.0,
            "jaccard_sd": float(j.std()) if len(j) else 0.0}


def versus_floor(between: list[float], floor: list[float]) -> dict:
    """Is the overlap between two configurations lower than seed noise allows?

    ``between``: mean Jaccards of a model of one configuration and a model of the other trained
    with another seed (one per such pair); ``floor``: mean Jaccards of two seeds of the same
    configuration (one per seed pair, from either configuration). Both groups then differ by
    a seed, and ``between`` also by the configuration. The gap ``mean(floor) - mean(between)``
    is read by Welch's t (:func:`mind_core.evaluation.verdict.welch`); the lists differ
    ("differs") only when its interval lies above 0. With fewer than two figures on a side the
    verdict is "one_seed". Returns the test's fields plus ``"between"`` and ``"floor"``."""
    if not between or not floor:
        return {"verdict": ONE_SEED, "gap": None, "low": None, "high": None, "p": None,
                "n_a": len(between), "n_b": len(floor), "relative": None,
                "between": statistics.fmean(between) if between else None,
                "floor": statistics.fmean(floor) if floor else None}
    result = welch(between, floor)
    if result["verdict"] == DIFFERS and result["gap"] <= 0:
        result["verdict"] = UNDECIDED  # lists more alike than two seeds: not a difference
    return {**result, "between": statistics.fmean(between), "floor": statistics.fmean(floor)}


def spread(values: list[float]) -> dict:
    """``{"mean", "sd", "n"}`` over seeds: sample sd (n - 1), 0 with one seed."""
    return {"mean": statistics.fmean(values), "n": len(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0}
