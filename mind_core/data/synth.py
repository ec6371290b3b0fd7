"""Synthetic MovieLens in the ml-20m/25m/32m layout (``ratings.csv`` + ``movies.csv``), for scale
tests and benchmarks: ``mind-core data synth --users U --items I --ratings R --out DIR``.

What it looks like:

- **Items** belong to one of ``clusters`` taste clusters, named after MovieLens genres
  (Action, Comedy, ...): an item's first genre is its cluster, and a third of the items carry a
  second, random genre. Popularity within a cluster is log-normal (a few hits, a long tail).
  About 0.5% of the items are "(no genres listed)" (the cluster is still there, only hidden).
  Titles are ``Synthetic movie <id> (<year>)``.
- **Users** mix one to three clusters (Dirichlet weights). Their sequence is sticky: each rating
  stays in the previous one's cluster with probability ``stickiness`` (default 0.7), else
  draws a cluster from the user's mixture, so there are sessions of one taste, as MIND expects.
  A user never rates the same movie twice. Ratings per user are skewed (log-normal), with at
  least ``min(20, R // U)`` each, as GroupLens keeps users with 20 or more ratings.
- **Timestamps** increase strictly within each user, spread over 1995-2019 (ml-25m's range);
  the file is sorted by user, then time, like ml-25m's.
- **Ratings** are 0.5..5.0 in half stars from an item quality, a user bias and noise.

Its users' mixtures are not written down. For users with a known set of tastes and a file that
records them (a positive control for multi-interest models), see :mod:`mind_core.data.tastes`.

Everything is drawn with numpy's seeded generators, one per block of users, so the same
arguments give the same bytes. Work is vectorized and done in blocks of about
:data:`BLOCK_RATINGS` ratings, each written out before the next is drawn: memory stays bounded
(a few hundred MB) whatever ``R`` is. The CSV text is formatted by numpy too (a byte matrix),
since pandas' ``to_csv`` alone would take minutes at ml-25m's shape (25M ratings, 162,541
users, 59,047 items).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mind_core.data.movielens_csv import NO_GENRES

# ml-25m's genres, in its order; clusters take their names from the front of this list
GENRES = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
          "Sci-Fi", "Thriller", "War", "Western"]
BLOCK_RATINGS = 2_000_000
T_START, T_END = 789_652_009, 1_574_327_703  # ml-25m's first and last timestamps
ML25M_SHAPE = {"users": 162_541, "items": 59_047, "ratings": 25_000_095}


@dataclass(frozen=True)
class SynthConfig:
    users: int
    items: int
    ratings: int
    seed: int = 0
    clusters: int = 8
    stickiness: float = 0.7

    def check(self) -> None:
        if self.users < 1 or self.items < 1 or self.ratings < 1:
            raise ValueError("users, items and ratings must be positive")
        if not 1 <= self.clusters <= min(len(GENRES), self.items):
            raise ValueError(f"clusters must be between 1 and {min(len(GENRES), self.items)}")
        if self.ratings < self.users:
            raise ValueError(f"{self.ratings} ratings cannot give each of {self.users} users one")
        if self.ratings > self.users * self.items // 2:
            raise ValueError(f"{self.ratings} ratings is over half of all {self.users} x "
                             f"{self.items} (user, movie) pairs; a user rates a movie once")
        if not 0.0 <= self.stickiness < 1.0:
            raise ValueError("stickiness must be in [0, 1)")


def _item_table(cfg: SynthConfig, rng: np.random.Generator):
    """cluster (I,), popularity (I,), quality (I,) and the movies.csv frame."""
    n, c = cfg.items, cfg.clusters
    cluster = np.concatenate([np.arange(c), rng.integers(0, c, n - c)])  # every cluster used
    rng.shuffle(cluster)
    popularity = rng.lognormal(0.0, 1.0, n)
    quality = rng.normal(0.0, 0.5, n)
    second = rng.integers(0, len(GENRES), n)
    has_second = (rng.random(n) < 1 / 3) & (second != cluster)
    hidden = rng.random(n) < 0.005
    years = rng.integers(1920, 2020, n)
    names = np.array(GENRES, dtype=object)
    genres = np.where(has_second, names[cluster] + "|" + names[second], names[cluster])
    genres = np.where(hidden, NO_GENRES, genres)
    ids = np.arange(1, n + 1)
    titles = [f"Synthetic movie {i} ({y})" for i, y in zip(ids, years, strict=True)]
    movies = pd.DataFrame({"movieId": ids, "title": titles, "genres": genres})
    return cluster, popularity, quality, movies


class _ItemSampler:
    """Draw items of given clusters in proportion to their popularity (inverse CDF over the
    items sorted by cluster, each cluster's cumulative share offset by its index)."""

    def __init__(self, cluster: np.ndarray, popularity: np.ndarray, n_clusters: int):
        self.order = np.argsort(cluster, kind="stable")
        c = cluster[self.order]
        p = popularity[self.order]
        totals = np.bincount(c, weights=p, minlength=n_clusters)
        cum = np.cumsum(p) - np.concatenate([[0.0], np.cumsum(totals)[:-1]])[c]
        self.cum = c + cum / totals[c]  # cluster k's items span (k, k+1]

    def draw(self, clusters: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pos = np.searchsorted(self.cum, clusters + rng.random(len(clusters)))
        return self.order[np.minimum(pos, len(self.order) - 1)]


def _counts(cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """Ratings per user: at least min(20, R // U), the rest spread log-normally; summing to R
    and capped at half the catalogue (redistributing what the cap removes)."""
    base = max(1, min(20, cfg.ratings // cfg.users))
    cap = max(base, cfg.items // 2)
    weights = rng.lognormal(0.0, 1.2, cfg.users)
    counts = base + rng.multinomial(cfg.ratings - base * cfg.users, weights / weights.sum())
    for _ in range(100):
        over = counts - cap
        excess = int(over[over > 0].sum())
        if not excess:
            break
        counts = np.minimum(counts, cap)
        room = cap - counts
        counts += rng.multinomial(excess, room / room.sum())
    return counts.astype(np.int64)


def _users(cfg: SynthConfig, rng: np.random.Generator):
    """Each user's clusters (U, 3), cumulative mixture weights (U, 3) and rating bias (U,)."""
    U, c = cfg.users, cfg.clusters
    n_tastes = rng.integers(1, 4, U)  # one to three clusters
    tastes = rng.integers(0, c, (U, 3))
    weights = rng.dirichlet(np.ones(3), U)
    weights[np.arange(3)[None, :] >= n_tastes[:, None]] = 0.0
    weights /= weights.sum(1, keepdims=True)
    return tastes, np.cumsum(weights, 1), rng.normal(0.0, 0.4, U)


def _block(cfg, lo, hi, counts, tastes, cum_w, bias, sampler, quality, starts, spans):
    """ratings.csv lines of users lo..hi-1 (sorted by user, then time), as bytes."""
    rng = np.random.default_rng([cfg.seed, 1, lo])
    n_u = counts[lo:hi]
    users = np.repeat(np.arange(lo, hi), n_u)
    first = np.zeros(len(users), dtype=bool)
    first[np.concatenate([[0], np.cumsum(n_u)[:-1]])] = True

    def mixture_draw(who):
        r = rng.random(len(who))[:, None]
        return tastes[who, (r > cum_w[who, :2]).sum(1)]

    # sticky cluster sequence: switch with probability 1 - stickiness, always at a user's start
    switch = first | (rng.random(len(users)) >= cfg.stickiness)
    fresh = mixture_draw(users)
    last = np.maximum.accumulate(np.where(switch, np.arange(len(users)), 0))
    items = sampler.draw(fresh[last], rng)

    # a user rates a movie once: keep first occurrences, redraw the rest (appended to the
    # user's sequence); accepted pairs stay sorted, so each round checks only the redraws
    key = users * cfg.items + items
    uniq, keep = np.unique(key, return_index=True)
    keep.sort()
    users, items = users[keep], items[keep]
    for round_ in range(64):
        missing = n_u - np.bincount(users - lo, minlength=hi - lo)
        if not missing.any():
            break
        who = np.repeat(np.arange(lo, hi), missing)
        extra = (sampler.draw(mixture_draw(who), rng) if round_ < 32  # then any movie
                 else rng.integers(0, cfg.items, len(who)))
        new_key = who * cfg.items + extra
        at = np.minimum(np.searchsorted(uniq, new_key), len(uniq) - 1)
        fresh_pos = np.flatnonzero(uniq[at] != new_key)
        _, first_pos = np.unique(new_key[fresh_pos], return_index=True)
        fresh_pos = np.sort(fresh_pos[first_pos])
        who, extra, new_key = who[fresh_pos], extra[fresh_pos], new_key[fresh_pos]
        new_key = np.sort(new_key)  # uniq must stay sorted
        uniq = np.insert(uniq, np.searchsorted(uniq, new_key), new_key)
        order = np.argsort(np.concatenate([users, who]), kind="stable")
        users = np.concatenate([users, who])[order]
        items = np.concatenate([items, extra])[order]

    n = np.bincount(users - lo, minlength=hi - lo)
    offsets = np.concatenate([[0], np.cumsum(n)])
    rank = np.arange(len(users)) - offsets[users - lo]
    # strictly increasing per user: exponential gaps scaled into the user's span, plus rank
    gaps = rng.exponential(1.0, len(users))
    cum = np.cumsum(gaps)
    cum -= np.concatenate([[0.0], cum[offsets[1:-1] - 1]])[users - lo]
    total = cum[offsets[1:] - 1][users - lo]
    times = starts[users] + np.floor(spans[users] * (cum / total)).astype(np.int64) + rank
    stars = 3.5 + quality[items] + bias[users] + rng.normal(0.0, 0.8, len(users))
    half_stars = np.clip(np.round(stars * 2), 1, 10).astype(np.int64)  # 0.5 .. 5.0
    return csv_rows(users + 1, items + 1, half_stars, times)


_HALF_STARS = np.frombuffer(b"".join(f"{h / 2:.1f}".encode() for h in range(11)),
                            np.uint8).reshape(11, 3)


def _digits(v: np.ndarray) -> np.ndarray:
    """Non-negative ints -> (n, width) ASCII digits, left-padded with 0 bytes (dropped later)."""
    width = len(str(int(v.max()))) if len(v) else 1
    out = np.zeros((len(v), width), np.uint8)
    for j in range(width):
        p = 10 ** (width - 1 - j)
        d = (v // p) % 10
        out[:, j] = np.where((v >= p) | (j == width - 1), d + 48, 0)
    return out


def csv_rows(users, items, half_stars, times) -> bytes:
    """``userId,movieId,rating,timestamp`` lines, formatted by numpy: a fixed-width byte
    matrix whose padding is dropped (about 10x pandas' to_csv)."""
    n = len(users)
    comma = np.full((n, 1), ord(","), np.uint8)
    newline = np.full((n, 1), ord("\n"), np.uint8)
    rows = np.hstack([_digits(users), comma, _digits(items), comma, _HALF_STARS[half_stars],
                      comma, _digits(times), newline])
    return rows[rows != 0].tobytes()


def install_folder(tmp: Path, out: Path) -> None:
    """Move the finished folder ``tmp`` to ``out``, replacing what was there: the old folder is
    renamed aside first, so a reader never sees a half-written dataset under ``out``."""
    if out.exists():
        old = out.with_name(f".old-{out.name}-{time.time_ns()}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def generate(out, users: int, items: int, ratings: int, seed: int = 0, clusters: int | None = None,
             stickiness: float = 0.7, progress=None) -> dict:
    """Write ``ratings.csv`` and ``movies.csv`` into the folder ``out`` (written to a
    temporary folder beside it, then renamed into place). ``clusters`` defaults to
    min(8, items). Returns a summary dict.
    ``progress(event, info)`` gets ("block", {"users": done, "of": U, "ratings": written})."""
    if clusters is None:
        clusters = max(1, min(8, items))
    cfg = SynthConfig(users, items, ratings, seed, clusters, stickiness)
    cfg.check()
    t0 = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0])
    cluster, popularity, quality, movies = _item_table(cfg, rng)
    counts = _counts(cfg, rng)
    tastes, cum_w, bias = _users(cfg, rng)
    spans = rng.integers(86_400, 5 * 365 * 86_400, cfg.users)
    spans = np.minimum(spans, T_END - T_START - counts)
    starts = T_START + (rng.random(cfg.users) * (T_END - T_START - spans - counts)).astype(np.int64)
    sampler = _ItemSampler(cluster, popularity, cfg.clusters)

    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        movies.to_csv(tmp / "movies.csv", index=False)
        written = 0
        bounds = np.searchsorted(np.cumsum(counts), np.arange(BLOCK_RATINGS, cfg.ratings,
                                                                 BLOCK_RATINGS), side="right")
        edges = np.unique(np.concatenate([[0], bounds, [cfg.users]]))
        with open(tmp / "ratings.csv", "wb") as f:
            f.write(b"userId,movieId,rating,timestamp\n")
            for lo, hi in zip(edges[:-1], edges[1:], strict=True):
                text = _block(cfg, int(lo), int(hi), counts, tastes, cum_w, bias, sampler,
                              quality, starts, spans)
                f.write(text)
                written += text.count(b"\n")
                if progress:
                    progress("block", {"users": int(hi), "of": cfg.users, "ratings": written})
        install_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"path": str(out), "users": cfg.users, "items": cfg.items, "ratings": written,
            "seed": seed, "clusters": clusters,
            "seconds": round(time.perf_counter() - t0, 2),
            "bytes": sum(os.path.getsize(out / f) for f in ("ratings.csv", "movies.csv"))}


__all__ = ["generate", "SynthConfig", "GENRES", "ML25M_SHAPE", "BLOCK_RATINGS", "csv_rows",
           "install_folder"]
