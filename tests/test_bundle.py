"""Artifact bundles (save, load, refuse what is broken or foreign, write atomically) and the model
commands of the CLI (evaluate, export-embeddings, sweep) on the tiny bundles of ``model_home``.

Tests that change a bundle work on a copy in ``tmp_path``: the shared ones stay intact.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch
from conftest import TINY_CONFIG, TINY_INTEREST_NUMS

from mind_core.bundle import (
    FORMAT_VERSION,
    REQUIRED,
    list_bundles,
    load_bundle,
    save_bundle,
    serving_histories,
)
from mind_core.cli import main
from mind_core.encoding import encode
from mind_core.errors import BundleError
from mind_core.model import MINDConfig
from mind_core.pipeline import evaluate_bundle, load_data
from mind_core.readers import read_dataset


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
    raises_naming(path / "config.json", load_bundle, path)


@pytest.mark.parametrize("name", ["id_maps.json", "metrics.json"])
def test_corrupt_other_json(copy_of, name):
    path = copy_of(1)
    (path / name).write_text('{"user_ids": [1, 2')
    raises_naming(path / name, load_bundle, path)


def edit_config(path, change):
    raw = json.loads((path / "config.json").read_text())
    change(raw)
    (path / "config.json").write_text(json.dumps(raw))


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


def test_truncated_weights(copy_of, data):
    path = copy_of(2)
    weights = path / "weights.pt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    bundle = load_bundle(path, data.encoded)  # weights are read lazily
    message = raises_naming(weights, bundle.load_model, data.encoded)
    assert "corrupt or unreadable weights" in message


def test_garbage_weights(copy_of, data):
    path = copy_of(2)
    (path / "weights.pt").write_bytes(b"this is not a torch file")
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
    message = raises_naming(path / name, load_bundle, path)
    assert "expected" in message


def test_unreadable_array(copy_of):
    path = copy_of(2)
    (path / "user_active.npy").write_bytes(b"\x93NUMPY garbage")
    raises_naming(path / "user_active.npy", load_bundle, path)
    np.save(path / "user_active.npy", np.array([{"a": 1}], dtype=object))  # needs pickle
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
    assert sorted(p.name for p in dest.iterdir()) == sorted(REQUIRED)
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
    rows = json.loads(out)
    recorded = stored_metrics(bundles[4])
    # the K=1 twin of the same configuration is found and reported too
    assert set(rows) == {"MIND K=4", "most popular", "MIND K=1"}
    assert rows["MIND K=4"]["HR@50"] == pytest.approx(recorded["test"]["HR@50"], abs=1e-12)
    assert rows["MIND K=4"] == pytest.approx(recorded["test"], abs=1e-9)
    assert rows["most popular"] == pytest.approx(recorded["baselines"]["popularity"], abs=1e-9)
    assert rows["MIND K=1"] == pytest.approx(stored_metrics(bundles[1])["test"], abs=1e-9)

    code, out, _ = run(capsys, "evaluate", bundles[1], "--json")
    assert code == 0 and set(json.loads(out)) == {"MIND K=1", "most popular"}


def test_evaluate_table(bundles, capsys):
    code, out, _ = run(capsys, "evaluate", bundles[2])
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["model", "HR@10", "HR@50", "NDCG@10", "NDCG@50",
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

TINY_FLAGS = ["--embed-dim", "16", "--max-length", "20", "--epochs", "2", "--batch-size", "1024",
              "--patience", "1", "--learning-rate", "0.005", "--mlp-hidden", "32"]


def test_tiny_flags_match_tiny_config():
    flags = dict(zip(TINY_FLAGS[::2], TINY_FLAGS[1::2], strict=True))
    assert {f[2:].replace("-", "_") for f in flags} == set(TINY_CONFIG)


def test_sweep_reuses_bundles(bundles, model_home, capsys, tmp_path):
    before = list_bundles("ml-100k")
    out = tmp_path / "sweep.json"
    code, stdout, _ = run(capsys, "sweep", "--dataset", "ml-100k", "--interest-num", 1, 2,
                          "--seeds", 0, "--out", out, *TINY_FLAGS)
    assert code == 0
    assert list_bundles("ml-100k") == before  # nothing was trained
    for k in (1, 2):
        assert f"K={k} seed=0: reused {bundles[k].name}" in stdout
    assert "trained" not in stdout and f"wrote {out}" in stdout

    result = json.loads(out.read_text())
    assert result["dataset"] == "ml-100k" and result["seeds"] == [0]
    assert result["config"] == {**MINDConfig(**TINY_CONFIG).to_dict(), "interest_num": 4}
    assert set(result["results"]) == {"MIND K=1", "MIND K=2"}
    for k in (1, 2):
        recorded = stored_metrics(bundles[k])
        entry = result["results"][f"MIND K={k}"]
        assert set(entry["HR@50"]) == {"mean", "spread"}
        assert entry["HR@50"]["mean"] == pytest.approx(recorded["test"]["HR@50"], abs=1e-12)
        for metric, value in recorded["test"].items():
            assert entry[metric] == {"mean": pytest.approx(value, abs=1e-9), "spread": 0.0}
        assert entry["train_seconds"]["mean"] == recorded["train_seconds"]
        line = next(x for x in stdout.splitlines() if x.startswith(f"K={k} seed=0"))
        assert line.endswith(f"HR@50 {recorded['test']['HR@50']:.4f}")
    assert result["popularity"] == pytest.approx(
        stored_metrics(bundles[1])["baselines"]["popularity"], abs=1e-9)
    assert any(x.startswith("most popular") for x in stdout.splitlines())
