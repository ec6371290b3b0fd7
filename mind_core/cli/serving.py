"""Serving commands of the ``mind-core`` CLI: recommend, export-onnx, build-index.

``recommend --backend`` takes any of :data:`mind_core.serving.BACKENDS` (annoy, exact,
faiss)."""

from __future__ import annotations

import json
from pathlib import Path

from mind_core.cli.common import bundle_and_data
from mind_core.errors import DataError
from mind_core.serving import BACKENDS, FAISS_KINDS, MERGE_STRATEGIES, recommend
from mind_core.serving.files import rebuild_serving_files
from mind_core.serving.onnx_export import export_onnx


def user_row_of(data, raw_id) -> int:
    """The row of raw user id ``raw_id``; a DataError naming the valid range if unknown."""
    enc = data.encoded
    try:
        return enc.user_row(int(raw_id))
    except (KeyError, ValueError):
        raise DataError(enc.name, f"unknown user {raw_id!r}: this dataset has {enc.n_users} "
                        f"users with ids {enc.user_ids.min()}..{enc.user_ids.max()}") from None


def recommendation_json(bundle, data, rec) -> dict:
    """The ``--json`` object: raw ids, titles and scores; ``per_interest`` holds one list per
    active interest (in interest order, so list k is interest k), ``merged`` names the interest
    each item came from."""
    enc = data.encoded

    def item(code, score):
        return {"item": int(enc.item_ids[code]), "title": enc.titles[code],
                "score": round(float(score), 6)}

    return {
        "user": int(enc.user_ids[rec.user_row]),
        "per_interest": [[item(c, s) for c, s in lst]
                         for k, lst in enumerate(rec.per_interest) if rec.active[k]],
        "merged": [{**item(c, s), "interest": int(k)} for c, s, k in rec.merged],
    }


def cmd_recommend(args) -> None:
    bundle, data = bundle_and_data(args.bundle)
    row = user_row_of(data, args.user)
    rec = recommend(bundle, data, row, n=args.n, merge=args.merge, backend=args.backend,
                    lam=args.lam)
    if args.json:
        print(json.dumps(recommendation_json(bundle, data, rec), indent=2, ensure_ascii=False))
        return
    enc = data.encoded
    print(f"user {args.user}: {len(rec.history)} movies seen, {int(rec.active.sum())} of "
          f"{len(rec.active)} interests active ({rec.backend} search, merge {rec.strategy})")
    for k, lst in enumerate(rec.per_interest):
        if not rec.active[k]:
            continue
        print(f"\ninterest {k}")
        for rank, (code, score) in enumerate(lst, 1):
            print(f"  {rank:>3}. {score:8.4f}  {enc.titles[code]}  [{enc.item_ids[code]}]")
    print(f"\nmerged ({rec.strategy})")
    for rank, (code, score, k) in enumerate(rec.merged, 1):
        print(f"  {rank:>3}. {score:8.4f}  k={k}  {enc.titles[code]}  [{enc.item_ids[code]}]")


def cmd_export_onnx(args) -> None:
    bundle, data = bundle_and_data(args.bundle)
    paths = export_onnx(bundle, data, Path(args.outdir))
    for p in paths.values():
        print(f"wrote {p}")


def cmd_build_index(args) -> None:
    bundle, data = bundle_and_data(args.bundle)
    kwargs = {"projection": not args.no_projection}
    if args.n_trees is not None:
        kwargs["n_trees"] = args.n_trees
    if args.faiss is not None:
        kwargs["faiss"] = None if args.faiss == "none" else args.faiss
    record = rebuild_serving_files(
        bundle, data, progress=lambda event, info: print(info.get("message", event)), **kwargs)
    print(json.dumps(record, indent=2))


def add_commands(sub) -> None:
    r = sub.add_parser("recommend", help="per-interest and merged recommendations for a user")
    r.add_argument("bundle")
    r.add_argument("--user", required=True, help="raw user id as in the dataset")
    r.add_argument("--n", type=int, default=10, help="items per list (default 10)")
    r.add_argument("--merge", choices=MERGE_STRATEGIES, default="max_score")
    r.add_argument("--lam", type=float, default=0.5,
                   help="genre penalty of --merge diverse (default 0.5)")
    r.add_argument("--backend", choices=BACKENDS, default="annoy")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(func=cmd_recommend)

    o = sub.add_parser("export-onnx", help="write user_tower.onnx and item_tower.onnx")
    o.add_argument("bundle")
    o.add_argument("outdir")
    o.set_defaults(func=cmd_export_onnx)

    b = sub.add_parser("build-index", help="(re)build a bundle's Annoy index and UMAP projection "
                       "(and FAISS index)")
    b.add_argument("bundle")
    b.add_argument("--n-trees", type=int, help="Annoy trees (default 20)")
    b.add_argument("--faiss", choices=[*FAISS_KINDS, "none"],
                   help="also store items.faiss: an HNSW graph or an IVF-PQ index (default: "
                        "HNSW past 100,000 items; below that --backend faiss builds HNSW "
                        "in memory when loaded)")
    b.add_argument("--no-projection", action="store_true", help="skip the UMAP projection")
    b.set_defaults(func=cmd_build_index)
