"""Data commands of the ``mind-core`` CLI: ``data fetch``, ``data info``, ``data synth``."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from mind_core.data import fetch
from mind_core.data.fetch import KNOWN, resolve_dataset_path
from mind_core.data.readers import read_dataset
from mind_core.data.synth import generate
from mind_core.data.tastes import PRESETS, generate_tastes, parse_range
from mind_core.errors import DataError, UsageError
from mind_core.features.encoding import encode
from mind_core.features.split import build_split


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


# --- data -------------------------------------------------------------------------------------

def cmd_data_fetch(args) -> None:
    dest = fetch.data_dir() / args.name
    if args.source_path:
        path = fetch.fetch_from_local(Path(args.source_path), dest)
    elif args.name == "ml-100k" and args.source == "index":
        path = fetch.fetch_ml100k_from_index(dest)
    else:
        path = fetch.fetch_grouplens(args.name, dest, base_url=args.base_url)
    print(f"{args.name}: ready in {path}")


def dataset_summary(name_or_path) -> dict:
    ds = read_dataset(resolve_dataset_path(name_or_path))
    enc = encode(ds)
    split = build_split(enc, max_length=1)
    return {
        "name": ds.name, "users": enc.n_users, "items": enc.n_items - 1,
        "interactions": len(ds.interactions), "fingerprint": enc.fingerprint,
        "has_profile": ds.has_profile,
        "evaluated_users": len(split.test.users),
        "unevaluated_users": split.n_unevaluated_users,
        "training_samples": len(split.train_labels),
        "genres": sorted({g for gs in ds.items["genres"] for g in gs}),
    }


def cmd_data_info(args) -> None:
    info = dataset_summary(args.dataset)
    if args.json:
        _print_json(info)
        return
    for key, value in info.items():
        print(f"{key:>18}: {', '.join(value) if isinstance(value, list) else value}")


def _taste_config(args):
    """The taste-mixture knobs: the preset's (``tastes`` unless ``--preset`` names another),
    overridden by whichever flags were given."""
    if args.ratings is not None:
        raise UsageError("--ratings: a taste-mixture dataset takes its size from --users and "
                         "--history (ratings per user, MIN-MAX); drop --ratings")
    changes = {name: getattr(args, name) for name in
               ("users", "items", "clusters", "stickiness", "stray")
               if getattr(args, name) is not None}
    try:
        for name in ("tastes", "history"):
            if getattr(args, name) is not None:
                changes[name] = parse_range(getattr(args, name), f"--{name}")
        config = dataclasses.replace(PRESETS[args.preset or "tastes"], seed=args.seed, **changes)
        config.check()
    except ValueError as e:
        raise UsageError(f"data synth: {e}") from None
    return config


def cmd_data_synth(args) -> None:
    def progress(event, info):
        if not args.quiet:
            print(f"  {info['ratings']:,} ratings, {info['users']:,} of {info['of']:,} users",
                  file=sys.stderr, flush=True)

    tastes = any(getattr(args, name) is not None
                 for name in ("preset", "tastes", "history", "stray"))
    if tastes:
        summary = generate_tastes(args.out, _taste_config(args), progress=progress)
    else:
        missing = [f"--{name}" for name in ("users", "items", "ratings")
                   if getattr(args, name) is None]
        if missing:
            raise UsageError(f"data synth needs {', '.join(missing)} (or --preset tastes for "
                             "a taste-mixture dataset with known tastes)")
        stickiness = 0.7 if args.stickiness is None else args.stickiness
        try:
            summary = generate(args.out, args.users, args.items, args.ratings, seed=args.seed,
                               clusters=args.clusters, stickiness=stickiness,
                               progress=progress)
        except ValueError as e:
            raise DataError(args.out, str(e)) from None
    if args.json:
        _print_json(summary)
        return
    print(f"{summary['ratings']:,} ratings by {summary['users']:,} users of "
          f"{summary['items']:,} movies in {summary['path']} ({summary['seconds']} s)")
    if tastes:
        k = summary["knobs"]
        print(f"truth in {summary['truth']}: {k['clusters']} clusters, "
              f"{k['tastes'][0]}-{k['tastes'][1]} tastes per user, stickiness "
              f"{k['stickiness']}, stray share {summary['stray_share']:.3f}")


def add_commands(sub) -> None:
    data = sub.add_parser("data", help="fetch and inspect datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    f = data_sub.add_parser("fetch", help="fetch a MovieLens dataset into data/")
    f.add_argument("name", choices=KNOWN)
    f.add_argument("--source", choices=["index", "grouplens"], default="index",
                   help="ml-100k: from the recbole wheel on the package index (default) or "
                        "GroupLens; every other dataset comes from GroupLens")
    f.add_argument("--from", dest="source_path", metavar="PATH",
                   help="install from a local recbole wheel, zip or folder instead")
    f.add_argument("--base-url", help="GroupLens mirror (default: files.grouplens.org)")
    f.set_defaults(func=cmd_data_fetch)
    i = data_sub.add_parser("info", help="counts of a dataset")
    i.add_argument("dataset", help=f"{', '.join(KNOWN)} or a folder/.zip/.csv path")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_data_info)
    s = data_sub.add_parser(
        "synth", help="write a synthetic dataset in the ml-25m layout (ratings.csv, movies.csv): "
        "users mixing a few taste clusters; with --preset tastes (or any taste flag), users "
        "with known tastes and a truth.json that records them")
    s.add_argument("--users", type=int,
                   help="users (required without --preset; taste mixture: 2,500 by default)")
    s.add_argument("--items", type=int,
                   help="movies (required without --preset; taste mixture: 2,700 by default)")
    s.add_argument("--ratings", type=int,
                   help="total ratings (required without --preset; not for a taste mixture)")
    s.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
    s.add_argument("--clusters", type=int,
                   help="taste clusters, named after genres (default 8, at most 19; taste "
                        "mixture: 18)")
    s.add_argument("--stickiness", type=float,
                   help="chance a rating stays in the previous one's cluster (default 0.7; "
                        "taste mixture: 0.8)")
    t = s.add_argument_group(
        "taste mixture", "users with a known set of tastes, written to truth.json beside the "
        "CSVs. Any of these flags selects it; knobs not given come from the preset")
    t.add_argument("--preset", choices=sorted(PRESETS),
                   help="named knobs: tastes = 2,500 users, 2,700 movies in 18 clusters, "
                        "2-4 tastes per user, 40-150 ratings each, stickiness 0.8, stray 0.05")
    t.add_argument("--tastes", metavar="MIN-MAX",
                   help="tastes per user, a count or a range (default 2-4)")
    t.add_argument("--history", metavar="MIN-MAX",
                   help="ratings per user, a count or a range (default 40-150)")
    t.add_argument("--stray", type=float,
                   help="chance a rating is from a cluster outside the user's tastes "
                        "(default 0.05)")
    s.add_argument("--out", required=True, help="folder to write (replaced if it exists)")
    s.add_argument("--json", action="store_true", help="print a JSON summary")
    s.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    s.set_defaults(func=cmd_data_synth)
