"""End-to-end steps shared by the CLI and the app: load data, train, evaluate, write a bundle.

Long work reports through a plain ``progress(event, info)`` callback (see
:data:`mind_core.train.Progress`); the CLI maps it to tqdm, the app to ``st.progress``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .bundle import Bundle, default_bundle_path, list_bundles, load_bundle, save_bundle
from .encoding import Encoded, encode
from .evaluate import (
    CUTOFFS,
    evaluate_model,
    evaluate_popularity,
    exclusion_mask,
    interest_scores,
    ranking_metrics,
    top_n,
)
from .fetch import resolve_dataset_path
from .model import MINDConfig
from .readers import read_dataset
from .samples import Split, build_split
from .train import Progress, fit

DEFAULT_INTEREST_NUMS = (1, 2, 4, 8)


@dataclass
class Data:
    """A dataset ready for MIND: tables, integer codes and the chronological split."""
    dataset: object  # mind_core.dataset.Dataset
    encoded: Encoded
    split: Split


@functools.lru_cache(maxsize=4)
def _load(path: str, max_length: int) -> Data:
    dataset = read_dataset(path)
    encoded = encode(dataset)
    return Data(dataset, encoded, build_split(encoded, max_length))


def load_data(name_or_path, max_length: int) -> Data:
    return _load(str(resolve_dataset_path(name_or_path)), max_length)


def train_bundle(dataset: str, config: MINDConfig, out: Path | None = None,
                 progress: Progress | None = None, with_serving: bool = True) -> Path:
    """Train, evaluate against the popularity baseline, and write a bundle atomically.
    ``with_serving`` also builds the Annoy index and UMAP coordinates into the bundle."""
    data = load_data(dataset, config.max_length)
    result = fit(config, data.encoded, data.split, progress)
    metrics = {
        "test": evaluate_model(result.model, data.encoded, data.split, "test"),
        "valid": evaluate_model(result.model, data.encoded, data.split, "valid"),
        "baselines": {"popularity": evaluate_popularity(data.encoded, data.split, "test")},
        "history": result.history, "best_epoch": result.best_epoch,
        "train_seconds": result.seconds, "stopped_early": result.stopped_early,
        "train_samples": int(len(data.split.train_labels)),
        "evaluated_users": int(len(data.split.test.users)),
    }
    extras = None
    if with_serving:
        extras = _serving_extras(data, config, progress)
    dest = Path(out) if out else default_bundle_path(config, data.encoded.name)
    return save_bundle(dest, result.model, data.encoded, data.split, metrics, extras)


def _serving_extras(data: Data, config: MINDConfig, progress):
    """The retrieval index and projection, when those modules are available."""
    try:
        from .serving import build_serving_files
    except ImportError:
        return None

    def extras(tmp, items, interests, active):
        build_serving_files(tmp, items, interests, active, data, config, progress)

    return extras


def evaluate_bundle(bundle: Bundle, data: Data) -> dict:
    """Re-score a bundle from its stored vectors alone (no model code): the protocol's test
    metrics, which must equal the ones recorded at training time."""
    ev = data.split.test
    interests = torch.as_tensor(bundle.user_interests[ev.users])
    active = torch.as_tensor(bundle.user_active[ev.users])
    scores = interest_scores(interests, active, torch.as_tensor(bundle.item_vectors))
    top = top_n(scores, exclusion_mask(data.split, ev, data.encoded.n_items), max(CUTOFFS))
    return ranking_metrics(top, ev.targets, data.encoded.primary_genre, data.encoded.n_items)


def find_k1_twin(bundle: Bundle) -> Bundle | None:
    """A bundle of the same configuration but interest_num=1 (the K=1 baseline), if built."""
    want = {**bundle.config.to_dict(), "interest_num": 1}
    for path in list_bundles(bundle.meta.get("dataset", "")):
        try:
            other = load_bundle(path)
        except Exception:
            continue
        if {**other.config.to_dict(), "device": want["device"]} == want:
            return other
    return None


def report(bundle: Bundle, data: Data) -> dict:
    """The model, the popularity baseline and (if built) MIND K=1, under one protocol."""
    rows = {f"MIND K={bundle.config.interest_num}": evaluate_bundle(bundle, data),
            "most popular": evaluate_popularity(data.encoded, data.split, "test")}
    twin = find_k1_twin(bundle)
    if twin is not None and twin.path != bundle.path:
        rows["MIND K=1"] = evaluate_bundle(twin, data)
    return rows


def export_embeddings(bundle: Bundle, data: Data, outdir: Path) -> Path:
    """Vectors and targets in plain formats, so anyone can re-check the metrics."""
    import json

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    enc, split = data.encoded, data.split
    np.save(outdir / "items.npy", bundle.item_vectors[1:].astype(np.float32))
    np.save(outdir / "user_interests.npy", bundle.user_interests.astype(np.float32))
    np.save(outdir / "user_active.npy", bundle.user_active.astype(bool))
    (outdir / "item_ids.json").write_text(json.dumps(enc.item_ids[1:].tolist()))
    (outdir / "user_ids.json").write_text(json.dumps(enc.user_ids.tolist()))
    targets = {}
    for row, user in enumerate(split.test.users):
        seen = split.seen_before(split.test, row)
        targets[str(enc.user_ids[user])] = {
            "test": int(enc.item_ids[split.test.targets[row]]),
            "history": enc.item_ids[seen].tolist()}
    (outdir / "targets.json").write_text(json.dumps(targets))
    return outdir
