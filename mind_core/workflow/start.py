"""Choosing where a dataset's models start, on validation data.

Some settings suit one dataset and not another: on MovieLens-100K the next movie follows the
last 20 behaviours and 3 routing iterations do best, while on a taste mixture a window of 50
and 10 iterations find the tastes that span a long history (docs/results.md, "What lost
tastes"). Reading that off a truth file would be reading the answer, so every dataset gets the
same procedure instead: the default model (K = :data:`~mind_core.workflow.defaults.START_K`,
seed 0) is trained from each of :data:`~mind_core.workflow.defaults.START_CANDIDATES`, each
under its own merge chosen on validation, and each is scored per validation user on the
protocol's headline (Recall@50 of the validation set under ``future``, HR@50 of the
validation movie under leave-last-out). The first candidate (MINDConfig's defaults) is kept
unless another beats it by a paired t-test over the validation users at the 5% level, so noise
alone rarely moves a dataset off the defaults. Test figures are never read.

The choice is written to ``data/artifacts/<dataset>/start-<protocol>.json`` with every
candidate's validation figure and bundle, and every later model of the dataset under that
protocol starts there (:func:`mind_core.workflow.defaults.dataset_config`). The candidates are
ordinary bundles, so the one chosen is the dataset's default model and nothing is trained
twice.
"""

from __future__ import annotations

import json
import os
import time

from mind_core import protocols
from mind_core.artifacts.lock import hold
from mind_core.evaluation.verdict import paired_gain
from mind_core.training.trainer import Progress
from mind_core.workflow.defaults import (
    START_CANDIDATES,
    START_K,
    dataset_protocol,
    recorded_start,
    start_config,
    start_path,
)
from mind_core.workflow.pipeline import bundle_merge, ensure_bundle, load_data, validation_recall

LEVEL = 0.05  # a candidate replaces the first only when better at this level (one-sided)


def choose_start(dataset, protocol: str | None = None, progress: Progress | None = None,
                 with_serving: bool = True, with_map: bool = True, **changes) -> dict:
    """The start of ``dataset``'s models under ``protocol`` (its declared one by default):
    read if chosen already, else chosen now (training what candidates are missing) and
    recorded. ``changes``: settings every candidate shares (the caller's own, e.g. fewer
    epochs); a candidate's own settings win over them. Returns the record."""
    changes = {k: v for k, v in changes.items() if k not in ("interest_num", "seed")}
    protocol = protocol or dataset_protocol(dataset)
    record = recorded_start(dataset, protocol)
    if record is not None:
        return record
    path = start_path(dataset, protocol)
    path.parent.mkdir(parents=True, exist_ok=True)
    with hold(path, f"choosing the start of {path.parent.name} ({protocol})"):
        record = recorded_start(dataset, protocol)  # another process chose while we waited
        if record is not None:
            return record
        record = _choose(dataset, protocol, progress, with_serving, with_map, changes)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        tmp.replace(path)
    return recorded_start(dataset, protocol)  # as every later reader sees it


def _config(protocol: str, name: str, changes: dict):
    return start_config(protocol, name, **{**changes, **START_CANDIDATES[name],
                                            "interest_num": START_K, "seed": 0})


def _choose(dataset, protocol, progress, with_serving, with_map, changes) -> dict:
    headline = protocols.get(protocol).HEADLINE
    candidates, figures = {}, {}
    for name in START_CANDIDATES:
        config = _config(protocol, name, changes)
        if progress:
            progress("stage", {"message": f"start '{name}': the K={START_K} seed 0 model"})
        # the losing candidate needs no index: the winner gets its serving files afterwards
        bundle, _ = ensure_bundle(dataset, config, progress, with_serving=False)
        data = load_data(dataset, config.max_length, protocol)
        figures[name] = validation_recall(bundle, data)
        candidates[name] = {"changes": START_CANDIDATES[name], "bundle": bundle.name,
                            "merge": bundle_merge(bundle),
                            f"valid {headline}": float(figures[name].mean())}
    first, chosen = next(iter(START_CANDIDATES)), None
    for name in list(START_CANDIDATES)[1:]:
        test = paired_gain(figures[first], figures[name])
        candidates[name]["against_first"] = test
        if test["gain"] > 0 and test["p"] < LEVEL and (
                chosen is None or test["gain"] > candidates[chosen]["against_first"]["gain"]):
            chosen = name
    chosen = chosen or first
    if with_serving:  # the chosen candidate is the dataset's default model: give it its index
        ensure_bundle(dataset, _config(protocol, chosen, changes), progress,
                      with_serving=True, with_map=with_map)
    return {"chosen": chosen, "changes": START_CANDIDATES[chosen], "protocol": protocol,
            "by": f"per-user {headline} on the validation set, paired t-test against "
                  f"'{first}' at {LEVEL:.0%} (one-sided)",
            "model": f"K={START_K}, seed 0", "shared": changes, "candidates": candidates,
            "chosen_at": time.strftime("%Y-%m-%dT%H:%M:%S")}


__all__ = ["choose_start", "LEVEL"]
