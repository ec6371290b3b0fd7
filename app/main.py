"""MIND Explorer: entry point (`streamlit run app/main.py`).

Pages: Explore (one user's interests), Compare (the same user across K, beside the seed noise
floor), Sweep (any hyperparameter over values x seeds), Train (build models from the browser),
Model (hyperparameters, curves, metrics, routing). The sidebar's dataset,
model and user choices are shared by every page and survive page switches.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import ui  # noqa: E402

st.set_page_config(page_title="MIND Explorer", page_icon="🧭", layout="wide",
                   initial_sidebar_state="expanded")

PAGES = [
    st.Page("views/explore.py", title="Explore", icon=":material/travel_explore:",
            default=True),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("views/sweep.py", title="Sweep", icon=":material/tune:"),
    st.Page("views/train.py", title="Train", icon=":material/model_training:"),
    st.Page("views/model.py", title="Model", icon=":material/schema:"),
]

page = st.navigation(PAGES)
with st.sidebar:
    st.markdown("### MIND Explorer")
    st.caption("Multi-Interest Network with Dynamic Routing (Li et al., CIKM 2019) "
               "on MovieLens")
st.session_state["_selection"] = ui.sidebar(page.title)
page.run()
