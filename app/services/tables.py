"""Tables about a dataset's movies and users, and a user's routing.

Everything here is keyed by (dataset, max_length[, protocol]): the split decides what a user's
history and held-out movies are. The tables are built once per server process and shared by
every session (``st.cache_resource``: no copy per call, which ``st.cache_data`` would make on
every rerun of every page); callers read them and never modify them.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import torch

from app.services.loaders import Loaded, get_data, get_model
from app.services.shared import shared
from mind_core.features import serving_histories

PROFILE_COLUMNS = ["gender", "age", "occupation", "zip"]


@shared(6)
def items_table(dataset: str, max_length: int) -> pd.DataFrame:
    """One row per item code (code 0, padding, included): title, year, genres, popularity."""
    data = get_data(dataset, max_length)
    enc, split = data.encoded, data.split
    names = enc.genre_names
    genres = [", ".join(names[g] for g in row if g) for row in enc.item_genres]
    # plain object columns: pages take ``["title"].to_numpy()`` many times per rerun, which
    # copies every string out of an Arrow-backed column each time
    return pd.DataFrame({
        "movie_id": enc.item_ids, "title": pd.Series(enc.titles, dtype=object),
        "year": pd.array(enc.years, dtype="Int64"), "genres": pd.Series(genres, dtype=object),
        "primary": [names[g] or "(none)" for g in enc.primary_genre],
        "primary_code": enc.primary_genre, "ratings": split.item_counts,
    })


def has_profile(dataset: str, max_length: int) -> bool:
    """Whether the dataset came with a user file (ml-20m and later have none)."""
    data = get_data(dataset, max_length)
    flag = getattr(data.encoded, "has_profile", None)
    if flag is not None:
        return bool(flag)
    users = data.dataset.users
    return all(c in users.columns for c in PROFILE_COLUMNS)


@shared(6)
def users_table(dataset: str, max_length: int) -> pd.DataFrame:
    """One row per user row: raw id, profile (when the dataset has one), history length,
    genre diversity (entropy of the primary genres watched, bits)."""
    data = get_data(dataset, max_length)
    enc, split = data.encoded, data.split
    lengths = np.diff(split.offsets)
    genre_of = enc.primary_genre[split.sequence]
    entropy = np.zeros(enc.n_users)
    for u in range(enc.n_users):
        counts = np.bincount(genre_of[split.offsets[u]:split.offsets[u + 1]])
        p = counts[counts > 0] / max(1, counts.sum())
        entropy[u] = float(-(p * np.log2(p)).sum())
    table = pd.DataFrame({"user_id": enc.user_ids})
    if has_profile(dataset, max_length):
        users = data.dataset.users.loc[enc.user_ids]
        for column in PROFILE_COLUMNS:
            table[column] = users[column].to_numpy()
    table["movies"] = lengths
    table["genre_entropy"] = entropy
    return table


@shared(6)
def user_labels(dataset: str, max_length: int) -> dict[int, str]:
    t = users_table(dataset, max_length)
    if "age" in t.columns:
        return {int(r.user_id): f"User {r.user_id} · {r.age} {r.gender} · {r.occupation} · "
                f"{r.movies} movies" for r in t.itertuples()}
    return {int(r.user_id): f"User {r.user_id} · {r.movies} movies" for r in t.itertuples()}


@shared(6)
def chronology(dataset: str, max_length: int, protocol: str = "leave_last_out") -> dict:
    """Ratings and timestamps aligned with ``split.sequence`` (the split's own ordering) and
    each user row's index in the test set (-1 if not evaluated)."""
    data = get_data(dataset, max_length, protocol)
    enc, split = data.encoded, data.split
    order = np.lexsort((np.arange(len(enc.items)), enc.timestamps, enc.users))
    assert np.array_equal(enc.items[order], split.sequence)
    test_index = np.full(enc.n_users, -1)
    test_index[split.test.users] = np.arange(len(split.test.users))
    return {"ratings": enc.ratings[order], "timestamps": enc.timestamps[order],
            "test_index": test_index}


def held_out(dataset: str, max_length: int, row: int,
             protocol: str = "leave_last_out") -> int | None:
    """The user's (first) held-out test movie code, or None if the user is not evaluated."""
    i = int(chronology(dataset, max_length, protocol)["test_index"][row])
    return None if i < 0 else int(get_data(dataset, max_length, protocol).split.test.targets[i])


def held_out_set(dataset: str, max_length: int, row: int,
                 protocol: str = "leave_last_out") -> list[int]:
    """Every held-out test movie of the user (one under leave-last-out)."""
    i = int(chronology(dataset, max_length, protocol)["test_index"][row])
    if i < 0:
        return []
    split = get_data(dataset, max_length, protocol).split
    return [int(c) for c in split.target_set(split.test, i)]


@shared(256)
def user_history(dataset: str, max_length: int, row: int,
                 protocol: str = "leave_last_out") -> pd.DataFrame:
    """The user's whole history, oldest first, the held-out test movies flagged."""
    data = get_data(dataset, max_length, protocol)
    split = data.split
    chrono = chronology(dataset, max_length, protocol)
    lo, hi = split.offsets[row], split.offsets[row + 1]
    codes = split.sequence[lo:hi]
    items = items_table(dataset, max_length)
    out = pd.DataFrame({
        "code": codes,
        "title": items["title"].to_numpy()[codes],
        "year": items["year"].to_numpy()[codes],
        "genres": items["genres"].to_numpy()[codes],
        "rating": chrono["ratings"][lo:hi],
        "date": pd.to_datetime(chrono["timestamps"][lo:hi], unit="s"),
    })
    n_held = len(held_out_set(dataset, max_length, row, protocol))
    out["held_out"] = False
    if n_held:
        out.loc[len(out) - n_held:, "held_out"] = True
    return out


@shared(6)
def serving_history_table(dataset: str, max_length: int,
                          protocol: str = "leave_last_out") -> np.ndarray:
    data = get_data(dataset, max_length, protocol)
    return serving_histories(data.split, data.encoded.n_users)


def routing(loaded: Loaded, row: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, L) routing weights of the user's serving-time history and the (L,) item codes."""
    entry, data = loaded.entry, loaded.data
    hist = serving_history_table(data.encoded.name, data.split.max_length,
                                 data.split.protocol)[row]
    model = get_model(entry.path, entry.mtime)
    w = model.explain(torch.as_tensor(hist), torch.as_tensor(data.encoded.user_features[row]))
    return w.cpu().numpy(), hist


def diverse_users(dataset: str, max_length: int, share: float = 0.05) -> list[int]:
    """Raw ids of the users whose histories spread most evenly over genres (top ``share``)."""
    t = users_table(dataset, max_length)
    n = max(1, int(math.ceil(len(t) * share)))
    return t.nlargest(n, "genre_entropy")["user_id"].astype(int).tolist()


def genre_counts(genres: list[str]) -> Counter:
    return Counter(g for s in genres for g in s.split(", ") if g)
