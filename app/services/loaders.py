"""Heavy objects, loaded once per server process and shared by every session.

Data, bundles, models, indexes and projections go through ``st.cache_resource`` (one copy,
never pickled); cache keys include a bundle's modification time, so a model rebuilt under
the same name is picked up.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from app.services.catalog import DEFAULT_DATASET, Entry
from app.services.shared import shared
from mind_core.artifacts import check_fingerprint, load_bundle
from mind_core.serving import load_index, load_projection
from mind_core.workflow.pipeline import dataset_of, load_data

# Serving runs tiny tensor ops (one user at a time); torch's intra-op thread pool only adds
# contention there (measured: explain() 230 ms with the default pool on a busy 2-core box,
# 2 ms with one thread). Training started from the app runs with the same setting.
torch.set_num_threads(1)


@shared(6, "Reading the dataset…")
def get_data(dataset: str, max_length: int, protocol: str = "leave_last_out"):
    return load_data(dataset, max_length, protocol)


@shared(64, "Loading the model…")
def get_bundle(path: str, mtime: int):
    return load_bundle(path)


@shared(16, "Loading the model weights…")
def get_model(path: str, mtime: int):
    bundle = get_bundle(path, mtime)
    data = get_data(dataset_of(bundle), bundle.config.max_length, bundle.config.protocol)
    return bundle.load_model(data.encoded)


@shared(32, "Loading the retrieval index…")
def get_index(path: str, mtime: int, backend: str):
    return load_index(get_bundle(path, mtime), backend)


@shared(16, "Loading the map…")
def get_projection(path: str, mtime: int):
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
    data = get_data(dataset_of(bundle) or DEFAULT_DATASET, bundle.config.max_length,
                    bundle.config.protocol)
    check_fingerprint(bundle, data.encoded)
    return Loaded(entry, bundle, data)


def load_path(path: str, mtime: int) -> Loaded:
    """:func:`load` for a bundle known by its folder only (a sweep's or a twin seed's)."""
    bundle = get_bundle(path, mtime)
    config = bundle.config.to_dict()
    entry = Entry(path, bundle.name, config["interest_num"], config["seed"], "", config, mtime,
                  bundle.meta.get("created", ""), None)
    return load(entry)
