"""Sweep: any one hyperparameter over several values, each trained with several seeds, every
metric with its spread over seeds and every list difference beside the seed noise floor."""

from __future__ import annotations

import json
import re

import pandas as pd
import streamlit as st

from app.components import figures
from app.components.widgets import (
    offer_training_now,
    page_header,
    refresh_when_built,
    show_not_started,
    training_refusal,
)
from app.services import catalog, lessons, loaders, recs, state
from app.services.shared import shared
from app.services.training import being_trained, board, warm_workers
from app.views.no_model import require_model
from mind_core import protocols
from mind_core.artifacts import default_bundle_path
from mind_core.config import MINDConfig
from mind_core.evaluation.verdict import VERDICT_WORDS, interval_text
from mind_core.workflow.sweep import MERGE, SWEEPABLE, collect, parse_value, plan

PAGE = {"title": "Sweep", "url_path": "sweep", "icon": ":material/tune:"}

HELP = {
    "interest_num": "K: interest vectors per user",
    "merge": "how the K lists become one (no training: the same models re-scored)",
    "embed_dim": "D: item and interest vector size",
    "max_length": "L: most recent movies routed into interests",
    "temperature": "softmax temperature of the loss",
    "pow_p": "label-aware attention sharpness",
    "routing_iters": "dynamic-routing iterations",
    "routing_init_std": "spread of the random initial routing logits",
    "recency": "recency-weighted routing (extension)",
    "candidate_attention": "attention per candidate (extension)",
    "loss": "training objective",
    "learning_rate": "Adam's learning rate",
}


@shared(64, "Finding the sweep's models…")
def found(signature: tuple, dataset_name: str, base: str, param: str) -> tuple:
    """(path, mtime) of the bundles equal to ``base`` but in ``param`` and the seed."""
    bundles = collect(dataset_name, MINDConfig.from_dict(json.loads(base)), param)
    return tuple((str(b.path), dict(signature).get(str(b.path), 0)) for b in bundles)


def render() -> None:
    page_header(
        "Sweep a hyperparameter",
        "Pick one setting and its values: one model per value and seed, each metric drawn with "
        "its spread over seeds, and the lists of neighbouring values compared with the lists of "
        "two seeds of the same value. Everything else stays as in the configuration chosen in "
        "the sidebar.")
    sel: state.Selection = st.session_state["_selection"]
    require_model(sel)
    loaded = loaders.load(sel.entry)
    dataset_name = loaded.data.encoded.name
    base = MINDConfig.from_dict(sel.entry.config)

    left, right = st.columns([1, 2])
    with left:
        param = st.selectbox("Setting", SWEEPABLE, key=state.bind("sweep_param", SWEEPABLE,
                                                                 "interest_num"),
                             on_change=state.sync, args=("sweep_param",),
                             format_func=lambda p: f"{p} ({HELP[p]})")
    with right:
        st.caption(f"Base configuration: {catalog.family_label(sel.family, [sel.family])}"
                   + ("" if param == "interest_num" else f" · K={base.interest_num}")
                   + f" · {base.protocol.replace('_', '-')} protocol.")
        merge = None
        if param != MERGE:
            strategies = recs.merge_strategies()
            merge = st.selectbox("Scored under the merge", strategies,
                                 key=state.bind_merge(strategies, sel.entry.merge),
                                 on_change=state.sync, args=("merge",),
                                 format_func=recs.MERGE_NAMES.get, help=recs.MERGE_HELP)
    sig = catalog.signature(sel.dataset)
    paths = found(sig, dataset_name, json.dumps(base.to_dict()), param)
    results(paths, param, base, merge)
    launcher(sel, base, param, dataset_name, paths)


def results(paths: tuple, param: str, base: MINDConfig, merge: str | None) -> None:
    """Every metric against the setting's values, and the lists against the seed floor."""
    if not paths:
        st.info(f"No model of this configuration varies {param} yet: train some below.")
        return
    values = tuple(recs.merge_strategies()) if param == MERGE else None
    summary = recs.sweep_summary(paths, param, recs.NOISE_N, merge, values)
    metrics = [*protocols.get(base.protocol).METRICS,
               *(m for m in ("taste_recall", "taste_coverage@50")
                 if m in summary["results"][0]["metrics"])]
    if len(summary["values"]) < 2:
        st.info(f"Only {param}={summary['values'][0]} is built for this configuration: train "
                "other values below to compare them.")
    seeds = sorted({s for r in summary["results"] for s in r["seeds"]})
    categorical = not all(isinstance(v, int | float) and not isinstance(v, bool)
                          for v in summary["values"])
    st.subheader(f"Test metrics against {param}")
    st.caption(f"{len(paths)} models, seeds {', '.join(map(str, seeds))}. Line: mean over "
               "seeds; band: ± one standard deviation; dots: single seeds; dashed: most "
               "popular. The verdicts below test each gap with Welch's t over seeds "
               "(false-positive rate at most 5%, measured: docs/results.md, \"Calibrating the "
               "verdict\"); where the seeds cannot separate two values they say so, not \"no "
               "difference\"." + lessons.CEILING_NOTE * bool(summary.get("ceiling")))
    st.plotly_chart(figures.bands_chart(paths, param, recs.NOISE_N, merge, values,
                                        tuple(metrics), param, categorical),
                    width="stretch", key="sweep_chart")
    table = {}
    for r in summary["results"]:
        cells = {"seeds": len(r["seeds"])}
        cells |= {m: lessons.mean_sd(v) for m, v in r["metrics"].items() if m in metrics}
        for name, v in (r.get("interests") or {}).items():
            cells[name] = lessons.mean_sd(v, 3)
        cells["train s"] = f"{r['train_seconds']['mean']:.0f}"
        table[f"{param}={recs.value_name(param, r['value'])}"] = cells
    st.dataframe(pd.DataFrame(table).T.fillna(""), width="stretch")
    if param == "interest_num":
        headline = "Recall@50" if "Recall@50" in metrics else "HR@50"
        st.markdown(lessons.k_verdict(summary, headline))
        st.markdown(lessons.ceiling_reading(summary, headline))
    lists_against_seeds(summary, param)


def lists_against_seeds(summary: dict, param: str) -> None:
    """Each value's seed-to-seed list overlap, and neighbouring values against it."""
    with st.container(border=True, key="sweep_noise_floor"):
        st.markdown(f"**Lists: {param} or the seed?** Mean Jaccard of the merged top "
                    f"{recs.NOISE_N} over every evaluated user (exact search).")
        for r in summary["results"]:
            o = r["seed_overlap"]
            name = f"{param}={recs.value_name(param, r['value'])}"
            st.markdown(f"- {name}: two seeds share {o['mean']:.3f} of their lists over "
                        f"{o['pairs']} seed pair(s)" if o["pairs"] else
                        f"- {name}: one seed so far; a second seed gives the overlap between "
                        "seeds")
        values = summary["values"]
        for c in summary["comparisons"]:
            if values.index(c["b"]) - values.index(c["a"]) != 1 or c["between"] is None:
                continue
            floor = ("no seed pair yet" if c["floor"] is None
                     else f"a seed floor of {c['floor']:.3f}")
            reading = (f" Seeds' overlap minus theirs: {interval_text(c)}."
                       if c["gap"] is not None else "")
            a, b = recs.value_name(param, c["a"]), recs.value_name(param, c["b"])
            st.markdown(f"- **{param}={a} vs {b}: {VERDICT_WORDS[c['verdict']]}.** "
                        f"Overlap across seeds {c['between']:.3f} against {floor}.{reading}")


def launcher(sel, base: MINDConfig, param: str, dataset_name: str, paths: tuple) -> None:
    """The form that trains the sweep's missing models in the background."""
    st.divider()
    st.subheader("Train the sweep")
    if param == MERGE:
        st.caption("The merge needs no training: every strategy above re-scores the models "
                   "of this configuration and K. Train more seeds of it on the Compare page.")
        return
    current = getattr(base, param)
    with st.form("sweep_form"):
        c = st.columns([2, 1])
        text = c[0].text_input(f"Values of {param}", value=_suggest(param, current),
                               help="Separated by spaces or commas. Booleans: true false.")
        seeds = c[1].multiselect("Seeds", list(range(5)), default=[0, 1],
                                 help="At least two seeds give a noise floor; three give a "
                                      "steadier one.")
        reason = training_refusal()
        if not reason:  # the click is likely: the workers start while the form is read
            warm_workers(with_map=False)  # a sweep trains no map: nothing to wait for
        submitted = st.form_submit_button("Train what is missing in the background",
                                          disabled=bool(reason), help=reason,
                                          type="primary")
    if reason:
        st.caption(reason)
    if submitted:
        try:
            values = [parse_value(param, v) for v in re.split(r"[\s,]+", text.strip()) if v]
            if not values or not seeds:
                raise ValueError("give at least one value and one seed")
            configs = plan(base, param, values, sorted(seeds))
        except ValueError as e:
            show_not_started(e)
            return
        built = {p for p, _ in paths}
        todo = [c for c in configs if str(default_bundle_path(c, dataset_name)) not in built
                and not being_trained(dataset_name, c)]
        if not todo:
            st.info("Every model of this sweep is already built or being trained.")
        else:
            offer_training_now(sel.dataset, dataset_name, todo)
    jobs = board().active()
    if jobs:
        progress()
    refresh_when_built(sel.dataset, [c for j in jobs for c in j.configs], dataset_name)


@st.fragment(run_every=2.0)
def progress() -> None:
    """The background trainings of this server, polled (details on the Train page)."""
    for job in board().active():
        c = job.config
        st.progress(job.fraction(), text=f"Training {job.title}: model {job.current + 1} of "
                    f"{len(job.configs)} (K={c.interest_num}, seed {c.seed}), "
                    f"{job.state}")


def _suggest(param: str, current) -> str:
    if isinstance(current, bool):
        return "true false"
    if param == "interest_num":
        return "1 2 4 8"
    if isinstance(current, int):
        return f"{max(1, current // 2)} {current} {current * 2}"
    if isinstance(current, float):
        return f"{current / 2:g} {current:g} {current * 2:g}"
    return {"loss": "sampled_softmax listwise"}.get(param, str(current))
