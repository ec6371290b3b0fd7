"""Distinctness figures (``mind_core.evaluation.distinctness``): known answers on hand-built
arrays, and
agreement with an independent numpy computation from ``mind-core export-embeddings`` files."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest

from mind_core.artifacts.bundle import load_bundle
from mind_core.cli import main
from mind_core.evaluation.distinctness import interest_metrics, interest_metrics_from_arrays
from mind_core.workflow.pipeline import load_data

KEYS = {"busiest_share_50", "mean_cosine", "top10_overlap", "genre_purity", "users"}


def _catalogue():
    """61 rows (row 0 padding): items 1-40 along x with lengths 1.00..1.39 (genre 1), items
    41-60 along y with lengths 1.00..1.19 (genre 2, but 58-60 are genre 3)."""
    items = np.zeros((61, 2))
    items[1:41, 0] = 1.0 + np.arange(40) / 100
    items[41:61, 1] = 1.0 + np.arange(20) / 100
    genre = np.zeros(61, dtype=int)
    genre[1:41], genre[41:61], genre[58:61] = 1, 2, 3
    return items, genre


def test_known_answers_on_hand_built_arrays():
    items, genre = _catalogue()
    interests = np.array([
        [[1.0, 0.0], [0.0, 0.5], [0.0, 0.0]],  # A: two orthogonal interests
        [[1.0, 0.0], [0.9, 0.0], [0.0, 0.5]],  # B: two parallel ones and an orthogonal one
        [[0.0, 0.3], [0.0, 0.0], [0.0, 0.0]],  # C: one interest (no pairwise figures)
    ])
    active = np.array([[True, True, False], [True, True, True], [True, False, False]])
    exclude = np.zeros((3, 61), dtype=bool)
    exclude[:, 0] = True
    exclude[0, 40] = True  # A has seen the best x item
    got = interest_metrics_from_arrays(interests, active, items, exclude, genre)
    assert set(got) == KEYS and got["users"] == 2
    # merged top 50 of 60 items: every x item (x scores 1.00..1.39 beat y's 0.50..0.595), then
    # the best y items. A: 39 x (one excluded) + 11 y -> 0.78; B: 40 x (from interest 0, whose
    # 1.0 beats interest 1's 0.9) + 10 y -> 0.80
    assert got["busiest_share_50"] == pytest.approx((39 / 50 + 40 / 50) / 2, abs=1e-12)
    # A: cos 0; B: pairs (0,1) = 1, (0,2) = 0, (1,2) = 0 -> 1/3
    assert got["mean_cosine"] == pytest.approx((0 + 1 / 3) / 2, abs=1e-12)
    # own top 10: A's x list (items 30-39, 40 excluded) and y list (51-60) are disjoint; B's
    # interests 0 and 1 have the same list (31-40)
    assert got["top10_overlap"] == pytest.approx((0 + 1 / 3) / 2, abs=1e-12)
    # purity: every x list is all genre 1 (1.0); a y list of 51-60 has 7 of genre 2 (0.7).
    # Active interests: A x, A y, B x, B x, B y, C y -> (1 + .7 + 1 + 1 + .7 + .7) / 6
    assert got["genre_purity"] == pytest.approx(5.1 / 6, abs=1e-12)


def test_extremes():
    items, genre = _catalogue()
    exclude = np.zeros((1, 61), dtype=bool)
    exclude[:, 0] = True
    same = np.array([[[1.0, 0.2], [2.0, 0.4]]])  # parallel: one supplies all, same lists
    got = interest_metrics_from_arrays(same, np.ones((1, 2), bool), items, exclude, genre)
    assert got["busiest_share_50"] == 1.0
    assert got["mean_cosine"] == pytest.approx(1.0)
    assert got["top10_overlap"] == 1.0
    single = interest_metrics_from_arrays(same, np.array([[True, False]]), items, exclude, genre)
    assert single["users"] == 0
    assert single["busiest_share_50"] is None and single["mean_cosine"] is None
    assert single["top10_overlap"] is None and single["genre_purity"] is not None


def _independent(outdir, primary_genre_by_id) -> dict:
    """The figures from export-embeddings' files alone, in plain numpy with its own ranking."""
    items = np.load(outdir / "items.npy").astype(np.float64)  # (I-1, D): no padding row
    interests = np.load(outdir / "user_interests.npy").astype(np.float64)
    active = np.load(outdir / "user_active.npy")
    user_ids = json.loads((outdir / "user_ids.json").read_text())
    item_ids = json.loads((outdir / "item_ids.json").read_text())
    targets = json.loads((outdir / "targets.json").read_text())
    row_of = {u: r for r, u in enumerate(user_ids)}
    col_of = {i: c for c, i in enumerate(item_ids)}
    genre = np.array([primary_genre_by_id[i] for i in item_ids])
    busiest, cosine, overlap, purity = [], [], [], []
    for uid, t in targets.items():
        V = interests[row_of[int(uid)]][active[row_of[int(uid)]]]  # (k, D)
        scores = V @ items.T  # (k, I-1)
        scores[:, [col_of[i] for i in t["history"]]] = -np.inf
        own = [np.argsort(-s, kind="stable")[:10] for s in scores]
        purity += [np.unique(genre[o], return_counts=True)[1].max() / 10 for o in own]
        if len(V) < 2:
            continue
        merged = np.argsort(-scores.max(0), kind="stable")[:50]
        busiest.append(np.bincount(scores[:, merged].argmax(0)).max() / 50)
        unit = V / np.linalg.norm(V, axis=1, keepdims=True)
        pairs = list(combinations(range(len(V)), 2))
        cosine.append(np.mean([unit[i] @ unit[j] for i, j in pairs]))
        overlap.append(np.mean([len(set(own[i]) & set(own[j])) / 10 for i, j in pairs]))
    return {"busiest_share_50": np.mean(busiest), "mean_cosine": np.mean(cosine),
            "top10_overlap": np.mean(overlap), "genre_purity": np.mean(purity),
            "users": len(busiest)}


def test_agrees_with_an_independent_computation_from_export_embeddings(model_home, tmp_path,
                                                                        capsys):
    path = model_home["bundles"][4]
    assert main(["export-embeddings", str(path), str(tmp_path)]) == 0
    capsys.readouterr()
    bundle = load_bundle(path)
    data = load_data("ml-100k", bundle.config.max_length)
    enc = data.encoded
    got = interest_metrics(bundle, data)
    want = _independent(tmp_path, dict(zip(enc.item_ids[1:].tolist(),
                                           enc.primary_genre[1:].tolist(), strict=True)))
    assert got["users"] == want["users"] > 100
    for key in KEYS - {"users"}:
        assert got[key] == pytest.approx(want[key], abs=1e-6), key
