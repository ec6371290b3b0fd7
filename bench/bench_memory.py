"""Time and peak memory per stage at 100k, 1M and 25M ratings (synthetic data in the ml-25m
layout, ml-25m's ratings per user): generating it (``mind-core data synth``), reading it,
``mind-core data info`` (read + encode + the split at max_length 1), the split the trainer uses
(``build_split`` at max_length 20) and one training epoch (``fit`` with epochs=1 and
:data:`EPOCH_CONFIG`, its validation pass included).

Each stage runs in a fresh Python process, so its peak RSS (``ru_maxrss`` of that process, the
interpreter and imports included) is its own; the imports alone are the ``baseline`` row. A
stage's address space is capped (``--cap-gb``, default 12) so that a stage too big for this
shared machine fails with a MemoryError instead of pushing others into swap; such a stage is
reported as failed, with the cap. The 25M training epoch is skipped unless ``--train-25m``
(about 25 minutes here at one thread).

Run: OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_memory [--sizes 100k,1M,25M]
     [--stages synth,read,info,split,epoch] [--keep]
Writes bench/results/bench_memory.json and prints a Markdown table. Generated data goes to a
temporary folder, deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
# ml-25m: 162,541 users, 59,047 movies, 25,000,095 ratings (154 a user); smaller sizes keep
# the ratings per user and shrink the catalogue
SIZES = {"100k": (650, 4_000, 100_000), "1M": (6_500, 12_000, 1_000_000),
         "25M": (162_541, 59_047, 25_000_000)}
# the default model, but sampled softmax over 1,000 shared negatives instead of the whole
# catalogue (whose B x K x I candidate scores are 0.9 GB a batch at ml-25m's 59k items), D 32
# and batches of 1,024, so an epoch at 25M ratings takes minutes, not hours
EPOCH_CONFIG = dict(epochs=1, patience=1, embed_dim=32, shared_negatives=1000, batch_size=1024)
STAGES = ("baseline", "synth", "read", "info", "split", "epoch")
STAGE_NAMES = {
    "baseline": "python + imports (numpy, pandas, torch, mind_core)",
    "synth": "synth generation (`mind-core data synth`)",
    "read": "read ratings.csv + movies.csv",
    "info": "`mind-core data info` (read + encode + split at L=1)",
    "split": "read + encode + `build_split` (L=20)",
    "epoch": "one training epoch (`fit`, D 32, 1,000 shared negatives, batch 1,024)",
}


# --- one stage, in a child process -------------------------------------------------------------

def _child(stage: str, path: str, size: str, cap_gb: float) -> dict:
    if cap_gb > 0:
        cap = int(cap_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import numpy  # noqa: F401  imports belong to the baseline, not to the stage's time
    import pandas  # noqa: F401
    import torch  # noqa: F401

    from mind_core import cli
    from mind_core.data import readers, synth
    from mind_core.features import encoding
    from mind_core.features import split as samples

    info: dict = {}
    t0 = time.perf_counter()
    if stage == "synth":
        users, items, ratings = SIZES[size]
        info = synth.generate(path, users, items, ratings, seed=0)
    elif stage == "read":
        ds = readers.read_dataset(path)
        info = {"interactions": len(ds.interactions)}
    elif stage == "info":
        out = cli.dataset_summary(path)
        info = {k: out[k] for k in ("users", "items", "interactions", "training_samples")}
    elif stage == "split":
        split = samples.build_split(encoding.encode(readers.read_dataset(path)), max_length=20)
        info = {"training_samples": int(len(split.train_labels))}
    elif stage == "epoch":
        from mind_core.config import MINDConfig
        from mind_core.training.trainer import fit
        from mind_core.workflow.pipeline import load_data

        config = MINDConfig(**EPOCH_CONFIG)
        data = load_data(path, config.max_length)
        t1 = time.perf_counter()
        result = fit(config, data.encoded, data.split)
        info = {"fit_seconds": round(time.perf_counter() - t1, 1),
                "samples_per_second": round(result.history[0]["samples_per_second"]),
                "valid_HR@50": round(result.history[0]["valid_HR@50"], 4)}
    seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak_kb / 1024, 1), **info}


def run_stage(stage: str, path: Path, size: str, cap_gb: float) -> dict:
    cmd = [sys.executable, "-m", "bench.bench_memory", "--child", stage, "--path", str(path),
           "--size", size, "--cap-gb", str(cap_gb)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t
    row = {"size": size, "stage": stage, "what": STAGE_NAMES[stage]}
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode == 0 and lines:
        return {**row, **json.loads(lines[-1]), "wall_seconds": round(wall, 1), "ok": True}
    err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {**row, "ok": False, "error": err[:300], "wall_seconds": round(wall, 1),
            "cap_gb": cap_gb}


# --- the whole benchmark -----------------------------------------------------------------------

def table(rows) -> str:
    out = ["| ratings | stage | time s | peak RSS MB | notes |", "|---|---|---|---|---|"]
    for r in rows:
        if r["ok"]:
            notes = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                              for k, v in r.items()
                              if k in ("users", "items", "interactions", "training_samples",
                                       "samples_per_second", "valid_HR@50", "fit_seconds"))
            out.append(f"| {r['size']} | {r['what']} | {r['seconds']:.1f} | "
                       f"{r['peak_rss_mb']:,.0f} | {notes} |")
        elif r.get("error", "").startswith("skipped"):
            out.append(f"| {r['size']} | {r['what']} | – | – | {r['error']} |")
        else:
            out.append(f"| {r['size']} | {r['what']} | – | > {r.get('cap_gb', '?'):g} GB cap "
                       f"| failed: {r.get('error', '').split(': ', 1)[-1][:70]} |")
    return "\n".join(out)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100k,1M,25M")
    ap.add_argument("--stages", default="synth,read,info,split,epoch")
    ap.add_argument("--cap-gb", type=float, default=12.0,
                    help="address-space cap per stage process (0 = none)")
    ap.add_argument("--train-25m", action="store_true", help="also train one epoch at 25M")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument("--workdir", help="where to generate data (default: a temp folder)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--size", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.path, args.size, args.cap_gb)), flush=True)
        return []

    stages = args.stages.split(",")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-memory-"))
    rows = [run_stage("baseline", work, "100k", args.cap_gb)]
    print(table(rows), flush=True)
    try:
        for size in args.sizes.split(","):
            path = work / f"synth-{size}"
            for stage in stages:
                if stage != "synth" and not path.exists():
                    continue
                if stage == "epoch" and size == "25M" and not args.train_25m:
                    rows.append({"size": size, "stage": stage, "what": STAGE_NAMES[stage],
                                 "ok": False, "error": "skipped (--train-25m to run it)",
                                 "cap_gb": args.cap_gb})
                    continue
                row = run_stage(stage, path, size, args.cap_gb)
                rows.append(row)
                print(table([row]).splitlines()[-1], flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "bench_memory.json"
    meta = {"cpus": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "cap_gb": args.cap_gb, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "sizes": {k: dict(zip(("users", "items", "ratings"), v, strict=True))
                      for k, v in SIZES.items()}}
    out.write_text(json.dumps({"rows": rows, **meta}, indent=2))
    print()
    print(table(rows))
    print(f"wrote {out}")
    return rows


if __name__ == "__main__":
    main()
