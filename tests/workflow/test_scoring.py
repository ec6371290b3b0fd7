"""Scoring the merge: every evaluated user's lists at once (mind_core.serving.lists) agree with
serving one user at a time, max_score agrees with the full ranking, a bundle records the
figures of every merge, and the taste figures appear exactly when the dataset has a truth."""

from __future__ import annotations

import numpy as np
import pytest

from mind_core.artifacts.bundle import load_bundle
from mind_core.data.tastes import TastesConfig, generate_tastes
from mind_core.evaluation.ranking import eval_set_metrics
from mind_core.evaluation.tastes import taste_figures
from mind_core.features.split import build_split
from mind_core.serving import (
    MERGE_STRATEGIES,
    interest_weights,
    merge,
    merged_tops,
    own_tops,
    recommend,
)
from mind_core.serving.lists import ONE_LIST_KEPT
from mind_core.workflow.pipeline import (
    bundle_data,
    bundle_merge,
    bundle_merges,
    evaluate_bundle,
    load_data,
    report,
)
from mind_core.workflow.scoring import dataset_truth, full_ranking, score_merges, user_recall


@pytest.fixture(scope="module")
def k4(model_home):
    bundle = load_bundle(model_home["bundles"][4])
    return bundle, bundle_data(bundle)


@pytest.mark.parametrize("strategy", MERGE_STRATEGIES)
def test_all_users_lists_equal_serving_each_user_exactly(k4, strategy):
    bundle, data = k4
    ev = data.split.test
    interests, active = bundle.user_interests[ev.users], bundle.user_active[ev.users]
    own_items, own_scores = own_tops(data.split, ev, interests, active, bundle.item_vectors, 20)
    weights = interest_weights(ev, interests, active, bundle.item_vectors)
    top = merged_tops(own_items, own_scores, strategy, 20, data.encoded.primary_genre, weights)
    for i in (0, 7, len(ev.users) // 2, len(ev.users) - 1):
        rec = recommend(bundle, data, int(ev.users[i]), n=20, merge=strategy, backend="exact")
        assert top[i].tolist() == [item for item, _, _ in rec.merged]


@pytest.mark.parametrize("strategy", ONE_LIST_KEPT)
def test_one_interest_keeps_its_own_list_as_merging_it_would(strategy):
    """K=1's shortcut (the one list read off the arrays) against the merge user by user, on
    lists with tied scores and lists cut short (no more items than the history leaves)."""
    rng = np.random.default_rng(0)
    E, m, n = 40, 12, 10
    scores = np.sort(rng.integers(0, 6, size=(E, 1, m)).astype(np.float32), axis=-1)[..., ::-1]
    items = np.stack([rng.permutation(np.arange(1, 30))[:m] for _ in range(E)])[:, None, :]
    scores[::5, :, 7:] = -np.inf  # a short list: the rest is padding
    items[::5, :, 7:] = 0
    weights = rng.random((E, 1))
    weights[::3] = 0.0  # no share: the interest still fills the list alone
    fast = merged_tops(items, np.ascontiguousarray(scores), strategy, n, weights=weights)
    for u in range(E):
        lists = [[(int(i), float(s)) for i, s in zip(items[u, 0], scores[u, 0], strict=True)
                  if np.isfinite(s)]]
        want = [i for i, _, _ in merge(lists, n, strategy, weights=weights[u])]
        assert fast[u].tolist() == want + [0] * (n - len(want)), u


@pytest.mark.parametrize("K", [1, 4])
def test_diverse_for_every_user_at_once_picks_as_merging_each_user(K):
    """The vectorized greedy against the merge user by user: scores that tie, an item in
    several interests' lists, short lists, and a user whose candidates run out before n."""
    rng = np.random.default_rng(1)
    E, m, n = 60, 8, 20
    scores = np.sort(rng.integers(0, 5, size=(E, K, m)).astype(np.float32), axis=-1)[..., ::-1]
    scores = np.ascontiguousarray(scores)
    items = rng.integers(1, 25, size=(E, K, m))
    for u in range(E):  # distinct within one interest's list, shared between lists
        for k in range(K):
            items[u, k] = rng.permutation(np.arange(1, 25))[:m]
    scores[::4, :, 5:] = -np.inf
    items[::4, :, 5:] = 0
    genre = rng.integers(0, 4, size=25)
    fast = merged_tops(items, scores, "diverse", n, genre)
    for u in range(E):
        lists = [[(int(i), float(s)) for i, s in zip(items[u, k], scores[u, k], strict=True)
                  if np.isfinite(s)] for k in range(K)]
        want = [i for i, _, _ in merge(lists, n, "diverse", genre)]
        assert fast[u].tolist() == want + [0] * (n - len(want)), u


@pytest.mark.parametrize("strategy", ("round_robin", "quota", "proportional"))
@pytest.mark.parametrize("K", [2, 4])
def test_taking_turns_quotas_and_shares_for_every_user_at_once_pick_as_merging_each_user(
        strategy, K):
    """The array versions (what validation runs every epoch) against the merge user by user:
    tied scores, an item in several interests' lists, short lists, an empty (inactive)
    interest, a user with no items at all, users whose lists run dry before n, and shares
    that are zero for some interests or for all."""
    rng = np.random.default_rng(2)
    E, m, n = 80, 8, 20
    scores = np.sort(rng.integers(0, 5, size=(E, K, m)).astype(np.float32), axis=-1)[..., ::-1]
    scores = np.ascontiguousarray(scores)
    items = np.stack([[rng.permutation(np.arange(1, 25))[:m] for _ in range(K)]
                      for _ in range(E)])
    scores[::4, :, 5:] = -np.inf  # short lists
    scores[1::6, -1, :] = -np.inf  # an inactive interest
    scores[5] = -np.inf  # nothing at all
    items[~np.isfinite(scores)] = 0
    weights = rng.random((E, K))
    weights[::3, 0] = 0.0
    weights[2::7] = 0.0  # no share anywhere: equal say
    fast = merged_tops(items, scores, strategy, n, weights=weights)
    for u in range(E):
        lists = [[(int(i), float(s)) for i, s in zip(items[u, k], scores[u, k], strict=True)
                  if np.isfinite(s)] for k in range(K)]
        want = [i for i, _, _ in merge(lists, n, strategy, weights=weights[u])]
        assert fast[u].tolist() == want + [0] * (n - len(want)), (u, strategy)


@pytest.mark.parametrize("protocol", ["leave_last_out", "future"])
def test_each_users_recall_is_their_share_of_targets_in_the_top_k(ml100k_encoded, protocol):
    """The per-user figure the paired choices read, for every user at once, against the
    share counted user by user: one target (leave-last-out) or a set (future), lists that
    hold a target twice over padding, and a cut-off shorter than the lists."""
    split = build_split(ml100k_encoded, max_length=20, protocol=protocol)
    ev = split.valid
    sets = split.target_sets(ev)
    rng = np.random.default_rng(3)
    top = rng.integers(1, ml100k_encoded.n_items, size=(len(ev.users), 60))
    top[::2, :5] = [t[:5].tolist() + [0] * (5 - len(t[:5])) for t in sets[::2]]  # some hits
    top[::9, 30:] = 0  # padding
    for k in (50, 20):
        want = [np.isin(t, row[:k]).mean() for row, t in zip(top, sets, strict=True)]
        got = user_recall(top, split, ev, k)
        assert got.tolist() == want
        assert 0 < got.mean() < 1


def test_max_score_over_interest_tops_equals_the_full_ranking(k4):
    bundle, data = k4
    ev = data.split.test
    interests, active = bundle.user_interests[ev.users], bundle.user_active[ev.users]
    own_items, own_scores = own_tops(data.split, ev, interests, active, bundle.item_vectors, 50)
    merged = merged_tops(own_items, own_scores, "max_score", 50)
    full = full_ranking(data, interests, active, bundle.item_vectors, 50)
    assert (merged == full).mean() > 0.999  # equal but where exact scores tie
    figures = eval_set_metrics(merged, data.split, ev, data.encoded)
    recorded = bundle_merges(bundle, data, ["max_score"])["max_score"]
    for name in recorded:
        assert figures[name] == pytest.approx(recorded[name], abs=1e-3), name


def test_a_bundle_records_every_merge_and_its_own(k4):
    bundle, data = k4
    recorded = bundle.metrics
    assert set(recorded["by_merge"]) == set(MERGE_STRATEGIES)
    assert recorded["test"] == recorded["by_merge"][bundle_merge(bundle)]
    again = evaluate_bundle(bundle, data)  # from the stored vectors alone
    for name, value in recorded["test"].items():
        assert again[name] == pytest.approx(value, abs=2e-3), name
    assert "taste_recall" not in recorded["test"]  # ml-100k has no truth
    out = report(bundle, data)
    name = f"MIND K={bundle.config.interest_num}"
    assert out["merge"] == bundle_merge(bundle)
    assert out["models"][name] == out["merges"][name][out["merge"]]
    assert set(out["merges"][name]) == set(MERGE_STRATEGIES)
    assert out["merges"]["MIND K=1"]["max_score"]["HR@50"] > 0


def test_taste_figures_come_with_a_truth_and_match_their_definition(tmp_path):
    folder = tmp_path / "tiny-tastes"
    generate_tastes(folder, TastesConfig(users=120, items=300, clusters=6, tastes=(2, 3),
                                         history=(20, 40), seed=4))
    data = load_data(folder, 10, "future")
    truth = dataset_truth(data, folder)
    assert truth is not None and dataset_truth(data, tmp_path / "elsewhere") is None
    ev = data.split.test
    rng = np.random.default_rng(0)
    items = rng.normal(size=(data.encoded.n_items, 8)).astype(np.float32)
    interests = rng.normal(size=(len(ev.users), 3, 8)).astype(np.float32)
    active = rng.random((len(ev.users), 3)) < 0.8
    active[:, 0] = True
    scored = score_merges(data, interests, active, items, truth=truth, n=50)
    # independently: brute-force own top 10 per interest, history excluded
    own = np.zeros((len(ev.users), 3, 10), dtype=np.int64)
    for i in range(len(ev.users)):
        seen = set(data.split.seen_before(ev, i).tolist()) | {0}
        for k in range(3):
            order = [c for c in np.argsort(-(items @ interests[i, k]), kind="stable")
                     if c not in seen]
            own[i, k] = order[:10] if active[i, k] else 0
    own_items, own_scores = own_tops(data.split, ev, interests, active, items, 50)
    weights = interest_weights(ev, interests, active, items)
    for strategy, figures in scored.items():
        top = merged_tops(own_items, own_scores, strategy, 50, data.encoded.primary_genre,
                          weights)
        want = taste_figures(own, active, top, truth.item_cluster, truth.tastes[ev.users])
        assert figures["taste_recall"] == pytest.approx(want.taste_recall), strategy
        assert figures["purity"] == pytest.approx(want.purity), strategy
        assert figures["taste_coverage@50"] == pytest.approx(want.coverage), strategy
        assert figures["Recall@50"] >= 0
