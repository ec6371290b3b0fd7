"""Model: what was trained, how training went, how it compares, and how routing works."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import streamlit as st

from app.components import charts
from app.components.theme import interest_color, interest_name
from app.components.widgets import READABLE, load_or_stop, page_header, show_failure
from app.services import loaders, recs, state, tables
from app.views.no_model import require_model
from mind_core import protocols
from mind_core.evaluation import spread

PAGE = {"title": "Model", "url_path": "model", "icon": ":material/schema:"}
# docs/results.md, "Interests that differ": the bounds the default configuration must meet
DISTINCT_BOUNDS = {"busiest_share_50": 0.75, "mean_cosine": 0.50}


def render() -> None:
    page_header(
        "Model",
        "The selected model's settings, training curves and test metrics, MIND's architecture "
        "as implemented, and how dynamic routing split the selected user's history into "
        "interests.")

    sel: state.Selection = st.session_state["_selection"]
    require_model(sel)
    loaded = load_or_stop(sel.entry)
    bundle, metrics, config = loaded.bundle, loaded.bundle.metrics, loaded.bundle.config
    st.subheader(f"{loaded.entry.name} · K={config.interest_num}")
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
        test_metrics(sel, loaded)
        training_curves(metrics)
        render_distinctness(loaded)

    st.divider()
    architecture(config, loaded.data.encoded.has_profile)
    st.divider()
    routing(sel, loaded)


def test_metrics(sel: state.Selection, loaded: loaders.Loaded) -> None:
    """This model's test metrics beside the same K (and K=1) over seeds, and popularity."""
    metrics, config = loaded.bundle.metrics, loaded.bundle.config
    st.markdown("**Test metrics against baselines**")
    protocol = loaded.data.split.protocol
    metric_names = protocols.get(protocol).METRICS
    st.caption(f"{protocol.replace('_', '-').capitalize()} protocol over all users, full "
               "ranking of the catalogue (the user's history excluded). Rows \"over seeds\" "
               "are mean ± sd over every seed of this configuration built for that K; the "
               "Compare page tests their gaps (Welch's t over seeds).")
    rows = {f"MIND K={config.interest_num}, seed {config.seed} (this model)":
            {m: f"{v:.4f}" for m, v in metrics.get("test", {}).items()}}
    for k in sorted({config.interest_num, 1}, reverse=True):
        runs = []
        for e in [e for e in sel.family_entries if e.k == k]:
            with contextlib.suppress(READABLE):
                runs.append(loaders.get_bundle(e.path, e.mtime).metrics.get("test", {}))
        if not runs:
            continue
        cells = {}
        for m in metric_names:
            values = [r[m] for r in runs if m in r]
            if values:
                s = spread(values)
                cells[m] = (f"{s['mean']:.4f} ± {s['sd']:.4f}" if s["n"] > 1
                            else f"{s['mean']:.4f}")
        rows[f"MIND K={k}, over {len(runs)} seed{'s' if len(runs) > 1 else ''}"] = cells
    popularity = metrics.get("baselines", {}).get("popularity", {})
    rows["most popular"] = {m: f"{v:.4f}" for m, v in popularity.items()}
    table = pd.DataFrame(rows).T
    st.dataframe(table[[m for m in metric_names if m in table.columns]], width="stretch")
    st.caption(recs.merge_choice_text(metrics))


def training_curves(metrics: dict) -> None:
    st.markdown("**Training curves**")
    history = metrics.get("history", [])
    if history:
        st.plotly_chart(charts.training_curves(history, metrics.get("best_epoch")),
                        width="stretch", key="model_curves")
        st.caption("The weights kept are those of the best validation epoch (dotted line).")
    else:
        st.caption("No per-epoch history recorded.")


def render_distinctness(loaded: loaders.Loaded) -> None:
    """The selected model's distinctness figures, with what each means."""
    st.markdown("**Do the interests differ?**")
    entry = loaded.entry
    try:
        figures = recs.interest_figures(str(entry.path), entry.mtime, loaded)
    except READABLE as e:
        show_failure("Cannot measure the interests", e)
        return
    if not figures.get("users"):
        st.caption("No evaluated user has two active interests (a K=1 model), so there is "
                   "nothing to compare. Genre purity of the single interest's top 10: "
                   + (f"{figures['genre_purity']:.2f}." if figures.get("genre_purity") is not None
                      else "n/a."))
        return
    c = st.columns(4)
    c[0].metric("Busiest share of top 50", f"{figures['busiest_share_50']:.2f}",
                help="Over users with two or more active interests: the largest share of the "
                     "merged top 50 that one interest supplies (an item comes from the interest "
                     "that scores it highest). 1/K' is balanced; 1 means one interest supplies "
                     "the whole list. Bound for the default model: at most 0.75.")
    c[1].metric("Interests' mean cosine", f"{figures['mean_cosine']:.2f}",
                help="Mean pairwise cosine of a user's active interest vectors (1 = parallel). "
                     "Bound for the default model: at most 0.50.")
    c[2].metric("Top-10 overlap", f"{figures['top10_overlap']:.2f}",
                help="For each pair of a user's interests, the share of one interest's own top "
                     "10 (history excluded) that the other also retrieves (|A ∩ B| / 10).")
    c[3].metric("Genre purity, top 10", f"{figures['genre_purity']:.2f}",
                help="Share of an interest's own top 10 in its most common primary genre, "
                     "averaged over every active interest.")
    over = [k for k, bound in DISTINCT_BOUNDS.items() if figures[k] > bound]
    st.caption(f"Over the {figures['users']} evaluated users with two or more active interests, "
               "exact search, history excluded. "
               + ("Routing has largely collapsed: the interests point the same way and one "
                  "of them supplies most of the merged list (docs/results.md, \"Interests that "
                  "differ\")." if over else "The interests are distinct by the bounds of "
                  "docs/results.md."))


def architecture(config, has_profile: bool = True) -> None:
    """MIND as implemented with this model's settings, as a left-to-right diagram (the profile
    box only where the dataset has user profiles)."""
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
    profile = ('prof [label="Profile\\ngender, age, occupation, zip"];' if has_profile else "")
    profile_edge = "prof -> mlp;" if has_profile else ""
    joined = "Profile concat +\\n" if has_profile else ""
    vectors = f"{K} interest vector" + ("s" if K > 1 else "")
    st.graphviz_chart(f"""
    digraph mind {{
      rankdir=LR;
      node [shape=box, style="rounded,filled", fillcolor="#f1f3f5", fontsize=13,
            fontname="Helvetica"];
      edge [color="#868e96"];
      hist [label="History\\nlast {L} movies"];
      {profile}
      emb [label="Embedding & pooling\\nid + genres, {D}-d"];
      route [label="{routing}", fillcolor="#e7f5ff"];
      caps [label="K = {K} capsules"];
      mlp [label="{joined}ReLU layers ({hidden})\\nto {D}-d"];
      ints [label="{vectors}", fillcolor="{interest_color(0)}", fontcolor="white"];
      att [label="Label-aware attention\\n(training, p = {config.pow_p})"];
      loss [label="Sampled softmax\\ntemperature {config.temperature}"];
      serve [label="Serving: search each\\ninterest (Annoy), merge", fillcolor="#ebfbee"];
      hist -> emb -> route -> caps -> mlp -> ints;
      {profile_edge}
      ints -> att -> loss;
      ints -> serve;
    }}""", width="stretch")


def routing(sel: state.Selection, loaded: loaders.Loaded) -> None:
    """How routing split the selected user's history into interests, as a heatmap."""
    bundle, data, K = loaded.bundle, loaded.data, loaded.bundle.config.interest_num
    st.subheader(f"How routing assigned user {sel.user_id}'s history")
    st.caption("Rows: the movies the model routes (most recent at the bottom); columns: interests "
               "in their colours. Each cell is the routing weight of that movie into that "
               "interest (each row splits one unit among the active interests).")
    row = state.user_row(sel, data)
    try:
        weights, codes = tables.routing(loaded, row)
    except READABLE as e:
        show_failure("Cannot compute routing weights", e)
        st.stop()
    keep = np.flatnonzero(codes > 0)
    items = tables.items_table(bundle.meta.get("dataset", sel.dataset), bundle.config.max_length)
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
