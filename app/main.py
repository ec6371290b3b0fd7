"""MIND Explorer: entry point (`streamlit run app/main.py`).

Pages: Explore (one user's interests), Compare (the same user across K, beside the seed noise
floor), Sweep (any hyperparameter over values x seeds), Train (build models from the browser),
Model (hyperparameters, curves, metrics, routing). The sidebar's dataset,
model and user choices are shared by every page and survive page switches.
"""

import streamlit as st

from app.components import widgets
from app.views import compare, explore, model, sweep, train

st.set_page_config(page_title="MIND Explorer", page_icon="🧭", layout="wide",
                   initial_sidebar_state="expanded")

PAGES = [
    st.Page(explore.render, **explore.PAGE, default=True),
    st.Page(compare.render, **compare.PAGE),
    st.Page(sweep.render, **sweep.PAGE),
    st.Page(train.render, **train.PAGE),
    st.Page(model.render, **model.PAGE),
]

page = st.navigation(PAGES)
with st.sidebar:
    st.markdown("### MIND Explorer")
    st.caption("Multi-Interest Network with Dynamic Routing (Li et al., CIKM 2019) "
               "on MovieLens")
st.session_state["_selection"] = widgets.sidebar(page.title)
page.run()
