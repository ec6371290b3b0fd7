"""Shared page furniture: the sidebar pickers, page headers, readable failures, and the offers
to train missing models in the background."""

from __future__ import annotations

import functools

import streamlit as st

from app.services import catalog, loaders, state, tables
from app.services.training import (
    TrainingLocked,
    TrainingRefused,
    being_trained,
    board,
    is_public,
    refusal,
)
from mind_core.data.fetch import data_dir
from mind_core.errors import BundleError, DataError
from mind_core.workflow import DEFAULT_INTEREST_NUMS

READABLE = (BundleError, DataError, FileNotFoundError, ValueError, KeyError, OSError)


def sidebar(page: str) -> state.Selection:
    """Dataset, configuration, K and user pickers (all persisted across pages)."""
    sel = state.selection()
    with st.sidebar:
        if is_public():
            st.text_input("Training token", type="password", key="train_token",
                          help="This server is shared: training from the browser needs the "
                               "token it was started with.")
        datasets = catalog.available_datasets()
        st.selectbox("Dataset", datasets, key=state.bind("dataset", datasets),
                     on_change=dataset_changed, disabled=len(datasets) < 2,
                     help="Datasets fetched into the data folder (`mind-core data fetch`).")
        if page == "Train":
            return sel
        if not sel.entries:
            st.info("No trained model yet.")
            return sel
        broken = catalog.broken_bundles(sel.dataset)
        if broken:
            with st.expander(f"{len(broken)} damaged model(s)", icon=":material/error:"):
                for e in broken:
                    st.caption(f"`{e.name}`: {without_paths(e.error)}")
        model_pickers(sel)
        background_notice(sel)
        if sel.problem:
            return sel
        user_pickers(sel)
    return state.selection()


def model_pickers(sel: state.Selection) -> None:
    """Configuration (when there are several), K and seed (when there are several)."""
    fams = catalog.families(sel.entries)
    if len(fams) > 1:
        names = sorted(fams)
        st.selectbox("Configuration", names, key=state.bind("family", names),
                     on_change=state.sync, args=("family",),
                     format_func=lambda f: catalog.family_label(f, names),
                     help="Models trained with the same hyperparameters except K and "
                          "the seed.")
    ks = [e.k for e in sel.k_entries]
    st.radio("Interests per user (K)", ks, key=state.bind("k", ks), horizontal=True,
             on_change=state.sync, args=("k",), format_func=lambda k: f"K={k}",
             help="interest_num: how many interest vectors MIND extracts per user.")
    if len(sel.seeds) > 1:
        st.radio("Seed", sel.seeds, key=state.bind("seed", sel.seeds), horizontal=True,
                 on_change=state.sync, args=("seed",),
                 help="The same configuration trained from another random start. "
                      "Differences between seeds are the noise every comparison is "
                      "read against.")


def background_notice(sel: state.Selection) -> None:
    """Default K values not built yet while models are being built (e.g. by `make run` after
    the first page is served): say so, and rerun the page when one lands."""
    built = {e.k for e in sel.family_entries}
    missing = [k for k in DEFAULT_INTEREST_NUMS if k not in built]
    if not missing:
        return
    if follow_catalogue(sel.dataset, catalog.building(sel.dataset)):
        st.info(f"Building K={', '.join(map(str, missing))} in the background; the pages add "
                "them when they land.", icon=":material/autorenew:")


def user_pickers(sel: state.Selection) -> None:
    """The searchable user picker and the two shortcuts."""
    labels = tables.user_labels(sel.dataset, sel.max_length)
    ids = list(labels)
    st.selectbox("User", ids, key=state.bind("user", ids), on_change=state.sync,
                 args=("user",), format_func=labels.__getitem__,
                 help="Type to search by id, age, gender or occupation.")
    st.button("Random user", icon=":material/casino:", on_click=state.pick_random_user,
              args=(sel.dataset, sel.max_length), width="stretch")
    st.button("A user with diverse tastes", icon=":material/diversity_3:",
              on_click=state.pick_diverse_user,
              args=(sel.dataset, sel.max_length), width="stretch",
              help="A user whose history spreads over many genres (top 5%).")


def dataset_changed() -> None:
    """Widget callback: a new dataset starts from its own default choices (or from those the
    person made on it before)."""
    state.switch_dataset(st.session_state["w_dataset"])


def page_header(title: str, caption: str) -> None:
    st.title(title)
    st.caption(caption)


def without_paths(text: str) -> str:
    """``text`` with the server's data folder written as "the data folder": a page never shows
    where the server keeps its files (every viewer of a shared server would read them)."""
    folder = data_dir()
    for form in {str(folder.resolve()), str(folder.absolute()), str(folder)}:
        if len(form) > 1:
            text = text.replace(form + "/", "").replace(form, "the data folder")
    return text


def show_failure(what: str, error: BaseException) -> None:
    """A readable failure: one line saying what and why (no server paths)."""
    st.error(f"**{what}.** {without_paths(str(error))}")


def show_not_started(error: BaseException) -> None:
    """Why a training was not started, in the same words everywhere (no server paths)."""
    st.error(f"**Not started.** {without_paths(str(error))}")


def show_broken(dataset: str) -> None:
    """Name every model folder that failed its checks (damaged file, manifest mismatch, ...)
    and why; such a model is left out of every picker."""
    broken = catalog.broken_bundles(dataset)
    if broken:
        st.error(f"**{len(broken)} damaged model folder(s), left out of the pickers.** "
                 + " ".join(f"`{e.name}`: {without_paths(e.error)}" for e in broken))


def load_or_stop(entry: catalog.Entry) -> loaders.Loaded:
    """The selected model with its data, or a readable failure that stops the page."""
    try:
        return loaders.load(entry)
    except READABLE as e:
        show_failure(f"Cannot load model {entry.name}", e)
        st.stop()


def offer_training(dataset: str, dataset_name: str, configs: list, what: str, key: str) -> None:
    """Say which models are missing and offer to train them in the background (no index or
    map: comparisons search exactly). Models already being trained are only reported."""
    running = [c for c in configs if being_trained(dataset_name, c)]
    waiting = [c for c in configs if c not in running]
    if running:
        st.info(f"Training {len(running)} model(s) for {what} in the background; this page "
                "shows them as soon as they are built.", icon=":material/autorenew:")
    reason = training_refusal()
    if waiting and st.button(f"Train {len(waiting)} model(s) for {what} in the background",
                             key=key, icon=":material/model_training:", disabled=bool(reason),
                             help=reason):
        offer_training_now(dataset, dataset_name, waiting)
    if waiting and reason:
        st.caption(reason)


def offer_training_now(dataset: str, dataset_name: str, configs: list) -> None:
    """Start training ``configs`` in the background (no index or map) and say so."""
    start_training(dataset, dataset_name, configs, False,
                   f"Training {len(configs)} model(s) in the background. Follow them on the "
                   "Train page; this page updates as they are built.")


def start_training(dataset: str, dataset_name: str, configs: list, with_serving: bool,
                   started: str, follow=None, expect: int = 0) -> None:
    """A background job for ``configs`` (``follow``, ``expect``: see
    :meth:`app.services.training.JobBoard.start`); says ``started``, or why it could not
    start."""
    try:
        board().start(dataset, configs, dataset_name, with_serving=with_serving,
                      token=st.session_state.get("train_token"), follow=follow,
                      expect=expect)
    except (TrainingLocked, TrainingRefused) as e:
        show_not_started(e)
        return
    except READABLE as e:
        show_failure("Could not start training", e)
        return
    st.success(started)


def training_refusal() -> str | None:
    """Why this session may not start training here (None: it may)."""
    return refusal(st.session_state.get("train_token"))


def refresh_when_built(dataset: str, configs: list, dataset_name: str) -> None:
    """While any of ``configs`` is being trained, poll every few seconds and rerun the page
    once the catalogue of models on disk changes."""
    follow_catalogue(dataset, any(being_trained(dataset_name, c) for c in configs))


def follow_catalogue(dataset: str, building: bool, poll=None) -> bool:
    """Keep the page on the models on disk: while ``building`` (checked by the caller before
    this call), poll and rerun when one lands; once nothing is, rerun now if a model landed
    after this run first read the disk (between that reading and the check: with nothing being
    built, no poll would ever show it). ``poll(signature)``: the page's own polling fragment
    (default :func:`poll_catalogue`). Returns ``building``."""
    if building:
        (poll or functools.partial(poll_catalogue, dataset))(catalog.signature(dataset))
    elif catalog.changed_since_read(dataset):
        st.rerun(scope="app")
    return building


@st.fragment(run_every=5.0)
def poll_catalogue(dataset: str, before: tuple) -> None:
    """Rerun the whole page once the models on disk differ from ``before``."""
    if catalog.signature(dataset, fresh=True) != before:
        st.rerun(scope="app")
