"""Data commands of the ``mind-core`` CLI: ``data fetch``, ``data info``, ``data synth``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mind_core.data import fetch
from mind_core.data.fetch import KNOWN, resolve_dataset_path
from mind_core.data.readers import read_dataset
from mind_core.data.synth import generate
from mind_core.errors import DataError
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


def cmd_data_synth(args) -> None:
    def progress(event, info):
        if not args.quiet:
            print(f"  {info['ratings']:,} ratings, {info['users']:,} of {info['of']:,} users",
                  file=sys.stderr, flush=True)

    try:
        summary = generate(args.out, args.users, args.items, args.ratings, seed=args.seed,
                           clusters=args.clusters, stickiness=args.stickiness, progress=progress)
    except ValueError as e:
        raise DataError(args.out, str(e)) from None
    if args.json:
        _print_json(summary)
    else:
        print(f"{summary['ratings']:,} ratings by {summary['users']:,} users of "
              f"{summary['items']:,} movies in {summary['path']} ({summary['seconds']} s)")


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
    s = data_sub.add_parser("synth", help="write a synthetic dataset in the ml-25m layout "
                            "(ratings.csv, movies.csv): users mixing a few taste clusters")
    s.add_argument("--users", type=int, required=True)
    s.add_argument("--items", type=int, required=True)
    s.add_argument("--ratings", type=int, required=True)
    s.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
    s.add_argument("--clusters", type=int,
                   help="taste clusters, named after genres (default 8, at most 19)")
    s.add_argument("--stickiness", type=float, default=0.7,
                   help="chance a rating stays in the previous one's cluster (default 0.7)")
    s.add_argument("--out", required=True, help="folder to write (replaced if it exists)")
    s.add_argument("--json", action="store_true", help="print a JSON summary")
    s.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    s.set_defaults(func=cmd_data_synth)
