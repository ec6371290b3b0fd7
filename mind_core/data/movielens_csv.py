"""GroupLens ml-20m, ml-25m, ml-32m, ml-latest and ml-latest-small (one layout): ``ratings.csv``
(header ``userId,movieId,rating,timestamp``) and ``movies.csv`` (``movieId,title,genres``,
genres ``|``-separated, ``(no genres listed)`` for none; titles usually end in `` (year)``);
UTF-8, no user file, so the dataset has no profile. ``ratings.csv`` (25M rows in ml-25m) is
parsed by pandas' C reader in chunks into compact dtypes; only when that fails is the file
scanned line by line, to name the first bad line. Dispatched to by
:func:`mind_core.data.readers.read_dataset`.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from mind_core.data.sources import Source
from mind_core.data.tables import Dataset, items_table, make_dataset
from mind_core.errors import DataError

MOVIELENS_CSV_RATINGS = ["userId", "movieId", "rating", "timestamp"]
MOVIELENS_CSV_MOVIES = ["movieId", "title", "genres"]
NO_GENRES = "(no genres listed)"
CSV_CHUNK_ROWS = 1 << 21  # ratings.csv rows parsed per chunk (about 60 MB of text)
# ml-latest titles also end in ranges such as "(1975-1979)" or "(2007- )" (series)
_YEAR_OR_RANGE_IN_TITLE = re.compile(r"\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?\s*)?\)\s*$")


def csv_header(line: bytes) -> list[str]:
    return [h.strip() for h in line.decode("utf-8", "replace").lstrip("\ufeff").split(",")]


def is_movielens_csv(src: Source, member: str) -> bool:
    """Whether ``member`` is a GroupLens ratings.csv: a movies.csv beside it, or a first line
    like ``userId,movieId,...`` (a tutorial CSV may also be called ratings.csv)."""
    parent = PurePosixPath(member).parent
    if str(parent / "movies.csv" if str(parent) != "." else "movies.csv") in src.names:
        return True
    with src.open(member) as f:
        first = f.readline(4096)
    return csv_header(first)[:2] == MOVIELENS_CSV_RATINGS[:2]


def _read_ratings_csv(src: Source, member: str) -> pd.DataFrame:
    """``ratings.csv`` into (user, item, rating, timestamp) with compact dtypes, in bounded
    memory: chunks of :data:`CSV_CHUNK_ROWS` rows, each narrowed as soon as it is parsed."""
    display = src.display(member)
    with src.open(member) as f:
        header = f.readline()
        if not header.strip():
            raise DataError(display, "file is empty; expected a header "
                            f"{','.join(MOVIELENS_CSV_RATINGS)} and rows")
        if csv_header(header) != MOVIELENS_CSV_RATINGS:
            raise DataError(display, f"expected the header {','.join(MOVIELENS_CSV_RATINGS)}, "
                            f"found {header.decode('utf-8', 'replace').strip()!r}", line=1)
        parts: dict[str, list[np.ndarray]] = {c: [] for c in MOVIELENS_CSV_RATINGS}
        try:
            reader = pd.read_csv(
                f, header=None, names=MOVIELENS_CSV_RATINGS, chunksize=CSV_CHUNK_ROWS,
                dtype={"userId": np.int64, "movieId": np.int64, "rating": np.float64,
                       "timestamp": np.float64},
                engine="c", na_filter=False, encoding="utf-8")
            for chunk in reader:
                for c in MOVIELENS_CSV_RATINGS:
                    v = chunk[c].to_numpy()
                    if c == "rating" or c == "timestamp":
                        if not np.isfinite(v).all():
                            raise ValueError(f"non-finite {c}")
                        v = v.astype(np.float32 if c == "rating" else np.int64)
                    elif len(v) and np.iinfo(np.int32).min <= v.min() <= v.max() \
                            <= np.iinfo(np.int32).max:
                        v = v.astype(np.int32)
                    parts[c].append(v)
        except (ValueError, TypeError, OverflowError, UnicodeDecodeError,
                pd.errors.ParserError) as e:
            _scan_ratings_csv(src, member)  # raises a DataError naming the line
            raise DataError(display, f"unreadable ratings ({e})") from None
    if not parts["userId"] or not sum(len(v) for v in parts["userId"]):
        raise DataError(display, "file has a header but no rows of "
                        f"{','.join(MOVIELENS_CSV_RATINGS)}")

    def column(c):
        chunks = parts.pop(c)
        if len({v.dtype for v in chunks}) > 1:  # some chunk held ids past int32
            chunks = [v.astype(np.int64) for v in chunks]
        return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    return pd.DataFrame({"user": column("userId"), "item": column("movieId"),
                         "rating": column("rating"), "timestamp": column("timestamp")},
                        copy=False)


def _scan_ratings_csv(src: Source, member: str) -> None:
    """Find the first bad line of a ratings.csv the fast reader refused (slow, error path)."""
    display = src.display(member)
    fields = MOVIELENS_CSV_RATINGS
    with src.open(member) as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise DataError(display, "not valid utf-8 text", line=number) from None
            if number == 1 or not line.strip():
                continue
            values = line.split(",")
            if len(values) != len(fields):
                raise DataError(display, f"expected {len(fields)} fields separated by ',' "
                                f"({', '.join(fields)}), found {len(values)}", line=number)
            for column, v in zip(fields, values, strict=True):
                v = v.strip()
                try:
                    if column in ("userId", "movieId"):
                        np.int64(int(v))
                    elif not np.isfinite(float(v)):
                        raise ValueError(v)
                except (ValueError, OverflowError):
                    kind = ("an integer" if column in ("userId", "movieId") else
                            "a finite timestamp" if column == "timestamp" else "a number")
                    raise DataError(display, f"column '{column}': expected {kind}, found "
                                    f"{v!r}", line=number) from None


def _title_year(title: str):
    m = _YEAR_OR_RANGE_IN_TITLE.search(title)
    return int(m.group(1)) if m else None


def _read_movies_csv(src: Source, member: str) -> pd.DataFrame:
    display = src.display(member)
    try:
        text = src.read_text(member, "utf-8")
    except DataError:  # older exports may be latin-1, as the tutorial CSV falls back to
        text = src.read_text(member, "latin-1")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None:
        raise DataError(display, "file is empty; expected a header "
                        f"{','.join(MOVIELENS_CSV_MOVIES)} and rows")
    if [h.strip() for h in header] != MOVIELENS_CSV_MOVIES:
        raise DataError(display, f"expected the header {','.join(MOVIELENS_CSV_MOVIES)}, "
                        f"found {','.join(header)!r}", line=1)
    ids, titles, years, genres = [], [], [], []
    for row in reader:
        if not any(c.strip() for c in row):
            continue
        if len(row) != 3:
            raise DataError(display, f"expected 3 comma-separated fields (movieId, title, "
                            f"genres; a title holding commas in double quotes), found "
                            f"{len(row)}", line=reader.line_num)
        movie, title, genre = (c.strip() for c in row)
        try:
            ids.append(int(np.int64(int(movie))))
        except (ValueError, OverflowError):
            raise DataError(display, f"column 'movieId': expected an integer, found {movie!r}",
                            line=reader.line_num) from None
        titles.append(title)
        years.append(_title_year(title))
        genres.append([] if genre == NO_GENRES else [g for g in genre.split("|") if g])
    if not ids:
        raise DataError(display, "file has a header but no rows of "
                        f"{','.join(MOVIELENS_CSV_MOVIES)}")
    return items_table(ids, titles, years, genres)


def read_movielens_csv(src: Source, ratings: str, name: str) -> Dataset:
    interactions = _read_ratings_csv(src, ratings)
    items = _read_movies_csv(src, src.sibling(ratings, "movies.csv"))
    return make_dataset(name, interactions, None, items)
