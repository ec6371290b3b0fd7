"""Model: what was trained, how training went, how it compares, and how routing works."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, state, ui
from app.theme import interest_color, interest_name


def render() -> None:
    ui.page_header(
        "Model",
        "The selected model's settings, training curves and test metrics, MIND's architecture "
        "as implemented, and how dynamic routing split the selected user's history into "
        "interests.")

    sel: state.Selection = st.session_state["_selection"]
    ui.require_model(sel)
    try:
        loaded = state.load(sel.entry)
    except ui.READABLE as e:
        ui.show_failure(f"Cannot load model {sel.entry.name}", e)
        st.stop()

    bundle, data, entry = loaded.bundle, loaded.data, loaded.entry
    metrics = bundle.metrics
    config = bundle.config
    st.subheader(f"{entry.name} · K={config.interest_num}")
    st.caption(f"Trained {bundle.meta.get('created', '?')} on {bundle.meta.get('dataset')} in "
               f"{metrics.get('train_seconds', 0):.0f} s; best epoch "
               f"{metrics.get('best_epoch', '?')} of {len(metrics.get('history', []))}"
               + (" (stopped early)" if metrics.get("stopped_early") else "") + ".")

    left, right = st.columns([1, 2])
    with left:
        st.markdown("**Hyperparameters**")
        st.dataframe(pd.DataFrame({"value": [str(v) for v in config.to_dict().values()]},
                                  index=list(config.to_dict())), width="stretch", height=560)
    with right:
        st.markdown("**Test metrics against baselines**")
        st.caption("Leave-last-out over all users, full ranking of the catalogue (the user's "
                   "history excluded). HR@N: share of users whose held-out movie is in the top N.")
        rows = {f"MIND K={config.interest_num}": metrics.get("test", {})}
        twin = next((e for e in sel.family_entries if e.k == 1 and e.path != entry.path), None)
        if twin is not None:
            with contextlib.suppress(ui.READABLE):
                rows["MIND K=1"] = state.get_bundle(twin.path, twin.mtime).metrics.get("test", {})
        rows["most popular"] = metrics.get("baselines", {}).get("popularity", {})
        table = pd.DataFrame(rows).T
        st.dataframe(table.style.format("{:.4f}").highlight_max(axis=0, color="#d3f9d8"),
                     width="stretch")
        st.markdown("**Training curves**")
        history = metrics.get("history", [])
        if history:
            st.plotly_chart(charts.training_curves(history, metrics.get("best_epoch")),
                            width="stretch", key="model_curves")
            st.caption("The weights kept are those of the best validation epoch (dotted line).")
        else:
            st.caption("No per-epoch history recorded.")

    st.divider()
    st.subheader("Architecture (as implemented)")
    st.caption("Read left to right. Each history movie is embedded (id + genres); behaviour-to-"
               "interest routing groups them into K capsules; each capsule joined with the user's "
               "profile goes through ReLU layers to become an interest vector. Training picks, per "
               "target movie, a mix of interests (label-aware attention"
               + ("; here for every candidate movie too" if config.candidate_attention else "")
               + "); serving searches the "
               "catalogue with each interest separately.")
    D, K, L = config.embed_dim, config.interest_num, config.max_length
    hidden = ", ".join(str(h) for h in config.mlp_hidden)
    routing = (f"B2I dynamic routing\\n{config.routing_iters} iterations, shared S\\n"
               + ("dynamic K (at most log2 n)" if config.dynamic_k else "fixed K")
               + (", recency weights" if config.recency else ""))
    st.graphviz_chart(f"""
    digraph mind {{
      rankdir=LR;
      node [shape=box, style="rounded,filled", fillcolor="#f1f3f5", fontsize=13,
            fontname="Helvetica"];
      edge [color="#868e96"];
      hist [label="History\\nlast {L} movies"];
      prof [label="Profile\\ngender, age, occupation, zip"];
      emb [label="Embedding & pooling\\nid + genres, {D}-d"];
      route [label="{routing}", fillcolor="#e7f5ff"];
      caps [label="K = {K} capsules"];
      mlp [label="Profile concat +\\nReLU layers ({hidden})\\nto {D}-d"];
      ints [label="{K} interest vectors", fillcolor="{interest_color(0)}", fontcolor="white"];
      att [label="Label-aware attention\\n(training, p = {config.pow_p})"];
      loss [label="Sampled softmax\\ntemperature {config.temperature}"];
      serve [label="Serving: search each\\ninterest (Annoy), merge", fillcolor="#ebfbee"];
      hist -> emb -> route -> caps -> mlp -> ints;
      prof -> mlp;
      ints -> att -> loss;
      ints -> serve;
    }}""", width="stretch")

    st.divider()
    st.subheader(f"How routing assigned user {sel.user_id}'s history")
    st.caption("Rows: the movies the model routes (most recent at the bottom); columns: interests "
               "in their colours. Each cell is the routing weight of that movie into that "
               "interest (each row splits one unit among the active interests).")
    row = state.user_row(sel, data)
    try:
        weights, codes = state.routing(loaded, row)
    except ui.READABLE as e:
        ui.show_failure("Cannot compute routing weights", e)
        st.stop()
    keep = np.flatnonzero(codes > 0)
    items = state.items_table(bundle.meta.get("dataset", sel.dataset), L)
    titles = items["title"].to_numpy()
    active = np.asarray(bundle.user_active[row], dtype=bool)
    row_labels = [f"{len(keep) - i}. {titles[codes[p]][:48]}" for i, p in enumerate(keep)]
    sums = weights[:, keep].sum(0)
    norm = weights[:, keep] / np.where(sums > 0, sums, 1)
    st.plotly_chart(charts.routing_heatmap(norm, row_labels, active), width="stretch",
                    key="routing_heatmap")
    share = norm.sum(1) / max(1, len(keep))
    st.markdown(" ".join(
        f"<span style='color:{interest_color(k)};font-weight:600'>{interest_name(k)}</span> "
        f"{share[k]:.0%}" + ("" if active[k] else " (off)") for k in range(K)),
        unsafe_allow_html=True)
    st.caption("Share of the history each interest absorbs.")
