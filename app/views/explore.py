"""Explore page; its code is in app/screens/explore.py (small page files rerun fast)."""

from app.screens import explore

explore.render()
