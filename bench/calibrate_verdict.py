"""How often the verdict calls "a real difference" where there is none (A/A), and whether it
finds one where there is (power): docs/results.md, "Calibrating the verdict".

A/A: the seeds of ONE configuration (at least 8: `mind-core sweep --interest-num 4 --seeds 0 1
2 3 4 5 6 7`) are split into every pair of disjoint groups of 2 and 2, and of 3 and 3; each
split is compared as if it were two configurations, on the headline metric (each model under
its own merge, as the pages compare them) and on the lists (merged top 10: the overlap between
the groups against the seed floor within them). Every "differs" is a false positive. The old
rule (gap over twice the larger sd) is scored beside the new test (Welch's t), and both are
also run on simulated normal noise.

Power: a sweep summary (`mind-core sweep ... --out FILE`) whose pair is known to differ (the
taste mixture's K=1 vs K=4) is read at its seed count.

    .venv/bin/python -m bench.calibrate_verdict --dataset ml-100k --interest-num 4 [--n 10]
        [--sweep FILE ...]

Needs ``MIND_CORE_DATA_DIR`` to hold the bundles. Prints Markdown and writes
``bench/results/calibrate_verdict-<dataset>.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

import numpy as np

from mind_core import protocols
from mind_core.evaluation.overlap import jaccard_rows, versus_floor
from mind_core.evaluation.verdict import DIFFERS, in_words, welch
from mind_core.workflow.defaults import dataset_config
from mind_core.workflow.pipeline import bundle_data, bundle_merge
from mind_core.workflow.scoring import merged_lists
from mind_core.workflow.sweep import collect

RESULTS = Path(__file__).resolve().parent / "results"


def two_sd(a, b) -> bool:
    """The rule the test replaced."""
    return abs(statistics.fmean(b) - statistics.fmean(a)) > 2 * max(statistics.stdev(a),
                                                                     statistics.stdev(b))


def splits(seeds: list[int], size: int):
    """Every unordered pair of disjoint groups of ``size`` seeds."""
    seen = set()
    for a in itertools.combinations(seeds, size):
        rest = [s for s in seeds if s not in a]
        for b in itertools.combinations(rest, size):
            key = frozenset((a, b))
            if key not in seen:
                seen.add(key)
                yield list(a), list(b)


def simulated(n: int, trials: int = 100_000, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(trials, n)), rng.normal(size=(trials, n))
    new = sum(welch(a, b)["verdict"] == DIFFERS for a, b in zip(x, y, strict=True))
    old = sum(two_sd(list(a), list(b)) for a, b in zip(x, y, strict=True))
    return {"seeds": n, "trials": trials, "welch": new / trials, "two_sd": old / trials}


def a_a(dataset: str, k: int, n: int) -> dict:
    base = dataset_config(dataset, interest_num=k)
    bundles = {b.config.seed: b for b in collect(dataset, base, "interest_num")
               if b.config.interest_num == k}
    seeds = sorted(bundles)
    if len(seeds) < 6:
        raise SystemExit(f"{dataset}: {len(seeds)} seeds of K={k} built; the A/A needs 6 or "
                         "more (8 for every 3-vs-3 split)")
    data = bundle_data(bundles[seeds[0]])
    headline = protocols.get(base.protocol).HEADLINE
    figure = {s: bundles[s].metrics["test"][headline] for s in seeds}
    tops = {s: merged_lists(bundles[s], data, n, bundle_merge(bundles[s]))[1] for s in seeds}
    jac = {(s, t): float(jaccard_rows(tops[s], tops[t]).mean())
           for s, t in itertools.combinations(seeds, 2)}

    def j(s, t):
        return jac[(min(s, t), max(s, t))]

    out = {"dataset": dataset, "k": k, "seeds": seeds, "headline": headline,
           "figures": figure, "merges": {s: bundle_merge(bundles[s]) for s in seeds},
           "groups": {}}
    for size in (2, 3):
        if 2 * size > len(seeds):
            continue
        rows = list(splits(seeds, size))
        metric_new = metric_old = lists_new = 0
        for a, b in rows:
            fa, fb = [figure[s] for s in a], [figure[s] for s in b]
            metric_new += welch(fa, fb)["verdict"] == DIFFERS
            metric_old += two_sd(fa, fb)
            floor = [j(s, t) for s, t in itertools.combinations(a, 2)] + \
                    [j(s, t) for s, t in itertools.combinations(b, 2)]
            between = [j(s, t) for s in a for t in b]
            lists_new += versus_floor(between, floor)["verdict"] == DIFFERS
        out["groups"][f"{size} vs {size}"] = {
            "splits": len(rows), "metric_welch": metric_new / len(rows),
            "metric_two_sd": metric_old / len(rows), "lists_welch": lists_new / len(rows)}
    return out


def power(path: Path) -> list[dict]:
    summary = json.loads(Path(path).read_text())
    headline = "Recall@50" if summary.get("protocol") == "future" else "HR@50"
    rows = []
    for c in summary["comparisons"]:
        g = c["metrics"][headline]
        rows.append({"sweep": str(path), "dataset": summary.get("dataset"),
                     "pair": f"{summary['param']}={c['a']} vs {c['b']}", "headline": headline,
                     "relative": g["relative"], "verdict": g["verdict"], "words": in_words(g, 4),
                     "lists": c["verdict"]})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--interest-num", type=int, default=4)
    p.add_argument("--n", type=int, default=10, help="merged top-N of the list verdict")
    p.add_argument("--sweep", nargs="*", default=[], help="sweep summaries to read for power")
    args = p.parse_args()
    out = {"simulated": [simulated(n) for n in (2, 3, 5)],
           "a_a": a_a(args.dataset, args.interest_num, args.n),
           "power": [row for path in args.sweep for row in power(Path(path))]}
    print("| seeds a side | simulated pairs | Welch's t: called real | two-sd rule |")
    print("|---|---|---|---|")
    for s in out["simulated"]:
        print(f"| {s['seeds']} | {s['trials']:,} | {s['welch']:.1%} | {s['two_sd']:.1%} |")
    aa = out["a_a"]
    print(f"\nA/A on {aa['dataset']}, K={aa['k']}, seeds {aa['seeds']} ({aa['headline']} "
          f"{', '.join(f'{v:.4f}' for v in aa['figures'].values())}; merges "
          f"{sorted(set(aa['merges'].values()))})\n")
    print("| groups | disjoint splits | metric, Welch's t | metric, two-sd rule "
          "| lists, Welch's t |")
    print("|---|---|---|---|---|")
    for name, g in aa["groups"].items():
        print(f"| {name} | {g['splits']} | {g['metric_welch']:.1%} | {g['metric_two_sd']:.1%} "
              f"| {g['lists_welch']:.1%} |")
    if out["power"]:
        print("\n| sweep | pair | verdict |\n|---|---|---|")
        for r in out["power"]:
            print(f"| {r['dataset']} | {r['pair']} ({r['relative']:+.1%}) | {r['words']}; "
                  f"lists: {r['lists']} |")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"calibrate_verdict-{args.dataset}.json"
    path.write_text(json.dumps(out, indent=1, default=str))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
