"""``mind-core recommend`` and ``export-onnx``/``build-index`` through the real CLI entry point."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mind_core.cli import main
from mind_core.workflow.pipeline import load_data


@pytest.fixture(scope="module")
def k4(model_home):
    return model_home["bundles"][4]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_recommend_json(k4, capsys):
    code, out, _ = run(capsys, "recommend", k4, "--user", 1, "--n", 7, "--json")
    assert code == 0
    obj = json.loads(out)
    assert set(obj) == {"user", "per_interest", "merged"} and obj["user"] == 1
    from mind_core.artifacts.bundle import load_bundle

    bundle = load_bundle(k4)
    data = load_data("ml-100k", bundle.config.max_length)
    enc = data.encoded
    row = enc.user_row(1)
    assert len(obj["per_interest"]) == int(bundle.user_active[row].sum())
    i = int(np.searchsorted(data.split.test.users, row))
    seen = set(enc.item_ids[data.split.seen_before(data.split.test, i)].tolist())
    for lst in obj["per_interest"]:
        assert len(lst) == 7
        for entry in lst:
            assert set(entry) == {"item", "title", "score"}
            assert entry["item"] not in seen
            assert entry["title"] == enc.titles[enc.item_code(entry["item"])]
    assert len(obj["merged"]) == 7
    for entry in obj["merged"]:
        assert set(entry) == {"item", "title", "score", "interest"}
        assert entry in [{**e, "interest": entry["interest"]}
                         for e in obj["per_interest"][entry["interest"]]]


def test_recommend_text_every_strategy_and_backend(k4, capsys):
    for merge in ("max_score", "round_robin", "quota", "diverse"):
        code, out, _ = run(capsys, "recommend", k4, "--user", 42, "--merge", merge,
                           "--backend", "exact")
        assert code == 0 and f"merged ({merge})" in out and "interest 0" in out


def test_unknown_user(k4, capsys):
    code, _, err = run(capsys, "recommend", k4, "--user", 99999)
    assert code == 2 and "error:" in err and "unknown user" in err and "1..943" in err


def test_bundle_without_index(k4, capsys, tmp_path):
    copy = tmp_path / "no-index"
    shutil.copytree(k4, copy)
    (copy / "items.ann").unlink()
    code, _, err = run(capsys, "recommend", copy, "--user", 1)
    assert code == 2 and "no Annoy index" in err and "build-index" in err
    code, _, _ = run(capsys, "build-index", copy, "--no-projection")
    assert code == 0 and (copy / "items.ann").is_file()
    code, out, _ = run(capsys, "recommend", copy, "--user", 1, "--json")
    assert code == 0 and json.loads(out)["merged"]


def test_missing_bundle(capsys, tmp_path):
    code, _, err = run(capsys, "recommend", tmp_path / "nope", "--user", 1)
    assert code == 2 and "no such model bundle" in err


def test_train_without_serving_files_then_build_the_index(capsys, tmp_path):
    """``train --no-serving`` (for big catalogues) writes a bundle without index or map that
    exact search serves at once and ``build-index`` completes later."""
    from mind_core.data.synth import generate

    data = tmp_path / "synth"
    generate(data, users=40, items=60, ratings=1200, seed=0)
    out = tmp_path / "model"
    code, _, err = run(capsys, "train", "--dataset", data, "--out", out, "--embed-dim", 8,
                       "--epochs", 1, "--no-serving")
    assert code == 0, err
    assert not (out / "items.ann").exists() and not (out / "projection.npz").exists()
    user = json.loads((out / "id_maps.json").read_text())["user_ids"][0]
    code, out_json, err = run(capsys, "recommend", out, "--user", user, "--backend", "exact",
                              "--json")
    assert code == 0 and len(json.loads(out_json)["merged"]) == 10, err
    assert run(capsys, "recommend", out, "--user", user)[0] == 2  # Annoy: not built yet
    assert run(capsys, "build-index", out, "--no-projection")[0] == 0
    assert run(capsys, "recommend", out, "--user", user)[0] == 0
