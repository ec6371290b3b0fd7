"""How long building every ml-100k training sample takes (issue 2's target: under 2 s).

Timed work, from a dataset already read (reading the files is excluded): encode ids,
build the chronological split at ``max_length`` 50, and draw one epoch of negatives (3 per
positive) with :class:`~mind_core.features.negatives.NegativeSampler`. The same work done the naive
way, a Python loop per user and per sample, is timed in the same run as the baseline; its samples
are checked to equal the vectorized ones, so both sides really do the same job.

    .venv/bin/python -m bench.bench_samples [--repeats 5] [--method uniform|popularity]

Prints a table and writes ``bench/results/samples.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path

import numpy as np

from mind_core.data.fetch import data_dir
from mind_core.data.readers import read_dataset
from mind_core.features.encoding import encode
from mind_core.features.negatives import NegativeSampler
from mind_core.features.split import MIN_EVAL_INTERACTIONS, build_split

MAX_LENGTH = 50
NEG_RATIO = 3
TARGET_SECONDS = 2.0
RESULTS = Path(__file__).resolve().parent / "results" / "samples.json"


def vectorized(ds, method: str, seed: int = 0):
    split = build_split(encode(ds), MAX_LENGTH)
    sampler = NegativeSampler(split.item_counts, method=method, seed=seed)
    negatives = sampler.sample(split.train_labels, NEG_RATIO)
    return split.train_history, split.train_labels, negatives


def naive(ds, method: str, seed: int = 0):
    """The straightforward version: dicts for ids, a loop per user, a loop per sample."""
    inter = ds.interactions
    users = inter["user"].tolist()
    items = inter["item"].tolist()
    times = inter["timestamp"].tolist()
    item_code = {raw: code for code, raw in enumerate(sorted(set(items)), start=1)}
    per_user: dict[int, list] = {}
    for n, (u, i, t) in enumerate(zip(users, items, times, strict=True)):
        per_user.setdefault(u, []).append((t, n, item_code[i]))

    histories, labels = [], []
    counts = [0] * (len(item_code) + 1)
    for u in sorted(per_user):
        seq = [code for _, _, code in sorted(per_user[u])]  # by time, ties by file order
        end = len(seq) - 2 if len(seq) >= MIN_EVAL_INTERACTIONS else len(seq)
        for p in range(len(seq)):
            if p < end:
                counts[seq[p]] += 1
            if 1 <= p < end:
                window = seq[max(0, p - MAX_LENGTH): p]
                histories.append([0] * (MAX_LENGTH - len(window)) + window)
                labels.append(seq[p])

    rng = random.Random(seed)
    population = range(len(counts))
    weights = [0] + ([1] * (len(counts) - 1) if method == "uniform" else counts[1:])
    cum = list(accumulate(weights))
    negatives = []
    for label in labels:
        row = []
        while len(row) < NEG_RATIO:
            item = population[bisect_right(cum, rng.random() * cum[-1])]
            if item != label:
                row.append(item)
        negatives.append(row)
    return np.array(histories), np.array(labels), np.array(negatives)


def timed(fn, *args, repeats: int) -> tuple[list[float], tuple]:
    seconds, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        seconds.append(time.perf_counter() - start)
    return seconds, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default=str(data_dir() / "ml-100k"))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--method", choices=["uniform", "popularity"], default="uniform")
    args = p.parse_args(argv)

    ds = read_dataset(args.dataset)  # not timed
    fast_s, (hist, labels, neg) = timed(vectorized, ds, args.method, repeats=args.repeats)
    slow_s, (b_hist, b_labels, b_neg) = timed(naive, ds, args.method, repeats=args.repeats)
    # same samples (negatives differ only in which random draws they got)
    assert np.array_equal(hist, b_hist) and np.array_equal(labels, b_labels)
    assert not (neg == labels[:, None]).any() and not (b_neg == b_labels[:, None]).any()

    fast, slow = statistics.median(fast_s), statistics.median(slow_s)
    result = {
        "dataset": ds.name, "interactions": len(ds.interactions),
        "training_samples": len(labels), "max_length": MAX_LENGTH, "neg_ratio": NEG_RATIO,
        "sample_method": args.method, "repeats": args.repeats,
        "vectorized_median_s": round(fast, 4), "baseline_median_s": round(slow, 4),
        "speedup": round(slow / fast, 1), "target_s": TARGET_SECONDS,
        "within_target": fast < TARGET_SECONDS,
        "vectorized_runs_s": [round(s, 4) for s in fast_s],
        "baseline_runs_s": [round(s, 4) for s in slow_s],
        "python": platform.python_version(), "numpy": np.__version__,
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
    }
    print(f"ml-100k samples: {len(ds.interactions)} interactions -> {len(labels)} training "
          f"samples, L={MAX_LENGTH}, {NEG_RATIO} {args.method} negatives each, "
          f"median of {args.repeats}")
    print(f"{'':<26}{'median s':>10}{'vs target':>12}")
    print(f"{'vectorized (mind_core)':<26}{fast:>10.3f}{f'< {TARGET_SECONDS:g} s':>12}")
    print(f"{'naive per-user loop':<26}{slow:>10.3f}{'':>12}")
    print(f"{'speed-up':<26}{slow / fast:>9.1f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0 if fast < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
