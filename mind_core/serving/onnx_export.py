"""ONNX export of a bundle's two towers, for serving without PyTorch.

- ``user_tower.onnx``: ``history`` int64 [B, L] item codes, right-aligned and 0-padded on the
  left (L = the bundle's ``max_length``, as :func:`mind_core.features.split.serving_histories`
  builds them), ``features`` int64 [B, 4] profile codes (gender, age, occupation, zip; see
  :mod:`mind_core.features.encoding`) -> ``interests`` float32 [B, K, D] (inactive ones zero) and
  ``active`` bool [B, K].
- ``item_tower.onnx``: ``items`` int64 [B] item codes -> ``vectors`` float32 [B, D]. Genres are
  not an input: each item's genre pooling is a constant inside the graph (the model's
  ``genre_pool`` buffer), so the item code alone determines its vector.

The batch axis is dynamic; weights are stored inside each file (no external data). Codes come
from the bundle's ``id_maps.json`` (raw id -> code = position in ``item_ids``/``user_ids``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn as nn

OPSET = 18


class UserTower(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, history, features):
        interests, active = self.model.interests(history, features)
        return interests, active


class ItemTower(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, items):
        return self.model.item_vectors()[items]  # (B, D)


def _export(module, args, path: Path, input_names, output_names, dynamic_shapes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's chatter about opset conversions
        # optimize=False: onnxscript's graph optimizer (torch 2.13 / onnxscript here) turned the
        # masked routing of a user with inactive interests into NaN for every interest; the
        # unoptimized graph matches torch to 1e-6 and onnxruntime optimizes it at load anyway.
        program = torch.onnx.export(module, args, dynamo=True, input_names=input_names,
                                    output_names=output_names, dynamic_shapes=dynamic_shapes,
                                    opset_version=OPSET, external_data=False, optimize=False,
                                    verbose=False)
    program.save(str(path), external_data=False)


def export_onnx(bundle, data, outdir) -> dict[str, Path]:
    """Write ``user_tower.onnx`` and ``item_tower.onnx`` for ``bundle`` into ``outdir``
    (created if missing). ``data`` is the bundle's dataset
    (:func:`mind_core.workflow.pipeline.load_data`)
    to rebuild the model. Returns {"user_tower": path, "item_tower": path}."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    model = bundle.load_model(data.encoded).eval()
    L = bundle.config.max_length
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    history = torch.ones(2, L, dtype=torch.long)  # (B, L) sample; the batch size is symbolic
    features = torch.zeros(2, data.encoded.user_features.shape[1], dtype=torch.long)
    paths = {"user_tower": outdir / "user_tower.onnx", "item_tower": outdir / "item_tower.onnx"}
    with torch.no_grad():
        _export(UserTower(model), (history, features), paths["user_tower"],
                ["history", "features"], ["interests", "active"],
                {"history": {0: batch}, "features": {0: batch}})
        _export(ItemTower(model), (torch.arange(1, 3),), paths["item_tower"],
                ["items"], ["vectors"], {"items": {0: batch}})
    return paths


__all__ = ["export_onnx", "UserTower", "ItemTower"]
