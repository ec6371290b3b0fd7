"""MIND Explorer: entry point (`streamlit run app/main.py`).

Pages: Explore (one user's interests), Compare (the same user across K, beside the seed noise
floor), Sweep (any hyperparameter over values x seeds), Playground (a taste mixture from knobs:
when several interests pay), Train (build models from the browser),
Model (hyperparameters, curves, metrics, routing). The sidebar's dataset,
model and user choices are shared by every page, survive page switches and live in the
link (``?dataset=...&model=...&user=...&n=...&merge=...&backend=...``), so a link opens
the same view.
"""

import streamlit as st

from app.components import widgets
from app.services import catalog, state
from app.views import compare, explore, model, playground, sweep, train

st.set_page_config(page_title="MIND Explorer", page_icon="🧭", layout="wide",
                   initial_sidebar_state="expanded")

PAGES = [
    st.Page(explore.render, **explore.PAGE, default=True),
    st.Page(compare.render, **compare.PAGE),
    st.Page(sweep.render, **sweep.PAGE),
    st.Page(playground.render, **playground.PAGE),
    st.Page(train.render, **train.PAGE),
    st.Page(model.render, **model.PAGE),
]

st.session_state[catalog.RUN_KEY] = st.session_state.get(catalog.RUN_KEY, 0) + 1
page = st.navigation(PAGES)
with st.sidebar:
    st.markdown("### MIND Explorer")
    st.caption("Multi-Interest Network with Dynamic Routing (Li et al., CIKM 2019) "
               "on MovieLens")
state.read_link()
selection = widgets.sidebar(page.title)
notice = state.link_notice(selection)
if notice:
    st.info(notice, icon=":material/link_off:")
state.write_link(selection)
st.session_state["_selection"] = selection
page.run()
