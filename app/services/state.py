"""The session's choices and the selection every page starts from.

Choices (dataset, configuration, K, seed, user, N, backend, merge strategy) live in plain
``st.session_state`` keys that no widget owns, so they survive page switches; widgets are bound
to them with :func:`bind` (widget key ``w_<name>``). :func:`selection` resolves them against the
models on disk.

Where a page's data comes from:

- :mod:`app.services.catalog`: the models on disk, grouped into configurations (``Entry``);
- :mod:`app.services.loaders`: data, bundles, models, indexes and maps, cached once per process;
- :mod:`app.services.tables`: movie and user tables, a user's history and routing;
- :mod:`app.services.recs`: recommendations, list overlaps, the seed noise floor and sweeps;
- :mod:`app.services.training`: training jobs started from the browser, and the locks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import streamlit as st

from app.services.catalog import (
    DEFAULT_DATASET,
    Entry,
    available_datasets,
    by_k,
    catalog,
    default_family,
    families,
)
from app.services.tables import diverse_users, users_table
from mind_core.artifacts import artifacts_dir
from mind_core.errors import BundleError, DataError
from mind_core.serving import BACKENDS, MERGE_STRATEGIES

DEFAULT_K = 4
DEFAULTS = {"dataset": DEFAULT_DATASET, "n": 10, "backend": "annoy"}
N_CHOICES = range(5, 51, 5)  # the sidebar's N slider
# The choices a link carries (?dataset=ml-100k&model=mind-k4-1f94138b&user=42&n=10&merge=...
# &backend=annoy):
# the model's name stands for its configuration, K and seed.
LINK = ("dataset", "model", "user", "n", "merge", "backend")
LINK_INTS = ("user", "n")


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
    """Widget callback: copy ``w_<name>`` into the persisted choice ``name``, and into the
    page's link when the link carries it: a widget inside a fragment reruns only its fragment,
    so the link must not wait for the next full run of ``main.py``."""
    value = st.session_state[f"w_{name}"]
    st.session_state[name] = value
    if name in LINK and name != "model" and value is not None:
        st.query_params[name] = str(value)


# The choices that belong to one dataset: a switch keeps them for a return, and the new
# dataset starts from what the person chose there before, else from its own defaults (its
# models' merge, K=4, seed 0, its first user).
PER_DATASET = ("family", "k", "seed", "user", "merge")


def switch_dataset(new: str) -> None:
    """Make ``new`` the dataset; the old one's choices are kept for a return to it."""
    old = st.session_state.get("dataset")
    kept = st.session_state.setdefault("_per_dataset", {})
    if old is not None:
        kept[old] = {k: st.session_state[k] for k in PER_DATASET if k in st.session_state}
    st.session_state["dataset"] = new
    for key in PER_DATASET:
        st.session_state.pop(key, None)
    st.session_state.update(kept.get(new, {}))
    # the address follows at once (the run that follows completes it with the new model)
    st.query_params.from_dict({"dataset": new})


@dataclass
class Selection:
    dataset: str
    entries: list[Entry] = field(default_factory=list)
    family: str | None = None
    entry: Entry | None = None
    seed: int = 0
    user_id: int | None = None
    problem: str | None = None  # a readable reason the selection is unusable

    @property
    def family_entries(self) -> list[Entry]:
        """Every model of the configuration: all K values and seeds."""
        return sorted([e for e in self.entries if e.family == self.family],
                      key=lambda e: (e.k, e.seed))

    @property
    def k_entries(self) -> list[Entry]:
        """One model per K: the selected seed's, or the lowest seed built for that K."""
        out = []
        for seeds in by_k(self.family_entries).values():
            out.append(seeds.get(self.seed, seeds[min(seeds)]))
        return out

    @property
    def seeds(self) -> list[int]:
        """Seeds built for the selected K."""
        return sorted(e.seed for e in self.family_entries if self.entry and e.k == self.entry.k)

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
        family = default_family(sel.entries, dataset)
        put("family", family)
    sel.family = family
    per_k = by_k(sel.family_entries)
    k = get("k", DEFAULT_K)
    if k not in per_k:
        k = DEFAULT_K if DEFAULT_K in per_k else list(per_k)[-1]
        put("k", k)
    seed = get("seed", 0)
    if seed not in per_k[k]:
        seed = min(per_k[k])
        put("seed", seed)
    sel.seed, sel.entry = seed, per_k[k][seed]
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


def merge(default: str) -> str:
    """The merge strategy the person chose (on this dataset), else ``default``: the model's
    own, chosen on its validation set (catalog ``Entry.merge``). The default is not stored, so
    each model shows its own until the person picks one."""
    value = st.session_state.get("merge")
    if value in MERGE_STRATEGIES:
        return value
    return default if default in MERGE_STRATEGIES else MERGE_STRATEGIES[0]


def bind_merge(strategies, default: str) -> str:
    """:func:`bind` for the merge pickers: shows :func:`merge` without storing a default."""
    value = merge(default)
    st.session_state["w_merge"] = value if value in strategies else strategies[0]
    return "w_merge"


def read_link() -> None:
    """Once per session: the choices in the page's link (``st.query_params``) become the
    session's. A value that cannot be read is dropped and noted; one that names nothing on
    disk is replaced by :func:`selection` and noted by :func:`link_notice`."""
    if st.session_state.get("_link_read"):
        return
    st.session_state["_link_read"] = True
    asked, unreadable = {}, []
    for key in LINK:
        raw = st.query_params.get(key)
        if raw is None:
            continue
        asked[key] = raw
        if key in LINK_INTS:
            try:
                put(key, int(raw))
            except ValueError:
                unreadable.append(f"{key}={raw!r} (expected a whole number)")
                asked.pop(key)
        elif key == "model":
            entry = next((e for e in _entries(get("dataset")) if e.name == raw), None)
            if entry is not None:
                put("family", entry.family)
                put("k", entry.k)
                put("seed", entry.seed)
        else:
            put(key, raw)
    st.session_state["_link_asked"] = asked
    st.session_state["_link_unreadable"] = unreadable


def link_notice(sel: Selection) -> str | None:
    """One line saying which of the link's choices were not available (once), else None."""
    asked = st.session_state.pop("_link_asked", {})
    problems = list(st.session_state.pop("_link_unreadable", []))
    if get("n") not in N_CHOICES:
        put("n", DEFAULTS["n"])
    if get("backend") not in BACKENDS:
        put("backend", DEFAULTS["backend"])
    resolved = link_values(sel)
    for key, raw in asked.items():
        if str(resolved.get(key)) != str(raw):
            problems.append(f"{key}={raw!r}")
    if not problems:
        return None
    return (f"The link asked for {', '.join(problems)}, which is not available here: showing "
            "the default instead.")


def _entries(dataset) -> list[Entry]:
    try:
        return catalog(str(dataset))
    except OSError:
        return []


def link_values(sel: Selection) -> dict:
    """The current view's choices, as the link carries them."""
    values = {"dataset": sel.dataset, "model": sel.entry.name if sel.entry else None,
              "user": sel.user_id, "n": get("n"),
              "merge": merge(sel.entry.merge if sel.entry else ""), "backend": get("backend")}
    return {k: v for k, v in values.items() if v is not None}


def write_link(sel: Selection) -> None:
    """Put the current choices in the page's link, so it opens this view for someone else."""
    values = {k: str(v) for k, v in link_values(sel).items()}
    if dict(st.query_params) != values:
        st.query_params.from_dict(values)


def user_row(sel: Selection, data) -> int:
    return data.encoded.user_row(sel.user_id)


def pick_random_user(dataset: str, max_length: int) -> None:
    ids = users_table(dataset, max_length)["user_id"].astype(int).tolist()
    put("user", random.choice(ids))


def pick_diverse_user(dataset: str, max_length: int) -> None:
    put("user", random.choice(diverse_users(dataset, max_length)))
