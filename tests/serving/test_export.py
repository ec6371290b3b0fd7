"""ONNX export: both towers under onnxruntime match torch within 1e-4 on batches of 1 and 37."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mind_core.artifacts.bundle import load_bundle
from mind_core.features.split import serving_histories
from mind_core.workflow.pipeline import load_data


@pytest.fixture(scope="module")
def exported(model_home, tmp_path_factory):
    from mind_core.serving.onnx_export import export_onnx

    bundle = load_bundle(model_home["bundles"][4])
    data = load_data("ml-100k", bundle.config.max_length)
    out = tmp_path_factory.mktemp("onnx")
    paths = export_onnx(bundle, data, out)
    return bundle, data, out, paths


def test_single_files_written(exported):
    _, _, out, paths = exported
    assert sorted(p.name for p in out.iterdir()) == ["item_tower.onnx", "user_tower.onnx"]
    assert set(paths) == {"user_tower", "item_tower"}


@pytest.mark.parametrize("batch", [1, 37])
def test_towers_match_torch(exported, batch):
    import onnxruntime as ort

    bundle, data, _, paths = exported
    model = bundle.load_model(data.encoded)
    enc = data.encoded
    histories = serving_histories(data.split, enc.n_users)
    rows = np.arange(batch) * 7
    history = histories[rows].astype(np.int64)  # (B, L)
    features = enc.user_features[rows].astype(np.int64)  # (B, 4)
    stored = bundle.user_interests[rows]
    # short histories, so that some interests are inactive (dynamic K): 1, 2 and 3 behaviours
    for b, keep in zip(range(batch), (1, 2, 3), strict=False):
        history[b, : history.shape[1] - keep] = 0
    short = min(batch, 3)

    user = ort.InferenceSession(str(paths["user_tower"]), providers=["CPUExecutionProvider"])
    interests, active = user.run(None, {"history": history, "features": features})
    with torch.no_grad():
        want_i, want_a = model.interests(torch.as_tensor(history), torch.as_tensor(features))
    assert interests.shape == (batch, bundle.config.interest_num, bundle.config.embed_dim)
    assert active.dtype == np.bool_
    assert not active[0, 1:].any()  # one behaviour: one interest
    np.testing.assert_array_equal(active, want_a.numpy())
    np.testing.assert_allclose(interests, want_i.numpy(), atol=1e-4, rtol=0)
    # for full histories the stored serving vectors are what the ONNX user tower computes
    np.testing.assert_allclose(interests[short:], stored[short:], atol=1e-4, rtol=0)

    item = ort.InferenceSession(str(paths["item_tower"]), providers=["CPUExecutionProvider"])
    codes = np.random.default_rng(batch).integers(1, enc.n_items, size=batch)
    (vectors,) = item.run(None, {"items": codes.astype(np.int64)})
    np.testing.assert_allclose(vectors, bundle.item_vectors[codes], atol=1e-4, rtol=0)
