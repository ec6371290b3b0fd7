"""The list-overlap noise floor of a configuration's K values, and its metrics over seeds.

For the default configuration (or the one given by ``--set FIELD=VALUE``), finds the bundles of
every K and seed already built (``mind-core sweep --interest-num 1 2 4 8 --seeds 0 1 2
[--protocol future]`` builds them), then reports:

- the mean Jaccard of two models' merged top-N (N = 10 and 50) over every evaluated user, for
  two seeds of one K (the noise floor), for two K values at the same seed, and for two K values
  at different seeds (what the floor is compared with: both differ by a seed), each as mean ±
  sd over the pairs available, with mind_core.evaluation.overlap.versus_floor's verdict;
- every metric of the protocol as mean ± sd over seeds, beside most-popular.

    .venv/bin/python -m bench.noise_floor [--protocol future] [--n 10 50]

Prints Markdown tables and writes ``bench/results/noise_floor-<protocol>.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

from mind_core import protocols
from mind_core.config import MINDConfig
from mind_core.evaluation.overlap import jaccard_rows, merged_top_n, versus_floor
from mind_core.evaluation.verdict import interval_text
from mind_core.workflow.pipeline import bundle_data
from mind_core.workflow.sweep import collect, parse_value

RESULTS = Path(__file__).resolve().parent / "results"


def fmt(values: list[float]) -> str:
    if not values:
        return "–"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f} ({len(values)})"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--protocol", default="leave_last_out", choices=list(protocols.PROTOCOLS))
    p.add_argument("--n", type=int, nargs="+", default=[10, 50])
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="base configuration fields other than the defaults")
    args = p.parse_args(argv)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    base = MINDConfig(protocol=args.protocol,
                      **{k: parse_value(k, v) for k, v in overrides.items()})
    bundles = collect(args.dataset, base, "interest_num")
    if not bundles:
        raise SystemExit("no bundles: run mind-core sweep first")
    data = bundle_data(bundles[0])
    grid = {}
    for b in bundles:
        grid.setdefault(b.config.interest_num, {})[b.config.seed] = b
    ks = sorted(grid)
    out = {"protocol": args.protocol, "users": int(len(data.split.test.users)),
           "seeds": {k: sorted(v) for k, v in grid.items()}, "overlap": {}, "metrics": {}}
    print(f"{args.protocol}: K {ks}, seeds {out['seeds']}, {out['users']} users\n")
    for n in args.n:
        tops = {(k, s): merged_top_n(b, data, n)[1] for k, seeds in grid.items()
                for s, b in seeds.items()}

        def jac(a, b, tops=tops):
            return float(jaccard_rows(tops[a], tops[b]).mean())

        floor = {k: [jac((k, a), (k, b)) for a, b in itertools.combinations(sorted(grid[k]), 2)]
                 for k in ks}
        print(f"| merged top {n}: pair | mean Jaccard (mean ± sd over seeds or seed pairs, "
              f"count) | verdict against the seed floor |\n|---|---|---|")
        rows = []
        for k in ks:
            rows.append({"pair": f"K={k} seed vs seed", "values": floor[k]})
            print(f"| K={k}, seed vs seed | {fmt(floor[k])} | (the floor) |")
        for a, b in itertools.combinations(ks, 2):
            shared = sorted(set(grid[a]) & set(grid[b]))
            same = [jac((a, s), (b, s)) for s in shared]
            across = [jac((a, s), (b, t)) for s in sorted(grid[a]) for t in sorted(grid[b])
                      if s != t]
            verdict = versus_floor(across, floor[a] + floor[b])
            rows.append({"pair": f"K={a} vs K={b}", "same_seed": same, "across_seeds": across,
                         **verdict})
            print(f"| K={a} vs K={b}, same seed | {fmt(same)} | (shares the seed's randomness) |")
            reading = interval_text(verdict) if verdict["gap"] is not None else "–"
            print(f"| K={a} vs K={b}, other seeds | {fmt(across)} | {verdict['verdict']} "
                  f"({reading})"
                  " |")
        print()
        out["overlap"][str(n)] = rows
    metrics = protocols.get(args.protocol).METRICS
    print("| model | " + " | ".join(metrics) + " | seeds |\n|---|" + "---|" * (len(metrics) + 1))
    pop = bundles[0].metrics.get("baselines", {}).get("popularity", {})
    print("| most popular | " + " | ".join(f"{pop.get(m, float('nan')):.4f}" for m in metrics)
          + " | – |")
    for k in ks:
        cells = []
        out["metrics"][k] = {}
        for m in metrics:
            vals = [grid[k][s].metrics["test"][m] for s in sorted(grid[k])]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            out["metrics"][k][m] = {"mean": statistics.fmean(vals), "sd": sd, "values": vals}
            cells.append(f"{statistics.fmean(vals):.4f} ± {sd:.4f}")
        print(f"| MIND K={k} | " + " | ".join(cells) + f" | {len(grid[k])} |")
    out["popularity"] = pop
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"noise_floor-{args.protocol}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
