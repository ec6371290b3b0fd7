"""Compare page; its code is in app/screens/compare.py (small page files rerun fast)."""

from app.screens import compare

compare.render()
