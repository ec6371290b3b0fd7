"""Playground: write a taste mixture from knobs, train a few K values on it in the background,
and see when several interests pay: the K curve with seed bands and its verdict, how many of
the users' known tastes the interests find and the merged list keeps, and one user's tastes
beside their interests on the map."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import streamlit as st

from app.components import charts
from app.components.widgets import (
    READABLE,
    follow_catalogue,
    page_header,
    show_failure,
    show_not_started,
    start_training,
    training_refusal,
)
from app.services import catalog, lessons, loaders, recs, state
from app.services.shared import shared
from app.services.training import being_trained, board, warm_workers
from mind_core.artifacts import model_name
from mind_core.data.tastes import PLAYGROUND, TastesConfig, taste_datasets
from mind_core.serving import PROJECTION_FILE
from mind_core.workflow import playground as pg
from mind_core.workflow.defaults import START_CANDIDATES, START_K

PAGE = {"title": "Playground", "url_path": "playground", "icon": ":material/science:"}
FIGURES = ["Recall@50", "taste_recall", "taste_coverage@50"]
SIZES = {"600 movies in 6 genres": (600, 6), "1,200 movies in 12 genres": (1_200, 12),
         "2,700 movies in 18 genres": (2_700, 18)}


def render() -> None:
    page_header(
        "Playground: when do several interests pay?",
        "Users here have a known set of tastes (genre clusters) and move between them as they "
        "rate. Set how many tastes they have and how sticky they are, train K = 1 against "
        "more interests, and read whether the extra interests find the tastes, and whether "
        "the merged list keeps them.")
    knobs, ks, seeds, go = knob_form()
    if go:
        launch(knobs, ks, seeds)
    earlier()
    plan = current_plan()
    if plan is None:
        st.info("Set the knobs and press **Generate and train**. A new dataset first has its "
                "start chosen on validation (two K=4 models side by side, as every dataset "
                "does), then the K values and seeds asked are trained two at a time; the curve "
                "is drawn as each model lands, and the map's index last. Two seeds give a band; "
                "three a verdict worth reading.")
        return
    results(plan)


def knob_form() -> tuple[TastesConfig, list[int], list[int], bool]:
    """The dataset's knobs and the models to train; whether the button was pressed."""
    d = PLAYGROUND
    with st.form("playground_form"):
        a, b, c = st.columns(3)
        tastes = a.slider("Tastes per user", 1, 6, d.tastes, help="Each user has this many "
                          "genre clusters they like (a range: drawn per user).")
        stickiness = a.slider("Stickiness", 0.5, 0.95, d.stickiness, 0.05,
                              help="Chance the next rating stays in the current taste.")
        stray = a.slider("Stray rate", 0.0, 0.3, d.stray, 0.01,
                         help="Chance a rating is from a genre outside the user's tastes.")
        history = b.slider("Ratings per user", 20, 100, d.history, help="History length.")
        size = b.selectbox("Catalogue", list(SIZES), index=1)
        users = b.select_slider("Users", [500, 1_000, 2_000], value=d.users)
        ks = c.multiselect("K values", [1, 2, 4, 8], default=list(pg.DEFAULT_KS))
        seeds = c.multiselect("Seeds", [0, 1, 2], default=list(pg.DEFAULT_SEEDS),
                              help="Two seeds give the band and the noise floor; three a verdict "
                              "worth reading (the first seed's curve comes first).")
        data_seed = c.number_input("Generator seed", 0, 999, d.seed)
        reason = training_refusal()
        if not reason:  # the click is likely: the workers start while the form is read
            warm_workers()
        go = st.form_submit_button("Generate and train", type="primary",
                                   icon=":material/play_arrow:", disabled=bool(reason),
                                   help=reason)
    if reason:
        st.caption(reason + " The datasets already trained can still be read below.")
    items, clusters = SIZES[size]
    knobs = TastesConfig(users=int(users), items=items, clusters=clusters,
                         tastes=tuple(tastes), history=tuple(history),
                         stickiness=float(stickiness), stray=float(stray), seed=int(data_seed))
    return knobs, ks, seeds, go


def launch(knobs: TastesConfig, ks: list[int], seeds: list[int]) -> None:
    """Write the dataset if new, and train what it lacks in the background."""
    try:
        plan = pg.plan(knobs, ks, seeds)
        with st.spinner("Writing the dataset…"):
            pg.prepare(plan)
    except (ValueError, *READABLE) as e:
        show_not_started(e)
        return
    state.put("playground", (plan.dataset, tuple(sorted(set(ks))), tuple(sorted(set(seeds)))))
    if not train_request(pg.settle(plan)):
        st.success(f"Every model of this request is built on {plan.dataset}: nothing to train.")


def train_request(plan: pg.Plan) -> bool:
    """Start the request in the background: what ``plan`` lacks (not already being trained),
    two at a time, then what follows once the start is chosen
    (:func:`mind_core.workflow.playground.follow_up`), the map's model last; whether any
    training started."""
    asked, serve = pg.follow_up(plan)
    todo = [c for c in asked if not being_trained(plan.dataset, c)]
    if not todo and not serve:
        if asked:
            st.info("This request's models are being trained already (by another session or "
                    "process): the curve follows them as they land.")
        return bool(asked)
    expect = 0 if plan.start is not None else pg.after_candidates(plan)
    what = ("the start's candidates, then the K values and seeds asked"
            if plan.start is None else f"{len(todo)} model(s)" if todo else "the map")
    start_training(plan.dataset, plan.dataset, todo, False,
                   f"Training {what} on {plan.dataset} in the background, two at a time.",
                   follow=lambda busy, request: pg.follow_up(plan, busy, request),
                   expect=expect)
    return True


def current_plan() -> pg.Plan | None:
    chosen = state.get("playground")
    if not chosen:
        return None
    name, ks, seeds = chosen
    known = dict(taste_datasets())
    if name not in known:
        return None
    return pg.settle(pg.plan(known[name], ks, seeds))


def results(plan: pg.Plan) -> None:
    """The request's figures, updated while its models train."""
    # any process may be building them (another session's job, a CLI): follow the disk
    follow_catalogue(plan.dataset, any(being_trained(plan.dataset, c) for c in plan.configs)
                     or bool(pg.missing(plan) and catalog.building(plan.dataset)),
                     poll=functools.partial(watch, plan))
    if plan.start is None:
        st.info(f"**Choosing where this dataset's models start.** The K={START_K} seed-0 model "
                f"is trained from each of {len(START_CANDIDATES)} starting points "
                f"({', '.join(START_CANDIDATES)}) and scored on the validation set, as for "
                "every dataset; the K values and seeds asked follow from the one chosen. No "
                "truth file and no test figure takes part.")
    summary = summary_of(plan, plan_key(plan), catalog.signature(plan.dataset))
    st.subheader(f"{plan.dataset}: " + knobs_text(plan.knobs))
    if summary is None:
        st.info("The first model is training; its figures appear here when it is built.")
        return
    rows = summary["results"]
    st.plotly_chart(charts.metrics_with_bands(rows, summary["popularity"], FIGURES, "K",
                                              ceiling=summary.get("ceiling")),
                    width="stretch", key="playground_curve")
    st.markdown(lessons.k_verdict(summary, pg.HEADLINE))
    table = {f"K={r['value']}": {m: lessons.mean_sd(r["metrics"][m], 3)
                                 for m in FIGURES if m in r["metrics"]} | {"seeds": len(r["seeds"])}
             for r in rows}
    st.dataframe(pd.DataFrame(table).T, width="stretch")
    st.caption(lessons.TASTE_FIGURES)
    st.markdown(lessons.playground_reading(summary))
    st.markdown(lessons.ceiling_reading(summary, pg.HEADLINE))
    user_map(plan)


@st.fragment(run_every=2.0)
def watch(plan: pg.Plan, before: tuple) -> None:
    """Progress of the request's training, model by model, with the time left; the page
    reruns when a model lands."""
    for job in board().active():
        if job.dataset_name != plan.dataset:
            continue
        request = job.request
        total = len(request.models) + request.expected_more
        left = job.seconds_left()
        eta = f", about {about(left)} left" if left is not None else ", timing the first epoch"
        st.progress(job.fraction(), text=f"{request.done()} of {total} models built{eta}"
                    + (" (waiting for the training ahead of it)" if job.state == "queued"
                       else ""))
        st.dataframe(pd.DataFrame([model_row(m) for m in request.models]),
                     hide_index=True, width="stretch")
    if catalog.signature(plan.dataset, fresh=True) != before:
        st.rerun(scope="app")


def about(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def model_row(m) -> dict:
    """One line of the progress table: the model, and where its worker is."""
    c, serve_only = m.config, m.serve_only
    if m.finished is not None:
        where = "built" if not serve_only else "index and map built"
    elif m.started is None:
        where = "waiting for a free worker"
    elif serve_only:
        where = "building the index and map"
    elif m.epochs:
        last = m.epochs[-1]
        valid = last.get(f"valid_{pg.HEADLINE}")
        where = (f"epoch {last['epoch']} done: loss {last['loss']:.3f}"
                 + (f", validation {pg.HEADLINE} {valid:.3f}" if valid is not None else "")
                 + f" (best so far: epoch {last.get('best_epoch', last['epoch'])})")
    elif m.batch:
        where = f"epoch 1: batch {m.batch['step']} of {m.batch['steps']}"
    else:
        where = "starting"
    return {"model": f"K={c.interest_num}, seed {c.seed}"
            + (f", start '{start_of(c)}'" if start_of(c) else ""), "status": where}


def start_of(config) -> str | None:
    """Which starting point a configuration takes (:data:`START_CANDIDATES`)."""
    for name, changes in sorted(START_CANDIDATES.items(), key=lambda kv: -len(kv[1])):
        if all(getattr(config, k) == v for k, v in changes.items()):
            return name
    return None


@shared(16, "Reading the models…")
def summary_of(_plan: pg.Plan, key: tuple, signature: tuple) -> dict | None:
    """The request's figures; ``key`` names the plan (its dataset and models), so a plan that
    changed (its start chosen, other K values or seeds) never reads another plan's figures."""
    return pg.read(_plan)


def plan_key(plan: pg.Plan) -> tuple:
    return (plan.dataset, plan.start, tuple(model_name(c) for c in plan.configs))


def knobs_text(k: TastesConfig) -> str:
    return (f"{k.users:,} users, {k.items:,} movies in {k.clusters} genres, {k.tastes[0]}–"
            f"{k.tastes[1]} tastes each, {k.history[0]}–{k.history[1]} ratings, stickiness "
            f"{k.stickiness:g}, stray {k.stray:g}, generator seed {k.seed}")


def user_map(plan: pg.Plan) -> None:
    """One user's true tastes beside their interests (the largest K built, first seed)."""
    family = catalog.family_key(plan.base.to_dict())
    first = min(c.seed for c in plan.configs)
    mapped = [e for e in catalog.catalog(plan.dataset) if e.family == family
              and e.seed == first and (Path(e.path) / PROJECTION_FILE).is_file()]
    if not mapped:
        return
    entry = max(mapped, key=lambda e: e.k)
    loaded = loaders.load(entry)
    data = loaded.data
    st.subheader(f"One user's tastes and the K={entry.k} interests")
    users = data.encoded.user_ids[data.split.test.users]
    user = st.selectbox("User", users.tolist(), key="playground_user")
    row = data.encoded.user_row(int(user))
    try:
        view = recs.taste_view(loaded, row)
        projection = loaders.get_projection(entry.path, entry.mtime)
    except (ValueError, *READABLE) as e:
        show_failure("Cannot draw the map", e)
        return
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(charts.tastes_map(view, projection["items_xy"],
                                          projection["interests_xy"][row]),
                        width="stretch", key="playground_map")
    with right:
        st.markdown(lessons.user_tastes_text(view))


def earlier() -> None:
    """The taste mixtures already written and trained: read one again without training."""
    known = {n: k for n, k in taste_datasets() if catalog.catalog(n)}
    if not known:
        return
    names = list(known)
    with st.expander(f"Datasets written so far ({len(known)}): read one again"):
        st.dataframe(pd.DataFrame([{"dataset": n, "knobs": knobs_text(k),
                                    "models": len(catalog.catalog(n))} for n, k in known.items()]),
                     hide_index=True, width="stretch")
        pick = st.selectbox("Dataset", names, key="playground_pick", index=None,
                            placeholder="Choose a dataset to show")
        if pick and st.button("Show it", key="playground_show"):
            built = pg.built(pg.plan(known[pick], (1, 2, 4, 8), (0, 1, 2)))
            state.put("playground", (pick, tuple(sorted({b.config.interest_num for b in built})),
                                     tuple(sorted({b.config.seed for b in built}))))
