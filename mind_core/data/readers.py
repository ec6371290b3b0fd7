"""Readers for every MovieLens layout a MIND user meets, chosen from what a folder or zip holds.

- RecBole atomic files: ``*.inter``, ``*.user``, ``*.item``; tab-separated, typed headers such
  as ``user_id:token``; genres space-separated in ``class``.
- GroupLens ml-100k: ``u.data`` (tab), ``u.user`` and ``u.item`` (``|``, 19 genre flags), latin-1.
- GroupLens ml-1m: ``ratings.dat``, ``users.dat``, ``movies.dat``; ``::``-separated, latin-1.
- The merged CSV of the original MIND tutorial: ``user_id,movie_id,rating,timestamp,title,genres,
  gender,age,occupation,zip`` with genres joined by ``|``.
- GroupLens ml-20m, ml-25m, ml-32m, ml-latest and ml-latest-small (one layout): ``ratings.csv``
  (header ``userId,movieId,rating,timestamp``) and ``movies.csv`` (``movieId,title,genres``,
  genres ``|``-separated, ``(no genres listed)`` for none; titles usually end in `` (year)``);
  UTF-8, no user file, so the dataset has no profile (``Dataset.has_profile`` False).
  ``tags.csv``, ``links.csv`` and ``genome-*`` are ignored. Read by
  :mod:`mind_core.data.movielens_csv` (in bounded memory: 25M rows in ml-25m).

Files come from a folder or a zip (:class:`mind_core.data.sources.Source`).

Every reader returns the same normalized :class:`~mind_core.data.tables.Dataset`. Bad input raises
:class:`~mind_core.errors.DataError` naming the file, the line or column, and what was expected.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from mind_core.data.movielens_csv import (
    MOVIELENS_CSV_RATINGS,
    csv_header,
    is_movielens_csv,
    read_movielens_csv,
)
from mind_core.data.sources import MAX_INPUT_BYTES, Source
from mind_core.data.tables import Dataset, items_table, make_dataset
from mind_core.errors import DataError

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]
TUTORIAL_COLUMNS = ["user_id", "movie_id", "rating", "timestamp", "title", "genres", "gender",
                    "age", "occupation", "zip"]
_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")


# --- line-level parsing with precise errors ---------------------------------------------------

def _split_lines(text: str, display: str, sep: str, fields: list[str], skip_header: bool):
    """Rows of exactly ``len(fields)`` strings plus their 1-based line numbers."""
    rows, numbers = [], []
    # split on "\n" only: str.splitlines() also breaks at \x85, \x0c, \x1c.., which latin-1
    # decodes from ordinary bytes inside titles
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if number == 1 and skip_header:
            continue
        if not line.strip():
            continue
        parts = line.split(sep)
        if len(parts) != len(fields):
            raise DataError(display, f"expected {len(fields)} fields separated by {sep!r} "
                            f"({', '.join(fields)}), found {len(parts)}", line=number)
        rows.append(parts)
        numbers.append(number)
    if not rows:
        raise DataError(display, f"file is empty; expected rows of {', '.join(fields)}")
    columns = {f: [r[i].strip() for r in rows] for i, f in enumerate(fields)}
    return columns, numbers


def _numeric(values: list[str], display: str, column: str, numbers: list[int], integer: bool):
    dtype = np.int64 if integer else np.float64
    try:
        return np.array(values, dtype=dtype)
    except (ValueError, OverflowError):
        for v, n in zip(values, numbers, strict=True):
            try:
                if integer:
                    np.int64(int(v))  # int() for the syntax, np.int64 for the range
                else:
                    float(v)
            except (ValueError, OverflowError):
                kind = "an integer" if integer else "a number"
                raise DataError(display, f"column '{column}': expected {kind}, found {v!r}",
                                line=n) from None
        raise


def _timestamps(values, display, column, numbers):
    ts = _numeric(values, display, column, numbers, integer=False)
    bad = ~np.isfinite(ts)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(display, f"column '{column}': expected a finite timestamp, found "
                        f"{values[i]!r}", line=numbers[i])
    return ts.astype(np.int64)


def _interactions(cols, numbers, display, names=("user", "item", "rating", "timestamp")):
    u, i, r, t = names
    return pd.DataFrame({
        "user": _numeric(cols[u], display, u, numbers, integer=True),
        "item": _numeric(cols[i], display, i, numbers, integer=True),
        "rating": (_numeric(cols[r], display, r, numbers, integer=False) if r in cols
                   else np.ones(len(numbers))),
        "timestamp": _timestamps(cols[t], display, t, numbers),
    })


def _year_from_title(title: str):
    m = _YEAR_IN_TITLE.search(title)
    return int(m.group(1)) if m else None


def _users(ids, gender, age, occupation, zips) -> pd.DataFrame:
    return pd.DataFrame({"gender": gender, "age": age, "occupation": occupation, "zip": zips},
                        index=pd.Index(ids, dtype="int64"))


# --- the four layouts -------------------------------------------------------------------------

def _read_recbole(src: Source, inter: str, name: str) -> Dataset:
    def typed(member, required, encoding="utf-8"):
        display = src.display(member)
        text = src.read_text(member, encoding)
        if not text.strip():
            raise DataError(display, "file is empty; expected a RecBole header such as "
                            f"{':token, '.join(required)}:token and rows")
        header = text.split("\n", 1)[0].rstrip("\r").split("\t")
        fields = [h.split(":", 1)[0] for h in header]
        if not all(":" in h for h in header):
            raise DataError(display, "expected a RecBole header of name:type cells such as "
                            f"'user_id:token', found {header!r}", line=1)
        for f in required:
            if f not in fields:
                raise DataError(display, f"missing column '{f}' (header has {', '.join(fields)})",
                                line=1)
        return _split_lines(text, display, "\t", fields, skip_header=True) + (display,)

    cols, numbers, display = typed(inter, ["user_id", "item_id", "timestamp"])
    interactions = _interactions(cols, numbers, display,
                                 ("user_id", "item_id", "rating", "timestamp"))
    stem = PurePosixPath(inter).stem
    users = items = None
    user_member = src.sibling(inter, stem + ".user")
    cols, numbers, display = typed(user_member, ["user_id"])
    ids = _numeric(cols["user_id"], display, "user_id", numbers, integer=True)
    empty = [""] * len(ids)
    users = _users(ids, cols.get("gender", empty), cols.get("age", empty),
                   cols.get("occupation", empty), cols.get("zip_code", empty))
    item_member = src.sibling(inter, stem + ".item")
    cols, numbers, display = typed(item_member, ["item_id"])
    ids = _numeric(cols["item_id"], display, "item_id", numbers, integer=True)
    titles = cols.get("movie_title", [""] * len(ids))
    years = [int(y) if y.isdigit() else None for y in cols.get("release_year", [""] * len(ids))]
    genres = [g.split() for g in cols.get("class", [""] * len(ids))]
    items = items_table(ids, titles, years, genres)
    return make_dataset(name, interactions, users, items)


def _read_grouplens_100k(src: Source, data: str, name: str) -> Dataset:
    display = src.display(data)
    cols, numbers = _split_lines(src.read_text(data, "latin-1"), display, "\t",
                                 ["user", "item", "rating", "timestamp"], skip_header=False)
    interactions = _interactions(cols, numbers, display)
    member = src.sibling(data, "u.user")
    display = src.display(member)
    cols, numbers = _split_lines(src.read_text(member, "latin-1"), display, "|",
                                 ["user", "age", "gender", "occupation", "zip"], skip_header=False)
    users = _users(_numeric(cols["user"], display, "user", numbers, integer=True),
                   cols["gender"], cols["age"], cols["occupation"], cols["zip"])
    member = src.sibling(data, "u.item")
    display = src.display(member)
    fields = ["item", "title", "release_date", "video_release_date", "url"] + ML100K_GENRES
    cols, numbers = _split_lines(src.read_text(member, "latin-1"), display, "|", fields,
                                 skip_header=False)
    ids = _numeric(cols["item"], display, "item", numbers, integer=True)
    flags = np.stack([_numeric(cols[g], display, g, numbers, integer=True) for g in ML100K_GENRES],
                     axis=1)
    genres = [[ML100K_GENRES[j] for j in np.flatnonzero(row)] for row in flags]
    years = [int(d[-4:]) if d[-4:].isdigit() else _year_from_title(t)
             for d, t in zip(cols["release_date"], cols["title"], strict=True)]
    return make_dataset(name, interactions, users, items_table(ids, cols["title"], years, genres))


def _read_dat(src, member, fields):
    display = src.display(member)
    text = src.read_text(member, "latin-1")
    cols, numbers = _split_lines(text, display, "::", fields, skip_header=False)
    return cols, numbers, display


def _read_grouplens_1m(src: Source, ratings: str, name: str) -> Dataset:
    cols, numbers, display = _read_dat(src, ratings, ["user", "item", "rating", "timestamp"])
    interactions = _interactions(cols, numbers, display)
    cols, numbers, display = _read_dat(src, src.sibling(ratings, "users.dat"),
                                       ["user", "gender", "age", "occupation", "zip"])
    users = _users(_numeric(cols["user"], display, "user", numbers, integer=True),
                   cols["gender"], cols["age"], cols["occupation"], cols["zip"])
    cols, numbers, display = _read_dat(src, src.sibling(ratings, "movies.dat"),
                                       ["item", "title", "genres"])
    ids = _numeric(cols["item"], display, "item", numbers, integer=True)
    genres = [[g for g in s.split("|") if g] for s in cols["genres"]]
    years = [_year_from_title(t) for t in cols["title"]]
    return make_dataset(name, interactions, users, items_table(ids, cols["title"], years, genres))


def read_tutorial_csv(text: str, display: str, name: str) -> Dataset:
    """The merged CSV of the original MIND tutorial (one row per rating, features repeated)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise DataError(display, f"file is empty; expected a header {','.join(TUTORIAL_COLUMNS)}")
    header = [h.strip() for h in header]
    missing = [c for c in TUTORIAL_COLUMNS if c not in header]
    if missing:
        raise DataError(display, f"missing column(s) {', '.join(missing)}; expected a header "
                        f"with {','.join(TUTORIAL_COLUMNS)}", line=1)
    rows, numbers = [], []
    for row in reader:
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise DataError(display, f"expected {len(header)} comma-separated fields "
                            f"({','.join(header)}), found {len(row)}", line=reader.line_num)
        rows.append(row)
        numbers.append(reader.line_num)
    if not rows:
        raise DataError(display, f"file has a header but no rows of {','.join(TUTORIAL_COLUMNS)}")
    cols = {h: [r[i].strip() for r in rows] for i, h in enumerate(header)}
    interactions = _interactions(cols, numbers, display,
                                 ("user_id", "movie_id", "rating", "timestamp"))
    users = _users(interactions["user"].to_numpy(), cols["gender"], cols["age"],
                   cols["occupation"], cols["zip"])
    items = items_table(interactions["item"].to_numpy(), cols["title"],
                   [_year_from_title(t) for t in cols["title"]],
                   [[g for g in s.split("|") if g] for s in cols["genres"]])
    return make_dataset(name, interactions, users, items)


# --- entry point ------------------------------------------------------------------------------

LAYOUTS = ("RecBole atomic files (*.inter/*.user/*.item), "
           "GroupLens ml-100k (u.data/u.user/u.item), "
           "GroupLens ml-1m (ratings.dat/users.dat/movies.dat), "
           "GroupLens ml-20m/25m/32m/latest (ratings.csv/movies.csv) or the MIND tutorial CSV")


def read_dataset(path: str | os.PathLike, name: str | None = None) -> Dataset:
    """Read any supported layout from a folder, a ``.zip`` or a tutorial ``.csv`` file."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        with open(path, "rb") as f:
            if csv_header(f.readline(4096))[:2] == MOVIELENS_CSV_RATINGS[:2]:
                # a GroupLens ratings.csv: read it with the movies.csv beside it
                src = Source(path.parent)
                return read_movielens_csv(src, path.name, name or path.resolve().parent.name)
    if name is None:
        name = path.stem if path.suffix.lower() in (".zip", ".csv") else path.name
    if path.is_file() and path.suffix.lower() == ".csv":
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise DataError(path, f"file is {size} bytes; the limit is {MAX_INPUT_BYTES}")
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            text = path.read_text("latin-1")
        return read_tutorial_csv(text, str(path), name)
    src = Source(path)
    try:
        return _read_source(src, name)
    finally:
        src.close()


def _read_source(src: Source, name: str) -> Dataset:
    inters = sorted((n for n in src.names if n.endswith(".inter")), key=lambda n: n.count("/"))
    if inters:
        return _read_recbole(src, inters[0], name)
    if member := src.find("u.data"):
        return _read_grouplens_100k(src, member, name)
    if member := src.find("ratings.dat"):
        return _read_grouplens_1m(src, member, name)
    if (member := src.find("ratings.csv")) and is_movielens_csv(src, member):
        return read_movielens_csv(src, member, name)
    csvs = [n for n in src.names if n.lower().endswith(".csv")]
    if len(csvs) == 1:
        try:
            text = src.read_text(csvs[0], "utf-8")
        except DataError:  # same fallback as a .csv given directly: older exports are latin-1
            text = src.read_text(csvs[0], "latin-1")
        return read_tutorial_csv(text, src.display(csvs[0]), name)
    found = ", ".join(src.names[:8]) or "nothing"
    raise DataError(src.path, f"unknown layout: expected {LAYOUTS}; found {found}")
