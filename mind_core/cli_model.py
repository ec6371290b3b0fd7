"""Model commands of the ``mind-core`` CLI: train, evaluate, sweep, export-embeddings,
build-defaults (and, from :mod:`mind_core.cli_serving`, recommend and export-onnx)."""

from __future__ import annotations

import json
import statistics
from dataclasses import fields, replace
from pathlib import Path

from .model import MINDConfig

METRIC_ORDER = ["HR@10", "HR@50", "NDCG@10", "NDCG@50", "Diversity@50", "Coverage@50"]


def _tqdm_progress(desc: str):
    """A progress callback drawing one tqdm bar per epoch with the running loss."""
    from tqdm import tqdm

    state = {"bar": None}

    def progress(event, info):
        if event == "batch":
            if state["bar"] is None:
                state["bar"] = tqdm(total=info["steps"], desc=f"{desc} epoch {info['epoch']}",
                                    leave=False, unit="batch")
            state["bar"].update(1)
            state["bar"].set_postfix(loss=f"{info['loss']:.4f}")
        elif event == "epoch":
            if state["bar"] is not None:
                state["bar"].close()
                state["bar"] = None
            tqdm.write(f"{desc} epoch {info['epoch']:>2}: loss {info['loss']:.4f}  valid HR@50 "
                       f"{info['valid_HR@50']:.4f}  ({info['seconds']:.1f}s, best epoch "
                       f"{info['best_epoch']})")
        elif event == "stage":
            tqdm.write(f"{desc} {info['message']}")

    return progress


def config_from_args(args) -> MINDConfig:
    """MINDConfig defaults overridden by whichever ``--field`` options were given."""
    overrides = {f.name: getattr(args, f.name) for f in fields(MINDConfig)
                 if getattr(args, f.name, None) is not None}
    return MINDConfig(**overrides)


def _add_config_options(p, skip: tuple[str, ...] = ()) -> None:
    for f in fields(MINDConfig):
        if f.name in skip:  # the command gives this option a meaning of its own
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, dest=f.name, type=lambda s: s.lower() in ("1", "true", "yes"),
                           metavar="BOOL", help=f"default {f.default}")
        elif f.name == "mlp_hidden":
            p.add_argument(flag, dest=f.name, type=int, nargs="+",
                          help="ReLU layer widths; default one layer of 2 x embed-dim")
        else:
            kind = {"int": int, "float": float, "str": str}.get(str(f.type), str)
            p.add_argument(flag, dest=f.name, type=kind, help=f"default {f.default}")


def _table(rows: dict[str, dict]) -> str:
    head = f"{'model':<16}" + "".join(f"{m:>14}" for m in METRIC_ORDER)
    lines = [head, "-" * len(head)]
    for name, metrics in rows.items():
        cells = []
        for m in METRIC_ORDER:
            v = metrics.get(m)
            cells.append(f"{v:>14}" if isinstance(v, str) else f"{v:>14.4f}")
        lines.append(f"{name:<16}" + "".join(cells))
    return "\n".join(lines)


def cmd_train(args) -> None:
    from .pipeline import train_bundle

    config = config_from_args(args)
    path = train_bundle(args.dataset, config, out=args.out,
                        progress=_tqdm_progress(f"K={config.interest_num}"))
    metrics = json.loads((path / "metrics.json").read_text())
    print(_table({f"MIND K={config.interest_num}": metrics["test"],
                  "most popular": metrics["baselines"]["popularity"]}))
    print(f"bundle: {path}  ({metrics['train_seconds']:.1f}s, best epoch {metrics['best_epoch']})")


def _bundle_and_data(path):
    from .bundle import load_bundle
    from .pipeline import load_data

    bundle = load_bundle(path)
    data = load_data(bundle.meta["dataset"], bundle.config.max_length)
    from .bundle import check_fingerprint

    check_fingerprint(bundle, data.encoded)
    return bundle, data


def cmd_evaluate(args) -> None:
    from .pipeline import report

    bundle, data = _bundle_and_data(args.bundle)
    rows = report(bundle, data)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(_table(rows))


def cmd_export_embeddings(args) -> None:
    from .pipeline import export_embeddings

    bundle, data = _bundle_and_data(args.bundle)
    out = export_embeddings(bundle, data, Path(args.outdir))
    print(f"wrote items.npy, item_ids.json, user_interests.npy, user_active.npy, user_ids.json, "
          f"targets.json to {out}")


def ensure_bundle(dataset: str, config: MINDConfig, progress=None):
    """The bundle for ``config`` on ``dataset``: loaded if already built, trained if not."""
    from .bundle import default_bundle_path, load_bundle
    from .errors import BundleError
    from .pipeline import load_data, train_bundle

    data = load_data(dataset, config.max_length)
    path = default_bundle_path(config, data.encoded.name)
    try:
        return load_bundle(path, data.encoded), False
    except BundleError:
        train_bundle(dataset, config, out=path, progress=progress)
        return load_bundle(path, data.encoded), True


def cmd_sweep(args) -> None:
    from .bundle import artifacts_dir
    from .pipeline import evaluate_bundle, load_data

    base = config_from_args(args)
    data = load_data(args.dataset, base.max_length)
    per_k: dict[int, list[dict]] = {}
    for k in args.interest_num_list:
        for seed in args.seeds:
            config = replace(base, interest_num=k, seed=seed)
            bundle, trained = ensure_bundle(args.dataset, config,
                                            _tqdm_progress(f"K={k} seed={seed}"))
            metrics = evaluate_bundle(bundle, data)
            metrics["train_seconds"] = json.loads(
                (bundle.path / "metrics.json").read_text())["train_seconds"]
            per_k.setdefault(k, []).append(metrics)
            print(f"K={k} seed={seed}: {'trained' if trained else 'reused'} {bundle.path.name}  "
                  f"HR@50 {metrics['HR@50']:.4f}")
    from .evaluate import evaluate_popularity

    summary = {}
    for k, runs in per_k.items():
        summary[f"MIND K={k}"] = {
            m: {"mean": statistics.fmean(r[m] for r in runs),
                "spread": statistics.pstdev(r[m] for r in runs) if len(runs) > 1 else 0.0}
            for m in [*METRIC_ORDER, "train_seconds"]}
    pop = evaluate_popularity(data.encoded, data.split, "test")
    table_rows = {name: {m: f"{v['mean']:.4f}±{v['spread']:.3f}" for m, v in s.items()}
                  for name, s in summary.items()}
    table_rows["most popular"] = pop
    print(_table(table_rows))
    out = Path(args.out) if args.out else artifacts_dir(data.encoded.name) / "sweep.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dataset": data.encoded.name, "seeds": args.seeds,
                               "config": base.to_dict(), "results": summary,
                               "popularity": pop}, indent=2))
    print(f"wrote {out}")


def cmd_build_defaults(args) -> None:
    """The models the app needs (K = 1, 2, 4, 8 at the default configuration)."""
    base = config_from_args(args)
    for k in args.interest_num_list:
        config = replace(base, interest_num=k)
        bundle, trained = ensure_bundle(args.dataset, config, _tqdm_progress(f"K={k}"))
        print(f"K={k}: {'built' if trained else 'ready'} {bundle.path}")


def add_commands(sub) -> None:
    t = sub.add_parser("train", help="train a MIND and write a bundle")
    t.add_argument("--dataset", default="ml-100k")
    t.add_argument("--out", help="bundle folder (default data/artifacts/<dataset>/<name>)")
    _add_config_options(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="metrics of a bundle against the baselines")
    e.add_argument("bundle")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("sweep", help="train what is missing over interest_num and seeds")
    s.add_argument("--dataset", default="ml-100k")
    s.add_argument("--interest-num", dest="interest_num_list", type=int, nargs="+",
                   default=[1, 2, 4, 8])
    s.add_argument("--seeds", type=int, nargs="+", default=[0])
    s.add_argument("--out", help="JSON file (default data/artifacts/<dataset>/sweep.json)")
    _add_config_options(s, skip=("interest_num", "seed"))
    s.set_defaults(func=cmd_sweep)

    x = sub.add_parser("export-embeddings", help="vectors and targets as .npy/.json")
    x.add_argument("bundle")
    x.add_argument("outdir")
    x.set_defaults(func=cmd_export_embeddings)

    d = sub.add_parser("build-defaults", help="build the app's default models if missing")
    d.add_argument("--dataset", default="ml-100k")
    d.add_argument("--interest-num", dest="interest_num_list", type=int, nargs="+",
                   default=[1, 2, 4, 8])
    _add_config_options(d, skip=("interest_num",))
    d.set_defaults(func=cmd_build_defaults)

    try:
        from .cli_serving import add_commands as add_serving
    except ImportError:
        return
    add_serving(sub)
