"""End-to-end steps shared by the CLI and the app: load data, train, evaluate, write a bundle.

Long work reports through a plain ``progress(event, info)`` callback (see
:data:`mind_core.training.trainer.Progress`); the CLI maps it to tqdm, the app to ``st.progress``.
"""

from __future__ import annotations

import functools
import json
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from mind_core import protocols
from mind_core.artifacts.bundle import Bundle, load_bundle, save_bundle
from mind_core.artifacts.lock import hold
from mind_core.artifacts.paths import default_bundle_path
from mind_core.config import MINDConfig
from mind_core.data.fetch import data_dir, resolve_dataset_path
from mind_core.data.readers import read_dataset
from mind_core.errors import BundleError
from mind_core.evaluation.ceiling import taste_ceiling
from mind_core.evaluation.distinctness import interest_metrics
from mind_core.evaluation.ranking import (
    eval_set_metrics,
    evaluate_popularity,
    interest_scores,
    model_interests,
    ranked,
)
from mind_core.features.encoding import Encoded, encode
from mind_core.features.split import Split, build_split
from mind_core.serving.backends import ANNOY_FILE
from mind_core.serving.files import (
    add_projection,
    build_serving_files,
    has_projection,
    rebuild_serving_files,
)
from mind_core.training.distributed import rank_and_world
from mind_core.training.trainer import Progress, fit
from mind_core.workflow.defaults import AUTO, pick_merge
from mind_core.workflow.scoring import BEFORE_MERGES, dataset_truth, score_merges, user_recall

DEFAULT_INTEREST_NUMS = (1, 2, 4, 8)


@dataclass
class Data:
    """A dataset ready for MIND: tables, integer codes and the chronological split."""
    dataset: object  # mind_core.data.tables.Dataset
    encoded: Encoded
    split: Split


@functools.lru_cache(maxsize=2)
def _read(path: str):
    dataset = read_dataset(path)
    return dataset, encode(dataset)


@functools.lru_cache(maxsize=6)
def _load(path: str, max_length: int, protocol: str) -> Data:
    dataset, encoded = _read(path)
    return Data(dataset, encoded, build_split(encoded, max_length, protocol))


def load_data(name_or_path, max_length: int, protocol: str = protocols.DEFAULT) -> Data:
    """A dataset read, encoded and split for ``max_length`` under ``protocol`` (cached)."""
    return _load(str(resolve_dataset_path(name_or_path)), max_length, protocol)


def forget_loaded_data() -> None:
    """Empty :func:`load_data`'s cache (after the files of a dataset changed on disk)."""
    _load.cache_clear()
    _read.cache_clear()


def bundle_data(bundle: Bundle) -> Data:
    """The data a bundle was trained on, split the way it was trained (its protocol): found by
    its name in the data folder, or else at the path it was read from when trained (a dataset
    outside the data folder). ``check_fingerprint`` tells whether it is still the same data."""
    config = bundle.config
    return load_data(dataset_of(bundle), config.max_length, config.protocol)


def train_bundle(dataset: str, config: MINDConfig, out: Path | None = None,
                 progress: Progress | None = None, with_serving: bool = True,
                 lock: bool = True, with_map: bool = True, merge: str = AUTO,
                 trained_by: dict | None = None) -> Path:
    """Train, evaluate against the popularity baseline, and write a bundle atomically.
    ``with_serving`` also builds the Annoy index and (``with_map``) the UMAP coordinates into
    the bundle; :func:`ensure_map` adds a map left out.
    ``merge``: the strategy of the headline figures, or :data:`AUTO` (every strategy scored on
    the validation set, the best on the protocol's headline used; ``metrics["merge_choice"]``
    records the validation figures that chose it). Test figures never choose.
    ``lock`` holds the destination's lock (:mod:`mind_core.artifacts.lock`) from training to the
    saved bundle: a second writer gets TrainingLocked naming this pid. The app's job board holds its
    locks itself and passes ``lock=False``. ``trained_by``: how the caller runs the training
    (:mod:`mind_core.workflow.jobs`' warm workers say so), recorded with the thread count in
    ``metrics["trained_by"]``."""
    data = load_data(dataset, config.max_length, config.protocol)
    dest = Path(out) if out else default_bundle_path(config, data.encoded.name)
    rank, world = rank_and_world()  # under torchrun, rank 0 alone locks, evaluates and writes
    with hold(dest, f"{dest.name} (K={config.interest_num})") if lock and rank == 0 \
            else nullcontext():
        headline = protocols.get(config.protocol).HEADLINE
        by_epoch: list[tuple[dict, str]] = []

        def validate(model) -> dict:  # every merge, each epoch: the epoch and merge together
            tops: dict = {}
            valid = model_merges(model, data, dataset, which="valid", tops=tops)
            per_user = {s: user_recall(t, data.split, data.split.valid) for s, t in tops.items()}
            picked = pick_merge(valid, headline, per_user) if merge == AUTO else merge
            by_epoch.append((valid, picked))
            return valid[picked]

        result = fit(config, data.encoded, data.split, progress, validate=validate)
        if rank != 0:
            return dest
        valid, chosen = by_epoch[result.best_epoch - 1]  # the kept weights' validation
        by_merge = model_merges(result.model, data, dataset)
        metrics = {
            "test": by_merge[chosen], "merge": chosen, "by_merge": by_merge,
            "merge_choice": {"rule": merge, "by": f"{headline} on the validation set, "
                                   "max_score kept unless another merge is better by a paired "
                                   "t-test over users at 5%",
                             "valid": {s: v[headline] for s, v in valid.items()}},
            "valid": valid[chosen],
            "baselines": {"popularity": evaluate_popularity(data.encoded, data.split, "test")},
            "history": result.history, "best_epoch": result.best_epoch,
            "train_seconds": result.seconds, "stopped_early": result.stopped_early,
            "train_samples": int(len(data.split.train_labels)),
            "evaluated_users": int(len(data.split.test.users)),
            "processes": world,
            "trained_by": {"threads": torch.get_num_threads(),
                           **(trained_by or {"runner": "in process"})},
            "dataset_path": str(resolve_dataset_path(dataset).resolve()),
        }

        def extras(tmp, items, interests, active):  # the index and map, inside the new bundle
            build_serving_files(tmp, items, interests, active, data, config, progress,
                                projection=with_map)

        return save_bundle(dest, result.model, data.encoded, data.split, metrics,
                           extras if with_serving else None)


def model_merges(model, data: Data, dataset: str, which: str = "test", strategies=None,
                 tops: dict | None = None) -> dict:
    """:func:`~mind_core.workflow.scoring.score_merges` for a trained model's test users (with
    the taste figures where the dataset has a truth) or validation users (``which="valid"``:
    the protocol's figures only, what choices are made on)."""
    ev = data.split.test if which == "test" else data.split.valid
    interests, active = model_interests(model, ev.history, data.encoded.user_features[ev.users])
    items = model.item_vectors().detach().cpu().numpy()
    truth = dataset_truth(data, dataset) if which == "test" else None
    kwargs = {} if strategies is None else {"strategies": strategies}
    return score_merges(data, interests.numpy(), active.numpy(), items, truth=truth, ev=ev,
                        tops=tops, **kwargs)


def validation_recall(bundle: Bundle, data: Data) -> np.ndarray:
    """(E,) each validation user's headline figure (Recall@50; HR@50 under leave-last-out)
    under the bundle's merge, from its weights: what a paired comparison of two models on
    validation reads."""
    model = bundle.load_model(data.encoded)
    tops: dict = {}
    merge = bundle_merge(bundle)
    model_merges(model, data, dataset_of(bundle), which="valid", strategies=[merge], tops=tops)
    return user_recall(tops[merge], data.split, data.split.valid)


def bundle_merge(bundle: Bundle) -> str:
    """The merge of a bundle's headline figures (``max_score`` for bundles from before merges
    were scored)."""
    return (bundle.metrics or {}).get("merge", BEFORE_MERGES)


def bundle_merges(bundle: Bundle, data: Data, strategies=None) -> dict:
    """``{strategy: metrics}`` re-scored from a bundle's stored vectors (every strategy by
    default), with the taste figures when its dataset has a truth."""
    ev = data.split.test
    kwargs = {} if strategies is None else {"strategies": strategies}
    return score_merges(data, bundle.user_interests[ev.users], bundle.user_active[ev.users],
                        bundle.item_vectors, truth=dataset_truth(data, dataset_of(bundle)),
                        **kwargs)


def dataset_of(bundle: Bundle) -> str:
    """Where a bundle's dataset is: the folder it was read from when trained, while it exists
    (a dataset given by path is not looked up by its folder's name in the data folder, where
    another dataset may have that name), else its name in the data folder."""
    trained_from = (bundle.metrics or {}).get("dataset_path")
    if trained_from and Path(trained_from).exists():
        return trained_from
    name = bundle.meta.get("dataset", "")
    in_folder = data_dir() / name  # never a folder of that name under the working directory
    return str(in_folder) if name and in_folder.exists() else name


def ensure_bundle(dataset: str, config: MINDConfig, progress: Progress | None = None,
                  with_serving: bool = True, with_map: bool = True) -> tuple[Bundle, bool]:
    """The bundle for ``config`` on ``dataset``: loaded if already built (and whole), trained
    if not; ``with_serving`` adds the index (and map) to a bundle built without them. Returns
    (bundle, trained)."""
    data = load_data(dataset, config.max_length, config.protocol)
    path = default_bundle_path(config, data.encoded.name)
    try:
        bundle = load_bundle(path, data.encoded)
    except BundleError:
        pass
    else:
        if not with_serving or (path / ANNOY_FILE).is_file():
            return bundle, False
        with hold(path, f"{bundle.name} (index)"):  # trained without its serving files
            if not (path / ANNOY_FILE).is_file():
                rebuild_serving_files(bundle, data, progress, projection=with_map)
        return load_bundle(path, data.encoded), False
    train_bundle(dataset, config, out=path, progress=progress, with_serving=with_serving,
                 with_map=with_map)
    return load_bundle(path, data.encoded), True


def ensure_map(bundle: Bundle, progress: Progress | None = None) -> bool:
    """Add the UMAP map to a bundle built with its index but without it (`make run` serves its
    first model before UMAP has run), under the bundle's lock. True if it was added."""
    if has_projection(bundle) or not (Path(bundle.path) / ANNOY_FILE).is_file():
        return False
    with hold(bundle.path, f"{bundle.name} (map)"):
        if has_projection(bundle):  # another process added it while we waited
            return False
        add_projection(bundle, progress)
    return True


def evaluate_bundle(bundle: Bundle, data: Data) -> dict:
    """Re-score a bundle from its stored vectors alone (no model code): the protocol's test
    metrics under the bundle's merge, which must equal the ones recorded at training time."""
    merge = bundle_merge(bundle)
    if merge != BEFORE_MERGES:
        return bundle_merges(bundle, data, [merge])[merge]
    ev = data.split.test
    items = torch.as_tensor(bundle.item_vectors)

    def scores_of(rows):
        return interest_scores(torch.as_tensor(bundle.user_interests[ev.users[rows]]),
                               torch.as_tensor(bundle.user_active[ev.users[rows]]), items)

    top = ranked(data.split, ev, data.encoded.n_items, scores_of)
    return eval_set_metrics(top, data.split, ev, data.encoded)


def find_k1_twin(bundle: Bundle) -> Bundle | None:
    """A bundle of the same configuration but interest_num=1 (the K=1 baseline), if built."""
    path = default_bundle_path(replace(bundle.config, interest_num=1),
                               bundle.meta.get("dataset", ""))
    try:
        return load_bundle(path)
    except BundleError:
        return None


def report(bundle: Bundle, data: Data) -> dict:
    """The model, the popularity baseline and (if built) MIND K=1 under the bundle's protocol,
    and how distinct the model's interests are (:mod:`mind_core.evaluation.distinctness`):
    ``{"bundle", "protocol", "merge", "models": {name: metrics}, "merges": {name: {strategy:
    metrics}}, "interests": {...}}``. ``models`` holds each MIND row under the bundle's merge
    (``merge``); ``merges`` the same models under every strategy, with the taste figures when
    the dataset has a truth; ``ceiling`` then the figures of the ranking that reads it
    (:func:`taste_ceiling_of`), else None."""
    name = f"MIND K={bundle.config.interest_num}"
    merge = bundle_merge(bundle)
    merges = {name: bundle_merges(bundle, data)}
    rows = {name: merges[name][merge],
            "most popular": evaluate_popularity(data.encoded, data.split, "test")}
    twin = find_k1_twin(bundle)
    if twin is not None and twin.path != bundle.path:
        merges["MIND K=1"] = bundle_merges(twin, data)
        rows["MIND K=1"] = merges["MIND K=1"][merge]
    return {"bundle": bundle.name, "protocol": data.split.protocol, "merge": merge,
            "merge_choice": (bundle.metrics or {}).get("merge_choice"), "models": rows,
            "merges": merges, "interests": interest_metrics(bundle, data),
            "ceiling": taste_ceiling_of(bundle, data)}


def taste_ceiling_of(bundle: Bundle, data: Data) -> dict | None:
    """On a taste mixture, the test figures of the oracle that reads its truth
    (:func:`mind_core.evaluation.ceiling.taste_ceiling`: about the most any model could reach);
    None on a dataset without one."""
    truth = dataset_truth(data, dataset_of(bundle))
    return None if truth is None else taste_ceiling(data, truth)


def export_embeddings(bundle: Bundle, data: Data, outdir: Path) -> Path:
    """Vectors and targets in plain formats, so anyone can re-check the metrics. targets.json
    holds, per evaluated user, the first held-out movie ("test"), every held-out movie of the
    bundle's protocol ("targets") and the history excluded from the ranking."""
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
            "targets": enc.item_ids[split.target_set(split.test, row)].tolist(),
            "history": enc.item_ids[seen].tolist()}
    (outdir / "targets.json").write_text(json.dumps(targets))
    return outdir
