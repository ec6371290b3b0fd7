"""Evaluation protocols (leave-last-out and the future set), list overlaps and sweeps."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CONFIG

from mind_core import protocols
from mind_core.cli import main as cli_main
from mind_core.data.tables import make_dataset
from mind_core.evaluation.ranking import exclusion_mask
from mind_core.features.encoding import encode
from mind_core.features.split import build_split
from mind_core.protocols import future, leave_last_out
from mind_core.serving import MERGE_STRATEGIES

# --- the future set: who is evaluated, and no leak ------------------------------------------


def _timeline_dataset(lengths: list[int], seed: int = 0):
    """Users with the given numbers of ratings; every rating is of a movie no one else rated,
    so an item code names one (user, position) and a leak shows as a shared code. Timestamps
    tie now and then, to exercise the file-order rule."""
    rng = np.random.default_rng(seed)
    rows, item = [], 1
    for user, n in enumerate(lengths, start=1):
        times = np.sort(rng.integers(0, n // 2 + 1, size=n))
        for t in times:
            rows.append((user, item, 4, int(t)))
            item += 1
    order = rng.permutation(len(rows))  # file order is not chronological
    df = pd.DataFrame([rows[i] for i in order], columns=["user", "item", "rating", "timestamp"])
    return encode(make_dataset("timelines", df))


def test_future_target_counts():
    lengths = np.array([1, 2, 3, 4, 5, 10, 11, 20, 21, 100])
    # ceil(20%) targets and ceil(10%) validation targets before them, each at least 2, and
    # only when a history remains
    assert future.n_targets(lengths).tolist() == [0, 0, 0, 0, 2, 2, 3, 4, 5, 20]
    assert future.held_out(lengths)[1].tolist() == [0, 0, 0, 0, 2, 2, 2, 2, 3, 10]
    assert leave_last_out.n_targets(lengths).tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 1, 1]


@pytest.mark.parametrize("max_length", [1, 3, 50])
def test_future_protocol_never_leaks_targets(max_length):
    enc = _timeline_dataset([2, 3, 4, 5, 9, 10, 11, 23, 40], seed=max_length)
    split = build_split(enc, max_length, protocol="future")
    assert split.protocol == "future"
    ev = split.test
    counts = np.diff(split.offsets)
    # the user rows evaluated, and how many targets each has
    expected = future.n_targets(counts)
    assert sorted(ev.users.tolist()) == np.flatnonzero(expected).tolist()
    assert ev.target_counts().tolist() == expected[ev.users].tolist()
    targets = set()
    for row, user in enumerate(ev.users):
        timeline = split.sequence[split.offsets[user]:split.offsets[user + 1]]
        k = expected[user]
        target_set = split.target_set(ev, row)
        # the targets are the user's last k ratings in time order (ties in file order)
        assert target_set.tolist() == timeline[-k:].tolist()
        # the ranking's history and exclusions are everything before them, nothing after
        seen = split.seen_before(ev, row)
        assert seen.tolist() == timeline[:-k].tolist()
        assert not set(ev.history[row].tolist()) & set(target_set.tolist())
        assert ev.history[row][-1] == timeline[-k - 1]  # the validation rating is in it
        # the validation targets are the ratings just before the targets, a set as they are
        v = split.valid.users.tolist().index(user)
        n_valid = future.held_out(counts)[1][user]
        assert split.target_set(split.valid, v).tolist() == timeline[-k - n_valid:-k].tolist()
        assert split.seen_before(split.valid, v).tolist() == timeline[:-k - n_valid].tolist()
        targets |= set(target_set.tolist())
    held_out = targets | {int(i) for v in split.target_sets(split.valid) for i in v}
    # no target or validation rating is a training label or in a training history
    assert not held_out & set(split.train_labels.tolist())
    assert not targets & set(split.train_history.ravel().tolist())
    assert not (split.item_counts[list(held_out)] > 0).any()
    # the exclusion mask covers exactly the history
    mask = exclusion_mask(split, ev, enc.n_items)
    for row in range(len(ev.users)):
        excluded = set(np.flatnonzero(mask[row]).tolist()) - {0}
        assert excluded == set(split.seen_before(ev, row).tolist())


def test_leave_last_out_is_unchanged_by_the_protocol_layer(ml100k_encoded, ml100k_split):
    again = build_split(ml100k_encoded, 50, protocol="leave_last_out")
    assert again.protocol == "leave_last_out"
    np.testing.assert_array_equal(again.train_history, ml100k_split.train_history)
    np.testing.assert_array_equal(again.test.targets, ml100k_split.test.targets)
    assert (again.test.target_counts() == 1).all()


def test_future_split_on_ml100k(ml100k_encoded):
    split = build_split(ml100k_encoded, 20, protocol="future")
    counts = np.diff(split.offsets)
    n = future.n_targets(counts)
    assert len(split.test.users) == 943  # every ml-100k user has at least 20 ratings
    assert n.sum() == split.test.target_counts().sum()
    n_valid = future.held_out(counts)[1]
    assert split.valid.target_counts().sum() == n_valid.sum()
    assert len(split.train_labels) == 100000 - n.sum() - n_valid.sum() - 943  # - first


def test_future_metrics_by_hand():
    n_items = 200
    top = np.tile(np.arange(1, 51), (2, 1))  # both users: items 1..50 in order
    sets = [np.array([1, 3, 100]), np.array([60, 70])]
    genre = np.zeros(n_items, dtype=int)
    m = future.metrics(top, sets, genre, n_items)
    d = 1 / np.log2(np.arange(50) + 2)
    ndcg_user0 = (d[0] + d[2]) / (d[0] + d[1] + d[2])
    assert m["Recall@20"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["HR@20"] == pytest.approx(0.5)
    assert m["NDCG@20"] == pytest.approx(ndcg_user0 / 2)
    assert m["Recall@50"] == pytest.approx(1 / 3)
    assert set(m) == set(future.METRICS)
    assert protocols.get("future") is future
    with pytest.raises(ValueError, match="unknown protocol"):
        protocols.get("nope")


# --- overlap ---------------------------------------------------------------------------------


def run(capsys, *argv):
    code = cli_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_overlap_with_itself_is_one_and_agrees_with_export(model_home, capsys, tmp_path):
    bundles = model_home["bundles"]
    code, out, _ = run(capsys, "overlap", bundles[2], bundles[2], "--json")
    assert code == 0
    same = json.loads(out)
    assert same == {"users": 943, "n": 10, "jaccard": 1.0, "jaccard_sd": 0.0}
    code, out, _ = run(capsys, "overlap", bundles[2], bundles[4], "--n", "20", "--json")
    other = json.loads(out)
    assert other["n"] == 20 and 0.0 < other["jaccard"] < 1.0
    # an independent computation from export-embeddings' files, in numpy
    tops = []
    for k in (2, 4):
        d = tmp_path / f"k{k}"
        assert run(capsys, "export-embeddings", bundles[k], d)[0] == 0
        items = np.load(d / "items.npy")  # (I, D), no padding row
        interests, active = np.load(d / "user_interests.npy"), np.load(d / "user_active.npy")
        item_ids = json.loads((d / "item_ids.json").read_text())
        user_ids = json.loads((d / "user_ids.json").read_text())
        targets = json.loads((d / "targets.json").read_text())
        col = {i: c for c, i in enumerate(item_ids)}
        top = {}
        for row, uid in enumerate(user_ids):
            if str(uid) not in targets:
                continue
            scores = np.where(active[row][:, None], interests[row] @ items.T, -np.inf).max(0)
            scores[[col[i] for i in targets[str(uid)]["history"]]] = -np.inf
            top[uid] = set(np.argsort(-scores, kind="stable")[:20].tolist())
        tops.append(top)
    jac = [len(tops[0][u] & tops[1][u]) / len(tops[0][u] | tops[1][u]) for u in tops[0]]
    assert other["users"] == len(jac)
    assert other["jaccard"] == pytest.approx(float(np.mean(jac)), abs=0.01)


def test_overlap_between_seeds_is_below_one(model_home, capsys):
    from mind_core.artifacts.paths import default_bundle_path
    from mind_core.config import MINDConfig
    from mind_core.workflow.pipeline import train_bundle

    config = MINDConfig(**{**TINY_CONFIG, "epochs": 1}, interest_num=2, seed=1)
    path = train_bundle("ml-100k", config, out=default_bundle_path(config, "ml-100k"),
                        with_serving=False)
    code, out, _ = run(capsys, "overlap", model_home["bundles"][2], path, "--json")
    assert code == 0
    j = json.loads(out)["jaccard"]
    assert 0.0 < j < 1.0


# --- sweeps ----------------------------------------------------------------------------------


def test_sweep_over_a_non_k_setting(model_home, capsys, tmp_path):
    out = tmp_path / "sweep.json"
    base = {**TINY_CONFIG, "epochs": 1}
    args = ["sweep", "--param", "temperature", "--values", "0.1", "0.5", "--seeds", "0", "1",
            "--interest-num", "2", "--out", out, "--no-start-choice",
            "--workers", "0"]  # in this process (the workers: the merge sweep below)
    for key, value in base.items():
        args += [f"--{key.replace('_', '-')}",
                 *(map(str, value) if isinstance(value, tuple) else [str(value)])]
    code, printed, err = run(capsys, *args)
    assert code == 0, err
    summary = json.loads(out.read_text())
    assert summary["param"] == "temperature" and summary["values"] == [0.1, 0.5]
    names = [name for r in summary["results"] for name in r["bundles"]]
    assert len(set(names)) == 4  # one bundle per value x seed
    configs = [json.loads((model_home["home"] / "artifacts" / "ml-100k" / n / "config.json")
                          .read_text())["config"] for n in names]
    pairs = {(c["temperature"], c["seed"]) for c in configs}
    assert pairs == {(0.1, 0), (0.1, 1), (0.5, 0), (0.5, 1)}
    for c in configs:  # they differ only in the swept field and the seed
        rest = {k: v for k, v in c.items() if k not in ("temperature", "seed")}
        assert rest == {k: v for k, v in configs[0].items() if k not in ("temperature", "seed")}
        assert c["interest_num"] == 2 and c["epochs"] == 1
    for r in summary["results"]:
        assert r["seeds"] == [0, 1] and r["metrics"]["HR@50"]["n"] == 2
        assert r["seed_overlap"]["pairs"] == 1 and 0 < r["seed_overlap"]["mean"] < 1
    (comparison,) = summary["comparisons"]
    assert comparison["verdict"] in ("differs", "undecided")
    assert not math.isnan(comparison["between"])
    assert "noise floor" in printed
    # a second run reuses every bundle
    code, printed, _ = run(capsys, *args)
    assert code == 0 and printed.count("reused") == 4


def test_sweep_over_the_merge_rescores_the_same_models(model_home, capsys, tmp_path):
    out = tmp_path / "merge.json"
    args = ["sweep", "--param", "merge", "--values", "max_score", "proportional",
            "round_robin", "--seeds", "0", "1", "--interest-num", "2", "--out", out,
            "--no-start-choice"]
    for key, value in {**TINY_CONFIG, "epochs": 1}.items():
        args += [f"--{key.replace('_', '-')}",
                 *(map(str, value) if isinstance(value, tuple) else [str(value)])]
    code, printed, err = run(capsys, *args)
    assert code == 0, err
    assert printed.count("every strategy") == 2  # one model per seed, not per strategy
    summary = json.loads(out.read_text())
    assert summary["values"] == ["max_score", "proportional", "round_robin"]
    bundles = {tuple(r["bundles"]) for r in summary["results"]}
    assert len(bundles) == 1 and len(next(iter(bundles))) == 2  # the same two models each
    per_merge = {r["value"]: r["per_seed"]["HR@50"] for r in summary["results"]}
    assert per_merge["max_score"] != per_merge["round_robin"]  # the merge is scored
    for c in summary["comparisons"]:
        assert c["metrics"]["HR@50"]["verdict"] in ("differs", "undecided")
        assert c["verdict"] in ("differs", "undecided")  # the lists against the seed floor
        assert c["metrics"]["HR@50"]["n_a"] == 2 and c["metrics"]["HR@50"]["low"] is not None
    assert "difference of the means, Welch's t over seeds" in printed
    assert "95% interval" in printed and "over 2 seeds" in printed
    code, _, err = run(capsys, "sweep", "--param", "merge", "--values", "best")
    assert code == 2 and "unknown strategy 'best'" in err


def test_evaluate_scores_every_merge_and_keeps_the_bundles_own_row(model_home, capsys):
    code, out, _ = run(capsys, "evaluate", model_home["bundles"][4], "--json")
    assert code == 0
    report = json.loads(out)
    assert report["merge"] == "max_score"  # ml-100k's default (docs/results.md)
    recorded = json.loads((model_home["bundles"][4] / "metrics.json").read_text())
    for name, value in recorded["test"].items():
        assert report["models"]["MIND K=4"][name] == pytest.approx(value, abs=1e-6)
    assert report["merges"]["MIND K=4"]["max_score"] == report["models"]["MIND K=4"]
    assert set(report["merges"]["MIND K=4"]) == set(MERGE_STRATEGIES)
    code, out, _ = run(capsys, "evaluate", model_home["bundles"][4])
    assert "MIND K=4 under every merge strategy" in out and "proportional" in out


def test_sweep_refuses_bad_values(model_home, capsys):
    code, _, err = run(capsys, "sweep", "--param", "embed_dim", "--values", "x")
    assert code == 2 and "embed_dim: expected an int" in err
    code, _, err = run(capsys, "sweep", "--param", "device", "--values", "cpu")
    assert code == 2 and "cannot sweep 'device'" in err
