"""Scoring the merge: a model's interests evaluated under every merge strategy and, where the
dataset carries its truth (:mod:`mind_core.data.tastes`), against the users' known tastes.

The model is the same for every strategy (the merge happens after the interests are
extracted), so the merge is a hyperparameter that costs no training: one set of vectors,
scored once per strategy under the split's protocol. A bundle records these figures
(``metrics["by_merge"]``) beside the ones of the merge its headline figures use
(``metrics["merge"]``, :func:`mind_core.workflow.defaults.default_merge`).
"""

from __future__ import annotations

import numpy as np
import torch

from mind_core.data.fetch import resolve_dataset_path
from mind_core.data.tastes import has_truth, load_truth
from mind_core.errors import DataError
from mind_core.evaluation.overlap import merged_top_n
from mind_core.evaluation.ranking import TOP_N, eval_set_metrics, interest_scores, ranked
from mind_core.evaluation.tastes import TruthCodes, taste_figures, truth_codes
from mind_core.serving.lists import interest_weights, merged_tops, own_tops
from mind_core.serving.merging import MERGE_STRATEGIES

OWN_N = 10  # an interest's own list for purity and taste recall (docs/design.md)
BEFORE_MERGES = "max_score"  # the merge of every figure recorded before merges were scored


def dataset_truth(data, dataset) -> TruthCodes | None:
    """The truth of ``dataset`` (a name in the data folder or a path) in ``data``'s codes, or
    None when the dataset has none."""
    try:
        path = resolve_dataset_path(dataset)
    except DataError:
        return None
    if not has_truth(path):
        return None
    return truth_codes(load_truth(path), data.encoded)


def score_merges(data, interests: np.ndarray, active: np.ndarray, item_vectors: np.ndarray,
                 strategies=MERGE_STRATEGIES, truth: TruthCodes | None = None,
                 n: int = TOP_N, ev=None, tops: dict | None = None) -> dict:
    """``{strategy: metrics}`` for the evaluated users' interests (E, K, D) and active (E, K)
    (rows of ``ev``: ``data.split.test``, or ``data.split.valid`` to choose on validation):
    the protocol's figures of each strategy's merged top ``n``; with ``truth``, also
    ``purity`` and ``taste_recall`` (of the interests' own top :data:`OWN_N`, the same for
    every strategy) and ``taste_coverage@<n>`` (of the merged list). ``tops``, if given, is
    filled with each strategy's (E, n) lists."""
    split, enc = data.split, data.encoded
    ev = split.test if ev is None else ev
    own_items, own_scores = own_tops(split, ev, interests, active, item_vectors, n)
    weights = interest_weights(ev, interests, active, item_vectors)
    out = {}
    for strategy in strategies:
        if strategy == "max_score":  # the full ranking: the figures recorded before merges
            top = full_ranking(data, interests, active, item_vectors, n, ev)
        else:
            top = merged_tops(own_items, own_scores, strategy, n, enc.primary_genre, weights)
        if tops is not None:
            tops[strategy] = top
        figures = eval_set_metrics(top, split, ev, enc)
        if truth is not None:
            tastes = truth.tastes[ev.users]
            found = taste_figures(own_items[:, :, :OWN_N], np.asarray(active, dtype=bool), top,
                                  truth.item_cluster, tastes, n=n)
            figures.update({"purity": found.purity, "taste_recall": found.taste_recall,
                            f"taste_coverage@{n}": found.coverage})
        out[strategy] = figures
    return out


def full_ranking(data, interests, active, item_vectors, n: int, ev=None) -> np.ndarray:
    """(E, n) the evaluation protocol's ranking (max over interests of the exact score over the
    whole catalogue, history excluded) for the evaluated users' interests (E, K, D) (rows of
    ``ev``, by default the test set)."""
    ev = data.split.test if ev is None else ev
    items = torch.as_tensor(np.asarray(item_vectors, dtype=np.float32))
    interests = torch.as_tensor(np.asarray(interests, dtype=np.float32))
    active = torch.as_tensor(np.asarray(active, dtype=bool))

    def scores_of(rows):
        return interest_scores(interests[rows], active[rows], items)

    return ranked(data.split, ev, data.encoded.n_items, scores_of, n)


def merged_lists(bundle, data, n: int, strategy: str) -> tuple[np.ndarray, np.ndarray]:
    """(E,) evaluated user rows and (E, n) their merged top-n under ``strategy``, from a
    bundle's stored vectors (exact search, history excluded): what the overlaps compare."""
    if strategy == "max_score":
        return merged_top_n(bundle, data, n)
    ev = data.split.test
    interests, active = bundle.user_interests[ev.users], bundle.user_active[ev.users]
    own_items, own_scores = own_tops(data.split, ev, interests, active, bundle.item_vectors, n)
    weights = interest_weights(ev, interests, active, bundle.item_vectors)
    return ev.users, merged_tops(own_items, own_scores, strategy, n,
                                 data.encoded.primary_genre, weights)


def user_recall(top: np.ndarray, split, ev, k: int = TOP_N) -> np.ndarray:
    """(E,) each user's share of targets in their top ``k`` (HR@k under leave-last-out, with
    one target): the per-user figure a paired comparison of two models reads."""
    sets = split.target_sets(ev)
    assert len(sets) == len(top)
    sizes = np.asarray([len(t) for t in sets], dtype=np.int64)
    rows = np.repeat(np.arange(len(sets)), sizes)
    flat = np.concatenate(sets) if len(sets) else np.zeros(0, dtype=np.int64)
    # every user's top k as a row of an (E, items) table: one lookup per target, no loop
    in_top = np.zeros((len(top), int(max(top.max(initial=0), flat.max(initial=0))) + 1), bool)
    in_top[np.arange(len(top))[:, None], top[:, :k]] = True
    hits = np.bincount(rows, weights=in_top[rows, flat], minlength=len(sets))
    with np.errstate(invalid="ignore"):  # a user without targets: NaN, as a mean of nothing
        return hits / sizes


__all__ = ["merged_lists", "score_merges", "dataset_truth", "user_recall", "OWN_N",
           "BEFORE_MERGES"]
