"""Colours and small HTML helpers shared by every page.

One colour per interest slot (interest 1 is always the same blue, in the map, the columns, the
merged list, the routing heatmap and the Compare page); the catalogue is drawn faint, coloured
by primary genre from a separate, muted palette so it never competes with the interests.
"""

from __future__ import annotations

import html

# Saturated, colour-blind-friendly-ish and pairwise distinct (Okabe-Ito + Tableau picks).
INTEREST_COLORS = ["#1f77b4", "#e8590c", "#2b9348", "#c2185b", "#7b2cbf", "#b8860b",
                   "#00838f", "#5d4037"]
# Muted tones for the catalogue's genres (drawn at low opacity under everything else).
GENRE_COLORS = ["#8da0cb", "#fc8d62", "#66c2a5", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494",
                "#b3b3b3", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#bc80bd", "#ccebc5",
                "#ffed6f", "#bebada", "#fb8072", "#8dd3c7", "#d9d9d9", "#c7e9c0"]
# A user's true tastes on the Playground's map: saturated, none grey (grey is "other genres").
TASTE_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
HISTORY_COLOR = "#222222"
HELD_OUT_COLOR = "#d62728"
BASELINE_COLOR = "#7f7f7f"
CEILING_COLOR = "#2ca02c"  # a taste mixture's oracle: the best any model could do


def interest_color(k: int) -> str:
    """Colour of interest slot ``k`` (0-based)."""
    return INTEREST_COLORS[k % len(INTEREST_COLORS)]


def genre_color(code: int) -> str:
    return GENRE_COLORS[code % len(GENRE_COLORS)]


def interest_name(k: int) -> str:
    return f"Interest {k + 1}"


def badge(text: str, color: str, *, light: bool = False) -> str:
    """An inline coloured pill (HTML) for st.markdown(..., unsafe_allow_html=True)."""
    bg = color + "22" if light else color
    fg = color if light else "#ffffff"
    return (f'<span style="background:{bg};color:{fg};border:1px solid {color};'
            f'border-radius:0.6em;padding:0.05em 0.55em;font-size:0.85em;white-space:nowrap">'
            f"{html.escape(text)}</span>")


def header_bar(title: str, subtitle: str, color: str) -> str:
    """A coloured column header: a thick top border in the interest's colour."""
    return (f'<div style="border-top:6px solid {color};padding-top:0.3em;margin-bottom:0.2em">'
            f'<span style="color:{color};font-weight:700;font-size:1.05em">{html.escape(title)}'
            f'</span><br><span style="font-size:0.85em;opacity:0.8">{html.escape(subtitle)}'
            "</span></div>")
