"""Shared fixtures: the real ml-100k (read once per session) and small files in every layout.

The small layouts all hold the same ratings, users and movies (``RATINGS``, ``USERS``,
``MOVIES``), so one set of expectations checks every reader.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from pathlib import Path

import pytest

# Pages that train start the board's workers ahead of a click (each compiling UMAP for ~20 s):
# here they start with the request instead (tests/workflow/test_jobs.py warms them itself).
os.environ.setdefault("MIND_WARM_WORKERS", "0")
if os.environ.get("PYTEST_XDIST_WORKER"):  # two workers on two cores: one thread each, so
    os.environ["OMP_NUM_THREADS"] = "1"     # they and their child processes do not thrash
    import torch

    torch.set_num_threads(1)

from mind_core.artifacts import list_bundles, load_bundle  # noqa: E402
from mind_core.data.fetch import data_dir
from mind_core.data.readers import ML100K_GENRES, read_dataset
from mind_core.features.encoding import encode
from mind_core.features.split import build_split

REPO = Path(__file__).resolve().parent.parent
SHARED_TUTORIAL_CSV = REPO.parent / "shared" / "datasets" / "ml-1m_sample.csv"

# (user, item, rating, timestamp), in file order. User 1 rates 10 and 20 at the same second
# (a tie kept in file order); item 30's title is not ASCII and item 40's holds a comma.
RATINGS = [
    (1, 10, 5, 100), (1, 20, 3, 100), (1, 30, 4, 90), (2, 10, 1, 50), (2, 40, 2, 60),
    (3, 20, 5, 70), (1, 40, 2, 200), (3, 10, 4, 80), (3, 30, 3, 80),
]
USERS = {1: ("M", "24", "technician", "85711"), 2: ("F", "53", "other", "94043"),
         3: ("M", "23", "writer", "32067")}
MOVIES = {
    10: ("Toy Story", 1995, ["Animation", "Children's", "Comedy"]),
    20: ("GoldenEye", 1995, ["Action", "Adventure", "Thriller"]),
    30: ("Amélie", 2001, ["Comedy", "Romance"]),
    40: ("Four Rooms, The", 1995, ["Thriller"]),
}
LAYOUTS = ["recbole", "grouplens-100k", "grouplens-1m", "tutorial-csv"]


def _title(item: int) -> str:
    title, year, _ = MOVIES[item]
    return f"{title} ({year})"


def layout_files(layout: str) -> dict[str, bytes]:
    """The small dataset as ``{file name: bytes}`` in one layout."""
    if layout == "recbole":
        inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
        inter += [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in RATINGS]
        user = ["user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"]
        user += [f"{u}\t{a}\t{g}\t{o}\t{z}" for u, (g, a, o, z) in USERS.items()]
        item = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
        item += [f"{i}\t{t}\t{y}\t{' '.join(gs)}" for i, (t, y, gs) in MOVIES.items()]
        return {"toy.inter": _text(inter, "utf-8"), "toy.user": _text(user, "utf-8"),
                "toy.item": _text(item, "utf-8")}
    if layout == "grouplens-100k":
        data = [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in RATINGS]
        user = [f"{u}|{a}|{g}|{o}|{z}" for u, (g, a, o, z) in USERS.items()]
        item = []
        for i, (_, y, gs) in MOVIES.items():
            flags = "|".join("1" if g in gs else "0" for g in ML100K_GENRES)
            item.append(f"{i}|{_title(i)}|01-Jan-{y}||http://example.org/{i}|{flags}")
        return {"u.data": _text(data, "latin-1"), "u.user": _text(user, "latin-1"),
                "u.item": _text(item, "latin-1")}
    if layout == "grouplens-1m":
        ratings = [f"{u}::{i}::{r}::{t}" for u, i, r, t in RATINGS]
        users = [f"{u}::{g}::{a}::{o}::{z}" for u, (g, a, o, z) in USERS.items()]
        movies = [f"{i}::{_title(i)}::{'|'.join(gs)}" for i, (_, _, gs) in MOVIES.items()]
        return {"ratings.dat": _text(ratings, "latin-1"), "users.dat": _text(users, "latin-1"),
                "movies.dat": _text(movies, "latin-1")}
    if layout == "tutorial-csv":
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["user_id", "movie_id", "rating", "timestamp", "title", "genres", "gender",
                    "age", "occupation", "zip"])
        for u, i, r, t in RATINGS:
            g, a, o, z = USERS[u]
            w.writerow([u, i, r, t, _title(i), "|".join(MOVIES[i][2]), g, a, o, z])
        return {"ratings.csv": out.getvalue().encode("utf-8")}
    raise ValueError(layout)


def _text(lines: list[str], encoding: str) -> bytes:
    return ("\n".join(lines) + "\n").encode(encoding)


def write_files(root: Path, files: dict[str, bytes], as_zip: bool = False,
                folder: str = "") -> Path:
    """Write ``files`` into folder ``root`` (or ``root``.zip), under ``folder`` inside it."""
    prefix = f"{folder}/" if folder else ""
    if as_zip:
        path = root.with_suffix(".zip")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in files.items():
                z.writestr(prefix + name, data)
        return path
    for name, data in files.items():
        target = root / prefix / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


@pytest.fixture
def write_layout(tmp_path):
    """``write_layout(layout, as_zip=False, changes=None, folder="")`` -> a folder or zip path.

    ``changes`` maps a file name to new bytes (or None to leave the file out)."""
    counter = iter(range(1000))

    def write(layout, as_zip=False, changes=None, folder=""):
        files = with_changes(layout_files(layout), changes)
        return write_files(tmp_path / f"{layout}-{next(counter)}", files, as_zip, folder)

    return write


def with_changes(files: dict[str, bytes], changes: dict | None) -> dict[str, bytes]:
    """``files`` with ``changes`` applied: new bytes per name, or None to leave a file out."""
    files = dict(files)
    for name, data in (changes or {}).items():
        if data is None:
            files.pop(name)
        else:
            files[name] = data
    return files


# --- the real MovieLens-100K --------------------------------------------------------------

ML100K_DIR = data_dir() / "ml-100k"


@pytest.fixture(scope="session")
def ml100k():
    if not (ML100K_DIR / "ml-100k.inter").exists():
        pytest.fail(f"{ML100K_DIR} is missing: run `mind-core data fetch ml-100k` (make test does)")
    return read_dataset(ML100K_DIR)


@pytest.fixture(scope="session")
def ml100k_encoded(ml100k):
    return encode(ml100k)


@pytest.fixture(scope="session")
def ml100k_split(ml100k_encoded):
    return build_split(ml100k_encoded, max_length=50)


# --- trained models -------------------------------------------------------------------------

# Small enough to train in a few seconds, big enough to beat popularity: used by every test that
# needs a real trained bundle (retrieval, projection, ONNX, CLI, app).
TINY_CONFIG = dict(embed_dim=16, max_length=20, epochs=1, batch_size=1024, patience=1,
                   learning_rate=5e-3, mlp_hidden=(32,))
TINY_INTEREST_NUMS = (1, 2, 4)


def _train_tiny_bundles(home: Path, ks=TINY_INTEREST_NUMS) -> None:
    """The tiny bundles of ``ks`` under ``home/artifacts/ml-100k/`` (``home`` is the data
    folder in ``MIND_CORE_DATA_DIR``)."""
    from mind_core.artifacts.paths import default_bundle_path
    from mind_core.config import MINDConfig
    from mind_core.workflow.pipeline import train_bundle

    for k in ks:
        config = MINDConfig(**TINY_CONFIG, interest_num=k)
        if not (default_bundle_path(config, "ml-100k") / "config.json").is_file():
            train_bundle("ml-100k", config, out=default_bundle_path(config, "ml-100k"))


def _shared_tiny_bundles(home: Path, shared: Path) -> None:
    """Under xdist each worker has its own session: the workers train the tiny bundles once
    into ``shared``, each taking the K values no other worker has taken (so two workers build
    side by side), then wait for the rest, and every worker copies them into its own data
    folder, so no test sees another worker's changes."""
    import shutil

    from filelock import FileLock, Timeout

    with FileLock(str(shared) + ".lock"):
        shared.mkdir(parents=True, exist_ok=True)
        if not (shared / "ml-100k").exists():
            (shared / "ml-100k").symlink_to(data_dir() / "ml-100k", target_is_directory=True)
    locks = {k: FileLock(str(shared) + f".k{k}.lock") for k in TINY_INTEREST_NUMS}
    os.environ["MIND_CORE_DATA_DIR"] = str(shared)
    try:
        for k, lock in locks.items():
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue  # another worker is building it
            try:
                _train_tiny_bundles(shared, (k,))
            finally:
                lock.release()
        for lock in locks.values():  # the ones other workers took
            with lock:
                pass
        _train_tiny_bundles(shared)  # none if every worker finished its own
    finally:
        os.environ["MIND_CORE_DATA_DIR"] = str(home)
    shutil.copytree(shared / "artifacts", home / "artifacts", symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".lock-*"))


@pytest.fixture(scope="session")
def model_home(tmp_path_factory):
    """A data folder holding the real ml-100k (linked, not copied) and tiny trained bundles for
    K = 1, 2, 4 under ``artifacts/ml-100k/``. ``MIND_CORE_DATA_DIR`` points at it for the
    session, so the CLI, the pipeline and the app all find these models and nothing else."""
    from mind_core.artifacts.paths import default_bundle_path
    from mind_core.config import MINDConfig

    real = data_dir() / "ml-100k"
    if not (real / "ml-100k.inter").is_file():
        pytest.skip("ml-100k not fetched: run `make data`")
    # MIND_TEST_MODEL_HOME: a folder kept between runs (its models are trained once), for
    # quick local iterations; CI leaves it unset and trains into a fresh temporary folder.
    kept = os.environ.get("MIND_TEST_MODEL_HOME")
    home = Path(kept) if kept else tmp_path_factory.mktemp("home")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "ml-100k").exists():
        (home / "ml-100k").symlink_to(real, target_is_directory=True)
    previous = os.environ.get("MIND_CORE_DATA_DIR")
    os.environ["MIND_CORE_DATA_DIR"] = str(home)
    try:
        if os.environ.get("PYTEST_XDIST_WORKER") and not kept:
            # the workers' base folders share this run's parent (pytest-of-<user>/pytest-<n>)
            _shared_tiny_bundles(home, tmp_path_factory.getbasetemp().parent / "tiny-bundles")
        else:
            _train_tiny_bundles(home)
        paths = {k: default_bundle_path(MINDConfig(**TINY_CONFIG, interest_num=k), "ml-100k")
                 for k in TINY_INTEREST_NUMS}
        assert all((p / "config.json").is_file() for p in paths.values()), paths
        yield {"home": home, "bundles": paths}
    finally:
        if previous is None:
            os.environ.pop("MIND_CORE_DATA_DIR", None)
        else:
            os.environ["MIND_CORE_DATA_DIR"] = previous


@pytest.fixture(scope="session")
def home(request):
    """The app tests' models: ``{"home": data folder, "bundles": {k: path}}`` with
    MIND_CORE_DATA_DIR pointing at it (``MIND_TEST_MODEL_HOME``: a prebuilt folder)."""
    prebuilt = os.environ.get("MIND_TEST_MODEL_HOME")
    if prebuilt:
        previous = os.environ.get("MIND_CORE_DATA_DIR")
        os.environ["MIND_CORE_DATA_DIR"] = prebuilt
        bundles = {load_bundle(p).config.interest_num: p for p in list_bundles("ml-100k")}
        yield {"home": Path(prebuilt), "bundles": bundles}
        if previous is None:
            os.environ.pop("MIND_CORE_DATA_DIR", None)
        else:
            os.environ["MIND_CORE_DATA_DIR"] = previous
        return
    yield request.getfixturevalue("model_home")


# --- order: the longest files first ----------------------------------------------------------

# With `--dist loadfile` each file runs whole on one worker, in collection order: a long file
# collected last leaves the other worker idle at the end. These run longest (seconds, measured
# by `pytest --durations=0`), so they start first and the short files fill in around them.
LONGEST_FIRST = (
    "tests/browser/test_browser.py", "tests/artifacts/test_bundle.py",
    "tests/app/test_links_and_playground.py", "tests/app/test_app.py",
    "tests/training/test_distributed.py", "tests/serving/test_retrieval.py",
    "tests/app/test_sharing.py", "tests/protocols/test_protocols.py",
    "tests/model/test_model.py",
    "tests/workflow/test_jobs.py", "tests/data/test_fetch.py", "tests/workflow/test_choosing.py",
    "tests/serving/test_projection.py", "tests/data/test_readers.py",
    "tests/artifacts/test_lock.py", "tests/data/test_movielens_csv.py",
    "tests/artifacts/test_crash.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a file, and of the rest, is kept
