"""Where does a taste get lost? Evidence from a bundle trained on a taste mixture.

For every evaluated user (the truth of :mod:`mind_core.data.tastes`, the interests' own top 10,
exact search, history excluded):

- ``in_window``: share of a user's tastes with at least 3 movies in the routed window (the last
  ``max_length`` ratings): a taste outside it cannot be found by any routing;
- ``found_of_in_window``: of those, the share some interest's own top 10 is mostly (>= 60%) of;
- ``repeated``: share of the interests that find a taste which another interest of the same
  user already holds (routing spent two interests on one taste);
- ``taste_recall``, ``purity``: as in ``mind-core evaluate``.

    .venv/bin/python -m bench.analyze_tastes BUNDLE [BUNDLE ...]

Writes ``bench/results/tastes.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from mind_core.artifacts import load_bundle
from mind_core.evaluation.tastes import THRESHOLD, interest_clusters, purity, taste_recall
from mind_core.serving import own_tops
from mind_core.workflow.pipeline import bundle_data
from mind_core.workflow.scoring import OWN_N, dataset_truth

RESULTS = Path(__file__).parent / "results" / "tastes.json"
MIN_ITEMS = 3


def analyze(path) -> dict:
    bundle = load_bundle(path)
    data = bundle_data(bundle)
    truth = dataset_truth(data, bundle.meta.get("dataset", ""))
    if truth is None:
        raise SystemExit(f"{path}: its dataset has no truth.json (not a taste mixture)")
    ev = data.split.test
    interests, active = bundle.user_interests[ev.users], bundle.user_active[ev.users]
    own, _ = own_tops(data.split, ev, interests, active, bundle.item_vectors, OWN_N)
    majority, share = interest_clusters(own, truth.item_cluster, len(truth.clusters))
    tastes = truth.tastes[ev.users]  # (E, C)
    window = truth.item_cluster[ev.history]  # (E, L), -1 for padding
    present = np.stack([(window == c).sum(1) >= MIN_ITEMS
                        for c in range(tastes.shape[1])], 1) & tastes
    good = active & (share >= THRESHOLD) & (majority >= 0)
    found = np.zeros_like(tastes)
    repeated = held = 0
    for u in range(len(ev.users)):
        clusters = majority[u, good[u]]
        held += len(clusters)
        repeated += len(clusters) - len(set(clusters.tolist()))
        found[u, clusters] = True
    return {"bundle": bundle.name, "dataset": bundle.meta.get("dataset"),
            "interest_num": bundle.config.interest_num, "seed": bundle.config.seed,
            "max_length": bundle.config.max_length,
            "routing_iters": bundle.config.routing_iters,
            "in_window": float(present.sum() / max(1, tastes.sum())),
            "found_of_in_window": float((found & present).sum() / max(1, present.sum())),
            "repeated": float(repeated / max(1, held)),
            "taste_recall": taste_recall(own, active, truth.item_cluster, tastes)[0],
            "purity": purity(own, active, truth.item_cluster)[0]}


def main(paths: list[str]) -> None:
    if not paths:
        raise SystemExit(__doc__)
    rows = [analyze(p) for p in paths]
    for r in rows:
        print(f"{r['bundle']} (K={r['interest_num']}, L={r['max_length']}, "
              f"{r['routing_iters']} iterations, seed {r['seed']}): tastes in the window "
              f"{r['in_window']:.0%}, found of those {r['found_of_in_window']:.0%}, repeated "
              f"{r['repeated']:.0%}, taste recall {r['taste_recall']:.3f}, purity "
              f"{r['purity']:.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
