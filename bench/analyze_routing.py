"""Why does (or doesn't) multi-interest pay on a dataset? Evidence from a trained bundle.

For every evaluated user, at serving time:

- ``routing_moved``: how far B2I routing moved the coupling weights away from their random
  start (total-variation distance per behaviour, 0..1, averaged). Near 0 means the interests
  are split by the fixed random logits, i.e. by position, not by content.
- ``assignment_by_position``: share of behaviours whose strongest interest is the one the
  initial logits alone would pick.
- ``interest_cosine``: mean pairwise cosine between a user's active interest vectors
  (1 = the interests collapsed into one).
- ``merged_top_share``: share of the merged top 50 that comes from the user's most used
  interest (1/K' = perfectly balanced, 1 = one interest does all the work).
- ``capsule_norm``: mean norm of the squashed capsules (small = weak routing signal).
- ``interests``: :func:`mind_core.evaluation.distinctness.interest_metrics` (busiest_share_50
counts only
  users with >= 2 active interests, where ``merged_top_share`` above counts every user).

    .venv/bin/python -m bench.analyze_routing BUNDLE [BUNDLE ...]

Writes ``bench/results/routing.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from mind_core.artifacts.bundle import load_bundle
from mind_core.evaluation.distinctness import interest_metrics
from mind_core.features.split import serving_histories
from mind_core.workflow.pipeline import load_data

RESULTS = Path(__file__).resolve().parent / "results" / "routing.json"


@torch.no_grad()
def analyze(path) -> dict:
    bundle = load_bundle(path)
    data = load_data(bundle.meta["dataset"], bundle.config.max_length)
    model = bundle.load_model(data.encoded)
    users = data.split.test.users
    history = torch.as_tensor(serving_histories(data.split, data.encoded.n_users)[users])
    features = torch.as_tensor(data.encoded.user_features[users])
    table = model.items.table()
    interests, active, weights = model._extract(history, features, table)  # (E,K,D),(E,K),(E,K,L)
    mask = history > 0  # (E, L)
    L = history.shape[1]
    init = model.routing.init_logits[:, -L:].unsqueeze(0).expand(len(users), -1, -1)
    init = torch.softmax(init.masked_fill(~active.unsqueeze(-1), -torch.inf), dim=1)
    tv = 0.5 * (weights - init * mask.unsqueeze(1)).abs().sum(1)  # (E, L)
    moved = tv[mask].mean().item()
    same_pick = (weights.argmax(1) == init.argmax(1))[mask].float().mean().item()

    cosines, top_share = [], []
    items = table
    scores = torch.einsum("ekd,id->eki", interests, items).masked_fill(
        ~active.unsqueeze(-1), -torch.inf)  # (E, K, I)
    for e in range(len(users)):
        act = interests[e][active[e]]
        k = len(act)
        if k >= 2:
            unit = torch.nn.functional.normalize(act, dim=-1)
            sim = unit @ unit.T
            cosines.append(((sim.sum() - k) / (k * (k - 1))).item())
        best = scores[e].amax(0)
        best[0] = -torch.inf
        seen = data.split.seen_before(data.split.test, e)
        best[torch.as_tensor(seen)] = -torch.inf
        top = torch.topk(best, 50).indices
        source = scores[e][:, top].argmax(0)
        top_share.append(torch.bincount(source, minlength=k).max().item() / 50)

    capsule_norm = None
    # capsules are internal; re-run routing on the same inputs to read their norms
    u_hat, mask, behaviour_weight = model.routing_inputs(history, table)
    capsules, _ = model.routing(u_hat, mask, active, behaviour_weight)
    capsule_norm = capsules.norm(dim=-1)[active].mean().item()
    return {"bundle": str(path), "interest_num": bundle.config.interest_num,
            "active_mean": active.sum(1).float().mean().item(),
            "routing_moved": moved, "assignment_by_position": same_pick,
            "interest_cosine": float(np.mean(cosines)) if cosines else None,
            "merged_top_share": float(np.mean(top_share)), "capsule_norm": capsule_norm,
            "interests": interest_metrics(bundle, data),
            "test_HR@50": bundle.metrics["test"]["HR@50"]}


def main(argv) -> int:
    rows = [analyze(p) for p in argv]
    for r in rows:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                          for k, v in r.items()}))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
