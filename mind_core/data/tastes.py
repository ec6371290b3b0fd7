"""A taste-mixture dataset with its ground truth: the positive control for multi-interest models.

On MovieLens nobody knows a user's tastes, so whether MIND's interests *find* them cannot be
checked, and a verdict of "no difference between K" cannot be told apart from a test that
cannot see one. Here the tastes are drawn, then written down:
``mind-core data synth --preset tastes --out data/tastes`` (or :func:`generate_tastes`) writes
the ml-25m layout (``ratings.csv``, ``movies.csv``) plus ``truth.json``, which says which tastes
each user has and which cluster each movie is in; :func:`load_truth` reads it back and
:mod:`mind_core.evaluation.tastes` scores a model's interests against it.

What it looks like:

- **Movies** fall into ``clusters`` clusters of equal size (within one), each named after a
  MovieLens genre, and carry that one genre, so MIND's genre embeddings see the cluster.
  Popularity within a cluster is log-normal (a few hits, a long tail). Titles are
  ``<Genre> movie <id> (<year>)``.
- **Users** each have a number of tastes drawn uniformly from the ``tastes`` range: that many
  distinct clusters, uniformly chosen. A history of a length drawn uniformly from the
  ``history`` range moves between the user's tastes as a sticky Markov chain: the first
  rating's taste is uniform; each next one stays in the current taste with probability
  ``stickiness``, else moves to one of the user's *other* tastes, uniformly (so ``stickiness``
  is exactly the chance to stay). With probability ``stray`` a rating is instead a movie of a
  random cluster outside the user's tastes; the chain goes on underneath. Within a cluster a
  user picks movies by popularity and never one twice (Gumbel top-k: a popularity-weighted
  sample without replacement in one vectorized step), in random order over time.
- **Timestamps** strictly increase within each user, within 1995-2019; the file is sorted by
  user, then time. **Ratings** are half stars from an item quality, a user bias and noise.

``truth.json`` holds the knobs, the cluster names, every movie's cluster, every user's tastes,
the realized stray share and the sha256 of ``ratings.csv``, so a truth never silently describes
other ratings. The readers never open it: they choose the layout from ``ratings.csv`` and
``movies.csv``. JSON, never pickle: a dataset someone sends you cannot run code.

Every draw comes from numpy generators seeded from ``seed`` (the movies, the users, then one
per block of users), so the same knobs give the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mind_core.data.declaration import declared_protocol, write_declaration
from mind_core.data.fetch import data_dir, resolve_dataset_path
from mind_core.data.synth import GENRES, T_END, T_START, csv_rows, install_folder
from mind_core.errors import DataError

TRUTH_FILE = "truth.json"
# The benchmark's own protocol (mind_core.data.declaration), the one thing a dataset declares.
PROTOCOL_WHY = ("a user keeps several tastes over time; the targets are the last 20% of their "
                "ratings, so every taste they keep has targets to hit")
TRUTH_FORMAT = "mind-core taste truth"
TRUTH_VERSION = 1
BLOCK_CELLS = 4_000_000  # (user-cluster group, movie) cells of the Gumbel draw per block
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class TastesConfig:
    """The knobs of a taste-mixture dataset; ranges are inclusive ``(min, max)`` pairs.
    The defaults are the ``tastes`` preset: small enough that a K = 1, 2, 4, 8 sweep trains
    in minutes on two cores, large enough that several interests can pay."""

    users: int = 2_500
    items: int = 2_700
    clusters: int = 18
    tastes: tuple[int, int] = (2, 4)  # tastes per user
    history: tuple[int, int] = (40, 150)  # ratings per user
    stickiness: float = 0.8  # chance the next rating stays in the current taste
    stray: float = 0.05  # chance a rating is from a cluster outside the user's tastes
    seed: int = 0

    def check(self) -> None:
        """Raise a ValueError naming the knob and what it accepts."""
        _integer("users", self.users, 1)
        _integer("items", self.items, 1)
        _integer("seed", self.seed, 0)
        _integer("clusters", self.clusters, 1)
        most = min(len(GENRES), self.items)
        if self.clusters > most:
            raise ValueError(f"clusters: expected 1 to {most} (one MovieLens genre each and at "
                             f"least one movie each), found {self.clusters}")
        lo, hi = _pair("tastes", self.tastes)
        if hi > self.clusters:
            raise ValueError(f"tastes: a user's tastes are distinct clusters, so at most "
                             f"clusters = {self.clusters}; found {lo}-{hi}")
        size = self.items // self.clusters
        lo_h, hi_h = _pair("history", self.history)
        if hi_h > size:
            raise ValueError(
                f"history: at most {size} ratings per user (items // clusters = {self.items} "
                f"// {self.clusters}): a user rates a movie once and may stay in one taste for "
                f"a whole history; found {lo_h}-{hi_h}. Raise items or lower history")
        _probability("stickiness", self.stickiness, closed=True)
        _probability("stray", self.stray, closed=False)
        if self.stray > 0 and hi == self.clusters:
            raise ValueError(f"stray: a stray rating comes from a cluster outside the user's "
                             f"tastes, but tastes per user reach all {self.clusters} clusters; "
                             f"lower the tastes maximum or set stray to 0")

    def knobs(self) -> dict:
        """JSON-ready knobs (ranges as lists)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}

    @classmethod
    def from_knobs(cls, knobs: dict) -> TastesConfig:
        """The inverse of :meth:`knobs`; unknown names raise a ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(knobs) - names)
        if unknown:
            raise ValueError(f"unknown knob(s) {', '.join(unknown)}; expected "
                             f"{', '.join(sorted(names))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in knobs.items()})


TASTES = TastesConfig()
PRESETS = {"tastes": TASTES}
# The playground's starting knobs: a quarter of the preset's ratings, so that K = 1 and 4 over
# two seeds train in a few minutes in the app's background process.
PLAYGROUND = TastesConfig(users=1_000, items=1_200, clusters=12, history=(30, 90))


def dataset_name(config: TastesConfig) -> str:
    """The data folder's name for a taste mixture: ``tastes`` for the preset, else
    ``tastes-<hash of the knobs>``, so the same knobs always name the same dataset (and its
    models are found again instead of retrained)."""
    if config == TASTES:
        return "tastes"
    digest = hashlib.sha256(json.dumps(config.knobs(), sort_keys=True).encode()).hexdigest()
    return f"tastes-{digest[:8]}"


def ensure_tastes(config: TastesConfig, root: Path | None = None, progress=None) -> Path:
    """The folder of the taste mixture ``config`` under the data folder (or ``root``): reused
    when its truth records these knobs, generated otherwise."""
    path = Path(root or data_dir()) / dataset_name(config)
    if (path / TRUTH_FILE).is_file():
        try:
            if load_truth(path, verify=False).config == config:
                if declared_protocol(path) is None:  # written before datasets declared it
                    write_declaration(path, "future", PROTOCOL_WHY)
                return path
        except DataError:
            pass  # damaged: written again below
    generate_tastes(path, config, progress)
    return path


def taste_datasets(root: Path | None = None) -> list[tuple[str, TastesConfig]]:
    """The taste mixtures in the data folder (or ``root``), by name, with their knobs."""
    root = Path(root or data_dir())
    out = []
    for truth in sorted(root.glob(f"*/{TRUTH_FILE}")):
        try:
            out.append((truth.parent.name, load_truth(truth.parent, verify=False).config))
        except DataError:
            continue
    return out


def _integer(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, found {value!r}")


def _pair(name: str, value) -> tuple[int, int]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{name}: expected a (min, max) range such as (2, 4), found {value!r}")
    lo, hi = value
    _integer(f"{name} minimum", lo, 1)
    _integer(f"{name} maximum", hi, 1)
    if lo > hi:
        raise ValueError(f"{name}: the minimum {lo} is above the maximum {hi}")
    return int(lo), int(hi)


def _probability(name: str, value, closed: bool) -> None:
    number = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if not (number and math.isfinite(value)
            and (0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0)):
        raise ValueError(f"{name}: expected a probability in [0, 1{']' if closed else ')'}, "
                         f"found {value!r}")


def parse_range(text: str, name: str) -> tuple[int, int]:
    """``"2-4"`` -> (2, 4); ``"3"`` -> (3, 3). The command line's form of a range knob."""
    m = _RANGE.match(str(text))
    if not m:
        raise ValueError(f"{name}: expected a count or a range MIN-MAX such as 2-4, "
                         f"found {text!r}")
    lo = int(m.group(1))
    return lo, int(m.group(2)) if m.group(2) is not None else lo


# --- the generator ----------------------------------------------------------------------------

def _movies(cfg: TastesConfig, rng: np.random.Generator):
    """cluster (I,), popularity (I,), quality (I,) and the movies.csv frame."""
    n, c = cfg.items, cfg.clusters
    cluster = rng.permutation(np.arange(n) % c)  # equal sizes, within one
    popularity = rng.lognormal(0.0, 1.0, n)
    quality = rng.normal(0.0, 0.5, n)
    years = rng.integers(1920, 2020, n)
    names = np.array(GENRES[:c], dtype=object)
    ids = np.arange(1, n + 1)
    titles = [f"{g} movie {i} ({y})" for g, i, y in zip(names[cluster], ids, years, strict=True)]
    movies = pd.DataFrame({"movieId": ids, "title": titles, "genres": names[cluster]})
    return cluster, popularity, quality, movies


def _members(cluster: np.ndarray, popularity: np.ndarray, n_clusters: int):
    """(C, S) movie indices of each cluster, -1-padded, and their log popularity (-inf pads)."""
    order = np.argsort(cluster, kind="stable")
    sizes = np.bincount(cluster, minlength=n_clusters)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    members = np.full((n_clusters, sizes.max()), -1, dtype=np.int64)
    members[cluster[order], np.arange(len(order)) - starts[cluster[order]]] = order
    log_pop = np.where(members >= 0, np.log(popularity[np.maximum(members, 0)]), -np.inf)
    return members, log_pop


@dataclass
class _Users:
    n_tastes: np.ndarray  # (U,)
    perm: np.ndarray  # (U, C) int8: a user's tastes are perm[u, :n], the other clusters after
    lengths: np.ndarray  # (U,) ratings per user
    bias: np.ndarray  # (U,)
    starts: np.ndarray  # (U,) first possible timestamp
    spans: np.ndarray  # (U,) seconds the history spans

    def tastes(self, u: int) -> list[int]:
        return sorted(int(c) for c in self.perm[u, :self.n_tastes[u]])


def _draw_users(cfg: TastesConfig, rng: np.random.Generator) -> _Users:
    U = cfg.users
    n_tastes = rng.integers(cfg.tastes[0], cfg.tastes[1] + 1, U)
    perm = np.argsort(rng.random((U, cfg.clusters)), axis=1).astype(np.int8)
    lengths = rng.integers(cfg.history[0], cfg.history[1] + 1, U)
    bias = rng.normal(0.0, 0.4, U)
    spans = rng.integers(86_400, 5 * 365 * 86_400, U)
    starts = T_START + (rng.random(U) * (T_END - T_START - spans - lengths)).astype(np.int64)
    return _Users(n_tastes, perm, lengths, bias, starts, spans)


def _segment_cumsum(values: np.ndarray, offsets: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each segment (offsets: each segment's first index)."""
    cum = np.cumsum(values)
    return cum - np.repeat(cum[offsets] - values[offsets], counts)


def _block(cfg, lo, hi, users: _Users, members, log_pop, quality):
    """ratings.csv lines of users lo..hi-1 (sorted by user, then time) and their stray count."""
    rng = np.random.default_rng([cfg.seed, 3, lo])
    C = cfg.clusters
    n_u = users.lengths[lo:hi]
    n_t = users.n_tastes[lo:hi]
    who = np.repeat(np.arange(hi - lo), n_u)  # local user of each rating
    N = len(who)
    offsets = np.concatenate([[0], np.cumsum(n_u)[:-1]])
    nt = n_t[who]

    # the sticky chain, as jumps along the user's tastes (mod n): 0 stays, 1..n-1 moves on
    move = rng.random(N) >= cfg.stickiness
    step = 1 + np.floor(rng.random(N) * (nt - 1)).astype(np.int64)
    jump = np.where(move, step, 0)
    jump[offsets] = np.floor(rng.random(hi - lo) * n_t).astype(np.int64)  # the first taste
    state = _segment_cumsum(jump, offsets, n_u) % nt
    taste = users.perm[lo + who, state]
    stray = rng.random(N) < cfg.stray
    other = np.minimum(nt + np.floor(rng.random(N) * (C - nt)).astype(np.int64), C - 1)
    cluster = np.where(stray, users.perm[lo + who, other], taste).astype(np.int64)

    # one group per (user, cluster): its k ratings get k distinct movies of the cluster, by
    # Gumbel top-k (the k largest log-popularity + Gumbel noise), spread over them at random
    key = who * C + cluster
    order = np.argsort(key, kind="stable")  # ratings grouped, in time order within a group
    group_key, group_start, group_size = np.unique(key[order], return_index=True,
                                                   return_counts=True)
    group_cluster = group_key % C
    score = -(log_pop[group_cluster] + rng.gumbel(size=(len(group_key), members.shape[1])))
    k_max = int(group_size.max())
    top = np.argpartition(score, k_max - 1, axis=1)[:, :k_max]  # the k_max best, unordered
    top = np.take_along_axis(top, np.argsort(np.take_along_axis(score, top, 1), axis=1,
                                             kind="stable"), 1)  # best first
    group = np.repeat(np.arange(len(group_key)), group_size)
    occurrence = np.arange(N) - np.repeat(group_start, group_size)
    shuffled = np.lexsort((rng.random(N), group))  # a random order within each group
    items = np.empty(N, dtype=np.int64)
    items[order[shuffled]] = members[group_cluster[group], top[group, occurrence]]

    # strictly increasing per user: exponential gaps scaled into the user's span, plus rank
    rank_in_user = np.arange(N) - np.repeat(offsets, n_u)
    cum = _segment_cumsum(rng.exponential(1.0, N), offsets, n_u)
    total = cum[offsets + n_u - 1][who]
    u = lo + who
    times = users.starts[u] + np.floor(users.spans[u] * (cum / total)).astype(np.int64)
    times += rank_in_user
    stars = 3.5 + quality[items] + users.bias[u] + rng.normal(0.0, 0.8, N)
    half_stars = np.clip(np.round(stars * 2), 1, 10).astype(np.int64)  # 0.5 .. 5.0
    return csv_rows(u + 1, items + 1, half_stars, times), int(stray.sum())


def generate_tastes(out, config: TastesConfig = TASTES, progress=None) -> dict:
    """Write ``ratings.csv``, ``movies.csv`` and ``truth.json`` into the folder ``out``
    (written to a temporary folder beside it, then renamed into place). Returns a summary.
    ``progress(event, info)`` gets ("block", {"users": done, "of": U, "ratings": written})."""
    cfg = config
    cfg.check()
    t0 = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cluster, popularity, quality, movies = _movies(cfg, np.random.default_rng([cfg.seed, 2, 0]))
    members, log_pop = _members(cluster, popularity, cfg.clusters)
    users = _draw_users(cfg, np.random.default_rng([cfg.seed, 2, 1]))
    per_user = members.shape[1] * min(cfg.clusters, cfg.history[1])  # cells, at most
    step = max(1, BLOCK_CELLS // per_user)

    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        movies.to_csv(tmp / "movies.csv", index=False)
        written = strays = 0
        digest = hashlib.sha256()
        with open(tmp / "ratings.csv", "wb") as f:
            header = b"userId,movieId,rating,timestamp\n"
            f.write(header)
            digest.update(header)
            for lo in range(0, cfg.users, step):
                hi = min(cfg.users, lo + step)
                text, n_stray = _block(cfg, lo, hi, users, members, log_pop, quality)
                f.write(text)
                digest.update(text)
                written += text.count(b"\n")
                strays += n_stray
                if progress:
                    progress("block", {"users": hi, "of": cfg.users, "ratings": written})
        truth = {
            "format": TRUTH_FORMAT, "version": TRUTH_VERSION, "knobs": cfg.knobs(),
            "clusters": GENRES[:cfg.clusters],
            "movies": {"ids": list(range(1, cfg.items + 1)), "clusters": cluster.tolist()},
            "users": {"ids": list(range(1, cfg.users + 1)),
                      "tastes": [users.tastes(u) for u in range(cfg.users)]},
            "ratings": written, "stray_share": round(strays / written, 6),
            "ratings_sha256": digest.hexdigest(),
        }
        (tmp / TRUTH_FILE).write_text(json.dumps(truth, separators=(",", ":")) + "\n")
        write_declaration(tmp, "future", PROTOCOL_WHY)
        install_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"path": str(out), "users": cfg.users, "items": cfg.items, "ratings": written,
            "seed": cfg.seed, "clusters": cfg.clusters, "knobs": cfg.knobs(),
            "stray_share": truth["stray_share"], "truth": str(out / TRUTH_FILE),
            "seconds": round(time.perf_counter() - t0, 2),
            "bytes": sum(os.path.getsize(out / f)
                         for f in ("ratings.csv", "movies.csv", TRUTH_FILE))}


# --- the truth, read back ---------------------------------------------------------------------

@dataclass(frozen=True)
class Truth:
    """What a taste-mixture dataset's users really like, by raw ids (as in the CSV files)."""

    clusters: list[str]  # cluster id -> its genre name
    user_tastes: dict[int, tuple[int, ...]]  # raw user id -> sorted taste cluster ids
    item_cluster: dict[int, int]  # raw movie id -> cluster id
    config: TastesConfig  # the knobs that wrote it
    stray_share: float  # share of ratings outside the user's tastes, as written
    path: str  # the truth.json it came from

    @property
    def knobs(self) -> dict:
        return self.config.knobs()


def truth_path(dataset) -> Path:
    """Where a dataset's truth file is (it may not exist): ``dataset`` is a name in the data
    folder, a dataset folder, its ``ratings.csv`` or the truth file itself."""
    path = resolve_dataset_path(dataset)
    if path.is_file():
        return path if path.name == TRUTH_FILE else path.parent / TRUTH_FILE
    return path / TRUTH_FILE


def has_truth(dataset) -> bool:
    """Whether a dataset carries a taste truth (False for an unknown dataset too)."""
    try:
        return truth_path(dataset).is_file()
    except DataError:
        return False


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _int_list(doc: dict, section: str, key: str, path: Path) -> list[int]:
    value = doc.get(section, {}).get(key) if isinstance(doc.get(section), dict) else None
    if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise DataError(path, f"field '{section}.{key}': expected a list of integers")
    return value


def load_truth(dataset, verify: bool = True) -> Truth:
    """Read a taste-mixture dataset's ``truth.json`` (see :func:`truth_path` for ``dataset``).
    With ``verify``, refuse a truth whose ``ratings.csv`` has changed since it was written.
    A missing or malformed file raises a DataError naming the file and the field."""
    path = truth_path(dataset)
    if not path.is_file():
        raise DataError(path, "no taste truth here: only a taste-mixture dataset has one "
                        "(write it with `mind-core data synth --preset tastes --out DIR`)")
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(path, f"not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != TRUTH_FORMAT:
        raise DataError(path, f"field 'format': expected {TRUTH_FORMAT!r}")
    if doc.get("version") != TRUTH_VERSION:
        raise DataError(path, f"field 'version': expected {TRUTH_VERSION}, found "
                        f"{doc.get('version')!r}")
    clusters = doc.get("clusters")
    if not isinstance(clusters, list) or not clusters or not all(
            isinstance(c, str) for c in clusters):
        raise DataError(path, "field 'clusters': expected a non-empty list of names")
    try:
        config = TastesConfig.from_knobs(doc.get("knobs"))
        config.check()
    except (TypeError, ValueError) as e:
        raise DataError(path, f"field 'knobs': {e}") from None
    movie_ids = _int_list(doc, "movies", "ids", path)
    movie_clusters = _int_list(doc, "movies", "clusters", path)
    user_ids = _int_list(doc, "users", "ids", path)
    tastes = doc["users"].get("tastes")
    if len(movie_ids) != len(movie_clusters):
        raise DataError(path, f"fields 'movies.ids' and 'movies.clusters': expected equal "
                        f"lengths, found {len(movie_ids)} and {len(movie_clusters)}")
    if not all(0 <= c < len(clusters) for c in movie_clusters):
        raise DataError(path, f"field 'movies.clusters': expected cluster ids 0 to "
                        f"{len(clusters) - 1}")
    if not isinstance(tastes, list) or len(tastes) != len(user_ids) or not all(
            isinstance(t, list) and t and len(set(t)) == len(t)
            and all(isinstance(c, int) and 0 <= c < len(clusters) for c in t) for t in tastes):
        raise DataError(path, f"field 'users.tastes': expected one non-empty list of distinct "
                        f"cluster ids (0 to {len(clusters) - 1}) per user id")
    stray_share = doc.get("stray_share")
    if not isinstance(stray_share, int | float) or not 0 <= stray_share <= 1:
        raise DataError(path, "field 'stray_share': expected a number in [0, 1]")
    if verify:
        ratings = path.parent / "ratings.csv"
        if not ratings.is_file():
            raise DataError(ratings, f"missing: {TRUTH_FILE} describes the ratings.csv beside "
                            "it")
        if _file_sha256(ratings) != doc.get("ratings_sha256"):
            raise DataError(path, "field 'ratings_sha256': ratings.csv has changed since this "
                            "truth was written; regenerate the dataset")
    return Truth(clusters=clusters,
                 user_tastes={u: tuple(sorted(t)) for u, t in zip(user_ids, tastes, strict=True)},
                 item_cluster=dict(zip(movie_ids, movie_clusters, strict=True)),
                 config=config, stray_share=float(stray_share), path=str(path))


__all__ = ["TastesConfig", "TASTES", "PRESETS", "PLAYGROUND", "dataset_name", "ensure_tastes",
           "taste_datasets", "parse_range", "generate_tastes", "Truth",
           "truth_path", "has_truth", "load_truth", "TRUTH_FILE", "BLOCK_CELLS"]
