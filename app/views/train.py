"""Train: build a model from the browser, with live progress; it then appears in every picker."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from app.components import charts
from app.components.widgets import (
    READABLE,
    page_header,
    show_failure,
    show_not_started,
    training_refusal,
)
from app.services import catalog, loaders, state
from app.services.training import Job, TrainingLocked, TrainingRefused, board
from mind_core.artifacts import default_bundle_path, list_bundles
from mind_core.config import MINDConfig

PAGE = {"title": "Train", "url_path": "train", "icon": ":material/model_training:"}
EMBED_DIMS = [8, 16, 32, 64, 128]
BATCH_SIZES = [128, 256, 512, 1024, 2048]
# The loss weights of the "Distinct interests" row: (field, label, maximum, help); 0 = off.
LOSS_WEIGHTS = [
    ("interest_similarity", "Interest similarity penalty", 10.0,
     "interest_similarity: adds this times the mean squared cosine between a user's interests "
     "to the loss, pushing them apart. Useful range 0 to 1; at 1 the interests are orthogonal "
     "at no cost in accuracy, but one of them still supplies most of the merged list."),
    ("interest_balance", "Interest balance penalty", 10.0,
     "interest_balance: asks each movie the model ranks high to come clearly from one "
     "interest, and the interests to share the list evenly, so that one interest does not "
     "supply the whole merged list. Useful range 0 to 1; from 0.5 the list is shared, at "
     "about -0.05 HR@50."),
    ("hard_negative_beta", "Hard negatives β (REMI)", 5.0,
     "hard_negative_beta: REMI's interest-aware hard negatives; negatives that some interest "
     "scores high weigh exp(β · logit) more in the softmax. Useful range 0 to 1."),
]
JOB_ICONS = {"queued": ":material/hourglass_top:", "running": ":material/autorenew:",
             "done": ":material/check_circle:", "failed": ":material/error:"}


def render() -> None:
    page_header(
        "Train a model",
        "Train MIND with your own hyperparameters. Training runs in the background on this "
        "server: you can switch pages and come back. The finished model appears in every picker.")

    defaults = MINDConfig()
    with st.form("train_form", border=True):
        st.markdown("**Hyperparameters**")
        dataset, fields = model_fields(catalog.available_datasets(), defaults)
        fields |= training_fields(defaults)
        st.markdown("**Distinct interests** (docs/results.md, \"Interests that differ\"; "
                    "0 = off)")
        fields |= distinctness_fields(defaults)
        candidate_attention, serving, rebuild = option_fields(defaults)
        fields["candidate_attention"] = candidate_attention
        reason = training_refusal()
        submitted = st.form_submit_button("Train", type="primary", disabled=bool(reason))
    if reason:
        st.caption(reason)
    if submitted:
        start(dataset, fields, serving, rebuild)
    progress_panel()
    models_on_disk(dataset)


# --- the form --------------------------------------------------------------------------------

def model_fields(datasets: list[str], defaults: MINDConfig) -> tuple[str, dict]:
    """The dataset, K, D and L."""
    c = st.columns(4)
    dataset = c[0].selectbox("Dataset", datasets, index=datasets.index(state.get("dataset"))
                             if state.get("dataset") in datasets else 0, key="t_dataset")
    interest_num = c[1].selectbox("Interests per user (K)", list(range(1, 9)),
                                  index=defaults.interest_num - 1, key="t_interest_num",
                                  help="interest_num: interest vectors per user.")
    embed_dim = c[2].selectbox("Embedding size (D)", EMBED_DIMS,
                               index=EMBED_DIMS.index(defaults.embed_dim), key="t_embed_dim")
    max_length = c[3].number_input("History length (L)", 5, 200, defaults.max_length,
                                   key="t_max_length",
                                   help="Most recent movies routed into interests.")
    return dataset, {"interest_num": int(interest_num), "embed_dim": int(embed_dim),
                     "max_length": int(max_length)}


def training_fields(defaults: MINDConfig) -> dict:
    """Epochs, learning rate, temperature, negatives; seed, batch size, patience, recency."""
    c = st.columns(4)
    epochs = c[0].number_input("Epochs (max)", 1, 200, defaults.epochs, key="t_epochs",
                               help="Early stopping on validation HR@50 usually ends sooner.")
    learning_rate = c[1].number_input("Learning rate", 1e-5, 1.0, defaults.learning_rate,
                                      format="%.4f", step=1e-3, key="t_learning_rate")
    temperature = c[2].number_input("Softmax temperature", 0.01, 2.0, defaults.temperature,
                                    format="%.3f", step=0.01, key="t_temperature")
    negatives = c[3].number_input("Shared negatives (0 = all)", 0, 10_000,
                                  defaults.shared_negatives, key="t_negatives",
                                  help="Sampled-softmax negatives shared per batch; 0 scores "
                                       "the whole catalogue.")
    c = st.columns(4)
    seed = c[0].number_input("Seed", 0, 1_000_000, defaults.seed, key="t_seed")
    batch_size = c[1].selectbox("Batch size", BATCH_SIZES,
                                index=BATCH_SIZES.index(defaults.batch_size),
                                key="t_batch_size")
    patience = c[2].number_input("Early-stop patience", 1, 50, defaults.patience,
                                 key="t_patience")
    recency = c[3].checkbox("Recency-weighted routing", defaults.recency, key="t_recency",
                            help="Extension beyond the paper: routing knows which movies are "
                                 "recent.")
    return {"epochs": int(epochs), "learning_rate": float(learning_rate),
            "temperature": float(temperature), "shared_negatives": int(negatives),
            "seed": int(seed), "batch_size": int(batch_size), "patience": int(patience),
            "recency": bool(recency)}


def distinctness_fields(defaults: MINDConfig) -> dict:
    """The penalties and options that keep a user's interests apart (0 = off)."""
    c = st.columns(4)
    fields = {name: weight_input(col, label, name, maximum, defaults, help)
              for col, (name, label, maximum, help) in zip(c, LOSS_WEIGHTS, strict=False)}
    fields["equal_norms"] = bool(c[3].checkbox(
        "Equal-length interests", bool(defaults.equal_norms), key="t_equal_norms",
        help="equal_norms: a user's interests are rescaled to one length, so no interest "
             "supplies the merged list by its length alone."))
    return fields


def weight_input(col, label: str, name: str, maximum: float, defaults: MINDConfig,
                 help: str) -> float:
    """A loss weight from 0 to ``maximum`` (0 = off), widget key ``t_<name>``."""
    return float(col.number_input(label, 0.0, maximum, float(getattr(defaults, name)),
                                  format="%.2f", step=0.1, key=f"t_{name}", help=help))


def option_fields(defaults: MINDConfig) -> tuple[bool, bool, bool]:
    """(attention per candidate, build the index and map, retrain an existing model)."""
    c = st.columns(4)
    candidate_attention = c[0].checkbox(
        "Attention per candidate", defaults.candidate_attention, key="t_candidate_attention",
        help="Extension beyond the paper: training scores every candidate movie with its own "
             "mix of interests, the way serving does. Off = the paper's label-aware "
             "attention only.")
    serving = c[1].checkbox("Index and map", True, key="t_serving",
                            help="Build the Annoy search index and the UMAP map (adds about a "
                                 "minute). Without them the app searches exactly and shows no "
                                 "map.")
    rebuild = c[2].checkbox("Retrain if built", False, key="t_rebuild",
                            help="Train again even if this exact model (same settings and "
                                 "seed) already exists; the new one replaces it.")
    return bool(candidate_attention), bool(serving), bool(rebuild)


def start(dataset: str, fields: dict, serving: bool, rebuild: bool) -> None:
    """Train the submitted configuration in the background, unless it is already built."""
    try:
        config = MINDConfig(**fields)
        name = loaders.get_data(dataset, config.max_length).encoded.name
        target = default_bundle_path(config, name)
        if target in list_bundles(name) and not rebuild:
            st.info(f"This model is already built ({target.name}); pick it in the sidebar, or "
                    "tick *Retrain* to build it again.")
        else:
            job = board().start(dataset, [config], name, with_serving=serving,
                                token=st.session_state.get("train_token"))
            queued = job in board().waiting()
            st.toast(f"Training K={config.interest_num} "
                     + ("queued: another training runs first" if queued else "started"))
    except (TrainingLocked, TrainingRefused) as e:
        show_not_started(e)
    except READABLE as e:
        show_failure("Cannot train with these settings", e)


# --- progress and the models on disk ---------------------------------------------------------

def progress_panel() -> None:
    """The latest training runs, polled every second while one is active (decided anew on
    every run of the page, hence the fragment is made here)."""
    st.fragment(training_runs, run_every=1.0 if board().active() else None)()


def training_runs() -> None:
    jobs = sorted(board().jobs.values(), key=lambda j: -j.started)[:4]
    if not jobs:
        return
    st.subheader("Training runs")
    seen = st.session_state.setdefault("_jobs_seen_done", set())
    for i, job in enumerate(jobs):
        job_card(i, job, seen)
    finished = {j.id for j in jobs if j.state in ("done", "failed")}
    if finished - seen:  # a run just ended: refresh the whole app so pickers list the model
        seen |= finished
        st.rerun(scope="app")


def job_card(i: int, job: Job, seen: set) -> None:
    """One run: its state, progress bar, curves so far, and how it ended."""
    c = job.config
    elapsed = (job.finished or time.time()) - job.started
    label = (f"{job.title} · {job.state} · {elapsed:.0f} s"
             + (f" · model {job.current + 1} of {len(job.configs)}"
                if len(job.configs) > 1 else ""))
    # st.container, not st.status: a status left "running" between polls shows a
    # check mark in the browser, which would claim the run had finished
    with st.container(border=True, key=f"job_{i}"):
        st.markdown(f"{JOB_ICONS[job.state]} **{label}**")
        if job.state == "done" and job.id in seen and i > 0:
            st.caption("Built " + ", ".join(p.rsplit("/", 1)[-1] for p in job.paths))
            return
        b = job.batch
        text = (f"K={c.interest_num} · epoch {b['epoch']}/{c.epochs} · batch "
                f"{b['step']}/{b['steps']} · loss {b['loss']:.4f}" if b
                else "preparing data…")
        if job.stages and job.state == "running" and b and b["step"] == b["steps"]:
            text = job.stages[-1]
        st.progress(job.fraction(), text=text)
        if job.epochs:
            st.plotly_chart(charts.training_curves(job.epochs, height=260),
                            width="stretch", key=f"curves_{job.id}")
            last = job.epochs[-1]
            st.caption(f"Epoch {last['epoch']}: loss {last['loss']:.4f}, validation "
                       f"HR@50 {last.get('valid_HR@50', float('nan')):.4f} "
                       f"(best epoch {last.get('best_epoch', '?')})")
        if job.error:
            st.error(f"**Training failed.** {job.error}  \nExisting models were not "
                     "changed.")
            with st.expander("Details"):
                st.code(job.detail or "")
        if job.state == "done":
            st.success("Built " + ", ".join(p.rsplit("/", 1)[-1] for p in job.paths)
                       + ". Pick it in the sidebar of any page.")


def models_on_disk(dataset: str) -> None:
    """Every trained model for the dataset, with its test HR@50 from training time."""
    st.subheader(f"Models on {dataset}")
    st.caption("Every trained model for this dataset, test metrics from training time.")
    try:
        entries = catalog.catalog(dataset)
    except OSError as e:
        entries = []
        show_failure("Cannot list the models", e)
    if entries:
        st.dataframe(pd.DataFrame([{
            "model": e.name, "K": e.k, "D": e.config.get("embed_dim"),
            "L": e.config.get("max_length"), "epochs": e.config.get("epochs"),
            "lr": e.config.get("learning_rate"), "seed": e.config.get("seed"),
            "similarity": e.config.get("interest_similarity", 0.0),
            "balance": e.config.get("interest_balance", 0.0),
            "β": e.config.get("hard_negative_beta", 0.0),
            "equal norms": e.config.get("equal_norms", False),
            "HR@50": e.hr50, "created": e.created} for e in entries]), hide_index=True,
            width="stretch", column_config={"HR@50": st.column_config.NumberColumn(format="%.4f")})
    else:
        st.info("No model trained on this dataset yet.")
