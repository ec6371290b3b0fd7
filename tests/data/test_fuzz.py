"""Property-based fuzzing (Hypothesis) of every dataset reader and of ``load_bundle``.

Whatever bytes a user points the project at, the answer is a valid dataset or bundle, or the
project's own error (:class:`DataError`, :class:`BundleError`) naming the file; never another
exception, a hang (a SIGALRM per example fails the test) or a write into what was read.

Inputs start from real files: the small dataset of ``conftest.layout_files`` in every layout
(as a folder and as a zip), and a real bundle saved by ``save_bundle`` (an untrained MIND on that
dataset, with its Annoy index), then get arbitrary bytes, truncations, byte flips, line edits
and field mutations. Bundle mutations are tried both as they come (the manifest must refuse
them) and re-sealed (the manifest rewritten to vouch for them, so the deeper checks of every
file are what is fuzzed). Budgets are fixed (``max_examples``) and the whole file runs in about
15 s here.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import LAYOUTS, RATINGS, layout_files, write_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mind_core.artifacts.bundle import load_bundle, save_bundle
from mind_core.artifacts.manifest import MANIFEST_FILE, verify_bundle, write_manifest
from mind_core.config import MINDConfig
from mind_core.data.readers import read_dataset
from mind_core.errors import BundleError, DataError
from mind_core.features.encoding import encode
from mind_core.features.split import build_split
from mind_core.model.mind import build_model
from mind_core.serving import load_index
from mind_core.serving.projection import load_projection

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HANG_SECONDS = 10


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS):
    def alarm(*_):
        raise TimeoutError(f"hung for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def snapshot(root: Path) -> dict:
    """Every file under ``root`` with its size and sha256: what a reader must leave as it was."""
    return {str(p.relative_to(root)): (p.stat().st_size, hashlib.sha256(p.read_bytes()).digest())
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- mutations -----------------------------------------------------------------------------

FIELD_VALUES = st.sampled_from(["", "-1", "0", "1e400", "nan", "inf", "-inf", "9" * 40, "1.5",
                                "\u00e9\u00e8", "\x00", "|", "::", ",", "\t", '"', "\\N",
                                "user_id:token", "2147483648", "-9223372036854775809"])


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` after one of: arbitrary bytes, a truncation, byte flips, a line dropped or
    duplicated, or one field (split on the file's separator) replaced."""
    kind = draw(st.sampled_from(["bytes", "truncate", "flip", "lines", "field"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    if kind == "truncate":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            if out:
                i = draw(st.integers(0, len(out) - 1))
                out[i] = draw(st.integers(0, 255))
        return bytes(out)
    lines = data.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "lines":
        if draw(st.booleans()):
            del lines[i]
        else:
            lines.insert(i, lines[i])
        return b"\n".join(lines)
    sep = next((s for s in (b"::", b"\t", b"|", b",") if s in lines[i]), b",")
    fields = lines[i].split(sep)
    j = draw(st.integers(0, len(fields) - 1))
    fields[j] = draw(FIELD_VALUES).encode("utf-8")
    lines[i] = sep.join(fields)
    return b"\n".join(lines)


# --- readers ------------------------------------------------------------------------------

def movielens_csv_files() -> dict[str, bytes]:
    """The small dataset in the GroupLens ratings.csv/movies.csv layout (ml-latest-small)."""
    ratings = io.StringIO()
    w = csv.writer(ratings, lineterminator="\n")
    w.writerow(["userId", "movieId", "rating", "timestamp"])
    w.writerows(RATINGS)
    movies = io.StringIO()
    w = csv.writer(movies, lineterminator="\n")
    w.writerow(["movieId", "title", "genres"])
    tutorial = layout_files("tutorial-csv")["ratings.csv"].decode().splitlines()[1:]
    seen = {}
    for row in csv.reader(tutorial):
        seen[row[1]] = (row[4], row[5])
    for movie, (title, genres) in seen.items():
        w.writerow([movie, title, genres])
    return {"ratings.csv": ratings.getvalue().encode(), "movies.csv": movies.getvalue().encode()}


ALL_LAYOUTS = [*LAYOUTS, "movielens-csv"]


def files_of(layout: str) -> dict[str, bytes]:
    return movielens_csv_files() if layout == "movielens-csv" else layout_files(layout)


def check_dataset(ds) -> None:
    """What 'valid' means: tables the rest of the pipeline can take."""
    inter = ds.interactions
    assert len(inter) > 0
    for column in ("user", "item", "timestamp"):
        assert not inter[column].isna().any()
    encode(ds)


def read_or_data_error(path: Path, root: Path) -> None:
    before = snapshot(root)
    try:
        with no_hang():
            ds = read_dataset(path)
    except DataError as e:
        assert str(e).strip()
    else:
        with no_hang():
            check_dataset(ds)
    assert snapshot(root) == before  # a reader never writes


@settings(max_examples=160, **SETTINGS)
@given(layout=st.sampled_from(ALL_LAYOUTS), container=st.sampled_from(["folder", "zip", "file"]),
       data=st.data())
def test_readers_answer_any_bytes(layout, container, data):
    files = files_of(layout)
    name = data.draw(st.sampled_from(sorted(files)), label="file")
    files[name] = data.draw(mutated(files[name]), label="mutated")
    if data.draw(st.booleans(), label="drop another file") and len(files) > 1:
        files.pop(data.draw(st.sampled_from(sorted(set(files) - {name})), label="dropped"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if container == "file" and layout in ("tutorial-csv", "movielens-csv"):
            path = write_files(root / "d", files) / "ratings.csv"
        else:
            path = write_files(root / "d", files, as_zip=container == "zip")
        read_or_data_error(path, root)


@settings(max_examples=40, **SETTINGS)
@given(layout=st.sampled_from(ALL_LAYOUTS), data=st.data())
def test_readers_answer_any_zip_archive(layout, data):
    """The archive's own bytes damaged (central directory, compressed streams, CRCs)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = write_files(root / "d", files_of(layout), as_zip=True)
        path.write_bytes(data.draw(mutated(path.read_bytes()), label="zip"))
        read_or_data_error(path, root)


def test_unmutated_layouts_read(tmp_path):
    """The fuzz starts from valid files: each layout reads as it is."""
    for layout in ALL_LAYOUTS:
        check_dataset(read_dataset(write_files(tmp_path / layout, files_of(layout))))


# --- bundles -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    """A real bundle (every file save_bundle and the Annoy index write) of an untrained MIND on
    the small recbole dataset; its data is returned too, to load the model against."""
    from mind_core.serving.files import build_serving_files
    from mind_core.serving.projection import save_projection

    root = tmp_path_factory.mktemp("fuzz-bundle")
    encoded = encode(read_dataset(write_files(root / "data", layout_files("recbole"))))
    split = build_split(encoded, max_length=5)
    config = MINDConfig(embed_dim=8, interest_num=2, max_length=5, mlp_hidden=(16,))
    model = build_model(config, encoded)

    def extras(tmp, items, interests, active):
        build_serving_files(tmp, items, interests, active, config=config, n_trees=2,
                            projection=False)
        rng = np.random.default_rng(0)  # coordinates of the right shapes (UMAP is not needed)
        save_projection(tmp / "projection.npz", {
            "items_xy": rng.normal(size=(len(items), 2)),
            "interests_xy": rng.normal(size=(*active.shape, 2))})

    path = save_bundle(root / "bundle", model, encoded, split, {"test": {"HR@50": 0.5}}, extras)
    load_bundle(path, encoded)
    return path, encoded


def load_fully(path: Path, encoded) -> None:
    """Everything a command or the app does with a bundle: the arrays, the weights, the
    index, the map."""
    bundle = load_bundle(path, encoded)
    bundle.load_model(encoded)
    load_index(bundle)
    load_projection(bundle)


def load_or_bundle_error(path: Path, encoded) -> bool:
    """True if it loaded; False on a BundleError naming a path; anything else fails."""
    before = snapshot(path.parent)
    try:
        with no_hang():
            load_fully(path, encoded)
        ok = True
    except BundleError as e:
        assert str(path) in str(e), e
        ok = False
    assert snapshot(path.parent) == before  # loading never writes
    return ok


def copy_bundle(src: Path, root: Path) -> Path:
    dest = root / "bundle"
    dest.mkdir()
    for f in src.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    return dest


BUNDLE_FILES = ["config.json", "weights.pt", "id_maps.json", "metrics.json", "item_vectors.npy",
                "user_interests.npy", "user_active.npy", "items.ann", "serving.json",
                "projection.npz"]


@settings(max_examples=120, **SETTINGS)
@given(name=st.sampled_from(BUNDLE_FILES), reseal=st.booleans(), data=st.data())
def test_load_bundle_answers_any_damaged_file(bundle_dir, name, reseal, data):
    src, encoded = bundle_dir
    with tempfile.TemporaryDirectory() as tmp:
        path = copy_bundle(src, Path(tmp))
        original = (path / name).read_bytes()
        damaged = data.draw(mutated(original), label="mutated")
        (path / name).write_bytes(damaged)
        if reseal:
            write_manifest(path)
        ok = load_or_bundle_error(path, encoded)
        if damaged != original and not reseal:
            assert not ok, "the manifest let a changed file through"


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                        st.lists(st.integers(-3, 3), max_size=3),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def json_paths(obj, prefix=()):
    """Every (path of keys/indices) into a JSON value, the root included."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from json_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:3]):
            yield from json_paths(v, (*prefix, i))


@settings(max_examples=120, **SETTINGS)
@given(name=st.sampled_from(["config.json", "id_maps.json", "metrics.json", "serving.json",
                             MANIFEST_FILE]), data=st.data())
def test_load_bundle_answers_any_json_field(bundle_dir, name, data):
    """One field of a bundle's JSON replaced or removed (then re-sealed, but for the manifest
    itself, whose every field is what is fuzzed)."""
    src, encoded = bundle_dir
    with tempfile.TemporaryDirectory() as tmp:
        path = copy_bundle(src, Path(tmp))
        obj = json.loads((path / name).read_text())
        where = data.draw(st.sampled_from(list(json_paths(obj))), label="field")
        value = data.draw(JSON_VALUES, label="value")
        if not where:
            obj = value
        else:
            parent = obj
            for key in where[:-1]:
                parent = parent[key]
            if data.draw(st.booleans(), label="remove") and isinstance(parent, dict):
                del parent[where[-1]]
            else:
                parent[where[-1]] = value
        (path / name).write_text(json.dumps(obj))
        if name != MANIFEST_FILE:
            write_manifest(path)
        load_or_bundle_error(path, encoded)


def test_fuzzed_bundle_starts_valid(bundle_dir):
    src, encoded = bundle_dir
    load_fully(src, encoded)
    assert sorted(verify_bundle(src)["files"]) == sorted(BUNDLE_FILES)
