"""Everything the pages share: cached loaders over ``mind_core`` and the session's choices.

Heavy objects (data, bundles, models, indexes, projections) are loaded once per process with
``st.cache_resource``; small tables with ``st.cache_data``. Cache keys include a bundle's
modification time, so a model rebuilt under the same name is picked up.

The session's choices (dataset, configuration, K, user, N, backend, merge strategy) live in
plain ``st.session_state`` keys that no widget owns, so they survive page switches; widgets
are bound to them with :func:`bind` (widget key ``w_<name>``).
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from mind_core.bundle import artifacts_dir, check_fingerprint, list_bundles, load_bundle
from mind_core.errors import BundleError, DataError
from mind_core.fetch import GROUPLENS_FILES, data_dir

# Serving runs tiny tensor ops (one user at a time); torch's intra-op thread pool only adds
# contention there (measured: explain() 230 ms with the default pool on a busy 2-core box,
# 2 ms with one thread). Training started from the app runs with the same setting.
torch.set_num_threads(1)

DEFAULT_DATASET = "ml-100k"
DEFAULT_K = 4
DEFAULTS = {"dataset": DEFAULT_DATASET, "n": 10, "backend": "annoy", "merge": "max_score"}
# Config fields shown in a configuration's short label, in this order.
LABEL_FIELDS = [("embed_dim", "D"), ("max_length", "L"), ("epochs", "epochs"),
                ("learning_rate", "lr"), ("temperature", "τ"), ("seed", "seed")]


# --- session choices -----------------------------------------------------------------------

def get(name: str, default=None):
    """A persisted choice (initialised from :data:`DEFAULTS`)."""
    if name not in st.session_state:
        st.session_state[name] = DEFAULTS.get(name, default)
    return st.session_state[name]


def put(name: str, value) -> None:
    st.session_state[name] = value


def bind(name: str, options=None, default=None) -> str:
    """Prepare widget key ``w_<name>`` to show the persisted choice ``name``; returns the
    widget key. Use with ``on_change=sync, args=(name,)``. A persisted value missing from
    ``options`` falls back to ``default`` (or the first option)."""
    value = get(name, default)
    if options is not None and value not in options:
        value = default if default in options else (options[0] if len(options) else None)
        put(name, value)
    st.session_state[f"w_{name}"] = value
    return f"w_{name}"


def sync(name: str) -> None:
    """Widget callback: copy ``w_<name>`` into the persisted choice ``name``."""
    st.session_state[name] = st.session_state[f"w_{name}"]


# --- datasets and the bundles on disk ------------------------------------------------------

def available_datasets() -> list[str]:
    """Known datasets that are fetched, plus any with trained models (default first)."""
    names = {n for n in GROUPLENS_FILES if (data_dir() / n).exists()}
    root = data_dir() / "artifacts"
    if root.is_dir():
        names |= {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    names.add(DEFAULT_DATASET)
    return sorted(names, key=lambda n: (n != DEFAULT_DATASET, n))


def _signature(dataset: str) -> tuple:
    """Cheap fingerprint of the bundles on disk: (name, mtime) per bundle."""
    out = []
    for p in list_bundles(dataset):
        try:
            out.append((str(p), (p / "config.json").stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(out)


@dataclass(frozen=True)
class Entry:
    """One trained model on disk."""
    path: str
    name: str
    k: int
    family: str  # the configuration apart from interest_num
    config: dict
    mtime: int
    created: str
    hr50: float | None
    error: str | None = None


def family_key(config: dict) -> str:
    rest = {k: v for k, v in config.items() if k not in ("interest_num", "device")}
    return json.dumps(rest, sort_keys=True)


@st.cache_data(show_spinner=False)
def _catalog(signature: tuple) -> list[Entry]:
    entries = []
    for path, mtime in signature:
        p = Path(path)
        try:
            raw = json.loads((p / "config.json").read_text())
            config = raw["config"]
            try:
                hr50 = json.loads((p / "metrics.json").read_text())["test"]["HR@50"]
            except (OSError, KeyError, ValueError):
                hr50 = None
            entries.append(Entry(path, p.name, int(config["interest_num"]), family_key(config),
                                 config, mtime, raw.get("meta", {}).get("created", ""), hr50))
        except (OSError, KeyError, ValueError, TypeError) as e:
            entries.append(Entry(path, p.name, 0, "", {}, mtime, "", None,
                                 error=f"{e.__class__.__name__}: {e}"))
    return sorted(entries, key=lambda e: (e.family, e.k))


def catalog(dataset: str) -> list[Entry]:
    return [e for e in _catalog(_signature(dataset)) if e.error is None]


def broken_bundles(dataset: str) -> list[Entry]:
    return [e for e in _catalog(_signature(dataset)) if e.error is not None]


def families(entries: list[Entry]) -> dict[str, list[Entry]]:
    out: dict[str, list[Entry]] = {}
    for e in entries:
        out.setdefault(e.family, []).append(e)
    return out


def family_label(family: str, all_families: list[str]) -> str:
    """A short label naming the hyperparameters that tell this configuration apart from the
    others (the usual ones when nothing differs), led by "paper-faithful" or "default"."""
    from mind_core.model import PAPER_FAITHFUL, MINDConfig

    config = json.loads(family)
    others = [json.loads(f) for f in all_families if f != family]
    short = dict(LABEL_FIELDS)
    def key(c: dict, name: str):  # the default ReLU width follows D: not a difference of its own
        value = c.get(name)
        return "2D" if name == "mlp_hidden" and value == [2 * c.get("embed_dim", 0)] else value

    differing = [n for n in config if any(key(o, n) != key(config, n) for o in others)]
    shown = [n for n in differing if n not in PAPER_FAITHFUL] or [
        n for n, _ in LABEL_FIELDS if n in config]
    parts = [f"{short.get(n, n)}={config[n]}" for n in shown]
    defaults = {k: v for k, v in MINDConfig().to_dict().items() if k in config}
    if all(config.get(k) == v for k, v in PAPER_FAITHFUL.items()):
        parts.insert(0, "paper-faithful")
    elif all(config[k] == v for k, v in defaults.items() if k != "device"):
        parts = ["default"]
    return " · ".join(parts)


def default_family(entries: list[Entry]) -> str | None:
    """The default configuration (what `make run` builds) if any of it is built; otherwise
    the configuration with the most K values built (ties: the newest)."""
    if not entries:
        return None
    from mind_core.model import MINDConfig

    fams = families(entries)
    default = family_key(MINDConfig().to_dict())
    if default in fams:
        return default
    return max(fams, key=lambda f: (len(fams[f]), max(e.created for e in fams[f])))


# --- cached loaders ----------------------------------------------------------------------

@st.cache_resource(show_spinner="Reading the dataset…", max_entries=6)
def get_data(dataset: str, max_length: int):
    from mind_core.pipeline import load_data

    return load_data(dataset, max_length)


@st.cache_resource(show_spinner="Loading the model…", max_entries=32)
def get_bundle(path: str, mtime: int):
    return load_bundle(path)


@st.cache_resource(show_spinner="Loading the model weights…", max_entries=16)
def get_model(path: str, mtime: int):
    bundle = get_bundle(path, mtime)
    data = get_data(bundle.meta["dataset"], bundle.config.max_length)
    return bundle.load_model(data.encoded)


@st.cache_resource(show_spinner="Loading the retrieval index…", max_entries=32)
def get_index(path: str, mtime: int, backend: str):
    from mind_core.retrieval import load_index

    return load_index(get_bundle(path, mtime), backend)


@st.cache_resource(show_spinner="Loading the map…", max_entries=16)
def get_projection(path: str, mtime: int):
    from mind_core.projection import load_projection

    return load_projection(get_bundle(path, mtime))


@dataclass
class Loaded:
    """A bundle with its data, checked to belong together."""
    entry: Entry
    bundle: object
    data: object


def load(entry: Entry) -> Loaded:
    """Bundle + data for an entry; raises BundleError/DataError with a readable message."""
    bundle = get_bundle(entry.path, entry.mtime)
    data = get_data(bundle.meta.get("dataset", DEFAULT_DATASET), bundle.config.max_length)
    check_fingerprint(bundle, data.encoded)
    return Loaded(entry, bundle, data)


# --- tables --------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=6)
def items_table(dataset: str, max_length: int) -> pd.DataFrame:
    """One row per item code (code 0, padding, included): title, year, genres, popularity."""
    enc = get_data(dataset, max_length).encoded
    split = get_data(dataset, max_length).split
    names = enc.genre_names
    genres = [", ".join(names[g] for g in row if g) for row in enc.item_genres]
    return pd.DataFrame({
        "movie_id": enc.item_ids, "title": enc.titles,
        "year": pd.array(enc.years, dtype="Int64"), "genres": genres,
        "primary": [names[g] or "(none)" for g in enc.primary_genre],
        "primary_code": enc.primary_genre, "ratings": split.item_counts,
    })


@st.cache_data(show_spinner=False, max_entries=6)
def users_table(dataset: str, max_length: int) -> pd.DataFrame:
    """One row per user row: raw id, profile, history length, genre diversity."""
    data = get_data(dataset, max_length)
    enc, split = data.encoded, data.split
    users = data.dataset.users.loc[enc.user_ids]
    lengths = np.diff(split.offsets)
    genre_of = enc.primary_genre[split.sequence]
    entropy = np.zeros(enc.n_users)
    for u in range(enc.n_users):
        counts = np.bincount(genre_of[split.offsets[u]:split.offsets[u + 1]])
        p = counts[counts > 0] / max(1, counts.sum())
        entropy[u] = float(-(p * np.log2(p)).sum())
    return pd.DataFrame({
        "user_id": enc.user_ids, "gender": users["gender"].to_numpy(),
        "age": users["age"].to_numpy(), "occupation": users["occupation"].to_numpy(),
        "zip": users["zip"].to_numpy(), "movies": lengths, "genre_entropy": entropy,
    })


@st.cache_data(show_spinner=False, max_entries=6)
def user_labels(dataset: str, max_length: int) -> dict[int, str]:
    t = users_table(dataset, max_length)
    return {int(r.user_id): f"User {r.user_id} · {r.age} {r.gender} · {r.occupation} · "
            f"{r.movies} movies" for r in t.itertuples()}


@st.cache_resource(show_spinner=False, max_entries=6)
def chronology(dataset: str, max_length: int) -> dict:
    """Ratings and timestamps aligned with ``split.sequence`` (the split's own ordering) and
    each user row's index in the test set (-1 if not evaluated)."""
    data = get_data(dataset, max_length)
    enc, split = data.encoded, data.split
    order = np.lexsort((np.arange(len(enc.items)), enc.timestamps, enc.users))
    assert np.array_equal(enc.items[order], split.sequence)
    test_index = np.full(enc.n_users, -1)
    test_index[split.test.users] = np.arange(len(split.test.users))
    return {"ratings": enc.ratings[order], "timestamps": enc.timestamps[order],
            "test_index": test_index}


def held_out(dataset: str, max_length: int, row: int) -> int | None:
    """The user's held-out (test) movie code, or None if the user is not evaluated."""
    i = int(chronology(dataset, max_length)["test_index"][row])
    return None if i < 0 else int(get_data(dataset, max_length).split.test.targets[i])


@st.cache_data(show_spinner=False, max_entries=256)
def user_history(dataset: str, max_length: int, row: int) -> pd.DataFrame:
    """The user's whole history, oldest first, the held-out test movie flagged."""
    data = get_data(dataset, max_length)
    split = data.split
    chrono = chronology(dataset, max_length)
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
    i = int(chrono["test_index"][row])
    out["held_out"] = False
    if i >= 0:
        out.loc[len(out) - 1, "held_out"] = True
    return out


@st.cache_resource(show_spinner=False, max_entries=6)
def serving_history_table(dataset: str, max_length: int) -> np.ndarray:
    from mind_core.bundle import serving_histories

    data = get_data(dataset, max_length)
    return serving_histories(data.split, data.encoded.n_users)


def routing(loaded: Loaded, row: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, L) routing weights of the user's serving-time history and the (L,) item codes."""
    import torch

    entry, data = loaded.entry, loaded.data
    hist = serving_history_table(data.encoded.name, data.split.max_length)[row]
    model = get_model(entry.path, entry.mtime)
    w = model.explain(torch.as_tensor(hist), torch.as_tensor(data.encoded.user_features[row]))
    return w.cpu().numpy(), hist


# --- users ----------------------------------------------------------------------------------

def diverse_users(dataset: str, max_length: int, share: float = 0.05) -> list[int]:
    """Raw ids of the users whose histories spread most evenly over genres (top ``share``)."""
    t = users_table(dataset, max_length)
    n = max(1, int(math.ceil(len(t) * share)))
    return t.nlargest(n, "genre_entropy")["user_id"].astype(int).tolist()


def pick_random_user(dataset: str, max_length: int) -> None:
    ids = users_table(dataset, max_length)["user_id"].astype(int).tolist()
    put("user", random.choice(ids))


def pick_diverse_user(dataset: str, max_length: int) -> None:
    put("user", random.choice(diverse_users(dataset, max_length)))


# --- recommendations ------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=512)
def recommend(_loaded: Loaded, path: str, mtime: int, row: int, n: int, merge: str,
              backend: str):
    """Per-interest and merged recommendations (cached per bundle, user and settings)."""
    from mind_core.retrieval import recommend as _recommend

    index = get_index(path, mtime, backend)
    return _recommend(_loaded.bundle, _loaded.data, row, n=n, merge=merge, backend=backend,
                      index=index)


def recommend_for(loaded: Loaded, row: int, n: int, merge: str, backend: str):
    return recommend(loaded, loaded.entry.path, loaded.entry.mtime, row, n, merge, backend)


def labels(loaded: Loaded, row: int, rec) -> list[dict]:
    from mind_core.retrieval import interest_labels

    model = get_model(loaded.entry.path, loaded.entry.mtime)
    return interest_labels(loaded.bundle, loaded.data, row, rec, model=model)


def merge_strategies() -> list[str]:
    from mind_core.retrieval import MERGE_STRATEGIES

    return list(MERGE_STRATEGIES)


# --- the selection every page starts from ---------------------------------------------------

@dataclass
class Selection:
    dataset: str
    entries: list[Entry] = field(default_factory=list)
    family: str | None = None
    entry: Entry | None = None
    user_id: int | None = None
    problem: str | None = None  # a readable reason the selection is unusable

    @property
    def family_entries(self) -> list[Entry]:
        return sorted([e for e in self.entries if e.family == self.family], key=lambda e: e.k)

    @property
    def max_length(self) -> int:
        return int(self.entry.config["max_length"]) if self.entry else 20


def selection() -> Selection:
    """The current choices, resolved against what is on disk (no widgets drawn)."""
    datasets = available_datasets()
    dataset = get("dataset")
    if dataset not in datasets:
        dataset = datasets[0]
        put("dataset", dataset)
    sel = Selection(dataset)
    try:
        sel.entries = catalog(dataset)
    except OSError as e:
        sel.problem = f"Cannot read {artifacts_dir(dataset)}: {e}"
        return sel
    if not sel.entries:
        return sel
    fams = families(sel.entries)
    family = get("family")
    if family not in fams:
        family = default_family(sel.entries)
        put("family", family)
    sel.family = family
    ks = [e.k for e in sel.family_entries]
    k = get("k", DEFAULT_K)
    if k not in ks:
        k = DEFAULT_K if DEFAULT_K in ks else ks[-1]
        put("k", k)
    sel.entry = next(e for e in sel.family_entries if e.k == k)
    try:
        ids = users_table(dataset, sel.max_length)["user_id"]
    except (DataError, BundleError, OSError) as e:
        sel.problem = str(e)
        return sel
    user = get("user")
    if user is None or user not in set(ids.tolist()):
        user = int(ids.iloc[0])
        put("user", user)
    sel.user_id = int(user)
    return sel


def user_row(sel: Selection, data) -> int:
    return data.encoded.user_row(sel.user_id)


def genre_counts(genres: list[str]) -> Counter:
    return Counter(g for s in genres for g in s.split(", ") if g)
