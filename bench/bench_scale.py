"""Retrieval at catalogue scale: synthetic catalogues of 100k (and, with --million, 1M) items at
D = 16 and 64. For Annoy at our defaults (20 trees, search_k = max(n x trees, 10,000)) and a
larger search budget; for FAISS HNSW (inner product; M, efConstruction, and each efSearch in
--ef-search), FAISS IVF-Flat and IVF-PQ (nlist ~ sqrt(I), IVF-PQ codes of D/4 bytes; each
nprobe in --nprobe): build time, index size (the file; Annoy memory-maps it, FAISS reads it
into memory), query p50/p99 for the top 50 and recall of the exact top 50; for exact numpy:
memory of the matrix and query p50/p99. One query = one user = 4 interest vectors (one call
for the exact and FAISS backends, 4 for Annoy), measured one user at a time; FAISS searches
with one thread (a server runs one user per core).

Synthetic items are clustered (64 Gaussian clusters with log-normal norms, like trained item
vectors whose norms track popularity) rather than i.i.d. noise, where every ANN index looks bad.
Queries are cluster centres plus noise.

Run: .venv/bin/python -m bench.bench_scale [--million] [--only-million] [--queries 200]
     [--backends exact,annoy,faiss] [--ef-search 64,128,256] [--nprobe 16,64]
Writes bench/results/scale.json (rows of earlier runs at sizes/backends not rerun are kept).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from mind_core.serving import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_M,
    DEFAULT_N_TREES,
    SEARCH_K_FLOOR,
    AnnoyIndex,
    ExactIndex,
    FaissIndex,
)

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


def measure(index, qs, truth, active) -> tuple[float, float, float]:
    """p50 ms, p99 ms per user query and mean recall@N of each interest's list."""
    samples, recalls = [], []
    for q, want in zip(qs, truth, strict=True):
        t = time.perf_counter()
        got = index.search(q, active, N)
        samples.append(time.perf_counter() - t)
        recalls += [len({i for i, _ in g} & {i for i, _ in w}) / N
                    for g, w in zip(got, want, strict=True)]
    p50, p99 = pct(samples)
    return p50, p99, float(np.mean(recalls))


def run_faiss(items, qs, truth, active, tmp: Path, ef_searches, nprobes) -> list[dict]:
    import faiss

    n_items, dim = len(items) - 1, items.shape[1]
    rows = []
    for kind in ("hnsw", "ivfflat", "ivfpq"):
        faiss.omp_set_num_threads(2)  # build on both cores
        t = time.perf_counter()
        index = FaissIndex(dim, kind=kind).build(items)
        build = time.perf_counter() - t
        path = tmp / f"scale-{n_items}-{dim}.faiss"
        index.save(path)
        size = path.stat().st_size / 2**20
        path.unlink()
        faiss.omp_set_num_threads(1)
        for knob in (ef_searches if kind == "hnsw" else nprobes):
            if kind == "hnsw":
                index.ef_search = knob
                name = f"faiss hnsw M={index.M} efC={index.ef_construction} efSearch={knob}"
            else:
                index.nprobe = knob
                m = f" m={index.pq_m}" if kind == "ivfpq" else ""
                name = f"faiss {kind} nlist={index.nlist}{m} nprobe={knob}"
            p50, p99, recall = measure(index, qs, truth, active)
            rows.append({"items": n_items, "dim": dim, "method": name, "build_s": build,
                         "memory_mb": size, "p50_ms": p50, "p99_ms": p99, "recall": recall,
                         **index.params()})
    return rows


def run(n_items: int, dim: int, n_queries: int, tmp: Path, backends=("exact", "annoy", "faiss"),
        ef_searches=(64, 128, 256), nprobes=(16, 64)) -> list[dict]:
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
    if "exact" in backends:
        rows.append({"items": n_items, "dim": dim, "method": "exact numpy", "build_s": 0.0,
                     "memory_mb": items.nbytes / 2**20, "p50_ms": p50, "p99_ms": p99,
                     "recall": 1.0})
    if "faiss" in backends:
        rows += run_faiss(items, qs, truth, active, tmp, ef_searches, nprobes)
    if "annoy" not in backends:
        return rows
    t = time.perf_counter()
    index = AnnoyIndex(dim, n_trees=DEFAULT_N_TREES).build(items, n_jobs=-1)
    build = time.perf_counter() - t
    path = tmp / f"scale-{n_items}-{dim}.ann"
    index.save(path)
    size = path.stat().st_size / 2**20
    index = AnnoyIndex.load(path, dim)
    for search_k in (None, 5 * SEARCH_K_FLOOR):
        index.search_k = search_k
        p50, p99, recall = measure(index, qs, truth, active)
        name = "annoy default" if search_k is None else f"annoy search_k={search_k}"
        rows.append({"items": n_items, "dim": dim, "method": name, "build_s": build,
                     "memory_mb": size, "p50_ms": p50, "p99_ms": p99, "recall": recall})
    path.unlink()
    return rows


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--million", action="store_true", help="also 1M items (several minutes)")
    ap.add_argument("--only-million", action="store_true", help="only the 1M rows")
    ap.add_argument("--queries", type=int, default=200, help="users queried (K=4 each)")
    ap.add_argument("--backends", default="exact,annoy,faiss",
                    help="comma-separated subset of exact,annoy,faiss (default all)")
    ap.add_argument("--dims", default="16,64", help="dimensions (default 16,64)")
    ap.add_argument("--ef-search", default="64,128,256", help="FAISS HNSW efSearch values")
    ap.add_argument("--nprobe", default="16,64", help="FAISS IVF-PQ nprobe values")
    args = ap.parse_args(argv)
    sizes = ([] if args.only_million else [100_000]) + \
        ([1_000_000] if args.million or args.only_million else [])
    backends = tuple(args.backends.split(","))
    ints = lambda text: tuple(int(x) for x in text.split(","))  # noqa: E731
    rows = []
    print(f"HNSW defaults M={DEFAULT_M} efConstruction={DEFAULT_EF_CONSTRUCTION}")
    print(f"{'items':>9} {'D':>3} {'method':<48} {'build s':>8} {'MB':>7} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'recall@50':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for n_items in sizes:
            for dim in ints(args.dims):
                for r in run(n_items, dim, args.queries, Path(tmp), backends,
                             ints(args.ef_search), ints(args.nprobe)):
                    rows.append(r)
                    print(f"{r['items']:>9} {r['dim']:>3} {r['method']:<48} {r['build_s']:>8.1f} "
                          f"{r['memory_mb']:>7.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                          f"{r['recall']:>9.4f}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "scale.json"
    # keep rows of an earlier run that this one did not redo (e.g. 1M Annoy rows)
    done = {(r["items"], r["dim"], r["method"]) for r in rows}
    old = json.loads(out.read_text()).get("rows", []) if out.is_file() else []
    rows = [r for r in old if (r["items"], r["dim"], r["method"]) not in done] + rows
    rows.sort(key=lambda r: (r["items"], r["dim"]))
    out.write_text(json.dumps({"rows": rows, "queries": args.queries, "k": K, "n": N,
                               "note": "per query = one user's K=4 interests"}, indent=2))
    print(f"wrote {out}")
    return rows


if __name__ == "__main__":
    main()
