"""Retrieval at catalogue scale: synthetic catalogues of 100k (and, with --million, 1M) items at
D = 16 and 64. For Annoy at our defaults (20 trees, search_k = max(n x trees, 10,000)) and a
larger search budget: build time, index size (memory-mapped, so this is its memory), query
p50/p99 for the top 50 and recall of the exact top 50; for exact numpy: memory of the matrix and
query p50/p99 (one user = 4 interest vectors scored together).

Synthetic items are clustered (64 Gaussian clusters with log-normal norms, like trained item
vectors whose norms track popularity) rather than i.i.d. noise, where every ANN index looks bad.
Queries are cluster centres plus noise.

Run: .venv/bin/python -m bench.bench_scale [--million] [--queries 200]
Writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from mind_core.retrieval import DEFAULT_N_TREES, SEARCH_K_FLOOR, AnnoyIndex, ExactIndex

RESULTS = Path(__file__).resolve().parent / "results"
N = 50
K = 4


def catalogue(n_items: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, dim)).astype(np.float32)
    labels = rng.integers(0, 64, size=n_items)
    items = centres[labels] + 0.7 * rng.normal(size=(n_items, dim)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    items *= rng.lognormal(0.0, 0.3, size=(n_items, 1)).astype(np.float32)
    items = np.vstack([np.zeros((1, dim), np.float32), items])  # row 0 = padding
    return items, centres


def queries(centres, count: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    q = centres[rng.integers(0, len(centres), size=(count, K))]
    return (q + 0.5 * rng.normal(size=q.shape)).astype(np.float32)  # (count, K, D)


def pct(samples) -> tuple[float, float]:
    ms = np.asarray(samples) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def run(n_items: int, dim: int, n_queries: int, tmp: Path) -> list[dict]:
    items, centres = catalogue(n_items, dim)
    qs = queries(centres, n_queries)
    active = np.ones(K, dtype=bool)
    exact = ExactIndex().build(items)
    rows = []
    samples, truth = [], []
    for q in qs:
        t = time.perf_counter()
        truth.append(exact.search(q, active, N))
        samples.append(time.perf_counter() - t)
    p50, p99 = pct(samples)
    rows.append({"items": n_items, "dim": dim, "method": "exact numpy", "build_s": 0.0,
                 "memory_mb": items.nbytes / 2**20, "p50_ms": p50, "p99_ms": p99,
                 "recall": 1.0})
    t = time.perf_counter()
    index = AnnoyIndex(dim, n_trees=DEFAULT_N_TREES).build(items, n_jobs=-1)
    build = time.perf_counter() - t
    path = tmp / f"scale-{n_items}-{dim}.ann"
    index.save(path)
    size = path.stat().st_size / 2**20
    index = AnnoyIndex.load(path, dim)
    for search_k in (None, 5 * SEARCH_K_FLOOR):
        index.search_k = search_k
        samples, recalls = [], []
        for q, want in zip(qs, truth, strict=True):
            t = time.perf_counter()
            got = index.search(q, active, N)
            samples.append(time.perf_counter() - t)
            recalls += [len({i for i, _ in g} & {i for i, _ in w}) / N
                        for g, w in zip(got, want, strict=True)]
        p50, p99 = pct(samples)
        name = "annoy default" if search_k is None else f"annoy search_k={search_k}"
        rows.append({"items": n_items, "dim": dim, "method": name, "build_s": build,
                     "memory_mb": size, "p50_ms": p50, "p99_ms": p99,
                     "recall": float(np.mean(recalls))})
    path.unlink()
    return rows


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--million", action="store_true", help="also 1M items (several minutes)")
    ap.add_argument("--queries", type=int, default=200, help="users queried (K=4 each)")
    args = ap.parse_args(argv)
    sizes = [100_000] + ([1_000_000] if args.million else [])
    rows = []
    print(f"{'items':>9} {'D':>3} {'method':<24} {'build s':>8} {'MB':>7} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'recall@50':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for n_items in sizes:
            for dim in (16, 64):
                for r in run(n_items, dim, args.queries, Path(tmp)):
                    rows.append(r)
                    print(f"{r['items']:>9} {r['dim']:>3} {r['method']:<24} {r['build_s']:>8.1f} "
                          f"{r['memory_mb']:>7.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                          f"{r['recall']:>9.4f}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "scale.json"
    out.write_text(json.dumps({"rows": rows, "queries": args.queries, "k": K, "n": N,
                               "note": "per query = one user's K=4 interests"}, indent=2))
    print(f"wrote {out}")
    return rows


if __name__ == "__main__":
    main()
