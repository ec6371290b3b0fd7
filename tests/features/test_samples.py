"""Encoding, the leak-free chronological split (docs/design.md, leave-last-out steps 1-3) and
negative sampling."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from mind_core.data.tables import make_dataset
from mind_core.features.encoding import encode
from mind_core.features.negatives import NegativeSampler
from mind_core.features.split import build_split

# --- encoding -------------------------------------------------------------------------------


def test_encoding_reserves_0_and_round_trips(ml100k, ml100k_encoded):
    enc = ml100k_encoded
    assert enc.n_users == 943 and enc.n_items == 1683  # + padding
    assert enc.item_ids[0] == -1 and enc.titles[0] == "" and enc.genre_names[0] == ""
    assert enc.items.min() == 1 and enc.items.max() == 1682
    raw = ml100k.interactions
    np.testing.assert_array_equal(enc.item_ids[enc.items], raw["item"].to_numpy())
    np.testing.assert_array_equal(enc.user_ids[enc.users], raw["user"].to_numpy())
    assert enc.item_code(242) >= 1 and enc.item_ids[enc.item_code(242)] == 242
    assert enc.user_ids[enc.user_row(196)] == 196
    with pytest.raises(KeyError):
        enc.item_code(99999)
    assert enc.titles[enc.item_code(1)] == "Toy Story"
    assert enc.genre_names[enc.primary_genre[enc.item_code(1)]] == "Animation"
    assert (enc.user_features >= 1).all()  # every ml-100k user has every profile feature
    json.dumps(enc.id_maps())  # artifacts store them as JSON


# --- the real ml-100k split -----------------------------------------------------------------


@pytest.fixture(scope="module")
def chronological(ml100k, ml100k_encoded):
    """Each user's item codes in protocol order, computed independently with pandas."""
    df = ml100k.interactions.assign(code=ml100k_encoded.items, order=np.arange(100000))
    df = df.sort_values(["user", "timestamp", "order"], kind="stable")
    return {u: g["code"].to_numpy() for u, g in df.groupby("user", sort=True)}


def test_split_counts(ml100k_split):
    split = ml100k_split
    assert len(split.test.users) == len(split.valid.users) == 943
    assert split.n_unevaluated_users == 0
    assert len(split.train_labels) == 100000 - 3 * 943  # first items have no history to predict
    assert split.item_counts.sum() == 100000 - 2 * 943  # held-out targets are not counted
    assert split.train_history.shape == (97171, 50)


def test_test_item_is_the_latest_interaction(ml100k, ml100k_encoded, ml100k_split):
    inter = ml100k.interactions
    latest = inter.loc[inter.groupby("user")["timestamp"].idxmax()]  # first max: file order
    # a tie on the last timestamp goes to the later line (stable order), so check against that
    df = inter.assign(order=np.arange(len(inter)))
    last = df.sort_values(["user", "timestamp", "order"], kind="stable").groupby("user").tail(1)
    test = ml100k_split.test
    np.testing.assert_array_equal(ml100k_encoded.user_ids[test.users], last["user"].to_numpy())
    np.testing.assert_array_equal(ml100k_encoded.item_ids[test.targets], last["item"].to_numpy())
    # and it is a latest one in time
    ts = dict(zip(latest["user"], latest["timestamp"], strict=True))
    target_ts = df.set_index(["user", "item"])["timestamp"]
    for u, i in zip(last["user"], last["item"], strict=True):
        assert target_ts[(u, i)] == ts[u]


def test_ties_keep_file_order(ml100k_split, chronological, ml100k_encoded):
    # ml-100k has users whose last two ratings share a second: the later line is the test item
    for u, seq in chronological.items():
        row = ml100k_encoded.user_row(u)
        assert ml100k_split.test.targets[row] == seq[-1]
        assert ml100k_split.valid.targets[row] == seq[-2]
    np.testing.assert_array_equal(ml100k_split.sequence, np.concatenate(
        [chronological[u] for u in sorted(chronological)]))


def test_validation_precedes_test(ml100k_split, ml100k_encoded):
    split = ml100k_split
    np.testing.assert_array_equal(split.valid.users, split.test.users)
    np.testing.assert_array_equal(split.valid.positions + 1, split.test.positions)
    # at test time the history includes the validation item, as the most recent one
    np.testing.assert_array_equal(split.test.history[:, -1], split.valid.targets)
    order = np.lexsort((np.arange(len(ml100k_encoded.items)), ml100k_encoded.timestamps,
                        ml100k_encoded.users))
    ts = ml100k_encoded.timestamps[order]
    assert (ts[split.valid.positions] <= ts[split.test.positions]).all()


def test_no_item_in_its_own_history(ml100k_split):
    split = ml100k_split
    for history, targets in [(split.train_history, split.train_labels),
                             (split.valid.history, split.valid.targets),
                             (split.test.history, split.test.targets)]:
        assert not (history == targets[:, None]).any()
        assert (targets >= 1).all()


def test_training_never_uses_held_out_positions(ml100k_split, chronological, ml100k_encoded):
    split = ml100k_split
    held_out = {(u, t) for ev in (split.valid, split.test)
                for u, t in zip(ev.users.tolist(), ev.targets.tolist(), strict=True)}
    users, labels = split.train_users, split.train_labels
    assert not any((u, t) in held_out for u, t in zip(users.tolist(), labels.tolist(),
                                                      strict=True))
    # no training history holds its user's validation or test item either
    valid_of = np.zeros(ml100k_encoded.n_users, np.int64)
    test_of = np.zeros(ml100k_encoded.n_users, np.int64)
    valid_of[split.valid.users] = split.valid.targets
    test_of[split.test.users] = split.test.targets
    hist = split.train_history
    assert not (hist == valid_of[users][:, None]).any()
    assert not (hist == test_of[users][:, None]).any()
    # exactly the prefixes: labels are positions 1 .. n-3 of each user's sequence
    for u, seq in chronological.items():
        row = ml100k_encoded.user_row(u)
        np.testing.assert_array_equal(labels[users == row], seq[1:-2])


def test_histories_are_the_most_recent_earlier_items(ml100k_split, chronological,
                                                     ml100k_encoded):
    split = ml100k_split
    rng = np.random.default_rng(0)
    for u in rng.choice(sorted(chronological), size=40, replace=False):
        seq, row = chronological[u], ml100k_encoded.user_row(u)
        hist = split.train_history[split.train_users == row]
        for p in range(1, len(seq) - 2):
            expected = seq[max(0, p - 50): p]
            got = hist[p - 1]
            assert (got[: 50 - len(expected)] == 0).all()  # left padding
            np.testing.assert_array_equal(got[50 - len(expected):], expected)
        test_row = int(np.flatnonzero(split.test.users == row)[0])
        np.testing.assert_array_equal(split.seen_before(split.test, test_row), seq[:-1])
        np.testing.assert_array_equal(split.seen_before(split.valid, test_row), seq[:-2])


# --- small cases: ties, truncation, users too short to evaluate -----------------------------


def _encoded(rows):
    df = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    return encode(make_dataset("toy", df))


SHORT_USERS = [  # user 7: 1 rating, user 8: 2 ratings, user 9: 5 ratings with a tie
    (9, 100, 4, 30), (7, 101, 3, 10), (9, 102, 3, 10), (8, 103, 5, 5), (9, 104, 1, 20),
    (8, 100, 2, 6), (9, 101, 5, 30), (9, 105, 4, 40),
]


def test_batches_cut_per_batch_equal_the_whole_window_matrix(ml100k_split, ml100k_encoded):
    """The trainer cuts each batch's windows from the sequence (bounded memory): they must be
    the rows of the whole (S, L) matrix, with the same profiles and labels, in any order."""
    import torch

    from mind_core.training.trainer import BatchSource

    split, enc = ml100k_split, ml100k_encoded
    source = BatchSource(split, enc.user_features, torch.device("cpu"))
    assert source.n == len(split.train_labels)
    whole = split.train_history
    idx = np.random.default_rng(0).permutation(source.n)[:5000]
    idx = np.concatenate([idx, [0, source.n - 1]])  # both ends too
    history, features, labels = source.gather(torch.as_tensor(idx))
    np.testing.assert_array_equal(history.numpy(), whole[idx])
    np.testing.assert_array_equal(labels.numpy(), split.train_labels[idx])
    np.testing.assert_array_equal(features.numpy(), enc.user_features[split.train_users[idx]])
    np.testing.assert_array_equal(split.train_windows(idx), whole[idx])


def test_short_users_train_but_are_not_evaluated():
    enc = _encoded(SHORT_USERS)
    split = build_split(enc, max_length=2)
    code = {int(r): c for c, r in enumerate(enc.item_ids)}
    row = {int(u): r for r, u in enumerate(enc.user_ids)}
    assert split.n_unevaluated_users == 2
    assert split.test.users.tolist() == [row[9]] == split.valid.users.tolist()
    # user 9 in order: 102 (t10), 104 (t20), 100 (t30), 101 (t30, later line), 105 (t40)
    assert split.test.targets.tolist() == [code[105]]
    assert split.valid.targets.tolist() == [code[101]]
    assert split.test.history.tolist() == [[code[100], code[101]]]  # max_length 2 keeps the last
    nine = split.train_users == row[9]
    assert split.train_labels[nine].tolist() == [code[104], code[100]]
    assert split.train_history[nine].tolist() == [[0, code[102]], [code[102], code[104]]]
    # user 8 (two ratings) still trains: 103 -> 100; user 7 (one rating) has nothing to learn from
    eight = split.train_users == row[8]
    assert split.train_labels[eight].tolist() == [code[100]]
    assert split.train_history[eight].tolist() == [[0, code[103]]]
    assert not (split.train_users == row[7]).any()
    # training counts include the short users' items, not user 9's held-out ones
    assert split.item_counts[code[105]] == 0 and split.item_counts[code[101]] == 1


def test_cli_reports_unevaluated_users(tmp_path):
    path = tmp_path / "short.csv"
    lines = ["user_id,movie_id,rating,timestamp,title,genres,gender,age,occupation,zip"]
    lines += [f"{u},{i},{r},{t},Movie {i} (1999),Drama,F,25,writer,12345"
              for u, i, r, t in SHORT_USERS]
    path.write_text("\n".join(lines) + "\n")
    proc = subprocess.run([sys.executable, "-m", "mind_core.cli", "data", "info", str(path),
                           "--json"], capture_output=True, text=True, cwd=REPO, timeout=60,
                          env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["users"] == 3 and info["evaluated_users"] == 1
    assert info["unevaluated_users"] == 2 and info["training_samples"] == 3


def test_split_does_not_depend_on_file_order_beyond_ties():
    rows = list(SHORT_USERS)
    shuffled = [rows[i] for i in (7, 0, 3, 1, 5, 4, 2, 6)]  # 9's tie (100 then 101) kept
    a, b = build_split(_encoded(rows), 3), build_split(_encoded(shuffled), 3)
    np.testing.assert_array_equal(a.sequence, b.sequence)
    np.testing.assert_array_equal(a.train_history, b.train_history)
    np.testing.assert_array_equal(a.test.targets, b.test.targets)


# --- negative sampling ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["uniform", "popularity"])
def test_negatives_never_the_positive(method):
    counts = np.array([0, 50, 30, 10, 5, 5])  # a tiny catalogue makes clashes common
    sampler = NegativeSampler(counts, method=method, seed=1)
    positives = np.tile(np.arange(1, 6), 2000)
    neg = sampler.sample(positives, 3)
    assert neg.shape == (10000, 3)
    assert not (neg == positives[:, None]).any()
    assert neg.min() >= 1 and neg.max() <= 5


def test_negatives_are_seeded():
    counts = np.arange(20)
    pos = np.arange(1, 20)
    draw = [NegativeSampler(counts, "popularity", seed=s).sample(pos, 3) for s in (7, 7, 8)]
    np.testing.assert_array_equal(draw[0], draw[1])
    assert not np.array_equal(draw[0], draw[2])


def test_popularity_never_draws_unseen_items_or_padding():
    counts = np.array([100, 0, 5, 0, 1, 0])  # padding's count must not matter
    sampler = NegativeSampler(counts, "popularity", seed=0)
    drawn = np.unique(sampler.draw(50000))
    assert set(drawn.tolist()) == {2, 4}
    np.testing.assert_allclose(sampler.probabilities, [0, 0, 5 / 6, 0, 1 / 6, 0])


def test_popularity_sampling_is_proportional_to_training_counts(ml100k_split):
    from scipy.stats import chisquare

    counts = ml100k_split.item_counts
    sampler = NegativeSampler(counts, "popularity", seed=3)
    n = 1_000_000
    observed = np.bincount(sampler.draw(n), minlength=len(counts))
    expected = sampler.probabilities * n
    np.testing.assert_allclose(sampler.probabilities[1:], counts[1:] / counts[1:].sum())
    # the most popular items: within 5% of their expected frequency
    top = np.argsort(counts)[::-1][:20]
    assert np.all(np.abs(observed[top] - expected[top]) / expected[top] < 0.05)
    # and overall: chi-square over items expected >= 20 times, the rest pooled
    big = expected >= 20
    obs = np.append(observed[big], observed[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    assert chisquare(obs, exp).pvalue > 1e-3
    assert observed[counts == 0].sum() == 0


def test_uniform_sampling_is_flat():
    sampler = NegativeSampler(np.ones(101), "uniform", seed=0)
    observed = np.bincount(sampler.draw(200_000), minlength=101)
    assert observed[0] == 0
    assert np.abs(observed[1:] / 2000 - 1).max() < 0.1


def test_impossible_sampling_fails_instead_of_looping():
    sampler = NegativeSampler(np.array([0, 9, 0, 0]), "popularity")
    with pytest.raises(ValueError, match="only item"):
        sampler.sample(np.array([1, 1]), 3)
    with pytest.raises(ValueError, match="no item can be drawn"):
        NegativeSampler(np.array([5, 0, 0]), "popularity")
    with pytest.raises(ValueError, match="sample_method"):
        NegativeSampler(np.ones(3), "softmax")
