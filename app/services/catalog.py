"""The trained models on disk, grouped the way the pages show them.

An :class:`Entry` is one bundle folder, read from its ``config.json`` and ``metrics.json``
only (cheap; cached on the folders' modification times). A *configuration* (``family``) is
every hyperparameter except K (``interest_num``) and the seed: the Compare page lines up a
configuration's K values, and its seeds give the noise floor every difference is read against.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app.services.shared import shared
from mind_core.artifacts import artifacts_dir, is_held, list_bundles, verify_bundle
from mind_core.config import PAPER_FAITHFUL, MINDConfig
from mind_core.data.fetch import GROUPLENS_FILES, data_dir
from mind_core.errors import DataError
from mind_core.workflow.defaults import dataset_config

DEFAULT_DATASET = "ml-100k"
# Config fields shown in a configuration's short label, in this order.
LABEL_FIELDS = [("embed_dim", "D"), ("max_length", "L"), ("epochs", "epochs"),
                ("learning_rate", "lr"), ("temperature", "τ")]


def available_datasets() -> list[str]:
    """Known datasets that are fetched, plus any with trained models (default first)."""
    names = {n for n in GROUPLENS_FILES if (data_dir() / n).exists()}
    root = data_dir() / "artifacts"
    if root.is_dir():
        names |= {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    names.add(DEFAULT_DATASET)
    return sorted(names, key=lambda n: (n != DEFAULT_DATASET, n))


def building(dataset: str) -> bool:
    """Whether any model of ``dataset`` is being trained now by a live process (its lock is
    held: this server's jobs, `make run`'s background builds, any `mind-core` command)."""
    folder = artifacts_dir(dataset)
    return folder.is_dir() and any(is_held(p) for p in folder.glob(".lock-*"))


def signature(dataset: str, fresh: bool = False) -> tuple:
    """Cheap fingerprint of the bundles on disk: (path, newest file change) per bundle, so a
    rebuilt or damaged file changes it. Each reading stats every file of every model and a
    page asks several times per rerun: one reading serves the rest of the session's run
    (``main.py`` counts runs); ``fresh``: read the disk now (a fragment polling for changes,
    whose reruns do not pass through ``main.py``)."""
    key = (dataset, str(artifacts_dir(dataset)), st.session_state.get(RUN_KEY))
    kept = st.session_state.get("_signature")
    if not fresh and kept is not None and kept[0] == key:
        return kept[1]
    value = read_signature(dataset)
    st.session_state["_signature"] = (key, value)
    return value


RUN_KEY = "_run"  # the session's count of full runs (main.py)


def changed_since_read(dataset: str) -> bool:
    """Whether the models on disk changed since this run first read them (and this run reads
    them anew from here on). For a page that found nothing being built: a model that landed
    between its first reading and that check is in no figure yet, and with nothing being built
    no poll is left to notice it."""
    before = signature(dataset)
    return signature(dataset, fresh=True) != before


def read_signature(dataset: str) -> tuple:
    out = []
    for p in list_bundles(dataset):
        try:
            out.append((str(p), max(f.stat().st_mtime_ns for f in p.iterdir())))
        except (OSError, ValueError):
            continue
    return tuple(out)


@dataclass(frozen=True)
class Entry:
    """One trained model on disk."""
    path: str
    name: str
    k: int
    seed: int
    family: str  # the configuration apart from interest_num and seed
    config: dict
    mtime: int
    created: str
    hr50: float | None
    error: str | None = None
    merge: str = "max_score"  # the merge of its headline figures (chosen on validation)

    @property
    def protocol(self) -> str:
        return self.config.get("protocol", "leave_last_out")


def family_key(config: dict) -> str:
    """The configuration a model belongs to: its identity without K and the seed. Read through
    MINDConfig, so a field added later (absent from older config.json files) does not split
    one configuration in two."""
    full = MINDConfig.from_dict(config).to_dict()
    rest = {k: v for k, v in full.items() if k not in ("interest_num", "seed", "device")}
    return json.dumps(rest, sort_keys=True)


@shared(32)
def _catalog(sig: tuple) -> list[Entry]:
    entries = []
    for path, mtime in sig:
        p = Path(path)
        try:
            with warnings.catch_warnings():  # older bundles without a manifest: still listed
                warnings.simplefilter("ignore")
                verify_bundle(p)  # every file against its manifest (hashes cached by file state)
            raw = json.loads((p / "config.json").read_text())
            config = raw["config"]
            try:
                metrics = json.loads((p / "metrics.json").read_text())
                hr50, merge = metrics["test"]["HR@50"], metrics.get("merge", "max_score")
            except (OSError, KeyError, ValueError, TypeError):
                hr50, merge = None, "max_score"
            entries.append(Entry(path, p.name, int(config["interest_num"]),
                                 int(config.get("seed", 0)), family_key(config), config, mtime,
                                 raw.get("meta", {}).get("created", ""), hr50,
                                 merge=merge))
        except (OSError, KeyError, ValueError, TypeError) as e:  # BundleError is a ValueError
            entries.append(Entry(path, p.name, 0, 0, "", {}, mtime, "", None,
                                 error=f"{e.__class__.__name__}: {e}"))
    return sorted(entries, key=lambda e: (e.family, e.k, e.seed))


def catalog(dataset: str) -> list[Entry]:
    return [e for e in _catalog(signature(dataset)) if e.error is None]


def broken_bundles(dataset: str) -> list[Entry]:
    return [e for e in _catalog(signature(dataset)) if e.error is not None]


def families(entries: list[Entry]) -> dict[str, list[Entry]]:
    out: dict[str, list[Entry]] = {}
    for e in entries:
        out.setdefault(e.family, []).append(e)
    return out


def by_k(entries: list[Entry]) -> dict[int, dict[int, Entry]]:
    """{K: {seed: entry}} of one configuration's entries."""
    out: dict[int, dict[int, Entry]] = {}
    for e in entries:
        out.setdefault(e.k, {})[e.seed] = e
    return dict(sorted(out.items()))


def family_label(family: str, all_families: list[str]) -> str:
    """A short label naming the hyperparameters that tell this configuration apart from the
    others (the usual ones when nothing differs), led by "paper-faithful" or "default"."""
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


def default_family(entries: list[Entry], dataset: str = "") -> str | None:
    """The dataset's default configuration (what `make run` builds: its declared protocol and
    the start chosen on validation) if any of it is built; otherwise the configuration with
    the most models built (ties: the newest)."""
    if not entries:
        return None
    fams = families(entries)
    try:
        default = family_key(dataset_config(dataset).to_dict())
    except DataError:  # an unreadable start record or declaration: no default to prefer
        default = None
    if default in fams:
        return default
    return max(fams, key=lambda f: (len(fams[f]), max(e.created for e in fams[f])))


def family_config(family: str, k: int, seed: int) -> MINDConfig:
    """The full configuration of one model of a family (to train a missing K or seed)."""
    return MINDConfig.from_dict({**json.loads(family), "interest_num": k, "seed": seed})
