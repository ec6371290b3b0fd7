"""MIND Explorer: entry point (`streamlit run app/main.py`)."""

import streamlit as st

from mind_core.cli import dataset_summary

st.set_page_config(page_title="MIND Explorer", layout="wide")
st.title("MIND Explorer")
st.caption("Multi-Interest Network with Dynamic Routing on MovieLens")


@st.cache_data
def summary(name: str) -> dict:
    return dataset_summary(name)


info = summary("ml-100k")
cols = st.columns(3)
cols[0].metric("Users", info["users"])
cols[1].metric("Movies", info["items"])
cols[2].metric("Ratings", info["interactions"])
