"""The taste-mixture generator (``mind-core data synth --preset tastes``): seeded bytes, a truth
that matches the ratings it describes, knobs that do what they say, readers that ignore the
truth file, and clear errors for knobs it cannot honour."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import zipfile

import numpy as np
import pytest

from mind_core import cli
from mind_core.data.readers import read_dataset
from mind_core.data.tastes import (
    PRESETS,
    TASTES,
    TRUTH_FILE,
    TastesConfig,
    generate_tastes,
    has_truth,
    load_truth,
    parse_range,
)
from mind_core.errors import DataError

SMALL = dataclasses.replace(TASTES, users=300, items=400, clusters=8, tastes=(2, 3),
                            history=(20, 50), stray=0.1, seed=4)
FILES = ("ratings.csv", "movies.csv", TRUTH_FILE)


def _digest(folder) -> str:
    return hashlib.sha256(b"".join((folder / f).read_bytes() for f in FILES)).hexdigest()


def _ratings_with_truth(folder):
    """(users, clusters, in_taste) per rating in file order, and the truth."""
    truth = load_truth(folder)
    inter = read_dataset(folder).interactions
    users = inter["user"].to_numpy()
    clusters = np.array([truth.item_cluster[int(i)] for i in inter["item"]])
    in_taste = np.array([c in truth.user_tastes[int(u)] for u, c in zip(users, clusters,
                                                                       strict=True)])
    return users, clusters, in_taste, truth


def test_same_seed_same_bytes(tmp_path):
    generate_tastes(tmp_path / "a", SMALL)
    generate_tastes(tmp_path / "b", SMALL)
    generate_tastes(tmp_path / "c", dataclasses.replace(SMALL, seed=5))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no temp left
    generate_tastes(tmp_path / "a", dataclasses.replace(SMALL, seed=5))  # replaced in place
    assert _digest(tmp_path / "a") == _digest(tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]


def test_truth_matches_the_ratings(tmp_path):
    summary = generate_tastes(tmp_path / "t", SMALL)
    users, clusters, in_taste, truth = _ratings_with_truth(tmp_path / "t")
    assert truth.config == SMALL and truth.knobs == SMALL.knobs()
    assert truth.clusters == ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime",
                              "Documentary", "Drama"]
    assert sorted(truth.user_tastes) == list(range(1, SMALL.users + 1))
    assert sorted(truth.item_cluster) == list(range(1, SMALL.items + 1))
    assert all(2 <= len(t) <= 3 and len(set(t)) == len(t) for t in truth.user_tastes.values())
    assert np.bincount(list(truth.item_cluster.values())).tolist() == [50] * 8  # equal sizes

    # every rating is in one of its user's tastes but the strays, whose share is the knob's
    stray_share = 1 - in_taste.mean()
    assert stray_share == pytest.approx(truth.stray_share, abs=1e-6)
    assert stray_share == pytest.approx(summary["stray_share"], abs=1e-6)
    assert abs(stray_share - SMALL.stray) < 0.015  # ~10,500 ratings: sd 0.003
    counts = np.bincount(users)[1:]
    assert counts.min() >= 20 and counts.max() <= 50 and len(counts) == SMALL.users
    assert summary["ratings"] == len(users)

    # a movie carries its cluster's genre (and only it), so the genre embeddings see it
    ds = read_dataset(tmp_path / "t")
    for item, genres in ds.items["genres"].items():
        assert genres == [truth.clusters[truth.item_cluster[int(item)]]]
    inter = ds.interactions
    assert not inter.duplicated(["user", "item"]).any()  # a movie rated once per user
    same_user = np.diff(inter["user"].to_numpy()) == 0
    assert (np.diff(inter["user"].to_numpy()) >= 0).all()
    assert (np.diff(inter["timestamp"].to_numpy())[same_user] > 0).all()
    assert set(np.unique(inter["rating"])) <= {h / 2 for h in range(1, 11)}


@pytest.mark.parametrize("stickiness", [0.5, 0.9])
def test_the_history_is_a_sticky_chain_over_the_tastes(tmp_path, stickiness):
    config = dataclasses.replace(SMALL, stray=0.0, stickiness=stickiness, tastes=(2, 4))
    generate_tastes(tmp_path / "t", config)
    users, clusters, in_taste, truth = _ratings_with_truth(tmp_path / "t")
    assert in_taste.all() and truth.stray_share == 0
    # stickiness is exactly the chance to stay: a move always goes to another taste
    same_user = users[1:] == users[:-1]
    assert abs((clusters[1:] == clusters[:-1])[same_user].mean() - stickiness) < 0.03
    # and the chain does visit several tastes of most users
    visited = [len(set(clusters[users == u])) for u in range(1, 51)]
    assert np.mean(visited) > 1.5


def test_readers_and_data_info_ignore_the_truth(tmp_path, capsys):
    generate_tastes(tmp_path / "t", SMALL)
    folder = tmp_path / "t"
    ds = read_dataset(folder)
    assert ds.name == "t" and ds.has_profile is False and ds.n_users == SMALL.users
    assert len(read_dataset(folder / "ratings.csv").interactions) == len(ds.interactions)
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as z:
        for f in FILES:
            z.write(folder / f, f"t/{f}")
    assert read_dataset(tmp_path / "t.zip").fingerprint() == ds.fingerprint()
    assert cli.main(["data", "info", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["users"], info["interactions"]) == (SMALL.users, len(ds.interactions))
    assert info["genres"] == sorted(load_truth(folder).clusters)


def test_the_tastes_preset_from_the_command_line(tmp_path, capsys):
    assert PRESETS["tastes"] == TASTES
    assert TASTES.knobs() == {"users": 2500, "items": 2700, "clusters": 18, "tastes": [2, 4],
                              "history": [40, 150], "stickiness": 0.8, "stray": 0.05,
                              "seed": 0}
    assert cli.main(["data", "synth", "--preset", "tastes", "--out", str(tmp_path / "tastes"),
                     "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["knobs"] == TASTES.knobs() and summary["users"] == 2500
    assert 40 * 2500 <= summary["ratings"] <= 150 * 2500
    truth = load_truth(tmp_path / "tastes")
    assert truth.config == TASTES and abs(truth.stray_share - 0.05) < 0.005
    assert has_truth(tmp_path / "tastes") and has_truth(tmp_path / "tastes" / "ratings.csv")


def test_taste_flags_override_the_preset(tmp_path, capsys):
    argv = ["data", "synth", "--tastes", "3", "--history", "10-20", "--users", "50",
            "--items", "200", "--clusters", "5", "--stray", "0", "--stickiness", "0.5",
            "--seed", "7", "--out", str(tmp_path / "t")]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "truth in" in out and "3-3 tastes per user" in out
    truth = load_truth(tmp_path / "t")
    assert truth.config == TastesConfig(users=50, items=200, clusters=5, tastes=(3, 3),
                                        history=(10, 20), stickiness=0.5, stray=0.0, seed=7)
    assert all(len(t) == 3 for t in truth.user_tastes.values())


def test_the_mixed_cluster_synth_still_needs_its_shape(tmp_path, capsys):
    assert cli.main(["data", "synth", "--users", "20", "--out", str(tmp_path / "x")]) == 2
    assert "needs --items, --ratings" in capsys.readouterr().err
    assert cli.main(["data", "synth", "--users", "20", "--items", "60", "--ratings", "400",
                     "--quiet", "--out", str(tmp_path / "x")]) == 0
    assert not (tmp_path / "x" / TRUTH_FILE).exists() and not has_truth(tmp_path / "x")


@pytest.mark.parametrize(("changes", "message"), [
    ({"users": 0}, "users: expected an integer >= 1"),
    ({"seed": -1}, "seed: expected an integer >= 0"),
    ({"clusters": 20}, "clusters: expected 1 to 19"),
    ({"clusters": 5, "items": 4}, "clusters: expected 1 to 4"),
    ({"tastes": (3, 2)}, "tastes: the minimum 3 is above the maximum 2"),
    ({"tastes": (0, 2)}, "tastes minimum: expected an integer >= 1"),
    ({"tastes": (2, 19)}, "tastes: a user's tastes are distinct clusters, so at most "
                          "clusters = 18"),
    ({"tastes": 3}, "tastes: expected a (min, max) range"),
    ({"history": (40, 151)}, "history: at most 150 ratings per user (items // clusters"),
    ({"history": (50, 40)}, "history: the minimum 50 is above the maximum 40"),
    ({"stickiness": 1.5}, "stickiness: expected a probability in [0, 1]"),
    ({"stickiness": float("nan")}, "stickiness: expected a probability"),
    ({"stray": 1.0}, "stray: expected a probability in [0, 1)"),
    ({"tastes": (2, 18)}, "stray: a stray rating comes from a cluster outside"),
])
def test_bad_knobs_are_refused_by_name(tmp_path, changes, message):
    with pytest.raises(ValueError) as e:
        generate_tastes(tmp_path / "t", dataclasses.replace(TASTES, **changes))
    assert message in str(e.value)
    assert not any(tmp_path.iterdir())  # nothing written


def test_every_tastes_per_user_up_to_all_clusters_is_fine_without_strays(tmp_path):
    config = TastesConfig(users=30, items=60, clusters=3, tastes=(3, 3), history=(5, 20),
                          stray=0.0)
    generate_tastes(tmp_path / "t", config)
    assert all(t == (0, 1, 2) for t in load_truth(tmp_path / "t").user_tastes.values())


@pytest.mark.parametrize(("argv", "message"), [
    (["--preset", "tastes", "--ratings", "100"], "--ratings: a taste-mixture dataset"),
    (["--tastes", "two"], "--tastes: expected a count or a range MIN-MAX"),
    (["--history", "10-"], "--history: expected a count or a range MIN-MAX"),
    (["--tastes", "5-20"], "tastes: a user's tastes are distinct clusters"),
    (["--stray", "-0.1"], "stray: expected a probability"),
])
def test_bad_flags_exit_2_with_the_reason(tmp_path, capsys, argv, message):
    assert cli.main(["data", "synth", *argv, "--out", str(tmp_path / "t")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_parse_range():
    assert parse_range("2-4", "tastes") == (2, 4)
    assert parse_range(" 3 ", "tastes") == (3, 3)
    assert parse_range("40 - 150", "history") == (40, 150)
    with pytest.raises(ValueError, match="history: expected a count or a range"):
        parse_range("4:5", "history")


def test_load_truth_refuses_what_it_cannot_trust(tmp_path):
    generate_tastes(tmp_path / "t", SMALL)
    folder = tmp_path / "t"
    assert load_truth(folder / TRUTH_FILE).user_tastes == load_truth(folder).user_tastes

    with pytest.raises(DataError, match="no taste truth here"):
        load_truth(_copy_without_truth(folder, tmp_path))

    doc = json.loads((folder / TRUTH_FILE).read_text())
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    for mutate, field in [
        (lambda d: d.update(format="pickle"), "field 'format'"),
        (lambda d: d.update(version=2), "field 'version': expected 1"),
        (lambda d: d["users"].update(tastes=d["users"]["tastes"][:-1]), "field 'users.tastes'"),
        (lambda d: d["users"]["tastes"][0].append(99), "field 'users.tastes'"),
        (lambda d: d["movies"].update(clusters=[0] * 3), "'movies.ids' and 'movies.clusters'"),
        (lambda d: d["knobs"].update(stray=2.0), "field 'knobs': stray"),
        (lambda d: d["knobs"].update(colour=1), "field 'knobs': unknown knob(s) colour"),
    ]:
        changed = json.loads(json.dumps(doc))
        mutate(changed)
        (broken / TRUTH_FILE).write_text(json.dumps(changed))
        with pytest.raises(DataError) as e:
            load_truth(broken)
        assert field in str(e.value) and str(broken / TRUTH_FILE) in str(e.value)
    (broken / TRUTH_FILE).write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_truth(broken)

    # a truth never describes other ratings silently
    (broken / TRUTH_FILE).write_text(json.dumps(doc))
    load_truth(broken)
    with open(broken / "ratings.csv", "ab") as f:
        f.write(b"1,1,3.0,1574327703\n")
    with pytest.raises(DataError, match="ratings.csv has changed"):
        load_truth(broken)
    assert load_truth(broken, verify=False).stray_share == doc["stray_share"]


def _copy_without_truth(folder, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    (bare / TRUTH_FILE).unlink()
    return bare
