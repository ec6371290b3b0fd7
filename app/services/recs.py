"""Recommendations and the comparisons drawn from them, cached per bundle (and user).

One user's lists come from :func:`mind_core.serving.recommend` with the session's search
backend. Comparisons over all users (list overlaps, the seed noise floor, sweeps) use
:mod:`mind_core.evaluation.overlap` and :mod:`mind_core.workflow.sweep`: exact search,
``max_score`` merge, test-time histories, history excluded, exactly as ``mind-core overlap`` and
``mind-core sweep`` do.
"""

from __future__ import annotations

import time

import numpy as np

from app.services.loaders import Loaded, get_bundle, get_index, get_model, load_path
from app.services.shared import shared
from mind_core import serving
from mind_core.data.tastes import has_truth
from mind_core.errors import BundleError
from mind_core.evaluation import interest_metrics
from mind_core.workflow.playground import user_view
from mind_core.workflow.scoring import dataset_truth
from mind_core.workflow.scoring import merged_lists as all_merged
from mind_core.workflow.sweep import summarize

NOISE_N = 10  # the merged top-N whose overlaps are compared over all users
LATENCY_USERS = 50  # users timed per model for the Compare page's latency column


@shared(1024)
def recommend(_loaded: Loaded, path: str, mtime: int, row: int, n: int, merge: str,
              backend: str):
    """Per-interest and merged recommendations (cached per bundle, user and settings; shared
    by every session, read-only)."""
    index = get_index(path, mtime, backend)
    return serving.recommend(_loaded.bundle, _loaded.data, row, n=n, merge=merge,
                             backend=backend, index=index)


def recommend_for(loaded: Loaded, row: int, n: int, merge: str, backend: str):
    return recommend(loaded, loaded.entry.path, loaded.entry.mtime, row, n, merge, backend)


def labels(loaded: Loaded, row: int, rec) -> list[dict]:
    """Each interest's label and routed movies (cached per bundle, user, list length and
    search: the interests' own lists do not depend on the merge)."""
    n = max((len(hits) for hits in rec.per_interest), default=0)
    return _labels(loaded, loaded.entry.path, loaded.entry.mtime, row, n, rec.backend, rec)


@shared(1024)
def _labels(_loaded: Loaded, path: str, mtime: int, row: int, n: int, backend: str,
            _rec) -> list[dict]:
    model = get_model(path, mtime)
    return serving.interest_labels(_loaded.bundle, _loaded.data, row, _rec, model=model)


MERGE_NAMES = {"max_score": "Best score", "round_robin": "Round robin", "quota": "Equal quota",
               "diverse": "Genre-diverse", "proportional": "History share"}
MERGE_HELP = ("How the K lists become one: best score over interests (the full ranking), "
              "interests taking turns, an equal share each, a greedy genre-diversity penalty, "
              "or a share per interest in proportion to the part of the user's history it "
              "explains. A model starts with the one that scored best on its validation set "
              "(docs/results.md, \"The merge and the positive control\").")


def value_name(param: str, value) -> str:
    """A swept value as the pickers name it: merges by their names ("Best score"), not
    their codes; anything else as it is."""
    return MERGE_NAMES.get(value, str(value)) if param == "merge" else str(value)


def merge_choice_text(metrics: dict) -> str:
    """How a model's merge was chosen, in words, with the validation figures that chose it."""
    merge = metrics.get("merge", "max_score")
    choice = metrics.get("merge_choice") or {}
    if choice.get("rule") != "auto":
        how = "given when it was trained" if choice else "the one of models trained before " \
            "merges were chosen"
        return f"Merge: {MERGE_NAMES.get(merge, merge)} ({how})."
    figures = ", ".join(f"{MERGE_NAMES.get(s, s)} {v:.4f}"
                        for s, v in sorted(choice["valid"].items(), key=lambda kv: -kv[1]))
    by = choice["by"]
    for code, name in MERGE_NAMES.items():  # the rule as recorded names merges by their codes
        by = by.replace(code, name)
    return (f"This model's merge: {MERGE_NAMES.get(merge, merge)}, chosen on its validation "
            f"set; test figures never choose ({by}: {figures}).")


def merge_strategies() -> list[str]:
    return list(serving.MERGE_STRATEGIES)


@shared(64, "Timing retrieval…")
def latency_ms(_loaded: Loaded, path: str, mtime: int, backend: str) -> float:
    """Mean time of one user's recommendation (search + merge), over a fixed sample."""
    try:
        index = get_index(path, mtime, backend)
    except BundleError:
        index = get_index(path, mtime, "exact")
    rng = np.random.default_rng(0)
    rows = rng.choice(_loaded.data.split.test.users, size=min(LATENCY_USERS,
                      len(_loaded.data.split.test.users)), replace=False)
    start = time.perf_counter()
    for r in rows:
        serving.recommend(_loaded.bundle, _loaded.data, int(r), n=50, index=index)
    return 1000 * (time.perf_counter() - start) / len(rows)


# --- over all users: exact merged lists and their overlaps --------------------------------

@shared(64, "Ranking every user's movies…")
def merged_lists(path: str, mtime: int, n: int, merge: str) -> dict[int, np.ndarray]:
    """{user row: merged top-n item codes} for every evaluated user (exact search)."""
    bundle = get_bundle(path, mtime)
    loaded = load_path(path, mtime)
    users, top = all_merged(bundle, loaded.data, n, merge)
    return {int(u): top[i] for i, u in enumerate(users)}


def user_list(path: str, mtime: int, row: int, n: int, merge: str) -> list[int] | None:
    """One user's exact merged top-n (None if the user is not evaluated)."""
    top = merged_lists(path, mtime, n, merge).get(int(row))
    return None if top is None else [int(c) for c in top]


@shared(32, "Summarizing the sweep…")
def sweep_summary(paths: tuple[tuple[str, int], ...], param: str, n: int,
                  merge: str | None = None, values: tuple | None = None) -> dict:
    """mind_core.workflow.sweep.summarize over the given bundles (path, mtime), every figure
    under ``merge`` (each bundle's own when None); for ``param="merge"``, ``values`` are the
    strategies compared. Shared by every session, read-only."""
    bundles = [get_bundle(p, m) for p, m in paths]
    data = load_path(*paths[0]).data
    return summarize(bundles, param, data, n=n, merge=merge,
                     values=list(values) if values else None)


@shared(64)
def has_tastes(path: str, mtime: int) -> bool:
    """Whether the bundle's dataset is a taste mixture with its truth (shown, never used to
    choose anything)."""
    bundle = get_bundle(path, mtime)
    return has_truth(bundle.meta.get("dataset", ""))


@shared(16)
def truth_of(path: str, mtime: int):
    """The truth of a bundle's dataset in its codes (read and checksummed once per bundle)."""
    loaded = load_path(path, mtime)
    return dataset_truth(loaded.data, loaded.bundle.meta.get("dataset", ""))


def taste_view(loaded: Loaded, row: int) -> dict:
    """mind_core.workflow.playground.user_view for one user."""
    return user_view(loaded.bundle, loaded.data, row,
                     truth_of(loaded.entry.path, loaded.entry.mtime))


@shared(64, "Measuring how the interests differ…")
def interest_figures(path: str, mtime: int, _loaded: Loaded) -> dict:
    """mind_core.evaluation.interest_metrics for a bundle (cached on its path and mtime)."""
    return interest_metrics(_loaded.bundle, _loaded.data)
