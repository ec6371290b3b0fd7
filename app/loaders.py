"""Heavy objects, loaded once per server process and shared by every session.

Data, bundles, models, indexes and projections go through ``st.cache_resource`` (one copy,
never pickled); cache keys include a bundle's modification time, so a model rebuilt under
the same name is picked up.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
import torch

from app.catalog import DEFAULT_DATASET, Entry
from mind_core.bundle import check_fingerprint, load_bundle

# Serving runs tiny tensor ops (one user at a time); torch's intra-op thread pool only adds
# contention there (measured: explain() 230 ms with the default pool on a busy 2-core box,
# 2 ms with one thread). Training started from the app runs with the same setting.
torch.set_num_threads(1)


@st.cache_resource(show_spinner="Reading the dataset…", max_entries=6)
def get_data(dataset: str, max_length: int, protocol: str = "leave_last_out"):
    from mind_core.pipeline import load_data

    return load_data(dataset, max_length, protocol)


@st.cache_resource(show_spinner="Loading the model…", max_entries=64)
def get_bundle(path: str, mtime: int):
    return load_bundle(path)


@st.cache_resource(show_spinner="Loading the model weights…", max_entries=16)
def get_model(path: str, mtime: int):
    bundle = get_bundle(path, mtime)
    data = get_data(bundle.meta["dataset"], bundle.config.max_length, bundle.config.protocol)
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
    data = get_data(bundle.meta.get("dataset", DEFAULT_DATASET), bundle.config.max_length,
                    bundle.config.protocol)
    check_fingerprint(bundle, data.encoded)
    return Loaded(entry, bundle, data)
