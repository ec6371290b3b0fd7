"""Train page; its code is in app/screens/train.py (small page files rerun fast)."""

from app.screens import train

train.render()
