"""Model commands of the ``mind-core`` CLI: train, evaluate, sweep, overlap, export-embeddings,
build-defaults (and, from :mod:`mind_core.cli.serving`, recommend and export-onnx)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from mind_core import protocols
from mind_core.artifacts.paths import artifacts_dir
from mind_core.cli.common import (
    add_config_options,
    background_aware,
    bundle_and_data,
    config_from_args,
    ensure_start,
    epoch_line,
    format_table,
    tqdm_progress,
)
from mind_core.errors import DataError, UsageError
from mind_core.evaluation.overlap import overlap
from mind_core.evaluation.verdict import in_words
from mind_core.serving.merging import MERGE_STRATEGIES
from mind_core.training import distributed
from mind_core.training.trainer import resolve_device
from mind_core.workflow import sweep
from mind_core.workflow.defaults import AUTO, MERGE_CHOICES
from mind_core.workflow.jobs import WORKERS, Workers
from mind_core.workflow.pipeline import (
    ensure_bundle,
    ensure_map,
    export_embeddings,
    load_data,
    report,
    train_bundle,
)
from mind_core.workflow.sweep import SWEEPABLE


def cmd_train(args) -> None:
    config = config_from_args(args)
    if args.nproc < 1:
        raise UsageError(f"--nproc: expected a number of processes >= 1, got {args.nproc}")
    if args.nproc > 1 and not distributed.under_launcher():
        distributed.launch(args.argv, args.nproc)  # this command again, as N DDP workers
        return
    if distributed.under_launcher():
        distributed.init(resolve_device(config.device))
    # a failing rank just exits (torchrun then stops the others): waiting for them at a
    # barrier would hang, as they wait for it in the training's collectives
    path = train_bundle(args.dataset, config, out=args.out,
                        progress=tqdm_progress(f"K={config.interest_num}"),
                        with_serving=not args.no_serving, with_map=not args.no_map,
                        merge=args.merge)
    rank = distributed.rank_and_world()[0]
    distributed.finish()
    if rank != 0:  # rank 0 reports
        return
    metrics = json.loads((path / "metrics.json").read_text())
    choice = metrics.get("merge_choice") or {}
    chose = (f" (chosen on validation: {choice['by']} "
             + ", ".join(f"{k} {v:.4f}" for k, v in choice["valid"].items()) + ")"
             if choice.get("rule") == AUTO else "")
    print(f"protocol: {config.protocol}; merge: {metrics.get('merge', 'max_score')}{chose}")
    print(format_table({f"MIND K={config.interest_num}": metrics["test"],
                  "most popular": metrics["baselines"]["popularity"]},
                 protocols.get(config.protocol).METRICS))
    print(f"bundle: {path}  ({metrics['train_seconds']:.1f}s, best epoch {metrics['best_epoch']})")


def cmd_evaluate(args) -> None:
    bundle, data = bundle_and_data(args.bundle)
    out = report(bundle, data)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        metrics = protocols.get(out["protocol"]).METRICS
        choice = out.get("merge_choice") or {}
        how = (f", chosen on validation ({choice['by']}: " + ", ".join(
            f"{k} {v:.4f}" for k, v in choice["valid"].items()) + ")"
            if choice.get("rule") == AUTO else "")
        print(f"protocol: {out['protocol']}; MIND rows under the bundle's merge, "
              f"{out['merge']}{how}")
        rows = dict(out["models"])
        if out["ceiling"]:  # a taste mixture: the ranking that reads its truth file
            rows["knows the tastes"] = out["ceiling"]
        print(format_table(rows, metrics))
        for name, by_merge in out["merges"].items():
            extra = [m for m in next(iter(by_merge.values())) if m.startswith(("purity",
                                                                              "taste_"))]
            print(f"\n{name} under every merge strategy" +
                  (" (with the dataset's known tastes)" if extra else ""))
            print(format_table(by_merge, [*metrics, *extra]))


def cmd_overlap(args) -> None:
    a, data = bundle_and_data(args.bundle_a)
    b, _ = bundle_and_data(args.bundle_b)
    out = overlap(a, b, data, n=args.n)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"mean Jaccard of the merged top {out['n']} over {out['users']} users: "
              f"{out['jaccard']:.4f} (sd over users {out['jaccard_sd']:.4f})")


def cmd_export_embeddings(args) -> None:
    bundle, data = bundle_and_data(args.bundle)
    out = export_embeddings(bundle, data, Path(args.outdir))
    print(f"wrote items.npy, item_ids.json, user_interests.npy, user_active.npy, user_ids.json, "
          f"targets.json to {out}")


def cmd_sweep(args) -> None:
    base_k = args.interest_num_list
    param, values = _sweep_param(args)
    ensure_start(args, with_serving=args.serving)
    base = config_from_args(args)
    if param != "interest_num" and base_k:  # the K every model of another sweep uses
        if len(base_k) != 1:
            raise DataError("sweep", f"--interest-num takes one value when sweeping {param}")
        base = replace(base, interest_num=base_k[0])
    data = load_data(args.dataset, base.max_length, base.protocol)

    def on_model(i, total, config, trained):
        value = getattr(config, param, "every strategy")
        print(f"[{i + 1}/{total}] {param}={value} seed={config.seed}: "
              f"{'trained' if trained else 'reused'}")

    if args.workers < 0:
        raise UsageError(f"--workers: expected 0 (this process) or more, got {args.workers}")
    if args.workers == 0:
        bundles = sweep.run(args.dataset, base, param, values, args.seeds,
                            progress=tqdm_progress(param), with_serving=args.serving,
                            on_model=on_model)
    else:
        with Workers(args.workers, nice=0) as pool:
            bundles = sweep.run(args.dataset, base, param, values, args.seeds,
                                progress=epoch_lines(param, sweep.plan(base, param, values,
                                                                       args.seeds)),
                                with_serving=args.serving, on_model=on_model, workers=pool)
    summary = sweep.summarize(bundles, param, data, n=args.n, merge=args.merge,
                              values=values if param == sweep.MERGE else None)
    summary["seeds"] = args.seeds
    summary["base"] = base.to_dict()
    metrics = protocols.get(base.protocol).METRICS
    rows = {f"{param}={r['value']}": {m: "{mean:.4f}±{sd:.3f}".format(**r["metrics"][m])
                                     for m in metrics}
            for r in summary["results"]}
    rows["most popular"] = summary["popularity"]
    if summary["ceiling"]:  # a taste mixture: the ranking that reads its truth file
        rows["knows the tastes"] = summary["ceiling"]
    merge = "the strategy in each row" if param == sweep.MERGE else (
        args.merge or "each bundle's own")
    print(f"protocol: {base.protocol}; merge: {merge}; mean ± sd over seeds {args.seeds}")
    print(format_table(rows, metrics))
    headline = "Recall@50" if "Recall@50" in metrics else "HR@50"
    print(f"\n{headline}, difference of the means, Welch's t over seeds:")
    for c in summary["comparisons"]:
        g = c["metrics"].get(headline)
        if g:
            rel = f" ({g['relative']:+.1%})" if g["relative"] is not None else ""
            print(f"  {param}={c['a']} -> {c['b']}{rel}: {in_words(g, 4)}")
    print(f"\nmerged top {args.n}, mean Jaccard over users:")
    for r in summary["results"]:
        o = r["seed_overlap"]
        if o["pairs"]:
            print(f"  {param}={r['value']}: seed vs seed {o['mean']:.3f} ({o['pairs']} pairs)")
    for c in summary["comparisons"]:
        if c["between"] is not None:
            print(f"  {param}={c['a']} vs {c['b']}: {c['between']:.3f} (other seeds; same seed "
                  f"{c['same_seed'] if c['same_seed'] is not None else float('nan'):.3f}), "
                  f"noise floor {c['floor'] if c['floor'] is not None else float('nan'):.3f}: "
                  f"{c['verdict']}")
    default_name = ("sweep.json" if param == "interest_num" and base.protocol == protocols.DEFAULT
                    else f"sweep-{param}-{base.protocol}.json")
    out = Path(args.out) if args.out else artifacts_dir(data.encoded.name) / default_name
    sweep.write(summary, out)
    print(f"wrote {out}")


def epoch_lines(param: str, configs: list):
    """Progress of models trained side by side: one line per epoch, naming the model."""

    def progress(event, info):
        if event == "epoch":
            c = configs[info["index"]]
            print(epoch_line(f"  {param}={getattr(c, param, '')} seed={c.seed}", info),
                  flush=True)

    return progress


def _sweep_param(args) -> tuple[str, list]:
    if args.param is None or args.param == "interest_num":
        if args.values and args.interest_num_list:
            raise DataError("sweep", "give the K values once: --interest-num or --values")
        raw = args.values or [str(k) for k in (args.interest_num_list or [1, 2, 4, 8])]
        param = "interest_num"
    else:
        if not args.values:
            raise DataError("sweep", f"--param {args.param} needs --values V1 V2 ...")
        param, raw = args.param, args.values
    try:
        return param, [sweep.parse_value(param, v) for v in raw]
    except ValueError as e:
        raise DataError("sweep", str(e)) from None


def cmd_build_defaults(args) -> None:
    """The models the app needs: K = 1, 2, 4, 8 at the default configuration, for each seed
    asked (``--seeds 1`` builds the second seed the noise floor reads, without the map)."""
    with_map = not (args.no_serving or args.no_map)
    ensure_start(args, with_serving=not args.no_serving, with_map=with_map)
    base = config_from_args(args)
    for seed in args.seeds:
        for k in args.interest_num_list:
            config = replace(base, interest_num=k, seed=seed)
            progress = background_aware(args, tqdm_progress(f"K={k} seed={seed}"))
            bundle, trained = ensure_bundle(args.dataset, config, progress,
                                            with_serving=not args.no_serving, with_map=with_map)
            done = "built" if trained else "ready"
            if with_map and not trained and ensure_map(bundle, progress):
                done = "map added"
            print(f"K={k} seed={seed}: {done} {bundle.path}")


def add_commands(sub) -> None:
    t = sub.add_parser("train", help="train a MIND and write a bundle")
    t.add_argument("--dataset", default="ml-100k")
    t.add_argument("--out", help="bundle folder (default data/artifacts/<dataset>/<name>)")
    t.add_argument("--no-serving", action="store_true",
                   help="skip the Annoy index and the UMAP map (recommend then searches "
                        "exactly; `build-index` adds an index later). At ml-25m's scale the map "
                        "would place every user's interests: hundreds of thousands of vectors")
    t.add_argument("--no-map", action="store_true",
                   help="build the Annoy index but not the UMAP map (the map costs ~15 s of "
                        "compilation in a new process; `mind-core build-index` adds it later)")
    t.add_argument("--nproc", type=int, default=1,
                   help="train data-parallel in N local processes (DDP through torchrun; "
                        "gloo on CPU, nccl on GPUs); default 1")
    t.add_argument("--merge", choices=MERGE_CHOICES, default=AUTO,
                   help="the merge of the headline figures (default auto: every strategy "
                        "scored on the validation set, the best used)")
    add_config_options(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="metrics of a bundle against the baselines")
    e.add_argument("bundle")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("sweep", help="train what is missing over one setting's values x seeds")
    s.add_argument("--dataset", default="ml-100k")
    s.add_argument("--param", help="the setting to vary (default interest_num): one of "
                   + ", ".join(SWEEPABLE))
    s.add_argument("--values", nargs="+", help="its values (for interest_num, or use "
                   "--interest-num)")
    s.add_argument("--interest-num", dest="interest_num_list", type=int, nargs="+",
                   help="K values to sweep (default 1 2 4 8), or the one K of another sweep")
    s.add_argument("--seeds", type=int, nargs="+", default=[0])
    s.add_argument("--n", type=int, default=10, help="merged top-N compared (default 10)")
    s.add_argument("--merge", choices=MERGE_STRATEGIES,
                   help="score every model under this merge (default: each bundle's own; "
                        "--param merge compares the strategies)")
    s.add_argument("--serving", action="store_true",
                   help="also build each model's Annoy index and UMAP map (slower)")
    s.add_argument("--workers", type=int, default=WORKERS,
                   help=f"train this many models at a time, each in a warm worker process at "
                        f"one torch thread (default {WORKERS}); 0 trains them one after "
                        "another in this process")
    s.add_argument("--out", help="JSON file (default data/artifacts/<dataset>/sweep.json for K "
                   "under leave-last-out, else sweep-<param>-<protocol>.json)")
    s.add_argument("--no-start-choice", action="store_true",
                   help="start from the defaults without choosing the dataset's start on "
                        "validation first (docs/design.md, \"Choosing on validation\")")
    add_config_options(s, skip=("interest_num", "seed"))
    s.set_defaults(func=cmd_sweep)

    v = sub.add_parser("overlap", help="mean Jaccard of two models' merged top-N lists")
    v.add_argument("bundle_a")
    v.add_argument("bundle_b")
    v.add_argument("--n", type=int, default=10, help="list length (default 10)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_overlap)

    x = sub.add_parser("export-embeddings", help="vectors and targets as .npy/.json")
    x.add_argument("bundle")
    x.add_argument("outdir")
    x.set_defaults(func=cmd_export_embeddings)

    d = sub.add_parser("build-defaults", help="build the app's default models if missing")
    d.add_argument("--dataset", default="ml-100k")
    d.add_argument("--interest-num", dest="interest_num_list", type=int, nargs="+",
                   default=[1, 2, 4, 8])
    d.add_argument("--seeds", type=int, nargs="+", default=[0],
                   help="seeds to build (default 0; the app's noise floor reads seed 1)")
    d.add_argument("--no-serving", action="store_true",
                   help="skip the Annoy index and UMAP map (the app then searches exactly)")
    d.add_argument("--no-map", action="store_true",
                   help="build the Annoy index but not the UMAP map (`make run` serves its "
                        "first model sooner); a later run without it adds the map")
    d.add_argument("--no-start-choice", action="store_true",
                   help="start from the defaults without choosing the dataset's start on "
                        "validation first (docs/design.md, \"Choosing on validation\")")
    d.add_argument("--background", action="store_true",
                   help="pause between batches while the app trains a person's request "
                        "(what `make run`'s background chain does)")
    add_config_options(d, skip=("interest_num", "seed"))
    d.set_defaults(func=cmd_build_defaults)
