"""The ground-truth figures (mind_core.evaluation.tastes): purity, taste recall and merged taste
coverage on hand-built cases with known answers, against a plain Python loop on seeded random
cases, and the truth mapped onto an encoding's codes and rows."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import numpy as np
import pytest

from mind_core.data.readers import read_dataset
from mind_core.data.tastes import TastesConfig, generate_tastes, load_truth
from mind_core.evaluation.tastes import (
    interest_clusters,
    merged_coverage,
    purity,
    taste_figures,
    taste_recall,
    truth_codes,
)
from mind_core.features.encoding import encode

# item code -> cluster: 0 is padding; 1-4 are cluster 0, 5-8 cluster 1, 9-12 cluster 2
ITEM_CLUSTER = np.array([-1, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
OWN_TOP = np.array([
    [[1, 2, 3, 5, 9], [5, 6, 7, 8, 1]],  # user 0: clusters 0 (3 of 5) and 1 (4 of 5)
    [[9, 10, 5, 6, 1], [9, 10, 11, 12, 0]],  # user 1: a 2-2 tie (-> 1) and 2 (4 of 5, off)
    [[1, 2, 3, 4, 5], [5, 6, 7, 8, 9]],  # user 2: no active interest
])
ACTIVE = np.array([[True, True], [True, False], [False, False]])
TASTES = np.array([[True, False, True], [False, False, True], [False, False, False]])
MERGED = np.array([
    [1, 2, 9, 10, 5, 0],  # tastes 0 and 2: two movies each
    [9, 5, 6, 7, 1, 2],  # taste 2: one movie
    [1, 2, 3, 4, 5, 6],  # no taste
])


def test_hand_built_interest_clusters_and_purity():
    majority, share = interest_clusters(OWN_TOP, ITEM_CLUSTER)
    assert majority.tolist() == [[0, 1], [1, 2], [0, 1]]  # the tie goes to the lower id
    np.testing.assert_allclose(share, [[0.6, 0.8], [0.4, 0.8], [0.8, 0.8]])
    mean, per_user = purity(OWN_TOP, ACTIVE, ITEM_CLUSTER)
    np.testing.assert_allclose(per_user, [0.7, 0.4, np.nan])  # user 1: its active one only
    assert mean == pytest.approx(0.55)


def test_hand_built_taste_recall():
    mean, per_user = taste_recall(OWN_TOP, ACTIVE, ITEM_CLUSTER, TASTES)
    # user 0: interest 0 is 60% cluster 0 (a taste), interest 1 is cluster 1 (not a taste);
    # user 1: its active interest is a tie at 40%, the one made of taste 2 is inactive
    np.testing.assert_allclose(per_user, [0.5, 0.0, np.nan])
    assert mean == pytest.approx(0.25)
    _, per_user = taste_recall(OWN_TOP, ACTIVE, ITEM_CLUSTER, TASTES, threshold=0.7)
    np.testing.assert_allclose(per_user, [0.0, 0.0, np.nan])  # 60% is no longer "mostly"
    _, per_user = taste_recall(OWN_TOP, np.ones((3, 2), bool), ITEM_CLUSTER, TASTES)
    np.testing.assert_allclose(per_user, [0.5, 1.0, np.nan])  # user 1's second interest


def test_hand_built_merged_coverage():
    mean, per_user = merged_coverage(MERGED, ITEM_CLUSTER, TASTES, n=6, min_items=2)
    np.testing.assert_allclose(per_user, [1.0, 0.0, np.nan])
    assert mean == pytest.approx(0.5)
    _, per_user = merged_coverage(MERGED, ITEM_CLUSTER, TASTES, n=6, min_items=1)
    np.testing.assert_allclose(per_user, [1.0, 1.0, np.nan])
    _, per_user = merged_coverage(MERGED, ITEM_CLUSTER, TASTES, n=2, min_items=2)
    np.testing.assert_allclose(per_user, [0.5, 0.0, np.nan])  # only the first two count


def test_taste_figures_gathers_the_three():
    figures = taste_figures(OWN_TOP, ACTIVE, MERGED, ITEM_CLUSTER, TASTES, n=6, min_items=2)
    assert (figures.purity, figures.taste_recall, figures.coverage) == pytest.approx(
        (0.55, 0.25, 0.5))
    assert figures.majority.tolist() == [[0, 1], [1, 2], [0, 1]]
    summary = json.loads(json.dumps(figures.summary()))
    assert summary == {"purity": pytest.approx(0.55), "taste_recall": 0.25, "coverage": 0.5,
                       "threshold": 0.6, "n": 6, "min_items": 2}


def test_nothing_defined_gives_nan_not_an_error():
    mean, per_user = purity(OWN_TOP, np.zeros((3, 2), bool), ITEM_CLUSTER)
    assert np.isnan(mean) and np.isnan(per_user).all()
    mean, _ = taste_recall(OWN_TOP, ACTIVE, ITEM_CLUSTER, np.zeros((3, 3), bool))
    assert np.isnan(mean)


# --- against a plain loop ---------------------------------------------------------------------

def _majority(codes, item_cluster):
    """(cluster, share) of one list, as a person would count it; ties to the lowest id."""
    counts = Counter(int(item_cluster[c]) for c in codes if item_cluster[c] >= 0)
    if not counts:
        return -1, 0.0
    best = max(counts.values())
    return min(c for c, n in counts.items() if n == best), best / len(codes)


def _reference(own_top, active, merged, item_cluster, tastes, threshold, n, min_items):
    purities, recalls, coverages = [], [], []
    for u in range(len(own_top)):
        found, shares = set(), []
        for k in range(own_top.shape[1]):
            if not active[u, k]:
                continue
            cluster, share = _majority(own_top[u, k], item_cluster)
            shares.append(share)
            if cluster >= 0 and share >= threshold:
                found.add(cluster)
        mine = {c for c in range(tastes.shape[1]) if tastes[u, c]}
        in_merged = Counter(int(item_cluster[c]) for c in merged[u, :n])
        purities.append(sum(shares) / len(shares) if shares else np.nan)
        recalls.append(len(found & mine) / len(mine) if mine else np.nan)
        coverages.append(sum(in_merged[c] >= min_items for c in mine) / len(mine)
                         if mine else np.nan)
    return [np.array(v) for v in (purities, recalls, coverages)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_cases_match_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    U, K, L, items, C = 80, 4, 10, 40, 5
    item_cluster = np.concatenate([[-1], rng.integers(0, C, items)])
    # few clusters per list so majorities (and ties) are common
    own_top = rng.integers(0, items + 1, (U, K, L))
    narrow = rng.random((U, K)) < 0.5
    for u, k in zip(*np.nonzero(narrow), strict=True):
        pool = np.flatnonzero(item_cluster == rng.integers(0, C))
        own_top[u, k, :7] = rng.choice(pool, 7)
    active = rng.random((U, K)) < 0.7
    active[:5] = False  # users with no active interest
    tastes = rng.random((U, C)) < 0.4
    tastes[5:10] = False  # users with no taste
    merged = rng.integers(0, items + 1, (U, 30))
    for threshold, n, min_items in [(0.6, 30, 3), (0.3, 10, 1), (1.0, 30, 5), (0.5, 20, 2)]:
        figures = taste_figures(own_top, active, merged, item_cluster, tastes,
                                threshold=threshold, n=n, min_items=min_items)
        expected = _reference(own_top, active, merged, item_cluster, tastes, threshold, n,
                              min_items)
        for got, want in zip((figures.per_user_purity, figures.per_user_taste_recall,
                              figures.per_user_coverage), expected, strict=True):
            np.testing.assert_allclose(got, want, equal_nan=True)
        means = (figures.purity, figures.taste_recall, figures.coverage)
        assert means == pytest.approx(tuple(np.nanmean(w) for w in expected))


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize(("call", "message"), [
    (lambda: purity(OWN_TOP[0], ACTIVE, ITEM_CLUSTER), "own_top: expected a 3-D integer"),
    (lambda: purity(OWN_TOP + 20, ACTIVE, ITEM_CLUSTER), "own_top: expected item codes 0 to 12"),
    (lambda: purity(OWN_TOP, ACTIVE[:, :1], ITEM_CLUSTER), "active: expected a (3, 2) bool"),
    (lambda: purity(OWN_TOP, ACTIVE.astype(int), ITEM_CLUSTER), "active: expected a (3, 2)"),
    (lambda: purity(OWN_TOP, ACTIVE, ITEM_CLUSTER.astype(float)), "item_cluster: expected a"),
    (lambda: taste_recall(OWN_TOP, ACTIVE, ITEM_CLUSTER, TASTES[:, :2]),
     "tastes: 2 cluster columns, but item_cluster holds cluster 2"),
    (lambda: taste_recall(OWN_TOP, ACTIVE, ITEM_CLUSTER, TASTES[:2]), "tastes: expected a (3,"),
    (lambda: taste_recall(OWN_TOP, ACTIVE, ITEM_CLUSTER, TASTES, threshold=0),
     "threshold: expected a share in (0, 1]"),
    (lambda: merged_coverage(MERGED, ITEM_CLUSTER, TASTES), "n: expected 1 to 6"),
    (lambda: merged_coverage(MERGED, ITEM_CLUSTER, TASTES, n=6, min_items=0),
     "min_items: expected an integer >= 1"),
    (lambda: merged_coverage(MERGED[:, :, None], ITEM_CLUSTER, TASTES, n=6),
     "merged: expected a 2-D integer"),
])
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert message in str(e.value)


# --- the truth in an encoding's terms ---------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_tastes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tastes") / "tiny"
    generate_tastes(folder, TastesConfig(users=40, items=60, clusters=4, tastes=(1, 2),
                                         history=(5, 15), stray=0.1, seed=2))
    return folder


def test_truth_codes_follow_the_encoding(tiny_tastes):
    truth = load_truth(tiny_tastes)
    enc = encode(read_dataset(tiny_tastes))
    codes = truth_codes(truth, enc)
    assert codes.clusters == truth.clusters
    assert codes.item_cluster[0] == -1 and len(codes.item_cluster) == enc.n_items
    for code in range(1, enc.n_items):
        assert codes.item_cluster[code] == truth.item_cluster[int(enc.item_ids[code])]
    assert codes.tastes.shape == (enc.n_users, 4)
    for row, raw in enumerate(enc.user_ids):
        assert np.flatnonzero(codes.tastes[row]).tolist() == list(truth.user_tastes[int(raw)])
    # a model that knew the truth: one interest per taste, made of that taste's movies
    own_top = np.zeros((enc.n_users, 2, 3), dtype=np.int64)
    active = np.zeros((enc.n_users, 2), dtype=bool)
    for row in range(enc.n_users):
        for k, c in enumerate(np.flatnonzero(codes.tastes[row])):
            own_top[row, k] = np.flatnonzero(codes.item_cluster == c)[:3]
            active[row, k] = True
    merged = own_top.reshape(enc.n_users, -1)
    figures = taste_figures(own_top, active, merged, codes.item_cluster, codes.tastes, n=6)
    assert (figures.purity, figures.taste_recall, figures.coverage) == (1.0, 1.0, 1.0)


def test_truth_of_other_data_is_refused(tiny_tastes):
    truth = load_truth(tiny_tastes)
    enc = encode(read_dataset(tiny_tastes))
    fewer_items = dataclasses.replace(truth, item_cluster={
        i: c for i, c in truth.item_cluster.items() if i != int(enc.item_ids[1])})
    with pytest.raises(ValueError, match="item_ids: 1 movie.* not in the truth"):
        truth_codes(fewer_items, enc)
    fewer_users = dataclasses.replace(truth, user_tastes={
        u: t for u, t in truth.user_tastes.items() if u != int(enc.user_ids[0])})
    with pytest.raises(ValueError, match="user_ids: 1 user.* not in the truth"):
        truth_codes(fewer_users, enc)
