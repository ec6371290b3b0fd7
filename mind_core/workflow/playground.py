"""The playground: a taste mixture written from a person's knobs, MIND trained on it for a few K
values and seeds, and the result read as a K sweep against the seed noise, with the figures
only the truth can give.

The same knobs name the same dataset (:func:`mind_core.data.tastes.dataset_name`) and the same
K and seed the same bundle, so nothing is generated or trained twice: :func:`plan` lists what a
request needs and :func:`missing` what of it is not built yet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mind_core.artifacts.bundle import Bundle
from mind_core.artifacts.lock import TrainingLocked
from mind_core.artifacts.paths import default_bundle_path
from mind_core.config import MINDConfig
from mind_core.data.tastes import TastesConfig, dataset_name, ensure_tastes
from mind_core.evaluation.tastes import THRESHOLD, interest_clusters
from mind_core.serving.backends import ANNOY_FILE
from mind_core.serving.retrieval import recommend
from mind_core.workflow.defaults import START_CANDIDATES, START_K, recorded_start, start_config
from mind_core.workflow.jobs import RequestProgress, Task, Workers, shifted
from mind_core.workflow.pipeline import bundle_data
from mind_core.workflow.scoring import OWN_N, dataset_truth
from mind_core.workflow.start import choose_start
from mind_core.workflow.sweep import collect, summarize

DEFAULT_KS = (1, 4)
DEFAULT_SEEDS = (0, 1, 2)  # three seeds a side: what a verdict over seeds needs (docs/results.md)
HEADLINE = "Recall@50"  # the future protocol's figure the verdict reads


PROTOCOL = "future"  # what a taste mixture declares (mind_core.data.tastes writes dataset.json)
GUESS_LEAD = 0.02  # a candidate's relative lead on validation that makes it the guess
CHOICE_WAIT = 60.0  # seconds a settle waits for another's choice of the start to be recorded


@dataclass(frozen=True)
class Plan:
    """What one request of the playground needs. Until the dataset's start is chosen on
    validation (:mod:`mind_core.workflow.start`), the request's first models are the start's
    candidates; :func:`settle` chooses once they are built, and the plan becomes the K values
    and seeds asked, from the chosen start."""

    knobs: TastesConfig
    dataset: str  # the data folder's name for these knobs
    base: MINDConfig  # the configuration every model shares but K and seed
    configs: list[MINDConfig]  # seed-major: every K of the first seed comes first
    ks: tuple[int, ...] = DEFAULT_KS
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    start: str | None = None  # the start chosen on validation, None while being chosen


def plan(knobs: TastesConfig, ks=DEFAULT_KS, seeds=DEFAULT_SEEDS) -> Plan:
    """The dataset and models for ``knobs`` at K values ``ks`` over ``seeds``. The first seed
    of every K comes first, so the K curve can be drawn before the second seed's band."""
    knobs.check()
    ks, seeds = sorted({int(k) for k in ks}), sorted({int(s) for s in seeds})
    if not ks or not seeds:
        raise ValueError("choose at least one K and one seed")
    name = dataset_name(knobs)
    record = recorded_start(name, PROTOCOL)
    if record is None:  # the candidates first, the same for every dataset
        candidates = [start_config(PROTOCOL, s, interest_num=START_K, seed=0)
                      for s in START_CANDIDATES]
        return Plan(knobs=knobs, dataset=name, base=candidates[0], configs=candidates,
                    ks=tuple(ks), seeds=tuple(seeds))
    return Plan(knobs=knobs, dataset=name, base=start_config(PROTOCOL, record["chosen"]),
                configs=planned(record["chosen"], ks, seeds), ks=tuple(ks),
                seeds=tuple(seeds), start=record["chosen"])


def settle(p: Plan, wait: float = CHOICE_WAIT) -> Plan:
    """``p`` once its start is chosen: chosen now (from the candidates' validation figures,
    nothing trained) when every candidate is built; ``p`` itself while one is missing.

    Another session's page or the job board may be choosing at this moment (they all settle
    the same plan, and the choice holds a lock): then its record is waited for, up to
    ``wait`` seconds (the choice only scores the validation set), rather than the lock's
    refusal raised on a page that merely shows the plan."""
    if p.start is not None or missing(p):
        return p
    try:
        choose_start(p.dataset, PROTOCOL, with_serving=False)
    except TrainingLocked:
        deadline = time.monotonic() + wait
        while recorded_start(p.dataset, PROTOCOL) is None and time.monotonic() < deadline:
            time.sleep(0.2)
    return plan(p.knobs, p.ks, p.seeds)


def prepare(p: Plan, root: Path | None = None, progress=None) -> Path:
    """Write the plan's dataset if it is not in the data folder yet (reused otherwise)."""
    return ensure_tastes(p.knobs, root, progress)


def is_built(config: MINDConfig, dataset: str) -> bool:
    return (default_bundle_path(config, dataset) / "config.json").is_file()


def missing(p: Plan) -> list[MINDConfig]:
    """The plan's models not built yet (in the plan's order)."""
    return [c for c in p.configs if not is_built(c, p.dataset)]


def map_model(p: Plan) -> MINDConfig:
    """The model the page draws one user's map from: the largest K of the first seed."""
    first = min(c.seed for c in p.configs)
    return max((c for c in p.configs if c.seed == first), key=lambda c: c.interest_num)


def follow_up(p: Plan, busy=(), progress: RequestProgress | None = None
              ) -> tuple[list[MINDConfig], list[MINDConfig]]:
    """What a request does next once the models of ``p`` it is not training are built:
    ``(train, serve)``. ``busy``: the bundle paths being trained now, left out.

    - The start's candidates until they are built; then (the candidates' validation figures
      choose the start) the K values and seeds asked, seed by seed, the costliest first
      (:func:`costliest_first`).
    - While a candidate still trains and the other is built, with ``progress`` (the request's
      :class:`RequestProgress`): the next model of the candidate leading on validation so far
      (:func:`leading_start`), so that the free worker does not wait for the choice. A guess
      that changes the order, never a figure: what a wrong guess started stays built, an
      ordinary bundle of the other start (the page labels each model with its start).
    - ``serve``: the model whose index and map the page needs, as soon as it is built and
      nothing is left to train that is not already training (the figures come first)."""
    p = settle(p)
    busy = set(busy)
    todo = sorted((c for c in missing(p) if default_bundle_path(c, p.dataset) not in busy),
                  key=costliest_first)
    if p.start is None:
        if todo or progress is None:
            return todo, []
        leader = leading_start(p, progress)
        ahead = [] if leader is None else sorted(
            (c for c in planned(leader, p.ks, p.seeds)
             if default_bundle_path(c, p.dataset) not in busy and not is_built(c, p.dataset)),
            key=costliest_first)
        return ahead[:1], []
    if todo:
        return todo, []
    shown = default_bundle_path(map_model(p), p.dataset)
    if shown in busy or not is_built(map_model(p), p.dataset) or (shown / ANNOY_FILE).is_file():
        return [], []
    return [], [map_model(p)]


def costliest_first(config: MINDConfig) -> tuple[int, int]:
    """The order a request's models are handed out in: seed by seed (each seed's K values
    complete a band of the curve), the larger K first within a seed (it takes longest; the
    worker that frees next takes the cheaper one, so the seed lands sooner)."""
    return config.seed, -config.interest_num


def planned(start: str, ks, seeds) -> list[MINDConfig]:
    """The K values ``ks`` over ``seeds`` from the start ``start``, seed-major."""
    base = start_config(PROTOCOL, start)
    return [replace(base, interest_num=k, seed=s) for s in seeds for k in ks]


def leading_start(p: Plan, progress: RequestProgress) -> str | None:
    """The start the candidates' validation figures so far point to (their epochs as the
    workers report them), or None until every candidate has one: the first candidate unless
    another's best is ahead of it by :data:`GUESS_LEAD` (the choice itself keeps the first
    unless another is better by a paired test over users, which partial figures cannot run;
    on the Playground's data the lead of the candidate chosen was 3-3.5%, of one not chosen
    1.7-2.6%, measured on the recorded choices)."""
    best = {}
    for name in START_CANDIDATES:
        config = start_config(PROTOCOL, name, interest_num=START_K, seed=0)
        seen = [e[f"valid_{HEADLINE}"] for m in progress.models if m.config == config
                for e in m.epochs if f"valid_{HEADLINE}" in e]
        if not seen:
            return None
        best[name] = max(seen)
    first = next(iter(START_CANDIDATES))
    ahead = max(best, key=lambda name: best[name])
    return ahead if best[ahead] > best[first] * (1 + GUESS_LEAD) else first


def after_candidates(p: Plan) -> int:
    """How many models a request still builds once its start's candidates are built: the K
    values and seeds asked (the chosen candidate is one of them) and the map's model."""
    return len(p.ks) * len(p.seeds) - int(START_K in p.ks and 0 in p.seeds) + 1


def run(p: Plan, workers: Workers, request: RequestProgress | None = None,
        with_map: bool = True) -> Plan:
    """The whole request on ``workers``, both kept busy across its steps
    (:meth:`Workers.run`'s ``more``, asking :func:`follow_up`): the dataset, the start's
    candidates, the K values and seeds asked, the map's model's index and map (what the app's
    job board does with its own workers and locks). ``request`` follows every model (indices
    over the whole request). ``with_map=False``: the figures only, no index or map. Returns
    the plan as settled."""
    prepare(p)
    request = request if request is not None else RequestProgress([], workers=workers.n)
    first = len(request.models)

    def more(busy: list[Task]) -> list[Task]:
        train, serve = follow_up(p, [t.out for t in busy], request)
        serve = serve if with_map else []
        opening = len(request.models) == first  # the request's first models
        request.add(train or serve, serve_only=not train)
        if opening and settle(p).start is None:  # the candidates: what follows them, for
            request.expected_more = after_candidates(p)  # the time left (set after adding)
        return [Task(c, default_bundle_path(c, p.dataset), serve_only=not train)
                for c in train or serve]

    workers.run(p.dataset, [], shifted(request, first), more=more)
    return settle(p)


def built(p: Plan) -> list[Bundle]:
    """The plan's K values and seeds that are on disk (any other K or seed of the same base is
    left out, so the page shows what was asked)."""
    ks = {c.interest_num for c in p.configs}
    seeds = {c.seed for c in p.configs}
    return [b for b in collect(p.dataset, p.base, "interest_num")
            if b.config.interest_num in ks and b.config.seed in seeds]


def read(p: Plan, bundles: list[Bundle] | None = None) -> dict | None:
    """The built models as a K sweep (:func:`mind_core.workflow.sweep.summarize`, each under
    the merge chosen on its validation set, taste figures included), or None when nothing is
    built."""
    bundles = built(p) if bundles is None else bundles
    if not bundles:
        return None
    data = bundle_data(bundles[0])
    return summarize(bundles, "interest_num", data, with_interests=False)


__all__ = ["Plan", "plan", "settle", "PROTOCOL", "prepare", "missing", "built", "read",
           "map_model", "is_built", "follow_up", "costliest_first", "planned", "leading_start",
           "run", "after_candidates", "DEFAULT_KS", "DEFAULT_SEEDS", "HEADLINE", "user_view",
           "GUESS_LEAD"]


def user_view(bundle: Bundle, data, row: int, truth=None) -> dict:
    """One user's true tastes beside their interests: ``tastes`` (cluster ids), ``clusters``
    (names), ``interests`` (per k: ``active``, ``cluster`` the majority of its own top
    :data:`~mind_core.workflow.scoring.OWN_N` or -1, ``share`` of it, ``found`` whether that
    counts as finding a taste), ``missed`` (tastes no interest found) and ``item_cluster``
    (I+1,) for the map. ``truth``: the dataset's :func:`dataset_truth`, when the caller
    holds it already (it reads truth.json and checks the ratings' checksum)."""
    if truth is None:
        truth = dataset_truth(data, bundle.meta.get("dataset", ""))
    if truth is None:
        raise ValueError(f"{bundle.meta.get('dataset')!r} has no truth: not a taste mixture")
    rec = recommend(bundle, data, row, n=OWN_N, backend="exact")
    own = np.zeros((1, len(rec.per_interest), OWN_N), dtype=np.int64)
    for k, hits in enumerate(rec.per_interest):
        own[0, k, :len(hits)] = [c for c, _ in hits]
    majority, share = interest_clusters(own, truth.item_cluster, len(truth.clusters))
    tastes = [int(c) for c in np.flatnonzero(truth.tastes[row])]
    interests = [{"k": k, "active": bool(rec.active[k]), "cluster": int(majority[0, k]),
                  "share": float(share[0, k]),
                  "found": bool(rec.active[k] and share[0, k] >= THRESHOLD
                                and majority[0, k] in tastes)}
                 for k in range(len(rec.per_interest))]
    found = {i["cluster"] for i in interests if i["found"]}
    return {"tastes": tastes, "clusters": truth.clusters, "interests": interests,
            "missed": [c for c in tastes if c not in found], "item_cluster": truth.item_cluster,
            "per_interest": rec.per_interest}
