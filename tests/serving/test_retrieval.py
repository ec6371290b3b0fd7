"""Retrieval: exact and Annoy backends, merge strategies on hand-made cases, and recommend() on
a real tiny bundle (history excluded, inactive interests skipped, clear errors)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

import mind_core.serving.retrieval
from mind_core.artifacts.bundle import load_bundle
from mind_core.errors import BundleError, DataError
from mind_core.serving import (
    BACKENDS,
    MERGE_STRATEGIES,
    AnnoyIndex,
    ExactIndex,
    FaissIndex,
    history_shares,
    interest_labels,
    load_index,
    merge,
    merge_arrays,
    recommend,
    user_history,
)
from mind_core.workflow.pipeline import load_data

# --- merge on hand-made lists ---------------------------------------------------------------

# Interest 0 and 1 share item 3 (1 scores it higher) and tie on 0.8 for items 4 and 5.
LISTS = [
    [(1, 0.9), (3, 0.5), (4, 0.4)],
    [(3, 0.95), (5, 0.4), (6, 0.1)],
]


def test_max_score_dedupes_keeping_best_and_breaks_ties_by_code():
    out = merge(LISTS, 10, "max_score")
    assert out == [(3, 0.95, 1), (1, 0.9, 0), (4, 0.4, 0), (5, 0.4, 1), (6, 0.1, 1)]
    assert merge(LISTS, 2) == out[:2]


def test_equal_scores_across_interests_keep_the_lower_interest():
    assert merge([[(7, 1.0)], [(7, 1.0)]], 5) == [(7, 1.0, 0)]


def test_round_robin_takes_turns_and_skips_duplicates():
    out = merge(LISTS, 10, "round_robin")
    # turn 1: k0 -> 1, k1 -> 3; turn 2: k0 skips 3 (taken) -> 4, k1 -> 5; turn 3: k1 -> 6
    assert out == [(1, 0.9, 0), (3, 0.95, 1), (4, 0.4, 0), (5, 0.4, 1), (6, 0.1, 1)]
    assert merge(LISTS, 3, "round_robin") == out[:3]


def test_quota_gives_each_interest_its_share_then_ranks_by_score():
    lists = [[(1, 0.9), (2, 0.8), (3, 0.7)], [(11, 0.3), (12, 0.2), (13, 0.1)]]
    out = merge(lists, 4, "quota")
    assert {i for i, _, _ in out} == {1, 2, 11, 12}  # max_score would keep 1, 2, 3, 11
    assert [s for _, s, _ in out] == sorted([s for _, s, _ in out], reverse=True)
    # n = 3 over 2 interests: the first interest gets the extra slot
    assert {i for i, _, _ in merge(lists, 3, "quota")} == {1, 2, 11}


def test_quota_refills_slots_an_interest_cannot_fill():
    lists = [[(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)], [(5, 0.1)]]
    assert [i for i, _, _ in merge(lists, 4, "quota")] == [1, 2, 3, 5]


def test_diverse_penalises_repeated_genres():
    genre = np.zeros(20, dtype=int)
    genre[[1, 2, 3]] = 1  # three items of one genre
    genre[[10]] = 2
    lists = [[(1, 1.0), (2, 0.95), (3, 0.9)], [(10, 0.7)]]
    assert [i for i, _, _ in merge(lists, 2, "diverse", genre, lam=0.0)] == [1, 2]
    out = merge(lists, 2, "diverse", genre, lam=0.5)  # 0.95 - 0.5 < 0.7
    assert [i for i, _, _ in out] == [1, 10]
    assert out[1] == (10, 0.7, 1)  # the model's score is reported, not the penalised one
    with pytest.raises(ValueError, match="primary_genre"):
        merge(lists, 2, "diverse")


def test_proportional_apportions_by_weight_in_sainte_lague_order():
    lists = [[(i, 1.0 - i / 100) for i in range(1, 20)],
             [(i, 0.5 - i / 1000) for i in range(21, 40)],
             [(i, 0.9) for i in range(41, 45)]]
    out = merge(lists, 10, "proportional", weights=np.array([0.7, 0.3, 0.0]))
    assert [k for _, _, k in out] == [0, 1, 0, 0, 0, 1, 0, 0, 1, 0]  # 7 : 3, never k=2
    assert [i for i, _, _ in out][:4] == [1, 21, 2, 3]
    assert merge(lists, 4, "proportional", weights=np.array([0.7, 0.3, 0.0])) == out[:4]


def test_proportional_skips_taken_items_and_refills_when_a_list_runs_dry():
    lists = [[(1, 0.9), (2, 0.8)], [(1, 0.7), (3, 0.6), (4, 0.5)], [(9, 0.95)]]
    out = merge(lists, 5, "proportional", weights=np.array([0.5, 0.5, 0.0]))
    assert [(i, k) for i, _, k in out] == [(1, 0), (3, 1), (2, 0), (4, 1), (9, 2)]


def test_proportional_needs_sound_weights():
    with pytest.raises(ValueError, match="needs weights"):
        merge(LISTS, 3, "proportional")
    with pytest.raises(ValueError, match="non-negative"):
        merge(LISTS, 3, "proportional", weights=np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="2 finite"):
        merge(LISTS, 3, "proportional", weights=np.array([1.0]))
    zero = merge(LISTS, 3, "proportional", weights=np.zeros(2))  # no weight: equal say
    assert zero == merge(LISTS, 3, "round_robin")


def test_history_shares_count_each_history_item_for_its_best_active_interest():
    items = np.array([[0, 0], [1, 0], [0.9, 0.1], [0, 1], [-1, 0]], dtype=np.float32)
    interests = np.array([[1, 0], [0, 1], [5, 5]], dtype=np.float32)  # k=2 would win all
    active = np.array([True, True, False])
    shares = history_shares(interests, active, items, np.array([0, 1, 2, 3, 0]))
    np.testing.assert_allclose(shares, [2 / 3, 1 / 3, 0.0])
    batch = history_shares(np.stack([interests] * 2), np.stack([active, [True, False, False]]),
                           items, np.array([[1, 2, 3, 0, 0], [0, 0, 0, 0, 0]]))
    np.testing.assert_allclose(batch, [[2 / 3, 1 / 3, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("strategy", MERGE_STRATEGIES)
def test_fewer_candidates_than_n_and_one_active_interest(strategy):
    genre = np.zeros(10, dtype=int)
    one = [[(2, 0.5), (1, 0.4)], [], []]  # one active interest, two candidates
    out = merge(one, 10, strategy, genre, weights=np.array([1.0, 0.0, 0.0]))
    assert [(i, k) for i, _, k in out] == [(2, 0), (1, 0)]
    assert merge([[], []], 5, strategy, genre, weights=np.zeros(2)) == []
    many = merge(LISTS, 50, strategy, genre, weights=np.ones(2))
    assert sorted(i for i, _, _ in many) == [1, 3, 4, 5, 6]  # every distinct item once


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="round_robin"):
        merge(LISTS, 3, "best")


def test_merge_arrays_matches_merge():
    rng = np.random.default_rng(0)
    index = ExactIndex().build(rng.normal(size=(60, 8)).astype(np.float32))
    interests = rng.normal(size=(5, 3, 8)).astype(np.float32)
    active = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 1, 1]], dtype=bool)
    items, scores = index.search_arrays(interests, active, 20, [[1, 2]] * 5)
    m_items, m_scores, m_k = merge_arrays(items, scores, 20)
    for u, per in enumerate(index.search_batch(interests, active, 20, [[1, 2]] * 5)):
        want = merge(per, 20)
        got = [(int(i), float(s), int(k)) for i, s, k in zip(m_items[u], m_scores[u], m_k[u],
                                                              strict=True) if i > 0]
        assert [(i, k) for i, _, k in got] == [(i, k) for i, _, k in want]
        np.testing.assert_allclose([s for _, s, _ in got], [s for _, s, _ in want], rtol=1e-6)


# --- indexes on random vectors ----------------------------------------------------------------

@pytest.fixture(scope="module")
def catalogue():
    rng = np.random.default_rng(1)
    items = rng.normal(size=(401, 16)).astype(np.float32)
    items[0] = 0.0  # padding
    interests = rng.normal(size=(4, 16)).astype(np.float32)
    return items, interests


def test_exact_search_is_brute_force_with_exclusions(catalogue):
    items, interests = catalogue
    active = np.array([True, True, False, True])
    exclude = [5, 17, 123]
    lists = ExactIndex().build(items).search(interests, active, 10, exclude)
    assert lists[2] == []
    for k in (0, 1, 3):
        scores = items @ interests[k]
        scores[[0, *exclude]] = -np.inf
        assert [i for i, _ in lists[k]] == list(np.argsort(-scores)[:10])
        np.testing.assert_allclose([s for _, s in lists[k]], np.sort(scores)[::-1][:10],
                                   rtol=1e-5)


def test_exact_returns_fewer_when_catalogue_is_exhausted():
    items = np.eye(4, dtype=np.float32)
    lists = ExactIndex().build(items).search(np.ones((1, 4), np.float32), [True], 10, [1])
    assert sorted(i for i, _ in lists[0]) == [2, 3]  # 0 is padding, 1 excluded


def test_annoy_agrees_with_exact_at_high_search_k(catalogue, tmp_path):
    items, interests = catalogue
    active = np.ones(4, dtype=bool)
    exact = ExactIndex().build(items).search(interests, active, 20, [3, 4])
    built = AnnoyIndex(16, n_trees=10, search_k=100_000).build(items)
    built.save(tmp_path / "items.ann")
    loaded = AnnoyIndex.load(tmp_path / "items.ann", 16, search_k=100_000)  # memory-mapped
    assert loaded.n_items == len(items)
    for index in (built, loaded):
        got = index.search(interests, active, 20, [3, 4])
        for e, a in zip(exact, got, strict=True):
            assert [i for i, _ in a] == [i for i, _ in e]
            np.testing.assert_allclose([s for _, s in a], [s for _, s in e], rtol=1e-4)
    batch = loaded.search_batch(np.stack([interests] * 3), np.ones((3, 4), bool), 20,
                                [[3, 4]] * 3)
    assert batch[2] == loaded.search(interests, active, 20, [3, 4])


def test_annoy_load_of_missing_file_is_a_bundle_error(tmp_path):
    with pytest.raises(BundleError, match="no Annoy index"):
        AnnoyIndex.load(tmp_path / "nothing.ann", 16)


def _clustered(n: int, dim: int, seed: int = 0):
    """Items in 16 clusters with varied norms (as trained vectors), row 0 padding."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(16, dim)).astype(np.float32)
    items = centres[rng.integers(0, 16, n)] + 0.7 * rng.normal(size=(n, dim)).astype(np.float32)
    items *= rng.lognormal(0.0, 0.3, (n, 1)).astype(np.float32)
    queries = centres[rng.integers(0, 16, (20, 4))] + 0.5 * rng.normal(size=(20, 4, dim))
    return np.vstack([np.zeros((1, dim), np.float32), items]), queries.astype(np.float32)


def _recall(got, want) -> float:
    return float(np.mean([len({i for i, _ in g} & {i for i, _ in w}) / max(1, len(w))
                          for g, w in zip(got, want, strict=True)]))


def test_faiss_hnsw_matches_exact_with_exclusions_and_saves(catalogue, tmp_path):
    items, interests = catalogue
    active = np.array([True, True, False, True])
    exact = ExactIndex().build(items).search(interests, active, 20, [3, 4])
    built = FaissIndex(16, M=16, ef_search=200).build(items)
    built.save(tmp_path / "items.faiss")
    loaded = FaissIndex.load(tmp_path / "items.faiss", 16)
    assert loaded.n_items == len(items) and loaded.params()["efSearch"] == 200
    assert loaded.params() == {**built.params()}
    for index in (built, loaded):
        got = index.search(interests, active, 20, [3, 4])
        assert got[2] == []
        for e, a in zip(exact, got, strict=True):
            assert [i for i, _ in a] == [i for i, _ in e]  # 400 items: the graph finds all
            np.testing.assert_allclose([s for _, s in a], [s for _, s in e], rtol=1e-4)
    batch = loaded.search_batch(np.stack([interests] * 3), np.stack([active] * 3), 20,
                                [[3, 4]] * 3)
    assert batch[1] == loaded.search(interests, active, 20, [3, 4])
    few = FaissIndex(4).build(np.eye(4, dtype=np.float32))  # catalogue exhausted
    assert sorted(i for i, _ in few.search(np.ones((1, 4), np.float32), [True], 10, [1])[0]) \
        == [2, 3]


def test_faiss_hnsw_and_ivfpq_recall_on_clustered_items(tmp_path):
    items, queries = _clustered(3000, 32)
    active = np.ones(4, dtype=bool)
    exact = ExactIndex().build(items)
    truth = [exact.search(q, active, 50) for q in queries]
    hnsw = FaissIndex(32).build(items)
    ivfpq = FaissIndex(32, kind="ivfpq", nprobe=32).build(items)
    assert ivfpq.params() == {"kind": "ivfpq", "metric": "inner_product", "nlist": 55,
                              "nprobe": 32, "pq_m": 8}
    ivfpq.save(tmp_path / "items.faiss")
    assert (tmp_path / "items.faiss").stat().st_size < items.nbytes / 4  # compressed
    loaded = FaissIndex.load(tmp_path / "items.faiss", 32)
    assert loaded.kind == "ivfpq" and loaded.nprobe == 32
    flat = FaissIndex(32, kind="ivfflat", nprobe=16).build(items)
    assert flat.params() == {"kind": "ivfflat", "metric": "inner_product", "nlist": 55,
                             "nprobe": 16}

    def recall(index):
        return np.mean([_recall(index.search(q, active, 50), t)
                        for q, t in zip(queries, truth, strict=True)])

    r_pq = recall(loaded)
    assert recall(hnsw) >= 0.99 and recall(flat) >= 0.99 and 0.5 <= r_pq < 0.99
    for q in queries[:3]:  # IVF-PQ scores are approximate, but the items are real ones
        for lst in loaded.search(q, active, 10, [1, 2, 3]):
            assert len(lst) == 10 and all(0 < i < len(items) and i > 3 for i, _ in lst)


def test_faiss_errors(tmp_path):
    with pytest.raises(BundleError, match="no FAISS index"):
        FaissIndex.load(tmp_path / "nothing.faiss", 16)
    (tmp_path / "bad.faiss").write_bytes(b"not an index")
    with pytest.raises(BundleError, match="unreadable FAISS index"):
        FaissIndex.load(tmp_path / "bad.faiss", 16)
    FaissIndex(8).build(np.ones((5, 8), np.float32)).save(tmp_path / "d8.faiss")
    with pytest.raises(BundleError, match="width 8"):
        FaissIndex.load(tmp_path / "d8.faiss", 16)
    with pytest.raises(ValueError, match="unknown FAISS index kind"):
        FaissIndex(8, kind="lsh")


# --- recommend on a real tiny bundle ---------------------------------------------------------

@pytest.fixture(scope="module")
def served(model_home):
    bundle = load_bundle(model_home["bundles"][4])
    data = load_data("ml-100k", bundle.config.max_length)
    return bundle, data


def with_inactive(bundle, row: int, keep: int):
    """The bundle with user ``row`` keeping only its first ``keep`` interests active, as the
    dynamic interest number does for short histories (every ml-100k user has >= 16 movies at
    serving time, so at K <= 4 all of them have every interest active)."""
    active = bundle.user_active.copy()
    active[row, keep:] = False
    interests = bundle.user_interests.copy()
    interests[row, keep:] = 0.0
    return replace(bundle, user_active=active, user_interests=interests)


def test_recommend_excludes_history_and_skips_inactive_interests(served):
    bundle, data = served
    split = data.split
    index = load_index(bundle, "annoy")
    for row in (3, 0, 200):
        rec = recommend(with_inactive(bundle, 3, 2), data, row, n=20, index=index)
        assert rec.active.sum() == (2 if row == 3 else 4)
        i = int(np.searchsorted(split.test.users, row))
        seen = set(split.seen_before(split.test, i).tolist())
        assert set(rec.history) == seen and seen
        for k, lst in enumerate(rec.per_interest):
            assert (lst == []) == (not rec.active[k])
            assert all(0 < item < data.encoded.n_items and item not in seen for item, _ in lst)
        merged = [i for i, _, _ in rec.merged]
        assert len(merged) == len(set(merged)) == 20
        assert all(rec.active[k] for _, _, k in rec.merged)
        assert split.test.targets[i] not in seen  # the held-out movie stays retrievable


def test_annoy_recommendations_match_exact(served):
    bundle, data = served
    annoy_index, exact_index = load_index(bundle, "annoy"), load_index(bundle, "exact")
    overlap = []
    for row in range(0, 943, 47):
        a = recommend(bundle, data, row, n=50, index=annoy_index)
        e = recommend(bundle, data, row, n=50, index=exact_index)
        overlap.append(len({i for i, _, _ in a.merged} & {i for i, _, _ in e.merged}) / 50)
    assert np.mean(overlap) >= 0.98


def test_faiss_backend_builds_in_memory_or_reads_items_faiss(served, tmp_path):
    from mind_core.serving.files import rebuild_serving_files

    bundle, data = served
    assert BACKENDS == ("annoy", "exact", "faiss")
    assert not (bundle.path / "items.faiss").exists()  # ml-100k bundles store none
    in_memory, exact_index = load_index(bundle, "faiss"), load_index(bundle, "exact")
    for row in range(0, 943, 94):
        f = recommend(bundle, data, row, n=50, index=in_memory)
        e = recommend(bundle, data, row, n=50, index=exact_index)
        assert f.backend == "faiss" and [i for i, _, _ in f.merged] == [i for i, _, _ in e.merged]
    copy = tmp_path / bundle.path.name
    shutil.copytree(bundle.path, copy)
    record = rebuild_serving_files(load_bundle(copy), data, projection=False, faiss="hnsw")
    assert record["faiss"]["kind"] == "hnsw" and record["faiss"]["efSearch"] >= 50
    stored = load_bundle(copy)
    index = load_index(stored, "faiss")
    assert index.kind == "hnsw" and index.n_items == data.encoded.n_items
    got = recommend(stored, data, 3, n=10, index=index).merged
    want = recommend(stored, data, 3, n=10, backend="exact").merged
    assert [(i, k) for i, _, k in got] == [(i, k) for i, _, k in want]
    np.testing.assert_allclose([x for _, x, _ in got], [x for _, x, _ in want], rtol=1e-5)
    rebuild_serving_files(stored, data, projection=False, faiss="ivfpq")
    assert load_index(load_bundle(copy), "faiss").kind == "ivfpq"


@pytest.mark.parametrize("strategy", MERGE_STRATEGIES)
def test_recommend_every_strategy(served, strategy):
    bundle, data = served
    rec = recommend(bundle, data, 5, n=10, merge=strategy, backend="exact")
    assert len(rec.merged) == 10 and rec.strategy == strategy and rec.backend == "exact"


def test_unevaluated_user_excludes_their_whole_sequence(served, monkeypatch):
    bundle, data = served
    split = data.split
    row = 7
    # pretend user 7 was not evaluated: their whole sequence is then their history
    keep = split.test.users != row
    from mind_core.features.split import EvalSet

    fake = EvalSet(users=split.test.users[keep], history=split.test.history[keep],
                   targets=split.test.targets[keep], positions=split.test.positions[keep])
    monkeypatch.setattr(split, "test", fake)
    whole = split.sequence[split.offsets[row]: split.offsets[row + 1]]
    assert list(user_history(data, row)) == list(whole)


def test_bundle_without_index_is_a_clear_error(served, tmp_path):
    bundle, data = served
    copy = tmp_path / bundle.path.name
    shutil.copytree(bundle.path, copy)
    (copy / "items.ann").unlink()
    from mind_core.artifacts.manifest import update_manifest

    update_manifest(copy, ["items.ann"])  # a bundle built without one, not a damaged one
    stripped = load_bundle(copy)
    with pytest.raises(BundleError, match="no Annoy index.*build-index"):
        recommend(stripped, data, 0)
    assert recommend(stripped, data, 0, backend="exact").merged  # exact needs no index file


def test_empty_history_is_a_clear_error(served, monkeypatch):
    bundle, data = served
    monkeypatch.setattr(mind_core.serving.retrieval, "user_history",
                        lambda data, row: np.zeros(0, np.int64))
    with pytest.raises(DataError, match="no history"):
        recommend(bundle, data, 3, backend="exact")


def test_interest_labels(served):
    bundle, data = served
    row = 3
    model = bundle.load_model(data.encoded)
    bundle = with_inactive(bundle, row, 3)
    rec = recommend(bundle, data, row, n=20, backend="exact")
    labels = interest_labels(bundle, data, row, rec, model=model)
    assert len(labels) == len(rec.active)
    names = set(data.encoded.genre_names[1:])
    hist = set(rec.history)
    routed = []
    for k, lab in enumerate(labels):
        assert {"genres", "routed", "label"} <= set(lab)
        if rec.active[k]:
            assert 1 <= len(lab["genres"]) <= 3 and set(lab["genres"]) <= names
            assert lab["label"]
        else:
            assert lab["genres"] == [] and lab["routed"] == [] and lab["label"] == "inactive"
        assert set(lab["routed"]) <= hist
        routed += lab["routed"]
    assert len(routed) == len(set(routed))  # each routed history item belongs to one interest
