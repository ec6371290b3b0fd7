"""Model page; its code is in app/screens/model.py (small page files rerun fast)."""

from app.screens import model

model.render()
