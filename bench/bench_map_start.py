"""A new process's first UMAP map, with umap's numba kernels compiled again (before) against
loaded from numba's disk cache (after, :func:`mind_core.serving.projection.cache_kernels`).

Each run is a fresh Python process (what a warm worker, the app's Train job or `make run`
starts): it imports umap and fits the map of an ml-100k-sized catalogue (1,682 movies of 64
dimensions, 943 users × 4 interests placed), then ``warm_up`` (the warm workers' call) in
another fresh process. Before and after alternate run by run; the after path's cache is
filled once first (a separate process), as the first map on a machine fills it. The maps of
both paths must be the same, coordinate for coordinate. Prints and writes
``bench/results/map_start.json``; results in docs/benchmarks.md.

    .venv/bin/python -m bench.bench_map_start [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "map_start.json"

CHILD = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np
    from mind_core.serving import projection
    if sys.argv[1] == "before":
        projection.cache_kernels = lambda *a, **k: 0  # umap as it comes: nothing kept
    rng = np.random.default_rng(0)
    if sys.argv[2] == "map":
        items = rng.normal(size=(1683, 64)).astype(np.float32)
        interests = rng.normal(size=(943, 4, 64)).astype(np.float32)
        p = projection.fit_projection(items, interests, np.ones((943, 4), dtype=bool))
        np.save(sys.argv[3], p["items_xy"])
    else:
        projection.warm_up()
    print(json.dumps({"seconds": time.perf_counter() - t0}))
""")


def child(path: str, what: str, out: Path, env: dict) -> float:
    run = subprocess.run([sys.executable, "-c", CHILD, path, what, str(out)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "numba"), "OMP_NUM_THREADS": "1"}
        child("after", "map", tmp / "fill.npy", env)  # the first map on the machine fills it
        times: dict = {p: {"map": [], "warm_up": []} for p in ("before", "after")}
        for run in range(args.runs):
            for path in ("before", "after"):
                for what in ("map", "warm_up"):
                    seconds = child(path, what, tmp / f"{path}-{run}.npy", env)
                    times[path][what].append(seconds)
                    print(f"run {run} {path:6} {what:7} {seconds:6.1f} s", flush=True)
        import numpy as np

        same = all(np.array_equal(np.load(tmp / f"before-{r}.npy"), np.load(tmp / f"after-{r}.npy"),
                                  equal_nan=True) for r in range(args.runs))
    medians = {p: {w: statistics.median(v) for w, v in t.items()} for p, t in times.items()}
    out = {"runs": times, "median": medians, "same_maps": same,
           "ratio": {w: medians["before"][w] / medians["after"][w] for w in ("map", "warm_up")}}
    print(json.dumps({"median": medians, "ratio": out["ratio"], "same_maps": same}, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
