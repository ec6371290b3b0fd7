"""Compare: the same user served by models that differ only in K (interest_num)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, state, ui
from app.theme import HELD_OUT_COLOR, badge, header_bar, interest_color
from mind_core.errors import BundleError
from mind_core.evaluate import diversity

METRICS = ["HR@10", "HR@50", "NDCG@10", "NDCG@50", "Diversity@50", "latency (ms)"]
LATENCY_USERS = 50
K_COLOR = "#343a40"  # models are not interests: a neutral header, interest colours for rows


def render() -> None:
    ui.page_header(
        "Compare interest numbers",
        "The same user, served by models trained with the same settings except K, the number of "
        "interest vectors. More interests usually widen what gets recommended.")

    sel: state.Selection = st.session_state["_selection"]
    ui.require_model(sel)

    with st.sidebar:
        st.divider()
        st.slider("Merged list length (N)", 5, 50, step=5, key=state.bind("n"),
                  on_change=state.sync, args=("n",))

    n, merge = int(state.get("n")), state.get("merge")
    if merge not in state.merge_strategies():
        merge = "max_score"
    entries = sel.family_entries
    models: list[tuple[state.Entry, state.Loaded, object]] = []
    for entry in entries:
        try:
            loaded = state.load(entry)
            row = state.user_row(sel, loaded.data)
            try:
                rec = state.recommend_for(loaded, row, n, merge, state.get("backend"))
            except BundleError:  # no Annoy index in this bundle: exact search
                rec = state.recommend_for(loaded, row, n, merge, "exact")
        except ui.READABLE as e:
            ui.show_failure(f"Cannot load model {entry.name}", e)
            continue
        models.append((entry, loaded, rec))
    if not models:
        st.stop()

    first = models[0][1]
    dataset, L = first.bundle.meta.get("dataset", sel.dataset), first.data.split.max_length
    items = state.items_table(dataset, L)
    titles = items["title"].to_numpy()
    primary = first.data.encoded.primary_genre
    held = state.held_out(dataset, L, state.user_row(sel, first.data))

    st.subheader(f"User {sel.user_id}: merged top {n} for each K")
    held_txt = (f"The held-out movie is <b>{titles[held]}</b> " + badge("★", HELD_OUT_COLOR) +
                "." if held is not None else "This user has no held-out movie.")
    st.markdown(
        f"<span style='opacity:.8'>Merge strategy: {merge}. Green <b>+ new</b>: not in the list of "
        f"the next smaller K; the colour of each row is the interest that retrieved it. "
        f"{held_txt}</span>", unsafe_allow_html=True)

    lists = {e.k: [c for c, _, _ in rec.merged] for e, _, rec in models}
    ks = [e.k for e, _, _ in models]
    cols = st.columns(len(models))
    for i, ((entry, _, rec), col) in enumerate(zip(models, cols, strict=True)):
        prev = lists[ks[i - 1]] if i > 0 else None
        codes = lists[entry.k]
        hit = held is not None and held in codes
        with col, st.container(border=True, key=f"compare_col_{entry.k}"):
            sub = (f"{int(np.asarray(rec.active).sum())} active · "
                   + ("found the held-out movie ✓" if hit else "held-out movie not found"))
            st.markdown(header_bar(f"K = {entry.k}", sub, K_COLOR),
                        unsafe_allow_html=True)
            lines = []
            for r, (c, _, k) in enumerate(rec.merged, start=1):
                new = prev is not None and c not in prev
                mark = " <b style='color:#2b9348'>+ new</b>" if new else ""
                star = f" <b style='color:{HELD_OUT_COLOR}'>★</b>" if c == held else ""
                lines.append(f"<div style='border-left:4px solid {interest_color(k)};"
                             f"padding-left:6px;margin:2px 0;font-size:0.88em'>{r}. "
                             f"{titles[c]}{star}{mark}</div>")
            st.markdown("".join(lines), unsafe_allow_html=True)
            if prev is not None:
                lost = [c for c in prev if c not in codes]
                st.caption(f"Adds {sum(c not in prev for c in codes)}, loses {len(lost)} vs "
                           f"K={ks[i - 1]}" + (": " + "; ".join(titles[c] for c in lost[:5]) +
                                               ("…" if len(lost) > 5 else "") if lost else ""))

    st.divider()
    left, right = st.columns(2)
    with left:
        st.subheader("Overlap between lists")
        st.caption("Jaccard overlap of the merged lists: 1 = the same movies, 0 = nothing shared.")
        labels = [f"K={k}" for k in ks]
        m = np.array([[len(set(lists[a]) & set(lists[b])) / max(1, len(set(lists[a]) |
                                                                       set(lists[b])))
                       for b in ks] for a in ks])
        st.plotly_chart(charts.jaccard_heatmap(m, labels), width="stretch", key="jaccard")
    with right:
        st.subheader("Genre spread")
        st.caption("Diversity: share of pairs of listed movies whose main genres differ "
                   "(higher = more varied). Genres: distinct main genres in the list.")
        rows = []
        for e, _, rec in models:
            codes = np.asarray(lists[e.k], dtype=int)
            rows.append({"K": e.k, "active interests": int(np.asarray(rec.active).sum()),
                         "diversity": diversity(codes[None, :], primary) if len(codes) > 1 else 0.0,
                         "genres": len(set(primary[codes].tolist())),
                         "held-out found": "✓" if held is not None and held in codes else "—"})
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                     column_config={"diversity": st.column_config.ProgressColumn(
                         "diversity", min_value=0.0, max_value=1.0, format="%.2f")})


    @st.cache_data(show_spinner="Timing retrieval…", max_entries=64)
    def latency_ms(_loaded: state.Loaded, path: str, mtime: int, backend: str) -> float:
        """Mean time of one user's recommendation (search + merge), over a fixed sample."""
        from mind_core.retrieval import recommend

        try:
            index = state.get_index(path, mtime, backend)
        except BundleError:
            index = state.get_index(path, mtime, "exact")
        rng = np.random.default_rng(0)
        rows = rng.choice(_loaded.data.split.test.users, size=min(LATENCY_USERS,
                          len(_loaded.data.split.test.users)), replace=False)
        start = time.perf_counter()
        for r in rows:
            recommend(_loaded.bundle, _loaded.data, int(r), n=50, index=index)
        return 1000 * (time.perf_counter() - start) / len(rows)


    st.divider()
    st.subheader("Model quality against K")
    st.caption("Test metrics of every model over all users (leave-last-out, full ranking), the "
               "most-popular baseline as a dashed line. Latency: one user's retrieval of 50 "
               f"movies with the {state.get('backend')} search, averaged over {LATENCY_USERS} "
               "users on this machine.")
    metric_rows = []
    baseline = None
    for e, loaded, _ in models:
        test = dict(loaded.bundle.metrics.get("test", {}))
        test["K"] = e.k
        test["latency (ms)"] = latency_ms(loaded, e.path, e.mtime, state.get("backend"))
        metric_rows.append(test)
        baseline = baseline or loaded.bundle.metrics.get("baselines", {}).get("popularity")
    st.plotly_chart(charts.metrics_vs_k(metric_rows, baseline, METRICS), width="stretch",
                    key="metrics_vs_k")
    table = pd.DataFrame(metric_rows)
    table.index = [f"MIND K={k}" for k in table["K"]]
    table = table[[m for m in METRICS if m in table.columns]]
    if baseline:
        table.loc["most popular"] = [baseline.get(m, np.nan) for m in table.columns]
    st.dataframe(table.style.format("{:.4f}", subset=[m for m in table.columns if "ms" not in m])
                 .format("{:.2f}", subset=["latency (ms)"]), width="stretch")
