"""Integer codes for users, items and features. Code 0 is reserved for padding/unknown in every
vocabulary that can be padded (items, genres, profile features); users index rows (0-based).

Codes are assigned in sorted raw-id order, so the same data always gives the same encoding.

Without a user profile (``Dataset.has_profile`` False, e.g. the ml-25m layout) there are no real
profile features. The model still takes a (U, 4) feature matrix, so every user gets the code of
an unknown value (0, vocabulary ``[""]``) in each field: a learned constant in the interest MLP,
exactly what a profile file with every field blank gave before, so the model, its bundle and
its ONNX export keep their usual shapes. ``Encoded.has_profile`` says which case it is; the
app hides the profile when it is False.

Per-interaction arrays are compact where nothing downstream needs more: user rows int32,
ratings float32. Item codes stay int64 because they become the split's history windows and
training labels (embedding indices and cross-entropy targets, which torch wants as int64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mind_core.data.tables import Dataset

PROFILE_FEATURES = ["gender", "age", "occupation", "zip"]
AGE_BUCKETS = [1, 18, 25, 35, 45, 50, 56]  # MovieLens-1M's buckets; ml-100k ages map into them


def age_bucket(value: str) -> str:
    if not value.strip().lstrip("-").isdigit():
        return ""
    age = int(value)
    return str(max([b for b in AGE_BUCKETS if b <= age], default=AGE_BUCKETS[0]))


def zip_prefix(value: str) -> str:
    """First character of the zip code: a coarse US region, enough for a profile embedding."""
    return value.strip()[:1].upper()


@dataclass
class Encoded:
    name: str
    fingerprint: str
    user_ids: np.ndarray  # (U,) raw user id of each row
    item_ids: np.ndarray  # (I+1,) raw item id of each code; item_ids[0] = -1 (padding)
    genre_names: list[str]  # genre code -> name; [0] = "" (padding)
    item_genres: np.ndarray  # (I+1, G) genre codes per item, 0-padded
    feature_vocab: dict[str, list[str]]  # profile feature -> code -> value; [0] = "" (unknown)
    user_features: np.ndarray  # (U, 4) profile codes in PROFILE_FEATURES order
    users: np.ndarray  # (N,) int32 user row per interaction, dataset order
    items: np.ndarray  # (N,) item code per interaction
    timestamps: np.ndarray  # (N,)
    ratings: np.ndarray  # (N,)
    titles: list[str]  # item code -> title; [0] = ""
    years: list[int | None]
    primary_genre: np.ndarray  # (I+1,) first genre code of each item (0 = none)
    # False: the data has no user profile; every feature's vocabulary is [""] and
    # user_features (U, 4) all 0 (unknown). The app hides the profile then.
    has_profile: bool = True

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of item codes including padding."""
        return len(self.item_ids)

    def id_maps(self) -> dict:
        """JSON-ready maps for an artifact bundle."""
        return {"user_ids": self.user_ids.tolist(), "item_ids": self.item_ids.tolist(),
                "genre_names": self.genre_names, "feature_vocab": self.feature_vocab}

    def item_code(self, raw_id: int) -> int:
        code = int(np.searchsorted(self.item_ids[1:], raw_id)) + 1
        if code >= self.n_items or self.item_ids[code] != raw_id:
            raise KeyError(f"unknown item id {raw_id}")
        return code

    def user_row(self, raw_id: int) -> int:
        row = int(np.searchsorted(self.user_ids, raw_id))
        if row >= self.n_users or self.user_ids[row] != raw_id:
            raise KeyError(f"unknown user id {raw_id}")
        return row


def _vocab(values) -> tuple[list[str], np.ndarray]:
    vocab = [""] + sorted({v for v in values if v})
    index = {v: i for i, v in enumerate(vocab)}
    return vocab, np.array([index[v] for v in values], dtype=np.int64)


def encode(ds: Dataset) -> Encoded:
    inter = ds.interactions
    user_ids, users = np.unique(inter["user"].to_numpy(), return_inverse=True)
    raw_items, items = np.unique(inter["item"].to_numpy(), return_inverse=True)
    users = users.astype(np.int32)  # np.unique's inverse is intp: halve it
    items = items.astype(np.int64, copy=False)
    items += 1  # in place: code 0 is padding
    item_ids = np.concatenate([[-1], raw_items]).astype(np.int64)

    item_table = ds.items.loc[raw_items]
    genre_names = [""] + sorted({g for gs in item_table["genres"] for g in gs})
    genre_index = {g: i for i, g in enumerate(genre_names)}
    width = max(1, max((len(gs) for gs in item_table["genres"]), default=1))
    item_genres = np.zeros((len(item_ids), width), dtype=np.int64)
    for row, gs in enumerate(item_table["genres"], start=1):
        item_genres[row, : len(gs)] = [genre_index[g] for g in gs]

    feature_vocab, user_features = _profile(ds, user_ids)

    return Encoded(
        name=ds.name, fingerprint=ds.fingerprint(), user_ids=user_ids.astype(np.int64),
        item_ids=item_ids, genre_names=genre_names, item_genres=item_genres,
        feature_vocab=feature_vocab, user_features=user_features,
        users=users, items=items,
        timestamps=inter["timestamp"].to_numpy(np.int64),
        ratings=inter["rating"].to_numpy(np.float32),
        titles=[""] + item_table["title"].tolist(),
        years=[None] + [None if y is None or y is np.nan or str(y) == "<NA>" else int(y)
                        for y in item_table["year"]],
        primary_genre=item_genres[:, 0].copy(),
        has_profile=ds.has_profile,
    )


def _profile(ds: Dataset, user_ids: np.ndarray) -> tuple[dict[str, list[str]], np.ndarray]:
    """The profile vocabularies and (U, 4) codes; every field unknown without a profile."""
    if not ds.has_profile:  # as if every field were unknown: the same model as before
        return ({f: [""] for f in PROFILE_FEATURES},
                np.zeros((len(user_ids), len(PROFILE_FEATURES)), np.int64))
    profile = ds.users.loc[user_ids]
    columns = {
        "gender": [v.strip().upper()[:1] for v in profile["gender"]],
        "age": [age_bucket(v) for v in profile["age"]],
        "occupation": [v.strip().lower() for v in profile["occupation"]],
        "zip": [zip_prefix(v) for v in profile["zip"]],
    }
    feature_vocab, codes = {}, []
    for f in PROFILE_FEATURES:
        feature_vocab[f], c = _vocab(columns[f])
        codes.append(c)
    user_features = np.stack(codes, axis=1) if len(user_ids) else np.zeros((0, 4), np.int64)
    return feature_vocab, user_features
