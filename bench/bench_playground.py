"""The Playground's wait and the sweep's, today's path against the warm workers, in one run.

``--part playground``: the Playground's default request (the default knobs, K = 1 and 4, seeds
0, 1, 2) from a fresh data folder, end to end, by two paths, alternated run by run:

- *before*: what the app did until now: each job in a new child process that trains its models
  one after another, each with its Annoy index and UMAP map; the start's two candidates first,
  then (once the start is chosen) the K values and seeds asked, seed-major;
- *after*: :func:`mind_core.workflow.playground.run` on two warm workers (one torch thread each,
  started and warmed before the click as the app's page starts them while its form is read:
  torch's lazy imports and UMAP's compilation paid; ``warmed`` records the seconds):
  the candidates two at a time, the rest two at a time as workers free up (the chosen start's
  next model guessed while a candidate still trains), the map's model's index and map as soon
  as nothing is left to hand out.

It records when the first K curve can be drawn (K = 1 and 4 of the chosen start at seed 0),
the two-seed verdict (seeds 0 and 1), the three-seed verdict (all six) and the end, from the
click (the dataset written included); the time-left estimate against the truth every 2 s
(after only); and, from the after path's models, the figures at the default knobs (Recall@50
per K over the three seeds, Welch's verdict, taste recall).

``--part sweep``: ``mind-core sweep``'s K sweep on ml-100k (K = 1, 2, 4, 8 x seeds 0, 1, 2,
the defaults, no start choice), in this process at two threads one model after another
(before) against two warm workers (after), each into a fresh artifacts folder; figures per K
compared by Welch's t. ``--part contended``: the after path while a stand-in for `make run`'s
background chain trains (``build-defaults --background``), against it alone. ``--part cheap``:
a 3-value x 3-seed sweep of ``temperature`` at K = 1 on
the Playground's default data, on two warm workers.

Run alone (two torch processes at two threads each slow each other far more than 2x):
``.venv/bin/python -m bench.bench_playground --part playground --runs 3``. Results:
bench/results/playground-<part>.json and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
KS, SEEDS = (1, 4), (0, 1, 2)


def fresh_home(with_ml100k: bool = False) -> Path:
    home = Path(tempfile.mkdtemp(prefix="bench-playground-"))
    if with_ml100k:
        (home / "ml-100k").symlink_to(ROOT / "data" / "ml-100k", target_is_directory=True)
    os.environ["MIND_CORE_DATA_DIR"] = str(home)
    from mind_core.workflow.pipeline import forget_loaded_data

    forget_loaded_data()
    return home


def milestones(landed: dict[str, float], plan) -> dict:
    """When each milestone's models had all landed (seconds from the click)."""
    from mind_core.artifacts.paths import model_name

    def when(configs):
        times = [landed.get(model_name(c)) for c in configs]
        return None if None in times else max(times)

    configs = plan.configs
    return {"first_curve": when([c for c in configs if c.seed == 0]),
            "two_seeds": when([c for c in configs if c.seed in (0, 1)]),
            "three_seeds": when(configs)}


def run_before(knobs) -> dict:
    from mind_core.artifacts.paths import default_bundle_path, model_name
    from mind_core.workflow import playground as pg
    from mind_core.workflow.jobs import train_in_child

    fresh_home()
    click = time.perf_counter()
    plan = pg.plan(knobs, KS, SEEDS)
    pg.prepare(plan)
    landed: dict[str, float] = {}
    for _ in range(2):  # the candidates' job, then the request's
        todo = pg.missing(plan)
        names = [model_name(c) for c in todo]

        def saved(event, info, names=names):
            if event == "saved":
                landed[names[info["index"]]] = time.perf_counter() - click

        train_in_child(plan.dataset, todo, [default_bundle_path(c, plan.dataset) for c in todo],
                       progress=saved, with_serving=True, nice=0)
        plan = pg.settle(plan)
    end = time.perf_counter() - click
    return {"path": "before", **milestones(landed, plan), "end": end, "start": plan.start}


def run_after(knobs, home: bool = True, warm: bool = True) -> dict:
    from mind_core.artifacts import foreground
    from mind_core.artifacts.paths import model_name
    from mind_core.workflow import playground as pg
    from mind_core.workflow.jobs import RequestProgress, Workers

    if home:
        fresh_home()
    request = RequestProgress([])
    samples: list[tuple[float, float | None]] = []
    done = threading.Event()

    def sample():  # from the click (set below, once the workers are warm)
        while not done.wait(2.0):
            samples.append((time.perf_counter() - click, request.seconds_left()))

    sampler = threading.Thread(target=sample, daemon=True)
    with Workers(2, nice=0, warm_map=True) as workers, foreground.claim():  # as the board's
        if warm:  # the workers started while the form was read, as the app's pages do
            workers.warm()
            workers.wait_ready()
        click = time.perf_counter()
        wall = time.time()
        sampler.start()
        plan = pg.run(pg.plan(knobs, KS, SEEDS), workers, request)
        end = time.perf_counter() - click  # before the workers are let go
        warmed = [c.warmed for c in workers.children] if warm else None
    done.set()
    landed = {model_name(m.config): m.finished - wall for m in request.models
              if not m.serve_only and m.finished is not None}
    truth = [(t, left, end - t) for t, left in samples if left is not None and end - t > 1]
    ratios = [left / real for _, left, real in truth]
    return {"path": "after", **milestones(landed, plan), "end": end, "start": plan.start,
            "warmed": warmed,
            # the models in the order they were handed out (K, seed, window): a start's K=1
            # guessed before the choice shows as one of the chosen start's window, or as an
            # extra model of the other's
            "trained": [[m.config.interest_num, m.config.seed, m.config.max_length]
                        for m in request.models if not m.serve_only],
            "timeline": [[round(m.started - wall, 1), round(m.finished - wall, 1)]
                         for m in request.models if m.started and m.finished],
            "estimate": {"samples": len(truth), "first_at": truth[0][0] if truth else None,
                         "median_ratio": statistics.median(ratios) if ratios else None,
                         "within_2x": (sum(0.5 <= r <= 2 for r in ratios) / len(ratios)
                                       if ratios else None),
                         "worst": [min(ratios), max(ratios)] if ratios else None,
                         "trace": [[round(t, 1), round(left, 1), round(real, 1)]
                                   for t, left, real in truth]},
            "figures": figures(plan)}


def figures(plan) -> dict:
    from mind_core.workflow import playground as pg

    summary = pg.read(plan)
    out = {}
    for row in summary["results"]:
        out[f"K={row['value']}"] = {m: row["per_seed"][m] for m in
                                    ("Recall@50", "taste_recall") if m in row["per_seed"]}
    (comparison,) = summary["comparisons"]
    out["verdict"] = comparison["metrics"]["Recall@50"]
    return out


def part_playground(runs: int, knobs=None, paths=("before", "after")) -> dict:
    from mind_core.data.tastes import PLAYGROUND

    rows = []
    for i in range(runs):
        for fn in [{"before": run_before, "after": run_after}[p] for p in paths]:
            row = fn(knobs or PLAYGROUND)
            row["run"] = i
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "figures"}, default=float),
                  flush=True)
            shutil.rmtree(os.environ["MIND_CORE_DATA_DIR"], ignore_errors=True)
    table = {}
    for path in paths:
        mine = [r for r in rows if r["path"] == path]
        table[path] = {m: statistics.median(r[m] for r in mine)
                       for m in ("first_curve", "two_seeds", "three_seeds", "end")}
    if len(paths) == 2:
        table["ratio"] = {m: table["before"][m] / table["after"][m] for m in table["after"]}
    return {"runs": rows, "median": table,
            "figures": [r["figures"] for r in rows if r["path"] == "after"]}


def sweep_once(workers: int, param: str, values: list, seeds, dataset: str, base) -> dict:
    import torch

    from mind_core.workflow import sweep
    from mind_core.workflow.jobs import Workers
    from mind_core.workflow.pipeline import bundle_data

    start = time.perf_counter()
    if workers:
        with Workers(workers, nice=0) as pool:
            bundles = sweep.run(dataset, base, param, values, seeds, workers=pool)
    else:
        torch.set_num_threads(2)
        bundles = sweep.run(dataset, base, param, values, seeds)
    seconds = time.perf_counter() - start
    summary = sweep.summarize(bundles, param, bundle_data(bundles[0]), with_interests=False)
    headline = "Recall@50" if base.protocol == "future" else "HR@50"
    return {"workers": workers, "seconds": seconds,
            "per_value": {str(r["value"]): r["per_seed"][headline] for r in summary["results"]}}


def part_sweep() -> dict:
    from mind_core.config import MINDConfig
    from mind_core.evaluation.verdict import welch

    out = {}
    for label, workers in (("before", 0), ("after", 2)):
        fresh_home(with_ml100k=True)
        out[label] = sweep_once(workers, "interest_num", [1, 2, 4, 8], list(SEEDS), "ml-100k",
                                MINDConfig())
        print(label, json.dumps(out[label]), flush=True)
        shutil.rmtree(os.environ["MIND_CORE_DATA_DIR"], ignore_errors=True)
    out["ratio"] = out["before"]["seconds"] / out["after"]["seconds"]
    out["same_figures"] = {k: welch(out["before"]["per_value"][k], out["after"]["per_value"][k])
                           for k in out["after"]["per_value"]}
    return out


def part_contended(runs: int) -> dict:
    """The after path while `make run`'s background chain trains (``build-defaults
    --background`` on ml-100k at nice 19, started 15 s before the click), against the after
    path alone, alternated."""
    import subprocess
    import sys

    from mind_core.data.tastes import PLAYGROUND

    rows = []
    for i in range(runs):
        fresh_home(with_ml100k=True)
        chain = subprocess.Popen(
            ["nice", "-n", "19", sys.executable, "-m", "mind_core.cli", "build-defaults",
             "--background", "--dataset", "ml-100k", "--interest-num", "8", "--seeds", "0", "1",
             "2", "3", "--no-serving", "--no-start-choice"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(15)
        row = run_after(PLAYGROUND, home=False)
        row.update(path="with the chain", run=i, chain_running=chain.poll() is None)
        chain.kill()
        log = chain.communicate()[0]
        row["chain_paused"] = log.count("paused: the app is training")
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "figures"}, default=float),
              flush=True)
        shutil.rmtree(os.environ["MIND_CORE_DATA_DIR"], ignore_errors=True)
        alone = run_after(PLAYGROUND)
        alone.update(path="alone", run=i)
        rows.append(alone)
        print(json.dumps({k: v for k, v in alone.items() if k != "figures"}, default=float),
              flush=True)
        shutil.rmtree(os.environ["MIND_CORE_DATA_DIR"], ignore_errors=True)
    table = {p: {m: statistics.median(r[m] for r in rows if r["path"] == p)
                 for m in ("first_curve", "two_seeds", "three_seeds", "end")}
             for p in ("alone", "with the chain")}
    table["ratio"] = {m: table["with the chain"][m] / table["alone"][m] for m in table["alone"]}
    return {"runs": rows, "median": table}


def part_cheap() -> dict:
    from mind_core.data.tastes import PLAYGROUND, ensure_tastes
    from mind_core.workflow.defaults import start_config

    fresh_home()
    start = time.perf_counter()
    name = ensure_tastes(PLAYGROUND).name
    result = sweep_once(2, "temperature", [0.05, 0.1, 0.2], list(SEEDS), name,
                        start_config("future", "short", interest_num=1))
    result["with_dataset"] = time.perf_counter() - start
    shutil.rmtree(os.environ["MIND_CORE_DATA_DIR"], ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("playground", "contended", "sweep", "cheap"),
                    default="playground")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--knobs", help="other knobs as JSON (a quick check of the script)")
    ap.add_argument("--path", choices=("both", "before", "after"), default="both",
                    help="playground: one path only (e.g. the after path of two checkouts, "
                         "each run from its own folder, alternated by hand)")
    args = ap.parse_args()
    from mind_core.data.tastes import TastesConfig

    knobs = TastesConfig.from_knobs(json.loads(args.knobs)) if args.knobs else None
    paths = ("before", "after") if args.path == "both" else (args.path,)
    result = {"playground": lambda: part_playground(args.runs, knobs, paths),
              "sweep": part_sweep,
              "contended": lambda: part_contended(args.runs),
              "cheap": part_cheap}[args.part]()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"playground-{args.part}.json"
    path.write_text(json.dumps(result, indent=1, default=float))
    print(json.dumps(result.get("median", result.get("ratio", result)), indent=1, default=float))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
