"""Sweep page; its code is in app/screens/sweep.py (small page files rerun fast)."""

from app.screens import sweep

sweep.render()
