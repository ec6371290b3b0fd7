"""Artifact bundles (save, load, refuse what is broken or foreign, write atomically, check every
file against the manifest, recover from a killed writer) and the model commands of the CLI
(evaluate, recommend, export-embeddings, sweep) on the tiny bundles of ``model_home``.

Tests that change a bundle work on a copy in ``tmp_path``: the shared ones stay intact. Tests
of a deeper check (a field, a shape, the weights) edit a file and then re-seal the bundle
(:func:`reseal` rewrites the manifest), since the manifest alone would already refuse it; the
manifest's own refusals are tested in section 6.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_CONFIG, TINY_INTEREST_NUMS

from mind_core.artifacts.bundle import (
    FORMAT_VERSION,
    REQUIRED,
    list_bundles,
    load_bundle,
    recover_leftovers,
    save_bundle,
    verify_bundle,
)
from mind_core.artifacts.manifest import MANIFEST_FILE, UnverifiedBundleWarning, write_manifest
from mind_core.cli import main
from mind_core.config import MINDConfig
from mind_core.data.readers import read_dataset
from mind_core.errors import BundleError
from mind_core.features.encoding import encode
from mind_core.features.split import serving_histories
from mind_core.workflow.pipeline import evaluate_bundle, load_data


@pytest.fixture(scope="module")
def bundles(model_home):
    return model_home["bundles"]


@pytest.fixture(scope="module")
def data(model_home):
    return load_data("ml-100k", TINY_CONFIG["max_length"])


@pytest.fixture
def copy_of(bundles, tmp_path):
    """``copy_of(k)`` -> a private copy of the K=k bundle, free to damage."""

    def copy(k: int):
        dest = tmp_path / f"copy-k{k}"
        shutil.copytree(bundles[k], dest)
        return dest

    return copy


def reseal(path) -> None:
    """Record the bundle's current files in its manifest, as if it had been written so."""
    write_manifest(path)


def stored_metrics(path) -> dict:
    return json.loads((path / "metrics.json").read_text())


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# --- 1. save/load round trip ------------------------------------------------------------------

@pytest.mark.parametrize("k", TINY_INTEREST_NUMS)
def test_round_trip(bundles, data, k):
    enc = data.encoded
    bundle = load_bundle(bundles[k], enc)
    assert bundle.config == MINDConfig(**TINY_CONFIG, interest_num=k)
    assert bundle.meta["format_version"] == FORMAT_VERSION
    assert bundle.meta["dataset"] == "ml-100k" and bundle.meta["fingerprint"] == enc.fingerprint
    assert bundle.name == bundles[k].name and all((bundles[k] / f).is_file() for f in REQUIRED)
    assert bundle.id_maps["user_ids"] == enc.user_ids.tolist()
    assert bundle.id_maps["item_ids"] == enc.item_ids.tolist()

    U, n_items, K, D = enc.n_users, enc.n_items, k, TINY_CONFIG["embed_dim"]
    assert bundle.item_vectors.dtype == np.float32 and bundle.item_vectors.shape == (n_items, D)
    assert not bundle.item_vectors[0].any()  # padding
    assert np.abs(bundle.item_vectors[1:]).sum(1).min() > 0  # every real item has a vector
    assert bundle.user_interests.dtype == np.float32
    assert bundle.user_interests.shape == (U, K, D)
    assert bundle.user_active.dtype == np.bool_ and bundle.user_active.shape == (U, K)
    assert bundle.user_active[:, 0].all()  # every user has at least one interest
    assert not bundle.user_interests[~bundle.user_active].any()  # inactive ones are zero
    assert np.isfinite(bundle.user_interests).all() and np.isfinite(bundle.item_vectors).all()

    # the stored serving vectors are what the saved weights compute
    model = bundle.load_model(enc)
    assert not model.training
    rows = np.array([0, 1, 41, 500, U - 1])
    history = serving_histories(data.split, U)[rows]
    with torch.no_grad():
        interests, active = model.interests(torch.as_tensor(history),
                                            torch.as_tensor(enc.user_features[rows]))
        items = model.item_vectors().numpy()
    np.testing.assert_array_equal(active.numpy(), bundle.user_active[rows])
    np.testing.assert_allclose(interests.numpy(), bundle.user_interests[rows], atol=1e-5, rtol=0)
    np.testing.assert_allclose(items, bundle.item_vectors, atol=1e-6, rtol=0)

    # and re-scoring from those vectors alone gives the metrics recorded at training time
    recorded = stored_metrics(bundles[k])
    assert evaluate_bundle(bundle, data) == pytest.approx(recorded["test"], abs=1e-9)
    assert bundle.metrics == recorded


def test_serving_histories_end_before_test_item(data):
    split = data.split
    hist = serving_histories(split, data.encoded.n_users)
    assert hist.shape == (data.encoded.n_users, split.max_length)
    # evaluated users: exactly the test-time history of the protocol
    np.testing.assert_array_equal(hist[split.test.users], split.test.history)


# --- 2. broken and foreign bundles -----------------------------------------------------------

def raises_naming(path, fn, *args):
    """``fn(*args)`` raises BundleError whose message names ``path``; returns the message."""
    with pytest.raises(BundleError) as info:
        fn(*args)
    message = str(info.value)
    assert str(path) in message, message
    return message


def test_missing_folder(tmp_path):
    message = raises_naming(tmp_path / "nope", load_bundle, tmp_path / "nope")
    assert "no such model bundle" in message


def test_not_a_folder(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    raises_naming(f, load_bundle, f)


@pytest.mark.parametrize("name", REQUIRED)
def test_missing_required_file(copy_of, name):
    path = copy_of(1)
    (path / name).unlink()
    message = raises_naming(path, load_bundle, path)
    assert f"missing {name}" in message


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00garbage", b"",
                                     b"[1, 2, 3]", b'"a string"'])
def test_corrupt_config_json(copy_of, content):
    path = copy_of(1)
    (path / "config.json").write_bytes(content)
    reseal(path)
    raises_naming(path / "config.json", load_bundle, path)


@pytest.mark.parametrize("name", ["id_maps.json", "metrics.json"])
def test_corrupt_other_json(copy_of, name):
    path = copy_of(1)
    (path / name).write_text('{"user_ids": [1, 2')
    reseal(path)
    raises_naming(path / name, load_bundle, path)


def edit_config(path, change):
    raw = json.loads((path / "config.json").read_text())
    change(raw)
    (path / "config.json").write_text(json.dumps(raw))
    reseal(path)


@pytest.mark.parametrize("version", [999, 0, None, "1"])
def test_unknown_format_version(copy_of, version):
    path = copy_of(1)
    edit_config(path, lambda raw: raw["meta"].__setitem__("format_version", version))
    message = raises_naming(path / "config.json", load_bundle, path)
    assert "format version" in message and repr(version) in message


def test_invalid_config_fields(copy_of):
    path = copy_of(1)
    edit_config(path, lambda raw: raw["config"].__setitem__("no_such_field", 1))
    assert "no_such_field" in raises_naming(path / "config.json", load_bundle, path)
    edit_config(path, lambda raw: raw["config"].pop("no_such_field"))
    load_bundle(path)  # valid again
    edit_config(path, lambda raw: raw["config"].__setitem__("interest_num", 0))
    assert "interest_num" in raises_naming(path / "config.json", load_bundle, path)


class Payload:
    """Unpickling runs ``os.mkdir(marker)``: proof that a pickle was executed."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


class Custom:
    """An arbitrary class instance: not something ``weights_only`` may rebuild."""

    def __init__(self):
        self.value = 42


def write_weights(path, obj) -> None:
    torch.save(obj, path / "weights.pt")
    reseal(path)


def test_truncated_weights(copy_of, data):
    path = copy_of(2)
    weights = path / "weights.pt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    raises_naming(weights, load_bundle, path)  # the manifest refuses it at once
    reseal(path)
    bundle = load_bundle(path, data.encoded)  # weights are read lazily
    message = raises_naming(weights, bundle.load_model, data.encoded)
    assert "corrupt or unreadable weights" in message


def test_garbage_weights(copy_of, data):
    path = copy_of(2)
    (path / "weights.pt").write_bytes(b"this is not a torch file")
    reseal(path)
    raises_naming(path / "weights.pt", load_bundle(path).load_model, data.encoded)


def test_pickled_code_in_weights_is_never_run(copy_of, data, tmp_path):
    path = copy_of(2)
    marker = tmp_path / "pickle-was-executed"
    state = torch.load(path / "weights.pt", weights_only=True)
    write_weights(path, {**state, "evil": Payload(marker)})
    # the payload is real: what unpickling it would call does create the marker (shown by
    # calling its __reduce__ directly; we never unpickle a file with weights_only=False)
    call, args = Payload(marker).__reduce__()
    call(*args)
    assert marker.is_dir()
    marker.rmdir()

    bundle = load_bundle(path, data.encoded)
    message = raises_naming(path / "weights.pt", bundle.load_model, data.encoded)
    assert "corrupt or unreadable weights" in message
    assert not marker.exists()


@pytest.mark.parametrize("obj", [lambda: Custom(), lambda: {"items.ids.weight": Custom()},
                                 lambda: {"f": os.system}])
def test_arbitrary_objects_in_weights_are_refused(copy_of, data, obj):
    path = copy_of(2)
    write_weights(path, obj())
    raises_naming(path / "weights.pt", load_bundle(path).load_model, data.encoded)


@pytest.mark.parametrize("obj", [lambda state: [1, 2, 3], lambda state: torch.zeros(3),
                                 lambda state: None, lambda state: {"x": torch.zeros(1)},
                                 lambda state: {k: v[:-1] if v.ndim else v
                                                for k, v in state.items()}])
def test_weights_not_fitting_the_model(copy_of, data, obj):
    """Loadable with weights_only=True, but not this model's state_dict."""
    path = copy_of(2)
    write_weights(path, obj(torch.load(path / "weights.pt", weights_only=True)))
    raises_naming(path / "weights.pt", load_bundle(path).load_model, data.encoded)


@pytest.mark.parametrize("name,make", [
    ("item_vectors.npy", lambda a: a[:-1]),  # one item short
    ("item_vectors.npy", lambda a: a[:, :-1]),  # wrong D
    ("item_vectors.npy", lambda a: a.astype(np.float64)),
    ("item_vectors.npy", lambda a: a[..., None]),  # an extra axis
    ("user_interests.npy", lambda a: a[:, :1]),  # K=1 vectors in a K=2 bundle
    ("user_interests.npy", lambda a: a[1:]),
    ("user_interests.npy", lambda a: np.stack([a, a], -1)),
    ("user_interests.npy", lambda a: a[0]),  # fewer axes
    ("user_active.npy", lambda a: a.astype(np.int8)),
    ("user_active.npy", lambda a: a[:, :, None]),
    ("user_active.npy", lambda a: a[:-3]),
])
def test_wrong_array(copy_of, name, make):
    path = copy_of(2)
    np.save(path / name, make(np.load(path / name)))
    reseal(path)
    message = raises_naming(path / name, load_bundle, path)
    assert "expected" in message


def test_unreadable_array(copy_of):
    path = copy_of(2)
    (path / "user_active.npy").write_bytes(b"\x93NUMPY garbage")
    reseal(path)
    raises_naming(path / "user_active.npy", load_bundle, path)
    np.save(path / "user_active.npy", np.array([{"a": 1}], dtype=object))  # needs pickle
    reseal(path)
    raises_naming(path / "user_active.npy", load_bundle, path)


def test_fingerprint_of_other_data(bundles, data, write_layout):
    other = encode(read_dataset(write_layout("recbole")))
    assert other.fingerprint != data.encoded.fingerprint
    message = raises_naming(bundles[1], load_bundle, bundles[1], other)
    assert other.fingerprint in message and data.encoded.fingerprint in message
    bundle = load_bundle(bundles[1])  # without data: loads
    raises_naming(bundles[1], bundle.load_model, other)


def test_fingerprint_edited(copy_of, data):
    path = copy_of(1)
    edit_config(path, lambda raw: raw["meta"].__setitem__("fingerprint", "0123456789abcdef"))
    message = raises_naming(path, load_bundle, path, data.encoded)
    assert "0123456789abcdef" in message
    raises_naming(path, load_bundle(path).load_model, data.encoded)


# --- 3. atomic writes ------------------------------------------------------------------------

def test_save_replaces_whole_and_survives_a_crash(bundles, data, tmp_path):
    enc, split = data.encoded, data.split
    k1, k2 = load_bundle(bundles[1], enc), load_bundle(bundles[2], enc)
    parent = tmp_path / "artifacts"
    dest = parent / "model"
    seen = {}

    def extras(tmp, items, interests, active):
        assert tmp.parent == parent and tmp.name.startswith(".tmp-model-")
        assert (tmp / "weights.pt").is_file()
        seen["shapes"] = items.shape, interests.shape, active.shape
        (tmp / "extra.txt").write_text("k1")

    assert save_bundle(dest, k1.load_model(enc), enc, split, k1.metrics, extras) == dest
    assert seen["shapes"] == ((enc.n_items, 16), (enc.n_users, 1, 16), (enc.n_users, 1))
    first = load_bundle(dest, enc)
    assert first.config.interest_num == 1 and (dest / "extra.txt").read_text() == "k1"
    assert first.metrics == k1.metrics and first.meta["name"] == "model"
    np.testing.assert_array_equal(first.item_vectors, k1.item_vectors)
    np.testing.assert_allclose(first.user_interests, k1.user_interests, atol=1e-6, rtol=0)

    # a second save replaces the bundle whole: nothing of the first one is left
    save_bundle(dest, k2.load_model(enc), enc, split, k2.metrics)
    second = load_bundle(dest, enc)
    assert second.config.interest_num == 2 and not (dest / "extra.txt").exists()
    assert sorted(p.name for p in dest.iterdir()) == sorted([*REQUIRED, MANIFEST_FILE])
    np.testing.assert_array_equal(second.item_vectors, k2.item_vectors)

    # a crash while writing the next one leaves the second intact and no temporary folder
    def crash(tmp, *arrays):
        (tmp / "half-written.bin").write_bytes(b"\0" * 100)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_bundle(dest, k1.load_model(enc), enc, split, k1.metrics, crash)
    assert [p.name for p in parent.iterdir()] == ["model"]  # no .tmp-* or .old-* left
    after = load_bundle(dest, enc)
    assert after.config.interest_num == 2 and after.meta == second.meta
    np.testing.assert_array_equal(after.user_interests, second.user_interests)
    assert evaluate_bundle(after, data) == pytest.approx(k2.metrics["test"], abs=1e-9)
    after.load_model(enc)

    # and a crash on a first write leaves nothing at all
    def disk_full(tmp, *arrays):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_bundle(parent / "new", k1.load_model(enc), enc, split, k1.metrics, disk_full)
    assert [p.name for p in parent.iterdir()] == ["model"]


# --- 4. CLI: evaluate and export-embeddings -------------------------------------------------

def test_evaluate_json(bundles, capsys):
    code, out, _ = run(capsys, "evaluate", bundles[4], "--json")
    assert code == 0
    report = json.loads(out)
    assert report["protocol"] == "leave_last_out"
    rows = report["models"]
    recorded = stored_metrics(bundles[4])
    # the K=1 twin of the same configuration is found and reported too
    assert set(rows) == {"MIND K=4", "most popular", "MIND K=1"}
    assert rows["MIND K=4"]["HR@50"] == pytest.approx(recorded["test"]["HR@50"], abs=1e-12)
    assert rows["MIND K=4"] == pytest.approx(recorded["test"], abs=1e-9)
    assert rows["most popular"] == pytest.approx(recorded["baselines"]["popularity"], abs=1e-9)
    assert rows["MIND K=1"] == pytest.approx(stored_metrics(bundles[1])["test"], abs=1e-9)

    code, out, _ = run(capsys, "evaluate", bundles[1], "--json")
    assert code == 0 and set(json.loads(out)["models"]) == {"MIND K=1", "most popular"}


def test_evaluate_table(bundles, capsys):
    code, out, _ = run(capsys, "evaluate", bundles[2])
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("model"))
    assert header.split() == ["model", "HR@10", "HR@50", "NDCG@10", "NDCG@50",
                              "Diversity@50", "Coverage@50"]
    hr50 = stored_metrics(bundles[2])["test"]["HR@50"]
    row = next(line for line in lines if line.startswith("MIND K=2"))
    assert float(row.split()[3]) == pytest.approx(hr50, abs=5e-5)
    assert any(line.startswith("most popular") for line in lines)


@pytest.mark.parametrize("command", ["evaluate", "export-embeddings"])
def test_missing_bundle_exits_2(capsys, tmp_path, command):
    extra = [tmp_path / "out"] if command == "export-embeddings" else []
    code, out, err = run(capsys, command, tmp_path / "nope", *extra)
    assert code == 2 and out == ""
    assert err.startswith("error:") and str(tmp_path / "nope") in err
    assert not (tmp_path / "out").exists()


def test_evaluate_corrupt_bundle_exits_2(copy_of, capsys):
    path = copy_of(1)
    (path / "config.json").write_text("{")
    code, _, err = run(capsys, "evaluate", path)
    assert code == 2 and "error:" in err and "config.json" in err


@pytest.fixture(scope="module")
def exported(bundles, tmp_path_factory):
    out = tmp_path_factory.mktemp("embeddings") / "out"
    assert main(["export-embeddings", str(bundles[4]), str(out)]) == 0
    return out


def test_export_embeddings_files(exported, bundles):
    bundle = load_bundle(bundles[4])
    assert sorted(p.name for p in exported.iterdir()) == sorted(
        ["items.npy", "item_ids.json", "user_interests.npy", "user_active.npy", "user_ids.json",
         "targets.json"])
    items = np.load(exported / "items.npy")
    item_ids = json.loads((exported / "item_ids.json").read_text())
    interests = np.load(exported / "user_interests.npy")
    active = np.load(exported / "user_active.npy")
    user_ids = json.loads((exported / "user_ids.json").read_text())
    n_items, D = bundle.item_vectors.shape
    U = len(bundle.id_maps["user_ids"])
    assert items.dtype == np.float32 and items.shape == (n_items - 1, D)  # no padding row
    np.testing.assert_array_equal(items, bundle.item_vectors[1:])
    assert item_ids == bundle.id_maps["item_ids"][1:] and len(set(item_ids)) == n_items - 1
    assert interests.dtype == np.float32 and interests.shape == (U, 4, D)
    np.testing.assert_array_equal(interests, bundle.user_interests)
    assert active.dtype == np.bool_ and active.shape == (U, 4)
    np.testing.assert_array_equal(active, bundle.user_active)
    assert user_ids == bundle.id_maps["user_ids"] and len(user_ids) == U == 943

    targets = json.loads((exported / "targets.json").read_text())
    assert len(targets) == bundle.metrics["evaluated_users"] == 943
    known = set(item_ids)
    for user, t in targets.items():
        assert int(user) in user_ids
        assert t["test"] in known and set(t["history"]) <= known
        assert t["test"] not in t["history"]
        assert len(t["history"]) >= 2  # a validation item and at least one before it


def test_export_recomputes_hr50(exported, bundles):
    """HR@50 from the exported files alone, with numpy: max over active interests, history
    excluded, rank = number of candidates scoring strictly higher than the test movie."""
    items = np.load(exported / "items.npy")
    column = {i: c for c, i in enumerate(json.loads((exported / "item_ids.json").read_text()))}
    interests = np.load(exported / "user_interests.npy")
    active = np.load(exported / "user_active.npy")
    row = {u: r for r, u in enumerate(json.loads((exported / "user_ids.json").read_text()))}
    targets = json.loads((exported / "targets.json").read_text())

    hits = []
    for user, t in targets.items():
        r = row[int(user)]
        scores = interests[r][active[r]] @ items.T  # (active K, I-1)
        best = scores.max(axis=0)
        candidates = np.ones(len(items), dtype=bool)
        candidates[[column[i] for i in t["history"]]] = False
        target = best[column[t["test"]]]
        rank = int((best[candidates] > target).sum())
        hits.append(rank < 50)
    hr50 = float(np.mean(hits))
    recorded = stored_metrics(bundles[4])["test"]["HR@50"]
    assert abs(hr50 - recorded) <= 1 / len(targets) + 1e-9, (hr50, recorded)
    assert hr50 > stored_metrics(bundles[4])["baselines"]["popularity"]["HR@50"] / 2


# --- 5. CLI: sweep ---------------------------------------------------------------------------

TINY_FLAGS = ["--embed-dim", "16", "--max-length", "20", "--epochs", "1", "--batch-size", "1024",
              "--patience", "1", "--learning-rate", "0.005", "--mlp-hidden", "32"]


def test_tiny_flags_match_tiny_config():
    flags = dict(zip(TINY_FLAGS[::2], TINY_FLAGS[1::2], strict=True))
    assert {f[2:].replace("-", "_") for f in flags} == set(TINY_CONFIG)


def test_sweep_reuses_bundles(bundles, model_home, capsys, tmp_path):
    before = list_bundles("ml-100k")
    out = tmp_path / "sweep.json"
    code, stdout, _ = run(capsys, "sweep", "--dataset", "ml-100k", "--interest-num", 1, 2,
                          "--seeds", 0, "--out", out, "--no-start-choice", *TINY_FLAGS)
    assert code == 0
    assert list_bundles("ml-100k") == before  # nothing was trained
    for i, k in enumerate((1, 2), 1):
        assert f"[{i}/2] interest_num={k} seed=0: reused" in stdout
    assert "trained" not in stdout and f"wrote {out}" in stdout

    result = json.loads(out.read_text())
    assert result["dataset"] == "ml-100k" and result["seeds"] == [0]
    assert result["param"] == "interest_num" and result["values"] == [1, 2]
    assert result["base"] == {**MINDConfig(**TINY_CONFIG).to_dict(), "interest_num": 4}
    for k, entry in zip((1, 2), result["results"], strict=True):
        recorded = stored_metrics(bundles[k])
        assert entry["value"] == k and entry["bundles"] == [bundles[k].name]
        for metric, value in recorded["test"].items():
            assert entry["metrics"][metric] == {"mean": pytest.approx(value, abs=1e-9),
                                                "n": 1, "sd": 0.0}
        assert entry["train_seconds"]["mean"] == recorded["train_seconds"]
    assert result["popularity"] == pytest.approx(
        stored_metrics(bundles[1])["baselines"]["popularity"], abs=1e-9)
    assert result["ceiling"] is None  # no truth file: no oracle to read it
    assert any(x.startswith("most popular") for x in stdout.splitlines())


# --- 6. the manifest: every file checked on every load --------------------------------------

SERVING_FILES = ["items.ann", "projection.npz", "serving.json"]
ALL_FILES = [*REQUIRED, *SERVING_FILES]


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_manifest_records_every_file(bundles):
    path = bundles[2]
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    assert manifest["version"] == 1 and manifest["algorithm"] == "sha256"
    assert sorted(manifest["files"]) == sorted(ALL_FILES)  # the index and the map included
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": sha256(path / name), "size": (path / name).stat().st_size}
    assert load_bundle(path).meta["manifest"] == MANIFEST_FILE
    assert verify_bundle(path) == manifest


def damage(path, name, how, other):
    """Damage one file of the bundle copy ``path``; ``other`` is a copy of another model."""
    f = path / name
    if how == "truncate":
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif how == "flip":  # one bit of one byte in the middle: same size, same mtime
        st = f.stat()
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 0x01
        f.write_bytes(bytes(data))
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif how == "swap":  # another model's file; arrays of the very same shape
        if name == "user_interests.npy":
            arr = np.load(other / name)
            np.save(f, np.ascontiguousarray(arr[:, :2]))  # K=4's first two: same shape as K=2
        else:
            shutil.copyfile(other / name, f)
    elif how == "delete":
        f.unlink()


# Swaps that change nothing are left out: id_maps.json is one file for every model of a
# dataset, serving.json records the same settings, and which interests are active depends on
# history lengths only (K=4's first two columns are K=2's).
# Deleting a serving file is not damage: see test_deleted_serving_file_is_rebuilt.
DAMAGES = [(name, how) for name in ALL_FILES for how in ("truncate", "flip", "swap", "delete")
           if not (how == "swap" and name in ("id_maps.json", "serving.json",
                                               "user_active.npy"))
           and not (how == "delete" and name in SERVING_FILES)]


@pytest.mark.parametrize("name,how", DAMAGES)
def test_any_damaged_file_is_refused_by_name(copy_of, capsys, name, how):
    path, other = copy_of(2), copy_of(4)
    before = (path / name).read_bytes()
    if how == "swap" and name in ("item_vectors.npy", "user_interests.npy"):
        shape = np.load(path / name).shape
        damage(path, name, how, other)
        assert np.load(path / name).shape == shape  # the swap is undetectable by shape
    else:
        damage(path, name, how, other)
    assert how == "delete" or (path / name).read_bytes() != before
    expect = path if how == "delete" else path / name
    message = raises_naming(expect, load_bundle, path)
    assert name in message
    raises_naming(expect, verify_bundle, path)
    # the CLI refuses it with one line naming the file, exit status 2
    for argv in (["evaluate", path], ["recommend", path, "--user", "1"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "", (argv, out)
        assert err.startswith("error:") and str(expect) in err and name in err, err
        assert len(err.strip().splitlines()) == 1


def test_deleted_serving_file_is_rebuilt(copy_of, capsys):
    """The index, the map and serving.json derive from the vectors: deleted (to rebuild them),
    the bundle still loads, ``recommend`` says the index is missing and how to build it, and
    ``build-index`` builds it and records it in the manifest."""
    path = copy_of(2)
    (path / "items.ann").unlink()
    load_bundle(path)
    code, _, err = run(capsys, "recommend", path, "--user", 1)
    assert code == 2 and "items.ann" in err and "build-index" in err
    assert run(capsys, "build-index", path, "--n-trees", 3, "--no-projection")[0] == 0
    files = verify_bundle(path)["files"]
    assert files["items.ann"]["sha256"] == sha256(path / "items.ann")
    code, out, _ = run(capsys, "recommend", path, "--user", 1, "--json")
    assert code == 0 and json.loads(out)["merged"]


def test_damaged_or_missing_manifest_is_refused(copy_of):
    path = copy_of(1)
    manifest = path / MANIFEST_FILE
    good = manifest.read_bytes()
    for bad in [b"{", b"[]", b'{"version": 1}', b'{"version": 2, "files": {}}',
                json.dumps({"version": 1, "files": {"../x": {"sha256": "0" * 64, "size": 1}}})
                .encode(),
                json.dumps({"version": 1, "files": {"weights.pt": {"sha256": "zz", "size": 1}}})
                .encode()]:
        manifest.write_bytes(bad)
        raises_naming(manifest, load_bundle, path)
    # an entry removed: that file is no longer vouched for
    raw = json.loads(good)
    del raw["files"]["user_active.npy"]
    manifest.write_text(json.dumps(raw))
    assert "not listed" in raises_naming(path / "user_active.npy", load_bundle, path)
    # deleted, while config.json says the bundle was written with one
    manifest.unlink()
    assert "missing" in raises_naming(manifest, load_bundle, path)
    manifest.write_bytes(good)
    load_bundle(path)


def test_unlisted_file_is_refused_and_hidden_ones_ignored(copy_of):
    path = copy_of(1)
    (path / ".tmp-serving-abc").mkdir()  # a rebuild in progress: not part of the bundle
    (path / ".DS_Store").write_bytes(b"x")
    load_bundle(path)
    (path / "extra.npy").write_bytes(b"x")
    assert "not listed" in raises_naming(path / "extra.npy", load_bundle, path)


def test_bundle_without_manifest_loads_with_a_warning(copy_of, data):
    """A bundle written before manifests: loads, with a warning saying it is unchecked."""
    path = copy_of(1)
    (path / MANIFEST_FILE).unlink()
    raw = json.loads((path / "config.json").read_text())
    del raw["meta"]["manifest"]
    (path / "config.json").write_text(json.dumps(raw))
    with pytest.warns(UnverifiedBundleWarning, match="no manifest.json"):
        bundle = load_bundle(path, data.encoded)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert verify_bundle(path) is None
    assert evaluate_bundle(bundle, data) == pytest.approx(stored_metrics(path)["test"], abs=1e-9)


def test_verify_is_cached_but_never_fooled(copy_of):
    """A second verify of an unchanged bundle reads no file; any write is still seen, even one
    that keeps the size and puts the modification time back (``flip`` above does that)."""
    path = copy_of(2)
    verify_bundle(path)
    t0 = time.perf_counter()
    for _ in range(20):
        verify_bundle(path)
    per_call = (time.perf_counter() - t0) / 20
    assert per_call < 0.02, per_call  # a few stat calls, not hashing ~1 MB
    damage(path, "items.ann", "flip", None)
    raises_naming(path / "items.ann", verify_bundle, path)


def test_build_index_rewrites_the_manifest(copy_of, capsys):
    path = copy_of(2)
    before = json.loads((path / MANIFEST_FILE).read_text())["files"]
    code, _, err = run(capsys, "build-index", path, "--n-trees", 3, "--no-projection")
    assert code == 0, err
    after = json.loads((path / MANIFEST_FILE).read_text())["files"]
    assert after["items.ann"]["sha256"] == sha256(path / "items.ann")
    assert after["items.ann"] != before["items.ann"]  # a new index, recorded
    assert after["projection.npz"] == before["projection.npz"]  # untouched, still vouched
    assert verify_bundle(path)["files"] == after
    load_bundle(path)
    assert not [p for p in path.iterdir() if p.name.startswith(".")]


# --- 7. recovering from a killed writer (in-process; tests/test_crash.py kills real ones) ----

DEAD_PID = 2**22 + 4321  # above the kernel's pid_max default: never a live process


def test_old_bundle_put_back_when_its_writer_died(copy_of, tmp_path):
    parent = tmp_path / "artifacts"
    parent.mkdir()
    dest = parent / "mind-k2-test"
    shutil.move(copy_of(2), parent / f".old-{dest.name}-p{DEAD_PID}-{time.time_ns()}")
    half = parent / f".tmp-{dest.name}-p{DEAD_PID}-abcd1234"
    half.mkdir()
    (half / "weights.pt").write_bytes(b"half")
    bundle = load_bundle(dest)  # the load itself puts the previous bundle back
    assert bundle.config.interest_num == 2 and dest.is_dir()
    assert sorted(p.name for p in parent.iterdir()) == [dest.name]


def test_leftovers_of_a_live_writer_are_left_alone(copy_of, tmp_path):
    parent = tmp_path / "artifacts"
    parent.mkdir()
    mine = os.getpid()
    old = parent / f".old-x-p{mine}-{time.time_ns()}"
    tmp = parent / f".tmp-x-p{mine}-abcd1234"
    shutil.copytree(copy_of(1), old)
    tmp.mkdir()
    assert recover_leftovers(parent) == []  # the writer (this process) is still at work
    assert old.is_dir() and tmp.is_dir() and not (parent / "x").exists()
    # an .old-* next to a whole bundle of its name is the previous one: removed
    shutil.copytree(old, parent / "x")
    dead_old = parent / f".old-x-p{DEAD_PID}-{time.time_ns()}"
    old.rename(dead_old)
    assert recover_leftovers(parent) == [f"removed {dead_old}"]
    assert sorted(p.name for p in parent.iterdir()) == [tmp.name, "x"]
