"""Compare: the same user served by models that differ only in K (interest_num), every
difference read against the difference between two seeds of the same K (the noise floor)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app.components import charts, figures
from app.components.theme import HELD_OUT_COLOR, badge, header_bar, interest_color
from app.components.widgets import (
    READABLE,
    offer_training,
    page_header,
    refresh_when_built,
    show_failure,
)
from app.services import catalog, lessons, loaders, recs, state, tables
from app.views.no_model import require_model
from mind_core import protocols
from mind_core.errors import BundleError
from mind_core.evaluation.verdict import SOUND_SEEDS, VERDICT_WORDS
from mind_core.protocols.common import diversity

PAGE = {"title": "Compare", "url_path": "compare", "icon": ":material/compare_arrows:"}
K_COLOR = "#343a40"  # models are not interests: a neutral header, interest colours for rows
STABLE = "●"  # another seed of the same configuration and K recommends it too
ONE_SEED = "○"  # only this seed does
TASTE_METRICS = ("taste_recall", "taste_coverage@50")  # with a taste mixture's truth


def jaccard(a, b) -> float:
    a, b = set(a), set(b)
    return len(a & b) / max(1, len(a | b))


def render() -> None:
    page_header(
        "Compare interest numbers",
        "The same user, served by models trained with the same settings except K, the number of "
        "interest vectors. Every difference is shown beside the difference between two seeds "
        "of the same K: a gap smaller than that is training noise, not an effect of K.")

    sel: state.Selection = st.session_state["_selection"]
    require_model(sel)
    with st.sidebar:
        st.divider()
        st.slider("Merged list length (N)", 5, 50, step=5, key=state.bind("n"),
                  on_change=state.sync, args=("n",))
        merge_picker(sel.entry.merge)

    n, merge = int(state.get("n")), state.merge(sel.entry.merge)
    models = models_for_k(sel, n, merge)
    if not models:
        st.stop()

    first = models[0][1]
    dataset, L = first.bundle.meta.get("dataset", sel.dataset), first.data.split.max_length
    protocol = first.data.split.protocol
    dataset_name = first.data.encoded.name
    row = state.user_row(sel, first.data)
    titles = tables.items_table(dataset, L)["title"].to_numpy()
    held = tables.held_out(dataset, L, row, protocol)
    per_k = catalog.by_k(sel.family_entries)
    # another seed of the same K, for the stable marks and the per-user noise floor
    twins = {e.k: next((o for s, o in per_k[e.k].items() if s != e.seed), None)
             for e, _, _ in models}
    missing = [catalog.family_config(sel.family, k, s)
               for k in per_k for s in [s for s in range(100) if s not in per_k[k]]
               [:max(0, SOUND_SEEDS - len(per_k[k]))]]

    lists_legend(sel, n, merge, titles, held)
    lists = {e.k: [c for c, _, _ in rec.merged] for e, _, rec in models}
    twin_lists = {k: recs.user_list(twin.path, twin.mtime, row, n, merge)
                  for k, twin in twins.items() if twin is not None}
    list_columns(models, lists, twins, twin_lists, titles, held)
    noise_floor(sel, models, lists, twins, twin_lists, row, n, missing, dataset_name, merge)
    st.divider()
    left, right = st.columns(2)
    with left:
        overlap_between_lists([e.k for e, _, _ in models], lists)
    with right:
        genre_spread(models, lists, first.data.encoded.primary_genre, held)
    quality_vs_k(sel, models, protocol, merge)
    merges_scored(sel, protocol)
    refresh_when_built(sel.dataset, missing, dataset_name)


def models_for_k(sel: state.Selection, n: int,
                 merge: str) -> list[tuple[catalog.Entry, loaders.Loaded, object]]:
    """(entry, loaded model, the user's recommendations) for each K of the configuration;
    a model that cannot be loaded is named and left out."""
    models = []
    for entry in sel.k_entries:
        try:
            loaded = loaders.load(entry)
            row = state.user_row(sel, loaded.data)
            try:
                rec = recs.recommend_for(loaded, row, n, merge, state.get("backend"))
            except BundleError:  # no Annoy index in this bundle: exact search
                rec = recs.recommend_for(loaded, row, n, merge, "exact")
        except READABLE as e:
            show_failure(f"Cannot load model {entry.name}", e)
            continue
        models.append((entry, loaded, rec))
    return models


def lists_legend(sel: state.Selection, n: int, merge: str, titles, held) -> None:
    """The lists' heading and how to read their marks."""
    st.subheader(f"User {sel.user_id}: merged top {n} for each K (seed {sel.seed})")
    held_txt = (f"The held-out movie is <b>{titles[held]}</b> " + badge("★", HELD_OUT_COLOR) +
                "." if held is not None else "This user has no held-out movie.")
    st.markdown(
        f"<span style='opacity:.8'>Merge strategy: {recs.MERGE_NAMES.get(merge, merge)}. "
        "Green <b>+ new</b>: not in the list of "
        f"the next smaller K; the colour of each row is the interest that retrieved it. "
        f"<b>{STABLE}</b> another seed of the same K also recommends it (stable); <b>{ONE_SEED}"
        f"</b> only this seed does. {held_txt}</span>", unsafe_allow_html=True)


def list_columns(models, lists, twins, twin_lists, titles, held) -> None:
    """One column per K: the merged list, what is new against the next smaller K, and
    which movies the other seed recommends too."""
    ks = [e.k for e, _, _ in models]
    cols = st.columns(len(models))
    for i, ((entry, _, rec), col) in enumerate(zip(models, cols, strict=True)):
        prev = lists[ks[i - 1]] if i > 0 else None
        codes = lists[entry.k]
        other = twin_lists.get(entry.k)
        twin = twins[entry.k]
        hit = held is not None and held in codes
        with col, st.container(border=True, key=f"compare_col_{entry.k}"):
            sub = (f"{int(np.asarray(rec.active).sum())} active · "
                   + ("found the held-out movie ✓" if hit else "held-out movie not found"))
            st.markdown(header_bar(f"K = {entry.k}", sub, K_COLOR), unsafe_allow_html=True)
            st.markdown(list_rows(rec.merged, prev, other, entry.seed, twin, titles, held),
                        unsafe_allow_html=True)
            notes = []
            if prev is not None:
                lost = [c for c in prev if c not in codes]
                notes.append(f"Adds {sum(c not in prev for c in codes)}, loses {len(lost)} vs "
                             f"K={ks[i - 1]}" + (": " + "; ".join(titles[c] for c in lost[:5]) +
                                                 ("…" if len(lost) > 5 else "") if lost else "")
                             + ".")
            if other is not None:
                notes.append(f"{sum(c in other for c in codes)} of {len(codes)} also from seed "
                             f"{twin.seed}.")
            if notes:
                st.caption(" ".join(notes))


def list_rows(merged, prev, other, seed: int, twin, titles, held) -> str:
    """A K's merged list as HTML rows: stable mark, rank, title, ★ held out, + new."""
    lines = []
    for r, (c, _, k) in enumerate(merged, start=1):
        new = prev is not None and c not in prev
        mark = " <b style='color:#2b9348'>+ new</b>" if new else ""
        star = f" <b style='color:{HELD_OUT_COLOR}'>★</b>" if c == held else ""
        stable = ""
        if other is not None:
            stable = (f"<span title='also recommended by seed {twin.seed}'>"
                      f"{STABLE}</span> " if c in other else
                      f"<span title='only seed {seed} recommends it' "
                      f"style='opacity:.55'>{ONE_SEED}</span> ")
        lines.append(f"<div style='border-left:4px solid {interest_color(k)};"
                     f"padding-left:6px;margin:2px 0;font-size:0.88em'>{stable}{r}. "
                     f"{titles[c]}{star}{mark}</div>")
    return "".join(lines)


def overlap_between_lists(ks: list[int], lists: dict) -> None:
    """Jaccard of this user's merged lists, every K against every K."""
    st.subheader("Overlap between lists")
    st.caption("Jaccard overlap of this user's merged lists: 1 = the same movies, 0 = "
               "nothing shared. Read it beside the seed-to-seed overlap above.")
    labels = [f"K={k}" for k in ks]
    m = np.array([[jaccard(lists[a], lists[b]) for b in ks] for a in ks])
    st.plotly_chart(charts.jaccard_heatmap(m, labels), width="stretch", key="jaccard")


def genre_spread(models, lists: dict, primary, held) -> None:
    """How varied each K's merged list is in main genres."""
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


def noise_floor(sel, models, lists, twins, twin_lists, row, n, missing, dataset_name,
                merge: str) -> None:
    """The seed-to-seed overlap beside every K-to-K overlap, for this user and for all users,
    and whether K's effect exceeds it."""
    with st.container(border=True, key="noise_floor"):
        st.subheader("Is it K, or the seed?")
        st.caption("Retraining a model with another seed changes part of every list. Here each "
                   "K-to-K overlap stands beside the overlap between two seeds of the same K "
                   f"(Jaccard of the merged top {n}; 1 = identical).")
        ks = [e.k for e, _, _ in models]
        user_rows = []
        for a, b in zip(ks[:-1], ks[1:], strict=True):
            seed_a = (jaccard(lists[a], twin_lists[a]) if twin_lists.get(a) is not None
                      else None)
            seed_b = (jaccard(lists[b], twin_lists[b]) if twin_lists.get(b) is not None
                      else None)
            user_rows.append({"pair": f"K={a} vs K={b}", "K to K": jaccard(lists[a], lists[b]),
                              f"seed to seed, K={a}": seed_a, f"seed to seed, K={b}": seed_b})
        if user_rows:
            st.markdown(f"**User {sel.user_id}**")
            table = pd.DataFrame([{"pair": r["pair"], "K to K": r["K to K"],
                                   "seed to seed (each K)": " / ".join(
                                       "–" if v is None else f"{v:.2f}"
                                       for k, v in r.items() if k.startswith("seed"))}
                                  for r in user_rows])
            st.dataframe(table, hide_index=True, width="stretch",
                         column_config={"K to K": st.column_config.NumberColumn(format="%.2f")})
        if missing:
            seeds_of = catalog.by_k(sel.family_entries)
            lone = sorted({c.interest_num for c in missing if len(seeds_of[c.interest_num]) < 2})
            short = sorted({c.interest_num for c in missing} - set(lone))
            if lone:
                st.warning(f"**No second seed for {', '.join(f'K={k}' for k in lone)}.** "
                           "Without two seeds of the same K the page cannot tell an effect of "
                           "K from training noise.", icon=":material/warning:")
            if short:
                st.info(f"**The verdicts on {', '.join(f'K={k}' for k in short)} wait for a "
                        f"third seed.** With two seeds a side the test's 95% interval is 4 to "
                        f"13 standard errors wide, so it rarely decides; {SOUND_SEEDS} seeds "
                        "make a sound verdict.", icon=":material/hourglass_top:")
            offer_training(sel.dataset, dataset_name, missing,
                           f"{SOUND_SEEDS} seeds of each K", key="train_seeds")
        summary = all_users_summary(sel, merge)
        if summary is None:
            return
        st.markdown(f"**All {summary['users']} evaluated users** (mean Jaccard of the merged top "
                    f"{recs.NOISE_N}, exact search, {recs.MERGE_NAMES[merge]} merge)")
        rows = []
        for r in summary["results"]:
            o = r["seed_overlap"]
            rows.append({"K": r["value"], "seeds": len(r["seeds"]),
                         "seed to seed": o["mean"] if o["pairs"] else None,
                         "seed pairs": o["pairs"]})
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                     column_config={"seed to seed": st.column_config.NumberColumn(
                         format="%.3f")})
        adjacent = {(a, b) for a, b in zip(ks[:-1], ks[1:], strict=True)}
        for c in summary["comparisons"]:
            if (c["a"], c["b"]) in adjacent:
                st.markdown("- " + lessons.lists_verdict(c, recs.NOISE_N))


def merge_picker(default: str) -> None:
    """The merge every list and figure of the page uses (shared with Explore)."""
    strategies = recs.merge_strategies()
    st.selectbox("Merge strategy", strategies,
                 key=state.bind_merge(strategies, default),
                 on_change=state.sync, args=("merge",), format_func=recs.MERGE_NAMES.get,
                 help=recs.MERGE_HELP)


def headline(protocol: str) -> str:
    return "Recall@50" if "Recall@50" in protocols.get(protocol).METRICS else "HR@50"


def merges_scored(sel, protocol: str) -> None:
    """Every merge strategy on the selected K's seeds: the merge is a hyperparameter too."""
    entries = [e for e in sel.family_entries if e.k == sel.entry.k]
    st.divider()
    st.subheader(f"The merge, scored (K={sel.entry.k})")
    st.caption("The same interest vectors merged by each strategy: the merge costs no "
               "training, yet decides which of the interests' movies reach the list. Mean ± "
               "sd over seeds; the verdict compares each strategy with the default one.")
    try:
        summary = recs.sweep_summary(tuple((e.path, e.mtime) for e in entries), "merge",
                                     recs.NOISE_N, None, tuple(recs.merge_strategies()))
    except READABLE as e:
        show_failure("Cannot score the merges", e)
        return
    metric = headline(protocol)
    default = state.merge(sel.entry.merge)
    shown = [metric, *(m for m in ("Diversity@50", *TASTE_METRICS)
                       if m in summary["results"][0]["metrics"])]
    rows = {}
    for r in summary["results"]:
        cells = {m: lessons.mean_sd(r["metrics"][m]) for m in shown}
        c = next((c for c in summary["comparisons"] if {c["a"], c["b"]} == {default,
                                                                          r["value"]}), None)
        if c is not None and metric in c["metrics"]:
            g = c["metrics"][metric]
            sign = 1 if c["a"] == default else -1
            cells["vs default"] = f"{sign * g['gap']:+.4f}: {VERDICT_WORDS[g['verdict']]}"
        rows[recs.MERGE_NAMES[r["value"]] + (" (default)" if r["value"] == default else "")] \
            = cells
    st.dataframe(pd.DataFrame(rows).T.fillna(""), width="stretch")


def all_users_summary(sel, merge: str) -> dict | None:
    """mind_core.workflow.sweep.summarize over every model of the configuration (K × seeds),
    lists and figures under ``merge``."""
    entries = sel.family_entries
    if not entries:
        return None
    try:
        summary = recs.sweep_summary(tuple((e.path, e.mtime) for e in entries), "interest_num",
                                     recs.NOISE_N, merge)
    except READABLE as e:
        show_failure("Cannot compare the models over all users", e)
        return None
    data = loaders.load(entries[0]).data
    return {**summary, "users": len(data.split.test.users)}


def quality_vs_k(sel, models, protocol: str, merge: str) -> None:
    """Test metrics against K over all users and seeds, with the retrieval latency."""
    st.divider()
    st.subheader("Model quality against K")
    summary = all_users_summary(sel, merge)
    if summary is None:
        return
    metrics = [*protocols.get(protocol).METRICS,
               *(m for m in TASTE_METRICS if m in summary["results"][0]["metrics"])]
    seeds = sorted({s for r in summary["results"] for s in r["seeds"]})
    st.caption(f"Test metrics over all users ({protocol.replace('_', '-')} protocol, "
               f"{recs.MERGE_NAMES[merge]} merge of each interest's exact top 50): the line is the "
               f"mean over seeds, the band ± one standard deviation, "
               f"dots are single seeds ({len(seeds)} seed(s): {', '.join(map(str, seeds))}); "
               "the most-popular baseline dashed. The verdicts below test each gap with "
               "Welch's t over seeds (false-positive rate at most 5%, measured: "
               "docs/results.md, \"Calibrating the verdict\")."
               + lessons.CEILING_NOTE * bool(summary.get("ceiling")))
    paths = tuple((e.path, e.mtime) for e in sel.family_entries)
    st.plotly_chart(figures.bands_chart(paths, "interest_num", recs.NOISE_N, merge, None,
                                        tuple(metrics), "K"),
                    width="stretch", key="metrics_vs_k")
    table = {}
    for r in summary["results"]:
        cells = {m: lessons.mean_sd(v) for m, v in r["metrics"].items() if m in metrics}
        cells["seeds"] = len(r["seeds"])
        for name, v in (r.get("interests") or {}).items():
            cells[name] = lessons.mean_sd(v, 3)
        table[f"MIND K={r['value']}"] = cells
    if summary["popularity"]:
        table["most popular"] = {m: f"{summary['popularity'][m]:.4f}" for m in metrics
                                 if m in summary["popularity"]}
    backend = state.get("backend")
    latency = {f"MIND K={e.k}": recs.latency_ms(loaded, e.path, e.mtime, backend)
               for e, loaded, _ in models}
    frame = pd.DataFrame(table).T
    frame["latency (ms)"] = [latency.get(i, np.nan) for i in frame.index]
    st.dataframe(frame, width="stretch",
                 column_config={"latency (ms)": st.column_config.NumberColumn(format="%.2f"),
                                "seeds": st.column_config.NumberColumn(format="%d")})
    st.markdown(lessons.k_verdict(summary, headline(protocol)))
    st.markdown(lessons.ceiling_reading(summary, headline(protocol)))
    st.markdown(lessons.k_lesson(summary, models[0][1].data.encoded.n_items,
                                 headline(protocol)))
    st.caption(f"Mean ± sd over seeds (n - 1 in the denominator). Latency: one user's retrieval "
               f"of 50 movies with the {state.get('backend')} search on this machine (seed "
               f"{sel.seed}, {recs.LATENCY_USERS} users). Interest distinctness columns: see the "
               "Model page.")
