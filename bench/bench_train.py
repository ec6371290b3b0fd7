"""Training-loop throughput of our MIND against the original tutorial's, and our time to early stop.

Issue 3's speed targets, measured in one run on the same real ml-100k training samples
(``mind_core.workflow.pipeline.load_data``: chronological prefixes, leave-last-out):

1. Samples/s of the training loop, one thread (``torch.set_num_threads(1)``), batch 256, dim 16:

   - **tutorial**: the public torch-rechub implementation the original tutorial used
     (``torch-rechub==0.9.0``: ``models.matching.MIND`` trained by ``trainers.MatchTrainer``,
     list-wise ``mode=2``, ``temperature=0.02``, ``seq_max_len`` 50, Adam lr 1e-3 / wd 1e-6),
     fed the way its ``examples/matching/run_ml_mind.py`` feeds it: a dict of numpy arrays with
     the same columns (``user_id, movie_id, hist_movie_id, histlen_movie_id, neg_items, gender,
     age, occupation, zip, cate_id``), ``MatchDataGenerator`` and its shuffled ``DataLoader``
     (``num_workers=0`` as in the example), ``MatchTrainer.train_one_epoch`` (the body of
     ``MatchTrainer.fit`` per epoch, tqdm bar included). Our samples, our 3 uniform negatives
     per positive, our profile codes; ``user_id`` is a sparse feature as in the tutorial.
   - **ours (tutorial settings)**: ``mind_core.training.trainer.fit`` with
   ``MINDConfig(embed_dim=16,
     batch_size=256, max_length=50, loss="listwise", neg_ratio=3, epochs=1, patience=99,
     **PAPER_FAITHFUL)`` (the tutorial's model is the paper's, so our extensions are off). Its
     ReLU layer is the default 2·D = 32 wide (the tutorial's model has a single linear map
     there); shown for reference, not as the target: the same with ``mlp_hidden=(128,)``, the
     width before it scaled with D.
   - **ours (default)**: ``fit`` with ``MINDConfig()`` for one epoch (its own ``max_length`` and
     ``embed_dim``; same users and labels, histories cut at its ``max_length``).

   Every side is timed over the same window: from the end of batch ``--warmup`` to the end of
   the last batch of one epoch, i.e. everything the loop does per batch (data loading, forward,
   loss, backward, optimizer step, logging), with set-up, the first batches and end-of-epoch
   work (validation, checkpoint) outside. Samples/s = samples in the window / its seconds.
   Sides are interleaved and repeated (``--repeats``, fresh model and seed each); the table
   shows medians. Target: ours (tutorial settings) >= 3x the tutorial.

2. Wall time of the default model trained to early stop, two threads: ``fit(MINDConfig())``,
   ``TrainResult.seconds`` (training and per-epoch validation, best weights restored).
   Target: <= 60 s. Each epoch is also split into its training loop and its validation.

    .venv/bin/python -m bench.bench_train [--repeats 5] [--warmup 20] [--no-install]
                                          [--skip-early-stop] [--early-stop-threads 2]

Needs ``data/ml-100k/`` (``mind-core data fetch ml-100k``). If ``torch_rechub`` is not importable
the script runs ``python -m pip install --no-deps torch-rechub==0.9.0`` into the running
interpreter's environment (see ``bench/requirements.txt``; ``--no-install`` skips it) and, if
that fails, reports ours alone. Prints a table, writes ``bench/results/train.json``; exits 1 if a
measured target is missed, 2 if the tutorial could not be measured.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mind_core.config import PAPER_FAITHFUL, MINDConfig
from mind_core.features.encoding import PROFILE_FEATURES
from mind_core.features.negatives import NegativeSampler
from mind_core.training.trainer import fit
from mind_core.workflow.pipeline import load_data

RECHUB_REQUIREMENT = "torch-rechub==0.9.0"
DATASET = "ml-100k"
BATCH, DIM, MAX_LENGTH, NEG_RATIO, TEMPERATURE = 256, 16, 50, 3, 0.02  # the tutorial's settings
TARGET_RATIO = 3.0
TARGET_EARLY_STOP_S = 60.0
RESULTS = Path(__file__).resolve().parent / "results" / "train.json"


def ours_tutorial_config(seed: int, mlp_hidden=None) -> MINDConfig:
    # The tutorial's model is the paper's: like for like, our extensions are off here.
    return MINDConfig(embed_dim=DIM, batch_size=BATCH, max_length=MAX_LENGTH, loss="listwise",
                      neg_ratio=NEG_RATIO, epochs=1, patience=99, seed=seed,
                      mlp_hidden=mlp_hidden, **PAPER_FAITHFUL)


def ours_default_config(seed: int, one_epoch: bool = True) -> MINDConfig:
    if one_epoch:
        return MINDConfig(seed=seed, epochs=1, patience=99)
    return MINDConfig(seed=seed)  # its own epochs and patience: trains to early stop


# --- torch-rechub ------------------------------------------------------------------------------

def import_rechub(allow_install: bool):
    """(module, None) or (None, reason). Installs the pinned wheel without dependencies if
    needed: its own dependencies (numpy, pandas, scikit-learn, tqdm, torch) are ours too."""
    try:
        return importlib.import_module("torch_rechub"), None
    except ImportError as e:
        first = f"{type(e).__name__}: {e}"
    if not allow_install:
        return None, f"torch_rechub not importable ({first}); --no-install given"
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", RECHUB_REQUIREMENT]
    print(f"torch_rechub not importable ({first}); installing: {' '.join(cmd)}", flush=True)
    try:
        rc = subprocess.run(cmd).returncode
    except OSError as e:
        return None, f"could not run pip ({e})"
    if rc != 0:
        return None, f"`{' '.join(cmd)}` failed with exit code {rc}"
    importlib.invalidate_caches()
    try:
        return importlib.import_module("torch_rechub"), None
    except ImportError as e:
        return None, f"installed, but still not importable ({type(e).__name__}: {e})"


def tutorial_inputs(data, negatives: np.ndarray):
    """The tutorial's ``x_train``/``y_train`` (see ``run_ml_mind.get_movielens_data``): numpy
    columns; list-wise label 0 = the first score (the positive) is the target."""
    enc, split = data.encoded, data.split
    users = split.train_users
    labels = split.train_labels.astype(np.int64)
    history = split.train_history.astype(np.int64)
    x = {
        "user_id": (users + 1).astype(np.int64),  # LabelEncoder + 1, as the tutorial
        "movie_id": labels,
        "hist_movie_id": history,  # (S, 50), 0-padded; masked by `> 0` in its MIND
        "histlen_movie_id": (history > 0).sum(1).astype(np.int64),
        "neg_items": negatives.astype(np.int64),
    }
    for j, f in enumerate(PROFILE_FEATURES):
        x[f] = enc.user_features[users, j].astype(np.int64)
    x["cate_id"] = enc.primary_genre[labels].astype(np.int64)
    y = np.zeros(len(labels), dtype=np.int64)
    vocab = {"user_id": enc.n_users + 1, "movie_id": enc.n_items,
             **{f: len(enc.feature_vocab[f]) for f in PROFILE_FEATURES}}
    return x, y, vocab


def build_tutorial(vocab: dict, model_path: str):
    """Feature columns, model and trainer exactly as ``run_ml_mind.py`` builds them."""
    from torch_rechub.basic.features import SequenceFeature, SparseFeature
    from torch_rechub.models.matching import MIND
    from torch_rechub.trainers import MatchTrainer

    user_cols = ["user_id", *PROFILE_FEATURES]
    user_features = [SparseFeature(n, vocab_size=vocab[n], embed_dim=DIM) for n in user_cols]
    history_features = [SequenceFeature("hist_movie_id", vocab_size=vocab["movie_id"],
                                        embed_dim=DIM, pooling="concat", shared_with="movie_id")]
    item_features = [SparseFeature("movie_id", vocab_size=vocab["movie_id"], embed_dim=DIM)]
    neg_item_feature = [SequenceFeature("neg_items", vocab_size=vocab["movie_id"], embed_dim=DIM,
                                        pooling="concat", shared_with="movie_id")]
    model = MIND(user_features, history_features, item_features, neg_item_feature,
                 max_length=MAX_LENGTH, temperature=TEMPERATURE)
    trainer = MatchTrainer(model, mode=2, optimizer_params={"lr": 1e-3, "weight_decay": 1e-6},
                           n_epoch=1, device="cpu", model_path=model_path)
    return model, trainer


class TimedLoader:
    """Wraps a DataLoader; ``stamps[i]`` is when the loop asked for batch i+1, i.e. the end of
    batch i's whole step (``stamps[0]``: the start of the epoch)."""

    def __init__(self, loader):
        self.loader = loader
        self.stamps: list[float] = []
        self.sizes: list[int] = []

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.stamps = [time.perf_counter()]
        for x, y in self.loader:
            self.sizes.append(len(y))
            yield x, y
            self.stamps.append(time.perf_counter())


def run_tutorial(data, negatives, seed: int, warmup: int) -> dict:
    from torch_rechub.utils.data import MatchDataGenerator

    x, y, vocab = tutorial_inputs(data, negatives)
    torch.manual_seed(seed)
    np.random.seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        model, trainer = build_tutorial(vocab, tmp)
        dg = MatchDataGenerator(x=x, y=y)
        small = {k: v[:1] for k, v in x.items()}  # test/item loaders: built, never iterated
        train_dl, _, _ = dg.generate_dataloader(small, small, batch_size=BATCH, num_workers=0)
        timed = TimedLoader(train_dl)
        bar = io.StringIO()  # its tqdm bar and prints, kept out of our table (still drawn)
        with contextlib.redirect_stderr(bar), contextlib.redirect_stdout(bar):
            loss = trainer.train_one_epoch(timed)

        # the same DataLoader alone, for a breakdown (not part of the comparison)
        start, n = time.perf_counter(), 0
        for _, yb in train_dl:
            n += len(yb)
        loader_s = time.perf_counter() - start
    s = timed.stamps
    window_samples = sum(timed.sizes[warmup:])
    window_s = s[-1] - s[warmup]
    return {"samples_per_s": window_samples / window_s, "window_samples": window_samples,
            "window_s": window_s, "epoch_s": s[-1] - s[0], "batches": len(timed.sizes),
            "loss": float(loss), "dataloader_alone_samples_per_s": n / loader_s}


# --- ours --------------------------------------------------------------------------------------

def run_ours(config: MINDConfig, data, warmup: int) -> dict:
    stamps: list[float] = []

    def progress(event, info):
        if event == "batch" and info["epoch"] == 1:
            stamps.append(time.perf_counter())  # end of step info["step"]

    result = fit(config, data.encoded, data.split, progress)
    n = len(data.split.train_labels)
    steps = len(stamps)
    assert steps == (n + config.batch_size - 1) // config.batch_size
    window_samples = n - warmup * config.batch_size
    window_s = stamps[-1] - stamps[warmup - 1]  # end of batch `warmup` to end of the last
    return {"samples_per_s": window_samples / window_s, "window_samples": window_samples,
            "window_s": window_s, "batches": steps, "loss": result.history[0]["loss"],
            "valid_HR@50": result.history[0].get("valid_HR@50")}


def run_early_stop(config: MINDConfig, data, threads: int) -> dict:
    """``fit`` to early stop; each epoch split into its training loop (start to the last
    batch) and the rest (validation, best-weights copy), from the progress callback."""
    torch.set_num_threads(threads)
    marks: list[tuple[str, float]] = []

    def progress(event, info):
        if event == "epoch" or info["step"] == info["steps"]:
            marks.append((event, time.perf_counter()))

    start = time.perf_counter()
    res = fit(config, data.encoded, data.split, progress)
    wall = time.perf_counter() - start
    train_s, rest_s = [], []
    epoch_start = start  # the first epoch's loop also holds building the model (small)
    for (_, last_batch), (event, epoch_end) in zip(marks[::2], marks[1::2], strict=True):
        assert event == "epoch"
        train_s.append(last_batch - epoch_start)
        rest_s.append(epoch_end - last_batch)
        epoch_start = epoch_end
    best = res.history[res.best_epoch - 1]
    return {"threads": threads, "seconds": res.seconds, "fit_call_wall_s": wall,
            "best_epoch": res.best_epoch, "epochs_run": len(res.history),
            "stopped_early": res.stopped_early, "best_valid_HR@50": best.get("valid_HR@50"),
            "best_valid_HR@10": best.get("valid_HR@10"),
            "epoch_seconds": [round(h["seconds"], 3) for h in res.history],
            "epoch_train_loop_s": [round(x, 3) for x in train_s],
            "epoch_validation_s": [round(x, 3) for x in rest_s]}


def time_negative_draw(data, seed: int) -> float:
    """Our per-epoch list-wise negative draw (before batch 1, so outside the window)."""
    sampler = NegativeSampler(data.split.item_counts, "uniform", seed=seed)
    start = time.perf_counter()
    sampler.sample(data.split.train_labels, NEG_RATIO)
    return time.perf_counter() - start


# --- main --------------------------------------------------------------------------------------

def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="interleaved runs per side (median)")
    p.add_argument("--warmup", type=int, default=20, help="first batches left out of the window")
    p.add_argument("--no-install", action="store_true", help="do not pip-install torch-rechub")
    p.add_argument("--skip-early-stop", action="store_true", help="skip the early-stop run")
    p.add_argument("--early-stop-threads", type=int, default=2, help="threads for that run")
    args = p.parse_args(argv)
    assert args.repeats >= 1 and args.warmup >= 1

    load_start = os.getloadavg()
    rh, why_not = import_rechub(allow_install=not args.no_install)
    rechub_version = getattr(rh, "__version__", None) if rh else None
    if rh is None:
        print(f"NOTE: the tutorial's MIND cannot be measured: {why_not}. Reporting ours only.")
    elif rechub_version != RECHUB_REQUIREMENT.split("==")[1]:
        print(f"NOTE: torch_rechub {rechub_version} is installed, not {RECHUB_REQUIREMENT}.")

    data = load_data(DATASET, MAX_LENGTH)  # not timed
    default_cfg = MINDConfig()
    data_default = load_data(DATASET, default_cfg.max_length)
    n = len(data.split.train_labels)
    steps = (n + BATCH - 1) // BATCH
    if args.warmup >= min(steps, (n + default_cfg.batch_size - 1) // default_cfg.batch_size):
        p.error(f"--warmup {args.warmup} leaves no batch in the window")

    torch.set_num_threads(1)
    runs: dict[str, list[dict]] = {"tutorial": [], "ours_tutorial_settings": [],
                                   "ours_tutorial_settings_hidden128": [], "ours_default": []}
    neg_draw_s = []
    for r in range(args.repeats):
        print(f"repeat {r + 1}/{args.repeats}:", end="", flush=True)
        if rh is not None:
            negatives = NegativeSampler(data.split.item_counts, "uniform", seed=r).sample(
                data.split.train_labels, NEG_RATIO)
            runs["tutorial"].append(run_tutorial(data, negatives, r, args.warmup))
            print(f" tutorial {runs['tutorial'][-1]['samples_per_s']:,.0f}/s", end="", flush=True)
        runs["ours_tutorial_settings"].append(run_ours(ours_tutorial_config(r), data, args.warmup))
        print(f" · ours {runs['ours_tutorial_settings'][-1]['samples_per_s']:,.0f}/s",
              end="", flush=True)
        runs["ours_tutorial_settings_hidden128"].append(
            run_ours(ours_tutorial_config(r, mlp_hidden=(128,)), data, args.warmup))
        runs["ours_default"].append(run_ours(ours_default_config(r), data_default, args.warmup))
        print(f" · ours default {runs['ours_default'][-1]['samples_per_s']:,.0f}/s", flush=True)
        neg_draw_s.append(time_negative_draw(data, r))

    med = {k: median_of(v, "samples_per_s") for k, v in runs.items() if v}
    ratio = (med["ours_tutorial_settings"] / med["tutorial"]) if "tutorial" in med else None
    ratio_default = (med["ours_default"] / med["tutorial"]) if "tutorial" in med else None
    paired = [o["samples_per_s"] / t["samples_per_s"]  # same repeat: similar load on both
              for o, t in zip(runs["ours_tutorial_settings"], runs["tutorial"], strict=False)]

    early = None
    if not args.skip_early_stop:
        print(f"default config to early stop, {args.early_stop_threads} thread(s) ...", flush=True)
        early = run_early_stop(ours_default_config(0, one_epoch=False), data_default,
                               args.early_stop_threads)
    load_end = os.getloadavg()

    # --- table ---
    print()
    print(f"ml-100k: {n} training samples; window = batches {args.warmup + 1}..end of one "
          f"epoch; 1 thread; median of {args.repeats}")
    print(f"load average (1/5/15 min) at start {load_start[0]:.1f}/{load_start[1]:.1f}/"
          f"{load_start[2]:.1f}, at end {load_end[0]:.1f}/{load_end[1]:.1f}/{load_end[2]:.1f} "
          f"on {os.cpu_count()} CPUs" + ("  (figures taken under load)"
                                         if max(load_start[0], load_end[0]) > 1.5 else ""))
    shown_version = rechub_version or RECHUB_REQUIREMENT.split("==")[1]
    rows = [("tutorial", f"torch-rechub {shown_version} MIND, MatchTrainer mode=2",
             f"b{BATCH} d{DIM} L{MAX_LENGTH}"),
            ("ours_tutorial_settings", "mind_core fit, listwise neg 3",
             f"b{BATCH} d{DIM} L{MAX_LENGTH}"),
            ("ours_tutorial_settings_hidden128", "  the same, ReLU layer 128 wide (reference)",
             f"b{BATCH} d{DIM} L{MAX_LENGTH}"),
            ("ours_default", "mind_core fit, MINDConfig()",
             f"b{default_cfg.batch_size} d{default_cfg.embed_dim} L{default_cfg.max_length}")]
    print(f"{'side':<47}{'settings':<16}{'samples/s':>11}{'vs tutorial':>13}")
    for key, label, settings in rows:
        if key not in med:
            print(f"{label:<47}{settings:<16}{'n/a':>11}{'':>13}")
            continue
        vs = f"{med[key] / med['tutorial']:.2f}x" if "tutorial" in med else "n/a"
        print(f"{label:<47}{settings:<16}{med[key]:>11,.0f}{vs:>13}")
    if "tutorial" in med:
        print(f"  tutorial's DataLoader alone (no model): "
              f"{median_of(runs['tutorial'], 'dataloader_alone_samples_per_s'):,.0f} samples/s")
        verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
        print(f"ratio ours/tutorial at the tutorial's settings: {ratio:.2f}x "
              f"({verdict} the >= {TARGET_RATIO:g}x target); per repeat: "
              + ", ".join(f"{x:.2f}x" for x in paired))
    else:
        print(f"ratio ours/tutorial: not measured ({why_not})")
    print(f"  ours' per-epoch negative draw (outside the window): "
          f"{statistics.median(neg_draw_s) * 1e3:.1f} ms")
    if early:
        verdict = "meets" if early["seconds"] <= TARGET_EARLY_STOP_S else "MISSES"
        print(f"default MINDConfig() to early stop, {early['threads']} thread(s): "
              f"{early['seconds']:.1f} s ({early['epochs_run']} epochs, best "
              f"{early['best_epoch']}, valid HR@50 {early['best_valid_HR@50']:.4f}; {verdict} "
              f"the <= {TARGET_EARLY_STOP_S:g} s target)")
        print("  per epoch, training loop s: "
              + " ".join(f"{x:.1f}" for x in early["epoch_train_loop_s"])
              + " | validation s: " + " ".join(f"{x:.1f}" for x in early["epoch_validation_s"]))

    result = {
        "dataset": DATASET, "training_samples": n, "warmup_batches": args.warmup,
        "repeats": args.repeats, "threads_throughput": 1,
        "median_samples_per_s": {k: round(v, 1) for k, v in med.items()},
        "ratio_ours_over_tutorial": None if ratio is None else round(ratio, 3),
        "ratio_per_repeat": [round(x, 3) for x in paired],
        "ratio_default_over_tutorial": None if ratio_default is None else round(ratio_default, 3),
        "target_ratio": TARGET_RATIO,
        "ratio_within_target": None if ratio is None else ratio >= TARGET_RATIO,
        "tutorial_unavailable_reason": why_not,
        "configs": {"tutorial": {"package": RECHUB_REQUIREMENT, "installed": rechub_version,
                                 "batch_size": BATCH, "embed_dim": DIM, "seq_max_len": MAX_LENGTH,
                                 "neg_ratio": NEG_RATIO, "temperature": TEMPERATURE,
                                 "mode": 2, "lr": 1e-3, "weight_decay": 1e-6,
                                 "num_workers": 0},
                    "ours_tutorial_settings": ours_tutorial_config(0).to_dict(),
                    "ours_tutorial_settings_hidden128":
                        ours_tutorial_config(0, mlp_hidden=(128,)).to_dict(),
                    "ours_default": default_cfg.to_dict()},
        "runs": runs,
        "ours_negative_draw_s": neg_draw_s,
        "early_stop_default": early,
        "target_early_stop_s": TARGET_EARLY_STOP_S,
        "early_stop_within_target": None if early is None
        else early["seconds"] <= TARGET_EARLY_STOP_S,
        "load_average_start": load_start, "load_average_end": load_end,
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "torch": torch.__version__, "numpy": np.__version__,
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")

    if ratio is not None and ratio < TARGET_RATIO:
        return 1
    if early is not None and early["seconds"] > TARGET_EARLY_STOP_S:
        return 1
    return 0 if rh is not None else 2


if __name__ == "__main__":
    sys.exit(main())
