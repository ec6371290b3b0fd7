"""What a page shows instead of itself when the selection has no usable model: why, and how to
build one (here, in a terminal, or on the Train page)."""

from __future__ import annotations

import streamlit as st

from app.components.widgets import READABLE, show_broken, show_failure, start_training
from app.services import loaders, state
from app.services.training import board
from app.views import train
from mind_core.artifacts import artifacts_dir
from mind_core.workflow.defaults import dataset_config
from mind_core.workflow.pipeline import DEFAULT_INTEREST_NUMS


def require_model(sel: state.Selection) -> None:
    """Stop the page with a readable notice unless the selection has a usable model."""
    if sel.problem:
        show_failure("Cannot open this dataset", RuntimeError(sel.problem))
        st.stop()
    if sel.entry is None:
        notice(sel)
        st.stop()


def notice(sel: state.Selection) -> None:
    """What to do when no model exists for the dataset (someone deleted them, or fresh)."""
    st.warning(f"**No trained model for {sel.dataset}.** MIND Explorer shows models that are "
               f"already built; none was found in `{artifacts_dir(sel.dataset)}`.")
    show_broken(sel.dataset)
    st.markdown("Build the default set (K = 1, 2, 4, 8 with the default hyperparameters) "
                "here, or run `make run` / `mind-core build-defaults` in a terminal, or "
                "train a single model on the **Train** page.")
    active = board().active()
    if active:
        st.info(f"Training in progress: {active[0].title}. Follow it on the Train page.")
    elif st.button("Build the default models", type="primary", key="build_defaults"):
        start_defaults(sel.dataset)
    st.page_link(st.Page(train.render, **train.PAGE), label="Go to the Train page",
                 icon=":material/model_training:")


def start_defaults(dataset: str) -> None:
    """Train the default models (K = 1, 2, 4, 8) in the background, with index and map."""
    configs = [dataset_config(dataset, interest_num=k) for k in DEFAULT_INTEREST_NUMS]
    try:
        name = loaders.get_data(dataset, configs[0].max_length).encoded.name
    except READABLE as e:
        show_failure("Could not start training", e)
        return
    start_training(dataset, name, configs, True,
                   "Training started in the background. Follow it on the Train page.")
