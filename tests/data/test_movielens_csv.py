"""The ml-20m/25m/32m/latest layout (ratings.csv + movies.csv, no user file), the synthetic
generator that writes it, and a model without a user profile trained, loaded and served."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import RATINGS, REPO, TINY_CONFIG, with_changes, write_files

from mind_core import cli
from mind_core.data import movielens_csv
from mind_core.data.readers import read_dataset
from mind_core.data.synth import generate
from mind_core.errors import DataError
from mind_core.features.encoding import encode

# ml-25m's own quirks: a title holding commas (quoted), one with trailing spaces, one with no
# year, a series with a year range, and "(no genres listed)"
CSV_MOVIES = {
    10: ('"Toy Story (1995)"', 1995, ["Adventure", "Animation", "Children"]),
    20: ('"American President, The (1995)"', 1995, ["Comedy", "Drama", "Romance"]),
    30: ("Babylon 5 (1994)  ", 1994, ["Sci-Fi"]),
    40: ("Hyena Road", None, []),
    50: ("Fawlty Towers (1975-1979)", 1975, ["Comedy"]),  # in movies.csv, never rated
}
CSV_RATINGS = [(u, i, r - 0.5 if i == 20 else float(r), 1_100_000_000 + t)
               for u, i, r, t in RATINGS]


def csv_layout_files() -> dict[str, bytes]:
    """The small dataset of conftest (same users, items, order) in the ml-25m layout."""
    ratings = ["userId,movieId,rating,timestamp"]
    ratings += [f"{u},{i},{r:.1f},{t}" for u, i, r, t in CSV_RATINGS]
    movies = ["movieId,title,genres"]
    movies += [f"{i},{t},{'|'.join(g) or '(no genres listed)'}" for i, (t, _, g) in
               CSV_MOVIES.items()]
    return {"ratings.csv": ("\n".join(ratings) + "\n").encode(),
            "movies.csv": ("\r\n".join(movies) + "\r\n").encode(),
            "tags.csv": b"userId,movieId,tag,timestamp\n1,10,pixar,1\n",
            "links.csv": b"movieId,imdbId,tmdbId\n10,0114709,862\n",
            "README.txt": b"Synthetic, for tests\n"}


@pytest.fixture
def write_csv_layout(tmp_path):
    """``write_csv_layout(as_zip=False, changes=None, folder="ml-25m")`` -> folder or zip."""
    counter = iter(range(1000))

    def write(as_zip=False, changes=None, folder="ml-25m"):
        files = with_changes(csv_layout_files(), changes)
        return write_files(tmp_path / f"ml-25m-{next(counter)}", files, as_zip, folder)

    return write


def check_tables(ds):
    inter = ds.interactions
    assert list(inter.itertuples(index=False, name=None)) == CSV_RATINGS  # file order kept
    assert [str(inter[c].dtype) for c in inter] == ["int32", "int32", "float32", "int64"]
    assert (ds.n_users, ds.n_items, len(inter)) == (3, 4, 9)
    assert not ds.has_profile and (ds.users == "").all().all()
    assert ds.items.loc[20, "title"] == "American President, The (1995)"
    assert ds.items.loc[30, "title"] == "Babylon 5 (1994)"  # trailing spaces dropped
    for i in (10, 20, 30, 40):
        _, year, genres = CSV_MOVIES[i]
        row = ds.items.loc[i]
        assert (None if row["year"] is None or str(row["year"]) == "<NA>" else row["year"]) \
            == year
        assert row["genres"] == genres


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_reads_the_ml25m_layout(write_csv_layout, as_zip):
    check_tables(read_dataset(write_csv_layout(as_zip=as_zip)))


def test_ratings_csv_given_directly_reads_movies_beside_it(write_csv_layout):
    ds = read_dataset(write_csv_layout(folder="") / "ratings.csv")
    check_tables(ds)


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_cli_info_json(write_csv_layout, as_zip, capsys):
    assert cli.main(["data", "info", str(write_csv_layout(as_zip=as_zip)), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["users"], info["items"], info["interactions"]) == (3, 4, 9)
    assert info["has_profile"] is False and info["evaluated_users"] == 2  # user 2 has 2
    assert info["genres"] == ["Adventure", "Animation", "Children", "Comedy", "Drama",
                              "Romance", "Sci-Fi"]


def test_encoding_without_a_profile_has_only_unknown_features(write_csv_layout):
    enc = encode(read_dataset(write_csv_layout()))
    assert enc.has_profile is False
    # no real feature: every vocabulary is just the unknown value, every code 0
    assert all(vocab == [""] for vocab in enc.feature_vocab.values())
    assert enc.user_features.shape == (3, len(enc.feature_vocab))
    assert not enc.user_features.any()
    assert enc.users.dtype == np.int32 and enc.ratings.dtype == np.float32


def _bad_line(files, name, number, new):
    lines = files[name].split(b"\n")
    lines[number - 1] = new
    return b"\n".join(lines)


BAD = csv_layout_files()


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
@pytest.mark.parametrize("changes, expect", [
    ({"ratings.csv": _bad_line(BAD, "ratings.csv", 4, b"1,x30,4.0,1100000090")},
     "ratings.csv, line 4: column 'movieId': expected an integer, found 'x30'"),
    ({"ratings.csv": _bad_line(BAD, "ratings.csv", 3, b"1,20,3.5")},
     "ratings.csv, line 3: expected 4 fields separated by ','"),
    ({"ratings.csv": _bad_line(BAD, "ratings.csv", 9, b"3,10,4.0,1100000080,7")},
     "ratings.csv, line 9: expected 4 fields"),
    ({"ratings.csv": _bad_line(BAD, "ratings.csv", 2, b"1,10,,1100000100")},
     "ratings.csv, line 2: column 'rating': expected a number, found ''"),
    ({"ratings.csv": _bad_line(BAD, "ratings.csv", 5, b"2,10,inf,1100000050")},
     "ratings.csv, line 5: column 'rating': expected a number, found 'inf'"),
    ({"ratings.csv": _bad_line(BAD, "ratings.csv", 10, b"3,30,3.0,tomorrow")},
     "ratings.csv, line 10: column 'timestamp': expected a finite timestamp"),
    ({"ratings.csv": _bad_line(BAD, "ratings.csv", 6, b"2,40,2.0,1\xff")},
     "ratings.csv, line 6: not valid utf-8 text"),
    ({"ratings.csv": b"user,movie,rating,timestamp\n1,10,4.0,1\n"},
     "ratings.csv, line 1: expected the header userId,movieId,rating,timestamp"),
    ({"ratings.csv": b""}, "ratings.csv: file is empty"),
    ({"ratings.csv": b"userId,movieId,rating,timestamp\n"}, "ratings.csv: file has a header "
                                                          "but no rows"),
    ({"movies.csv": None}, "movies.csv: missing: the layout of ratings.csv needs movies.csv"),
    ({"movies.csv": b"movieId,title,genres\n10,Toy Story (1995),Comedy\nten,X,Drama\n"},
     "movies.csv, line 3: column 'movieId': expected an integer, found 'ten'"),
    ({"movies.csv": b"movieId,title,genres\n10,Four Rooms, The (1995),Comedy\n"},
     "movies.csv, line 2: expected 3 comma-separated fields"),
    ({"movies.csv": b"movieId,name,genres\n10,X,Drama\n"},
     "movies.csv, line 1: expected the header movieId,title,genres"),
], ids=["id", "short row", "long row", "empty rating", "inf rating", "timestamp", "utf-8",
        "header", "empty", "no rows", "no movies.csv", "movie id", "unquoted comma",
        "movies header"])
def test_bad_files_name_file_line_and_what_was_expected(write_csv_layout, changes, expect,
                                                        as_zip):
    path = write_csv_layout(as_zip=as_zip, changes=changes)
    with pytest.raises(DataError) as info:
        read_dataset(path)
    message = str(info.value)
    assert expect in message
    assert message.startswith(f"{path}:" if as_zip else str(path))


def test_bad_line_in_a_later_chunk_and_ids_past_int32(write_csv_layout, monkeypatch):
    monkeypatch.setattr(movielens_csv, "CSV_CHUNK_ROWS", 2)  # five chunks for nine rows
    ds = read_dataset(write_csv_layout())
    check_tables(ds)
    big = _bad_line(BAD, "ratings.csv", 9, b"3000000000,10,4.0,1100000080")
    ds = read_dataset(write_csv_layout(changes={"ratings.csv": big}))
    assert str(ds.interactions["user"].dtype) == "int64"
    assert ds.interactions["user"].iloc[7] == 3_000_000_000
    bad = _bad_line(BAD, "ratings.csv", 9, b"3,10,4.0,soon")
    with pytest.raises(DataError, match="ratings.csv, line 9: column 'timestamp'"):
        read_dataset(write_csv_layout(changes={"ratings.csv": bad}))


def test_cli_info_on_a_bad_file_exits_2(write_csv_layout):
    bad = _bad_line(BAD, "ratings.csv", 3, b"1,20,3.5")
    path = write_csv_layout(as_zip=True, changes={"ratings.csv": bad})
    proc = subprocess.run([sys.executable, "-m", "mind_core.cli", "data", "info", str(path),
                           "--json"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"error: {path}:ml-25m/ratings.csv, line 3: expected 4 fields")
    assert "Traceback" not in proc.stderr


# --- the synthetic generator ------------------------------------------------------------------


def _digest(folder) -> str:
    return hashlib.sha256((folder / "ratings.csv").read_bytes()
                          + (folder / "movies.csv").read_bytes()).hexdigest()


def test_synth_is_seeded_and_reads_back(tmp_path, capsys):
    argv = ["data", "synth", "--users", "300", "--items", "400", "--ratings", "12000",
            "--clusters", "5", "--quiet", "--out"]
    assert cli.main([*argv, str(tmp_path / "a")]) == 0
    assert cli.main([*argv, str(tmp_path / "b")]) == 0
    assert cli.main([*argv, str(tmp_path / "c"), "--seed", "1"]) == 0
    capsys.readouterr()
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no temp left

    assert cli.main(["data", "info", str(tmp_path / "a"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["users"], info["interactions"]) == (300, 12000)
    assert 300 < info["items"] <= 400 and info["has_profile"] is False

    ds = read_dataset(tmp_path / "a")
    inter = ds.interactions
    assert (np.diff(inter["user"].to_numpy()) >= 0).all()  # sorted by user, then time
    same_user = np.diff(inter["user"].to_numpy()) == 0
    assert (np.diff(inter["timestamp"].to_numpy())[same_user] > 0).all()
    assert not inter.duplicated(["user", "item"]).any()  # a movie rated once per user
    assert inter.groupby("user").size().min() >= 20
    assert set(np.unique(inter["rating"])) <= {h / 2 for h in range(1, 11)}
    # taste clusters: a user's movies come from few of the 5 first genres, and sessions stick
    primary = ds.items["genres"].map(lambda g: g[0] if g else "").reindex(inter["item"])
    assert primary[primary != ""].nunique() == 5
    seq = primary.to_numpy()
    assert (seq[1:] == seq[:-1])[same_user].mean() > 0.6


def test_synth_refuses_impossible_shapes(tmp_path, capsys):
    assert cli.main(["data", "synth", "--users", "10", "--items", "10", "--ratings", "60",
                     "--out", str(tmp_path / "x")]) == 2
    assert "half of all 10 x 10" in capsys.readouterr().err
    assert cli.main(["data", "synth", "--users", "10", "--items", "10", "--ratings", "5",
                     "--out", str(tmp_path / "x")]) == 2
    assert "cannot give each of 10 users one" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# --- a model without a profile: train, load, recommend ----------------------------------------


@pytest.fixture
def synth_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    generate(home / "synth-small", users=120, items=150, ratings=4000, clusters=4, seed=3)
    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(home))
    return home


def test_model_without_a_profile_trains_loads_and_serves(synth_home, capsys):
    from mind_core.artifacts.bundle import load_bundle
    from mind_core.config import MINDConfig
    from mind_core.workflow.pipeline import forget_loaded_data, load_data, train_bundle

    forget_loaded_data()
    config = MINDConfig(**{**TINY_CONFIG, "epochs": 2}, interest_num=2)  # beats popularity here
    path = train_bundle("synth-small", config, out=synth_home / "bundle", with_map=False)
    bundle = load_bundle(path)
    data = load_data("synth-small", config.max_length)
    assert data.encoded.has_profile is False
    assert bundle.meta["dataset"] == "synth-small"
    vocab = bundle.id_maps["feature_vocab"]
    assert vocab == data.encoded.feature_vocab and all(v == [""] for v in vocab.values())
    model = bundle.load_model(data.encoded)
    assert model.interest_mlp.profile.num_embeddings == len(vocab)  # one unknown code each
    assert bundle.metrics["test"]["HR@50"] > bundle.metrics["baselines"]["popularity"]["HR@50"]
    user = int(data.encoded.user_ids[5])
    for backend in ("annoy", "exact", "faiss"):
        assert cli.main(["recommend", str(path), "--user", str(user), "--n", "5", "--json",
                         "--backend", backend]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["user"] == user and len(out["merged"]) == 5
        assert all(m["title"].startswith("Synthetic movie") for m in out["merged"])
    forget_loaded_data()


def test_synth_cli_through_the_entry_point(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "mind-core")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "mind_core.cli"]
    proc = subprocess.run([*cmd, "data", "synth", "--users", "20", "--items", "60",
                           "--ratings", "400", "--out", str(tmp_path / "s"), "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["ratings"] == 400 and summary["users"] == 20
    assert (tmp_path / "s" / "ratings.csv").read_bytes().startswith(
        b"userId,movieId,rating,timestamp\n")
