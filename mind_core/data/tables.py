"""The normalized MovieLens dataset every reader produces.

Three tables, whatever the file layout was:

- ``interactions``: one row per rating, in file order. Columns ``user`` and ``item`` (raw ids:
  int32 when every id fits, else int64; 4 bytes a row matter at 25M ratings), ``rating``
  (float32), ``timestamp`` (int64, seconds).
- ``users``: indexed by raw user id. Columns ``gender``, ``age``, ``occupation``, ``zip`` (str;
  empty when unknown). ``Dataset.has_profile`` is False when the layout has no user file (the
  ml-20m/25m/32m/latest CSVs) or the file gives no feature at all: every cell is then empty, and
  encoding and the app treat the profile as absent rather than as blanks.
- ``items``: indexed by raw item id. Columns ``title`` (str), ``year`` (Int64, nullable) and
  ``genres`` (list of str).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

USER_COLUMNS = ["gender", "age", "occupation", "zip"]
ITEM_COLUMNS = ["title", "year", "genres"]
_HASH_SLICE = 1 << 20


@dataclass(frozen=True)
class Dataset:
    name: str
    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    has_profile: bool = True  # False: no user profile in the data (see the module docstring)

    def __post_init__(self):
        assert list(self.interactions.columns) == ["user", "item", "rating", "timestamp"]
        assert list(self.users.columns) == USER_COLUMNS
        assert list(self.items.columns) == ITEM_COLUMNS

    @property
    def n_users(self) -> int:
        return int(self.interactions["user"].nunique())

    @property
    def n_items(self) -> int:
        return int(self.interactions["item"].nunique())

    def fingerprint(self) -> str:
        """sha256 over the interactions (order included): a bundle trained on other data
        refuses to load against this one."""
        h = hashlib.sha256()
        # hashed in slices, as int64 whatever the stored width (the same digest as hashing each
        # whole column at once, without a second full-size copy of it at 25M ratings)
        for col, dtype in (("user", np.int64), ("item", np.int64), ("timestamp", np.int64),
                           ("rating", np.float32)):
            values = self.interactions[col].to_numpy()
            for lo in range(0, len(values), _HASH_SLICE):
                h.update(np.ascontiguousarray(values[lo:lo + _HASH_SLICE], dtype=dtype).data)
        return h.hexdigest()[:16]


def _id_dtype(values) -> str:
    """int32 when every id fits in it, else int64."""
    values = np.asarray(values)
    if len(values) == 0:
        return "int32"
    info = np.iinfo(np.int32)
    return "int32" if info.min <= values.min() and values.max() <= info.max else "int64"


def items_table(ids, titles, years, genres) -> pd.DataFrame:
    """The normalized items table (index: item id; title, year, genres) every reader builds."""
    return pd.DataFrame({"title": titles, "year": pd.array(years, dtype="Int64"),
                         "genres": genres}, index=pd.Index(ids, dtype="int64"))


def make_dataset(name, interactions, users=None, items=None) -> Dataset:
    """Fill the tables a layout lacks (users or items with unknown features) and fix dtypes.
    ``users=None`` (no user file) gives a dataset with ``has_profile`` False."""
    interactions = interactions[["user", "item", "rating", "timestamp"]].reset_index(drop=True)
    dtypes = {"user": _id_dtype(interactions["user"]), "item": _id_dtype(interactions["item"]),
              "rating": "float32", "timestamp": "int64"}
    if any(interactions[c].dtype != d for c, d in dtypes.items()):
        interactions = interactions.astype(dtypes)
    user_ids = np.unique(interactions["user"].to_numpy())
    item_ids = np.unique(interactions["item"].to_numpy())
    if users is None:
        users = pd.DataFrame(index=pd.Index([], dtype="int64"), columns=USER_COLUMNS)
    users = users[~users.index.duplicated()].reindex(user_ids)
    users = users.fillna("").astype(str)
    users.index.name = "user"
    has_profile = bool((users[USER_COLUMNS] != "").to_numpy().any())
    if items is None:
        items = pd.DataFrame(index=pd.Index([], dtype="int64"), columns=ITEM_COLUMNS)
    items = items[~items.index.duplicated()].reindex(item_ids)
    items["title"] = items["title"].fillna("").astype(str)
    missing_title = items["title"] == ""
    items.loc[missing_title, "title"] = [f"item {i}" for i in items.index[missing_title]]
    items["year"] = pd.array(items["year"], dtype="Int64")
    items["genres"] = [g if isinstance(g, list) else [] for g in items["genres"]]
    items.index.name = "item"
    return Dataset(name=name, interactions=interactions, users=users[USER_COLUMNS],
                   items=items[ITEM_COLUMNS], has_profile=has_profile)
