"""The normalized MovieLens dataset every reader produces.

Three tables, whatever the file layout was:

- ``interactions``: one row per rating, in file order. Columns ``user`` (int64 raw id),
  ``item`` (int64 raw id), ``rating`` (float32), ``timestamp`` (int64, seconds).
- ``users``: indexed by raw user id. Columns ``gender``, ``age``, ``occupation``, ``zip`` (str;
  empty when unknown).
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


@dataclass(frozen=True)
class Dataset:
    name: str
    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame

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
        for col in ("user", "item", "timestamp"):
            h.update(np.ascontiguousarray(self.interactions[col].to_numpy(np.int64)).tobytes())
        h.update(np.ascontiguousarray(self.interactions["rating"].to_numpy(np.float32)).tobytes())
        return h.hexdigest()[:16]


def make_dataset(name, interactions, users=None, items=None) -> Dataset:
    """Fill the tables a layout lacks (users or items with unknown features) and fix dtypes."""
    interactions = interactions.reset_index(drop=True).astype(
        {"user": "int64", "item": "int64", "rating": "float32", "timestamp": "int64"}
    )[["user", "item", "rating", "timestamp"]]
    user_ids = np.unique(interactions["user"].to_numpy())
    item_ids = np.unique(interactions["item"].to_numpy())
    if users is None:
        users = pd.DataFrame(index=pd.Index([], dtype="int64"), columns=USER_COLUMNS)
    users = users[~users.index.duplicated()].reindex(user_ids)
    users = users.fillna("").astype(str)
    users.index.name = "user"
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
                   items=items[ITEM_COLUMNS])
