"""Shared page furniture: the sidebar pickers, the "no model" notice, readable failures."""

from __future__ import annotations

import streamlit as st

from app import state
from app.training import TrainingLocked, board
from mind_core.bundle import artifacts_dir
from mind_core.errors import BundleError, DataError

READABLE = (BundleError, DataError, FileNotFoundError, ValueError, KeyError, OSError)


def sidebar(page: str) -> state.Selection:
    """Dataset, configuration, K and user pickers (all persisted across pages)."""
    sel = state.selection()
    with st.sidebar:
        datasets = state.available_datasets()
        st.selectbox("Dataset", datasets, key=state.bind("dataset", datasets),
                     on_change=_dataset_changed, disabled=len(datasets) < 2,
                     help="Datasets fetched into the data folder (`mind-core data fetch`).")
        if page == "Train":
            return sel
        if not sel.entries:
            st.info("No trained model yet.")
            return sel
        fams = state.families(sel.entries)
        if len(fams) > 1:
            names = sorted(fams)
            st.selectbox("Configuration", names, key=state.bind("family", names),
                         on_change=state.sync, args=("family",),
                         format_func=lambda f: state.family_label(f, names),
                         help="Models trained with the same hyperparameters except K.")
        ks = [e.k for e in sel.family_entries]
        st.radio("Interests per user (K)", ks, key=state.bind("k", ks), horizontal=True,
                 on_change=state.sync, args=("k",), format_func=lambda k: f"K={k}",
                 help="interest_num: how many interest vectors MIND extracts per user.")
        if sel.problem:
            return sel
        labels = state.user_labels(sel.dataset, sel.max_length)
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
    return state.selection()


def _dataset_changed() -> None:
    state.sync("dataset")
    for key in ("family", "k", "user"):
        st.session_state.pop(key, None)


def no_model_notice(sel: state.Selection) -> None:
    """What to do when no model exists for the dataset (someone deleted them, or fresh)."""
    st.warning(f"**No trained model for {sel.dataset}.** MIND Explorer shows models that are "
               f"already built; none was found in `{artifacts_dir(sel.dataset)}`.")
    broken = state.broken_bundles(sel.dataset)
    if broken:
        st.caption("Unreadable model folders: " + ", ".join(e.name for e in broken))
    st.markdown("Build the default set (K = 1, 2, 4, 8 with the default hyperparameters) "
                "here, or run `make run` / `mind-core build-defaults` in a terminal, or "
                "train a single model on the **Train** page.")
    active = board().active()
    if active:
        st.info(f"Training in progress: {active[0].title}. Follow it on the Train page.")
    elif st.button("Build the default models", type="primary", key="build_defaults"):
        start_defaults(sel.dataset)
    st.page_link("views/train.py", label="Go to the Train page", icon=":material/model_training:")


def start_defaults(dataset: str) -> None:
    from mind_core.model import MINDConfig
    from mind_core.pipeline import DEFAULT_INTEREST_NUMS

    configs = [MINDConfig(interest_num=k) for k in DEFAULT_INTEREST_NUMS]
    try:
        name = state.get_data(dataset, configs[0].max_length).encoded.name
        board().start(dataset, configs, name)
    except TrainingLocked as e:
        st.error(str(e))
        return
    except READABLE as e:
        show_failure("Could not start training", e)
        return
    st.success("Training started in the background. Follow it on the Train page.")


def show_failure(what: str, error: BaseException) -> None:
    """A readable failure: one line saying what and why, the traceback folded away."""
    st.error(f"**{what}.** {error}")


def require_model(sel: state.Selection) -> None:
    """Stop the page with a readable notice unless the selection has a usable model."""
    if sel.problem:
        show_failure("Cannot open this dataset", RuntimeError(sel.problem))
        st.stop()
    if sel.entry is None:
        no_model_notice(sel)
        st.stop()


def page_header(title: str, caption: str) -> None:
    st.title(title)
    st.caption(caption)
