"""Sweeps: one hyperparameter over several values, each value trained with several seeds, read
against the seed noise of the same configuration.

A sweep is the models of one base configuration that differ only in the swept field (``param``)
and the seed. :func:`plan` lists them, :func:`run` trains what is missing (reusing bundles
already built), :func:`collect` finds them on disk, and :func:`summarize` turns them into what
the CLI writes and the app draws: every metric as mean ± sd over seeds per value, and the
list-overlap noise floor (two seeds of one value) beside the overlap between two values
(trained with different seeds, like the floor), each pair of values tested by Welch's t over seeds
(:mod:`mind_core.evaluation.verdict`, :func:`mind_core.evaluation.overlap.versus_floor`).
"""

from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import replace
from pathlib import Path

from mind_core.artifacts.bundle import Bundle, list_bundles, load_bundle
from mind_core.artifacts.lock import acquire
from mind_core.artifacts.paths import default_bundle_path
from mind_core.config import MINDConfig, field_kind
from mind_core.errors import BundleError
from mind_core.evaluation.distinctness import interest_metrics
from mind_core.evaluation.overlap import (
    check_comparable,
    jaccard_rows,
    spread,
    versus_floor,
)
from mind_core.evaluation.verdict import welch
from mind_core.serving.merging import MERGE_STRATEGIES
from mind_core.workflow.jobs import Task, Workers
from mind_core.workflow.pipeline import (
    bundle_merge,
    bundle_merges,
    ensure_bundle,
    load_data,
    taste_ceiling_of,
)
from mind_core.workflow.scoring import merged_lists

# The settings a sweep may vary (issue 9); interest_num is the default view. ``merge`` is not
# a training setting: its values re-score the same models (one per seed) under each strategy.
MERGE = "merge"
SWEEPABLE = ("interest_num", MERGE, "embed_dim", "max_length", "temperature", "pow_p",
             "routing_iters", "routing_init_std", "recency", "candidate_attention", "loss",
             "learning_rate")
OVERLAP_N = 10  # merged top-N whose overlaps are compared


def parse_value(param: str, text: str):
    """A command-line or form value for ``param``, typed as MINDConfig's field is."""
    if param not in SWEEPABLE:
        raise ValueError(f"cannot sweep {param!r}: expected one of {', '.join(SWEEPABLE)}")
    if param == MERGE:
        if text not in MERGE_STRATEGIES:
            raise ValueError(f"merge: unknown strategy {text!r}; expected one of "
                             f"{', '.join(MERGE_STRATEGIES)}")
        return text
    try:
        return field_kind(MINDConfig, param).parse(text)
    except ValueError as e:
        raise ValueError(f"{param}: {e}") from None


def plan(base: MINDConfig, param: str, values: list, seeds: list[int]) -> list[MINDConfig]:
    """One configuration per value × seed, equal to ``base`` but in ``param`` and ``seed``."""
    if param not in SWEEPABLE:
        raise ValueError(f"cannot sweep {param!r}: expected one of {', '.join(SWEEPABLE)}")
    if param == MERGE:  # one model per seed serves every strategy
        return [replace(base, seed=int(seed)) for seed in seeds]
    configs = []
    for value, seed in itertools.product(values, seeds):
        changes = {param: value, "seed": int(seed)}
        if param == "embed_dim" and base.mlp_hidden == (2 * base.embed_dim,):
            changes["mlp_hidden"] = None  # the default width follows D
        configs.append(replace(base, **changes))
    return configs


def run(dataset: str, base: MINDConfig, param: str, values: list, seeds: list[int],
        progress=None, with_serving: bool = False, on_model=None,
        workers: Workers | None = None) -> list[Bundle]:
    """Train the sweep's missing models (reusing those built); ``on_model(i, total, config,
    trained)`` after each. In this process one after another, or with ``workers``
    (:class:`mind_core.workflow.jobs.Workers`) several at a time, each at one thread, this
    process holding their locks; ``progress`` then gets every model's events, each with its
    index in the sweep (``info["index"]``)."""
    configs = plan(base, param, values, seeds)
    if workers is None:
        out = []
        for i, config in enumerate(configs):
            bundle, trained = ensure_bundle(dataset, config, progress, with_serving=with_serving)
            out.append(bundle)
            if on_model:
                on_model(i, len(configs), config, trained)
        return out
    name = load_data(dataset, base.max_length, base.protocol).encoded.name
    paths = [default_bundle_path(c, name) for c in configs]
    todo = [i for i, p in enumerate(paths) if not (p / "config.json").is_file()]
    # the costliest first, so that no long model is left to run alone on one core at the end
    todo.sort(key=lambda i: -_cost(configs[i]))
    locks = []
    try:
        for i in todo:
            locks.append(acquire(paths[i], f"{paths[i].name} (K={configs[i].interest_num})"))

        def relay(event, info):
            i = todo[info["index"]]
            if progress is not None:
                progress(event, {**info, "index": i})
            if event == "saved" and on_model:
                on_model(i, len(configs), configs[i], True)

        workers.run(dataset, [Task(configs[i], paths[i]) for i in todo], relay, with_serving)
    finally:
        for lock in locks:
            lock.release()
    out = []
    for i, config in enumerate(configs):
        out.append(ensure_bundle(dataset, config, progress, with_serving=with_serving)[0])
        if on_model and i not in todo:
            on_model(i, len(configs), config, False)
    return out


def _cost(config: MINDConfig) -> int:
    """A rough cost of training ``config``: per-candidate attention scores every interest
    against the catalogue (K × D), over windows of L behaviours."""
    return config.interest_num * config.embed_dim * config.max_length


def _rest(config: MINDConfig, param: str) -> str:
    d = config.identity()
    for key in (param, "seed", "mlp_hidden" if param == "embed_dim" else ""):
        d.pop(key, None)
    if param != "embed_dim" and config.mlp_hidden == (2 * config.embed_dim,):
        d["mlp_hidden"] = "2D"
    return json.dumps(d, sort_keys=True)


def collect(dataset_name: str, base: MINDConfig, param: str) -> list[Bundle]:
    """The bundles on disk that equal ``base`` in everything but ``param`` and the seed (broken
    bundles are skipped), sorted by value then seed. For ``merge``: ``base``'s seeds."""
    want = _rest(base, "seed" if param == MERGE else param)
    found = []
    for path in list_bundles(dataset_name):
        try:
            raw = json.loads((path / "config.json").read_text())
            config = MINDConfig.from_dict(raw["config"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _rest(config, param) != want:
            continue
        try:
            found.append(load_bundle(path))
        except BundleError:
            continue
    if param == MERGE:
        return sorted(found, key=lambda b: b.config.seed)
    return sorted(found, key=lambda b: (_sort_key(getattr(b.config, param)), b.config.seed))


def _sort_key(value):
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))


def summarize(bundles: list[Bundle], param: str, data, n: int = OVERLAP_N,
              with_interests: bool = True, merge: str | None = None,
              values: list | None = None) -> dict:
    """Per value: metrics (mean, sd, n over seeds) and the seed-to-seed overlap of the merged
    top-n; per pair of values: their overlap (across different seeds) against that floor.

    ``data``: the bundles' dataset under their protocol (any ``max_length``: overlaps only use
    the evaluated users and their held-out positions). ``merge``: the strategy every figure
    and list uses (default: each bundle's own, :func:`bundle_merge`). For ``param="merge"``,
    ``values`` are the strategies (default: all) and each bundle is scored under each."""
    if param == MERGE:
        values = list(values or MERGE_STRATEGIES)
        by_value = {v: {b.config.seed: b for b in bundles} for v in values}
    else:
        by_value = {}
        for b in bundles:
            by_value.setdefault(getattr(b.config, param), {})[b.config.seed] = b
        values = sorted(by_value, key=_sort_key)
    tops: dict = {}
    scored: dict = {}

    def strategy(b: Bundle, value) -> str:
        return value if param == MERGE else (merge or bundle_merge(b))

    def test_metrics(b: Bundle, value) -> dict:
        how = strategy(b, value)
        if how == bundle_merge(b):
            return b.metrics.get("test", {})
        if how in (b.metrics.get("by_merge") or {}):
            return b.metrics["by_merge"][how]
        if b.path not in scored:  # bundles from before merges were scored: re-score once
            scored[b.path] = bundle_merges(b, data)
        return scored[b.path][how]

    def jac(a: Bundle, va, b: Bundle, vb) -> float:
        check_comparable(a, b)
        for x, v in ((a, va), (b, vb)):
            key = (x.path, strategy(x, v))
            if key not in tops:
                tops[key] = merged_lists(x, data, n, key[1])[1]
        return float(jaccard_rows(tops[(a.path, strategy(a, va))],
                                  tops[(b.path, strategy(b, vb))]).mean())

    rows = []
    for v in values:
        seeds = by_value[v]
        tests = {s: test_metrics(seeds[s], v) for s in sorted(seeds)}
        metric_names = list(next(iter(tests.values())))
        row = {"value": v, "seeds": sorted(seeds), "bundles": [seeds[s].name for s in
                                                              sorted(seeds)],
               "merge": v if param == MERGE else (merge or "bundle"),
               "metrics": {m: spread([tests[s][m] for s in sorted(seeds)])
                           for m in metric_names if all(m in tests[s] for s in seeds)},
               "train_seconds": spread([float(seeds[s].metrics.get("train_seconds", 0.0))
                                        for s in sorted(seeds)])}
        row["per_seed"] = {m: [tests[s][m] for s in sorted(seeds)] for m in row["metrics"]}
        pairs = [jac(seeds[a], v, seeds[b], v)
                 for a, b in itertools.combinations(sorted(seeds), 2)]
        row["seed_overlap"] = {"pairs": len(pairs), **(spread(pairs) if pairs else
                                                        {"mean": None, "sd": None, "n": 0})}
        row["_pairs"] = pairs
        if with_interests:
            row["interests"] = _interest_spread(list(seeds.values()), data)
        rows.append(row)
    comparisons = []
    for i, j in itertools.combinations(range(len(values)), 2):
        va, vb = values[i], values[j]
        a, b = by_value[va], by_value[vb]
        # Two values are compared across *different* seeds, as the floor is: models that
        # share a seed share their initialisation, batch order and negatives, so same-seed
        # pairs look alike whatever the setting (reported apart, as "same_seed").
        between = [jac(a[s], va, b[t], vb) for s in sorted(a) for t in sorted(b) if s != t]
        same = [jac(a[s], va, b[s], vb) for s in sorted(set(a) & set(b))]
        floor = rows[i]["_pairs"] + rows[j]["_pairs"]
        comparisons.append({"a": va, "b": vb, "pairs": len(between),
                            "same_seed": statistics.fmean(same) if same else None,
                            **versus_floor(between, floor),
                            "metrics": {m: metric_gap(rows[i], rows[j], m)
                                        for m in rows[i]["metrics"]
                                        if m in rows[j]["metrics"]}})
    for row in rows:
        row.pop("_pairs")
    first = bundles[0] if bundles else None
    return {
        "param": param, "n": n, "values": values, "merge": merge,
        "protocol": first.config.protocol if first else None,
        "dataset": first.meta.get("dataset") if first else None,
        "results": rows, "comparisons": comparisons,
        "popularity": first.metrics.get("baselines", {}).get("popularity") if first else None,
        "ceiling": taste_ceiling_of(first, data) if first else None,
    }


def metric_gap(a: dict, b: dict, metric: str) -> dict:
    """Is ``b``'s ``metric`` different from ``a``'s beyond seed noise? Welch's t over the two
    rows' per-seed figures (:func:`mind_core.evaluation.verdict.welch`): the gap of the
    means, its 95% interval, the seed counts and the verdict ("differs", "undecided" or
    "one_seed")."""
    return welch(a["per_seed"][metric], b["per_seed"][metric])


def _interest_spread(bundles: list[Bundle], data) -> dict:
    """Distinctness figures of the interests (mind_core.evaluation.distinctness), mean and sd over
    seeds."""
    per = [interest_metrics(b, data) for b in bundles]
    keys = [k for k, v in per[0].items() if isinstance(v, int | float) and k != "users"]
    return {k: spread([float(p[k]) for p in per]) for k in keys}


def write(summary: dict, path: Path) -> Path:
    """Write a summary as JSON atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str))
    tmp.replace(path)
    return path
