"""Explore: one user's history, the interests MIND extracted, and what each one retrieves."""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from app.components import charts
from app.components.theme import HELD_OUT_COLOR, badge, header_bar, interest_color, interest_name
from app.components.widgets import (
    READABLE,
    follow_catalogue,
    load_or_stop,
    page_header,
    show_failure,
    without_paths,
)
from app.services import catalog, lessons, loaders, recs, state, tables
from app.services.shared import shared
from app.views.no_model import require_model
from mind_core.errors import BundleError
from mind_core.model import dynamic_interest_number
from mind_core.serving import BACKENDS, nearest_items
from mind_core.serving.backends import ANNOY_FILE

PAGE = {"title": "Explore", "url_path": "explore", "icon": ":material/travel_explore:"}
MAP_KEY = "umap_map"
COLUMNS_PER_ROW = 4
BACKEND_NAMES = {"annoy": "Annoy", "exact": "Exact", "faiss": "FAISS HNSW"}


def render() -> None:
    page_header(
        "Explore a user",
        "MIND turns a user's viewing history into several interest vectors (one per taste) and "
        "searches the catalogue with each of them separately. Pick a user in the sidebar.")

    sel: state.Selection = st.session_state["_selection"]
    require_model(sel)
    has_index = (Path(sel.entry.path) / ANNOY_FILE).is_file()
    backend = search_settings(has_index, sel.entry.seed)
    loaded = load_or_stop(sel.entry)

    data = loaded.data
    dataset, L = loaded.bundle.meta.get("dataset", sel.dataset), data.split.max_length
    row = state.user_row(sel, data)
    n = int(state.get("n"))
    rec, backend = recommendations(loaded, row, n, backend)
    labels = interest_labels(loaded, row, rec)
    items = tables.items_table(dataset, L)
    held = tables.held_out(dataset, L, row, data.split.protocol)

    profile(sel, loaded, row, rec, items, held)
    viewing_history(tables.user_history(dataset, L, row, data.split.protocol))
    interest_map(loaded, row, rec, held, items, dataset, has_index)
    movies = int(tables.users_table(dataset, L).iloc[row]["movies"])
    interest_columns(sel.entry.k, labels, rec, items, held, inactive_text(movies, L))
    known_tastes(loaded, row)
    merged_list(sel, loaded, row, n, backend, held, items)


def known_tastes(loaded: loaders.Loaded, row: int) -> None:
    """On a taste mixture: the user's true tastes, and which interest found each."""
    if not recs.has_tastes(loaded.entry.path, loaded.entry.mtime):
        return
    with st.container(border=True, key="known_tastes"):
        st.markdown("**This dataset knows the user's tastes**: each one below is found when "
                    "some interest's own top 10 is at least 60% of it.")
        try:
            st.markdown(lessons.user_tastes_text(recs.taste_view(loaded, row)))
        except READABLE as e:
            show_failure("Cannot read the dataset's tastes", e)


# --- settings and the lists ------------------------------------------------------------------

def search_settings(has_index: bool, seed: int) -> str:
    """The sidebar's N and search backend (Explore only); returns the backend that serves the
    list. A model built without an Annoy index (the extra seeds are built for the noise floor,
    without one) is not offered Annoy: the control shows what serves the list."""
    with st.sidebar:
        st.divider()
        st.slider("Movies per interest (N)", 5, 50, step=5, key=state.bind("n"),
                  on_change=state.sync, args=("n",),
                  help="How many movies each interest retrieves; the merged list has N too.")
        backends = [b for b in BACKENDS if has_index or b != "annoy"]
        chosen = state.get("backend")
        serving = chosen if chosen in backends else "exact"  # the person's choice stays stored
        st.session_state["w_backend"] = serving
        st.radio("Search", backends, key="w_backend", on_change=state.sync,
                 args=("backend",), horizontal=True, format_func=BACKEND_NAMES.get,
                 help="Annoy searches a tree index; FAISS a graph index (HNSW: the one to use "
                      "for catalogues of a million movies); exact scores every movie, the "
                      "fastest at MovieLens sizes.")
        if not has_index:
            st.caption(NO_INDEX.format(seed=seed))
    return serving


NO_INDEX = ("This model (seed {seed}) was built without an Annoy index: the extra seeds built "
            "for the seed noise floor have none, nor has a model trained with \"Index and map\" "
            "off. Its lists come from exact search, which gives the true top N.")


def recommendations(loaded: loaders.Loaded, row: int, n: int, backend: str):
    """(the user's recommendations, the backend that served them): exact search, said
    plainly and without server paths, when the model's index cannot be read."""
    merge = state.merge(loaded.entry.merge)
    try:
        return recs.recommend_for(loaded, row, n, merge, backend), backend
    except BundleError:
        if backend != "annoy":
            raise
        st.warning("This model's Annoy index cannot be read, so its lists come from exact "
                   "search (`mind-core build-index` rebuilds the index).")
        return recs.recommend_for(loaded, row, n, merge, "exact"), "exact"


def interest_labels(loaded: loaders.Loaded, row: int, rec) -> list[dict]:
    """Each interest's label and routed movies; plain names if they cannot be computed."""
    try:
        return recs.labels(loaded, row, rec)
    except READABLE as e:  # e.g. weights that no longer fit the code: still show results
        st.warning("Interest labels and routing are unavailable for this model: "
                   f"{without_paths(str(e))}")
        return [{"active": bool(a), "label": f"interest {k + 1}", "routed": [], "genres": []}
                for k, a in enumerate(rec.active)]


def ranked_list(hits, titles, held, color: str) -> str:
    """An interest's top-N as compact HTML rows: rank, title (★ if held out), score."""
    rows = []
    for rank, (c, score) in enumerate(hits, start=1):
        star = f" <b style='color:{HELD_OUT_COLOR}'>★ held out</b>" if c == held else ""
        rows.append(
            f"<div style='display:flex;justify-content:space-between;gap:8px;"
            f"border-left:3px solid {color};padding:1px 0 1px 6px;margin:2px 0;"
            f"font-size:0.86em'><span>{rank}. {html.escape(str(titles[c]))}{star}</span>"
            f"<span style='opacity:.7;font-variant-numeric:tabular-nums'>{score:.3f}</span>"
            "</div>")
    return "".join(rows) or "<i>nothing retrieved</i>"


# --- profile and history ---------------------------------------------------------------------

def profile(sel: state.Selection, loaded: loaders.Loaded, row: int, rec, items,
            held: int | None) -> None:
    """The user's heading: profile, movies rated, active interests, the held-out movie."""
    dataset, L = loaded.bundle.meta.get("dataset", sel.dataset), loaded.data.split.max_length
    user = tables.users_table(dataset, L).iloc[row]
    n_active = int(np.asarray(rec.active).sum())
    st.subheader(f"User {sel.user_id}")
    c = st.columns([2, 1, 1, 2])
    if "gender" in user:
        gender = {"M": "man", "F": "woman"}.get(str(user["gender"]), str(user["gender"]))
        c[0].markdown(f"**Profile**<br>{user['age']}-year-old {gender}<br>"
                      f"{html.escape(str(user['occupation']))} · zip "
                      f"{html.escape(str(user['zip']))}", unsafe_allow_html=True)
    else:  # the dataset has no user file (ml-20m and later): no profile to show
        c[0].markdown("**Profile**<br><span style='opacity:.75'>not in this dataset</span>",
                      unsafe_allow_html=True)
    c[1].metric("Movies rated", int(user["movies"]))
    c[2].metric("Active interests", f"{n_active} of {sel.entry.k}",
                help=active_interests_help(loaded.bundle.config, sel.entry.k, L))
    if held is not None:
        c[3].markdown(
            "**Held-out movie** " + badge("hidden from the model", HELD_OUT_COLOR) +
            f"<br>★ {html.escape(str(items['title'].to_numpy()[held]))}<br>"
            f"<span style='opacity:.75'>{items['genres'].to_numpy()[held]}</span>",
            unsafe_allow_html=True)


def active_interests_help(config, K: int, L: int) -> str:
    """The help of the Active interests figure: how many interests a user can get."""
    if not config.dynamic_k:
        return ("This model was trained without the dynamic interest number: every user gets "
                "all K interests.")
    most = int(dynamic_interest_number(torch.tensor([L]), K)[0])
    return (f"MIND gives a user at most log2(n) interests (paper Eq. 9), where n is the number "
            f"of movies routed: the most recent {L} at most, so no user here gets more than "
            f"{most}.")


def viewing_history(history: pd.DataFrame) -> None:
    """Every movie the user rated, newest first, in a folded table."""
    with st.expander(f"Viewing history ({len(history)} movies, most recent first)",
                     expanded=False):
        st.caption("Every movie the user rated, newest first. The last one (★) is held out: the "
                   "model never saw it, and the lists below try to find it.")
        shown = history.iloc[::-1].reset_index(drop=True)
        shown.insert(0, "", np.where(shown["held_out"], "★ held out", ""))
        st.dataframe(shown.drop(columns=["code", "held_out"]), hide_index=True, height=280,
                     width="stretch",
                     column_config={"date": st.column_config.DateColumn("date"),
                                    "rating": st.column_config.NumberColumn("rating",
                                                                            format="%d ★"),
                                    "year": st.column_config.NumberColumn("year", format="%d")})


# --- the map ---------------------------------------------------------------------------------

@shared(16)
def catalogue(path: str, mtime: int, dataset: str, L: int) -> dict:
    """The map's faint catalogue layer of one model: built and encoded once, shared by every
    session's figures (read-only)."""
    proj = loaders.get_projection(path, mtime)
    return charts.catalogue_trace(tables.items_table(dataset, L), np.asarray(proj["items_xy"]))


def selected_codes() -> list[int]:
    """Item codes of the movies selected on the map (interest vectors left out)."""
    event = st.session_state.get(MAP_KEY)
    if not event:
        return []
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return []
    codes = []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, list):
            cd = cd[0] if cd else None
        if cd is not None and int(cd) > 0 and int(cd) not in codes:
            codes.append(int(cd))
    return codes


@st.fragment
def interest_map(loaded: loaders.Loaded, row: int, rec, held: int | None, items,
                 dataset: str, has_index: bool) -> None:
    """The UMAP map with the user's history, interests and their hits; a selection beside."""
    st.subheader("Interest map")
    st.caption("Every movie of the catalogue (faint, coloured by genre) placed by UMAP so that "
               "movies MIND scores alike sit together. Black rings: the user's history. "
               "Diamonds: the user's interest vectors, numbered; dots in the same colour: the "
               "movies that interest retrieves. Red star: the held-out movie. Drag a box (or "
               "click a movie) to inspect it.")
    entry = loaded.entry
    try:
        proj = loaders.get_projection(entry.path, entry.mtime)
    except (BundleError, FileNotFoundError, ImportError):
        if not has_index:  # built without serving files
            st.info("This model has no map: it was built without index or map (the extra seeds "
                    "built for the seed noise floor, or \"Index and map\" off). The lists below "
                    "are complete.")
            return
        if not follow_catalogue(dataset, catalog.building(dataset)):
            st.info("This model has no map: it was built without its UMAP projection "
                    "(`mind-core build-index` adds it).")
            return
        # `make run` serves its first model before UMAP has placed it (~30 s here)
        st.info("The map is being computed (UMAP places every movie and every user's "
                "interests): it appears here when it lands. The lists below are ready.",
                icon=":material/autorenew:")
        return
    items_xy = np.asarray(proj["items_xy"])
    interests_xy = np.asarray(proj["interests_xy"])[row]
    selected = selected_codes()
    layer = catalogue(entry.path, entry.mtime, dataset, loaded.data.split.max_length)
    fig = charts.umap_figure(layer, items, items_xy, interests_xy, rec.active,
                             rec.per_interest, rec.history, held)
    left, right = st.columns([3, 1])
    with left:
        st.plotly_chart(fig, key=MAP_KEY, on_select="rerun",
                        selection_mode=("points", "box", "lasso"), width="stretch",
                        config={"displaylogo": False, "scrollZoom": True})
    with right:
        selection_details(loaded, rec, selected, held, items)


def selection_details(loaded: loaders.Loaded, rec, selected: list[int], held, items) -> None:
    """The movies selected on the map, and the nearest movies to one of them."""
    titles, genres = items["title"].to_numpy(), items["genres"].to_numpy()
    st.markdown("**Selection**")
    if not selected:
        st.caption("Nothing selected. Box-select or click movies on the map to see them here, "
                   "with their nearest neighbours in MIND's item space.")
        return
    source = {c: (k, s) for k, hits in enumerate(rec.per_interest) for c, s in hits}
    watched = set(rec.history)
    rows = []
    for c in selected[:200]:
        k, s = source.get(c, (None, None))
        rows.append({"title": titles[c], "genres": genres[c],
                     "retrieved by": interest_name(k) if k is not None else "",
                     "score": s, "watched": "✓" if c in watched else
                     ("held out" if c == held else "")})
    st.caption(f"{len(selected)} movie{'s' if len(selected) != 1 else ''} selected")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 height=min(300, 38 + 35 * len(rows)),
                 column_config={"score": st.column_config.NumberColumn(format="%.3f")})
    focus = selected[0]
    if len(selected) > 1:
        focus = st.selectbox("Nearest movies to", selected[:200],
                             format_func=lambda c: titles[c], key="map_focus")
    try:
        near = nearest_items(loaded.bundle, focus, 8)
    except (ImportError, BundleError, ValueError) as e:
        st.caption(f"Nearest movies unavailable: {without_paths(str(e))}")
        return
    st.markdown(f"**Nearest to _{titles[focus]}_**")
    st.dataframe(pd.DataFrame({"title": [titles[c] for c, _ in near],
                               "genres": [genres[c] for c, _ in near],
                               "similarity": [s for _, s in near]}),
                 hide_index=True, width="stretch",
                 column_config={"similarity": st.column_config.NumberColumn(format="%.3f")})


# --- one column per interest -----------------------------------------------------------------

def inactive_text(movies: int, L: int) -> str:
    """Why an interest is unused for a user: dynamic K reads the routed window, not the whole
    history (paper Eq. 9: at most log2 of the behaviours routed)."""
    routed = min(movies, L)
    cap = max(1, int(math.floor(math.log2(max(routed, 1)))))
    if movies > L:
        return (f"Not used for this user: routing reads the last {L} movies of the history "
                f"({movies} here), and MIND gives {L} movies at most log2 {L} → {cap} "
                "interests (paper Eq. 9).")
    return (f"Not used for this user: with {movies} movies MIND extracts at most log2 {movies} "
            f"→ {cap} interests (paper Eq. 9).")


def interest_columns(K: int, labels: list[dict], rec, items, held: int | None,
                     inactive: str) -> None:
    """One bordered column per interest: its label, what was routed to it, its top N."""
    st.subheader("What each interest retrieves")
    st.caption("One column per interest vector. The label names the genres dominating what it "
               "retrieves; *routed from* lists the history movies dynamic routing assigned mostly "
               "to it (strongest first). Scores are inner products with the interest vector.")
    titles = items["title"].to_numpy()
    for start in range(0, K, COLUMNS_PER_ROW):
        cols = st.columns(min(COLUMNS_PER_ROW, K - start))
        for k, col in zip(range(start, K), cols, strict=False):
            with col, st.container(border=True, key=f"interest_col_{k}"):
                interest_column(k, labels[k], rec.per_interest[k], titles, held, inactive)


def interest_column(k: int, info: dict, hits, titles, held: int | None, inactive: str) -> None:
    if not info["active"]:
        st.markdown(header_bar(interest_name(k), "inactive", "#aaaaaa"),
                    unsafe_allow_html=True)
        st.caption(inactive)
        return
    color = interest_color(k)
    st.markdown(header_bar(interest_name(k), info["label"], color), unsafe_allow_html=True)
    routed = info["routed"]
    st.caption("Routed from: " + ("; ".join(titles[c] for c in routed[:4]) or "—") +
               (f" (+{len(routed) - 4} more)" if len(routed) > 4 else ""))
    st.markdown(ranked_list(hits, titles, held, color), unsafe_allow_html=True)


# --- the merged list -------------------------------------------------------------------------

@st.fragment
def merged_list(sel: state.Selection, loaded: loaders.Loaded, row: int, n: int, backend: str,
                held, items) -> None:
    """The K lists merged into one (strategy picked here), stable marks against a second seed,
    and whether the held-out movie was found."""
    st.subheader("Merged recommendations")
    strategies = recs.merge_strategies()
    default = loaded.entry.merge
    st.radio("Merge strategy", strategies, key=state.bind_merge(strategies, default),
             on_change=state.sync, args=("merge",), horizontal=True,
             format_func=recs.MERGE_NAMES.get, help=recs.MERGE_HELP)
    st.caption(recs.merge_choice_text(loaded.bundle.metrics))
    rec = recs.recommend_for(loaded, row, n, state.merge(default), backend)
    twin = next((e for e in sel.family_entries
                 if e.k == loaded.entry.k and e.seed != loaded.entry.seed), None)
    other = (recs.user_list(twin.path, twin.mtime, row, n, state.merge(default))
             if twin is not None else None)
    left, right = st.columns([3, 1])
    with left:
        merged_table(rec.merged, items, held, other)
    with right:
        merged_summary(rec, n, held, loaded.entry.seed, twin, other)


MERGED_COLUMNS = ("rank", "movie", "seeds", "genres", "score", "from", "held out")


def merged_table(merged, items, held, other: list[int] | None) -> None:
    """The merged list, each row's source in the colour of the interest that retrieved it,
    the held-out movie's row highlighted. Plain HTML: a styled ``st.dataframe`` spent ~15 ms
    of every rerun in pandas' Styler (bench/profile_rerun.py)."""
    titles, genres = items["title"].to_numpy(), items["genres"].to_numpy()
    columns = [c for c in MERGED_COLUMNS if c != "seeds" or other is not None]
    head = "".join(f"<th>{c}</th>" for c in columns)
    rows = []
    for rank, (c, score, k) in enumerate(merged, start=1):
        cells = {"rank": str(rank), "movie": html.escape(str(titles[c])),
                 "seeds": ("● stable" if c in other else "○ this seed only")
                 if other is not None else "",
                 "genres": html.escape(str(genres[c])), "score": f"{score:.3f}",
                 "from": interest_name(k), "held out": "★ held-out movie" if c == held else ""}
        style = " class='held'" if c == held else ""
        rows.append(f"<tr{style}>" + "".join(
            f"<td style='background:{interest_color(k)};color:white'>{cells[col]}</td>"
            if col == "from" else f"<td>{cells[col]}</td>" for col in columns) + "</tr>")
    st.markdown(f"<div class='merged-list'><table>{MERGED_STYLE}<thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table></div>", unsafe_allow_html=True)


MERGED_STYLE = ("<style>.merged-list{overflow-x:auto}"  # a phone scrolls it, not cuts it
                ".merged-list table{width:100%;border-collapse:collapse;font-size:.86em}"
                ".merged-list th{text-align:left;opacity:.7;font-weight:600}"
                ".merged-list td,.merged-list th{padding:3px 8px;border-bottom:1px solid "
                "rgba(128,128,128,.2)}.merged-list td:nth-child(1){opacity:.7}"
                ".merged-list tr.held td{background:#ffe3e3;font-weight:600}</style>")


def merged_summary(rec, n: int, held, seed: int, twin, other: list[int] | None) -> None:
    """hit@N, items per interest, and how many movies a second seed recommends too."""
    merged = rec.merged
    found = [i for i, (c, _, _) in enumerate(merged) if c == held]
    if held is None:
        st.metric(f"hit@{n}", "n/a")
        st.caption("This user has no held-out movie.")
    elif found:
        st.metric(f"hit@{n}", "1 ✓")
        st.caption(f"The held-out movie is at rank {found[0] + 1}.")
    else:
        st.metric(f"hit@{n}", "0")
        st.caption(f"The held-out movie is not in the top {n}.")
    counts = pd.Series([k for _, _, k in merged]).value_counts().sort_index()
    st.markdown("**Items per interest**<br>" + " ".join(
        badge(f"{interest_name(int(k))}: {v}", interest_color(int(k)))
        for k, v in counts.items()), unsafe_allow_html=True)
    st.caption("Each merged movie keeps the colour of the interest that retrieved it. "
               f"Search: {rec.backend}.")
    if other is not None:
        stable = sum(c in other for c, _, _ in merged)
        st.markdown(f"**Stable across seeds: {stable} of {len(merged)}**")
        st.caption(f"● the same configuration trained with seed {twin.seed} also "
                   f"recommends it (its exact top {n}); ○ only seed "
                   f"{seed} does. Movies only one seed finds say more "
                   "about training noise than about this user.")
    else:
        st.caption("No second seed of this model yet: the Compare page can train one, "
                   "to tell stable recommendations from training noise.")
