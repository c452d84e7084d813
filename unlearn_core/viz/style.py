"""Shared look: method colours and the default figure layout."""

from __future__ import annotations

import zlib

import plotly.graph_objects as go

REFERENCE_COLORS = {"original": "#7f7f7f", "retrain": "#2ca02c"}
PALETTE = ("#1f77b4", "#ff7f0e", "#9467bd", "#d62728", "#17becf", "#8c564b", "#e377c2", "#bcbd22",
           "#393b79", "#ad494a", "#6b6ecf", "#8ca252")
FONT = "Inter, system-ui, -apple-system, Segoe UI, sans-serif"


def method_color(name: str) -> str:
    """A stable colour per method name, the same on every page and in the report."""
    from unlearn_core.methods import list_methods

    base = name.split(" ", 1)[0]
    if base in REFERENCE_COLORS:
        return REFERENCE_COLORS[base]
    names = [n for n in list_methods() if n != "retrain"]
    index = names.index(base) if base in names else zlib.crc32(base.encode())
    return PALETTE[index % len(PALETTE)]


def styled(fig: go.Figure, title: str | None = None, height: int = 360) -> go.Figure:
    """Applies the common layout: compact margins, readable font, white background."""
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=15)) if title else None,
        height=height, margin=dict(l=10, r=10, t=48 if title else 16, b=10),
        font=dict(family=FONT, size=12), template="plotly_white",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1.0),
    )
    return fig


def empty_figure(message: str, height: int = 220) -> go.Figure:
    """A blank figure carrying a message, for views whose data is missing."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14, color="#666"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return styled(fig, height=height)
