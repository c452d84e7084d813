"""Shared look: method colours, the default figure layout, and the "how to read" caption each figure carries."""

from __future__ import annotations

import colorsys
import re
import zlib

import plotly.graph_objects as go

REFERENCE_COLORS = {"original": "#7f7f7f", "retrain": "#2ca02c"}
PALETTE = ("#1f77b4", "#ff7f0e", "#9467bd", "#d62728", "#17becf", "#8c564b", "#e377c2", "#bcbd22",
           "#393b79", "#ad494a", "#6b6ecf", "#8ca252")
FONT = "Inter, system-ui, -apple-system, Segoe UI, sans-serif"
TITLE_PX = 34  # room the figure title takes above everything else
SUBPLOT_TITLE_PX = 22  # room subplot titles take above their plot


def _shade(hex_colour: str, lightness: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    h, _, s = colorsys.rgb_to_hls(r, g, b)
    r, g, b = colorsys.hls_to_rgb(h, lightness, s)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def method_color(label: str) -> str:
    """A stable colour per run label, the same on every page and in the report.

    A method keeps its palette colour; a variant (a label with a qualifier after the method's name, such as
    `semu (tau=0.99)`) gets a darker or lighter shade of it, chosen from the qualifier, so it reads as the same
    family but not as the same run.
    """
    from unlearn_core.methods import list_methods

    base, _, qualifier = label.partition(" ")
    if base in REFERENCE_COLORS:
        return REFERENCE_COLORS[base]
    names = [n for n in list_methods() if n != "retrain"]
    index = names.index(base) if base in names else zlib.crc32(base.encode())
    colour = PALETTE[index % len(PALETTE)]
    if not qualifier:
        return colour
    return _shade(colour, (0.24, 0.68, 0.32, 0.78)[zlib.crc32(qualifier.encode()) % 4])


def styled(fig: go.Figure, title: str | None = None, height: int = 360, how_to_read: str | None = None,
           legend: str = "right") -> go.Figure:
    """Applies the common layout: the title pinned to the top left with room below it (subplot titles and
    legends never run into it), the legend beside the plot (`legend="right"`) or under the title (`"top"`,
    for short legends of wide figures), readable font, white background. `how_to_read` is stored in the
    figure's `layout.meta` so the dashboard and the report print the same caption under it."""
    subplot_titles = [a.text or "" for a in fig.layout.annotations
                      if a.yref == "paper" and a.yanchor == "bottom" and a.showarrow is False]
    has_subplot_titles = bool(subplot_titles)
    extra_lines = max([t.count("<br>") for t in subplot_titles] + [0])  # wrapped titles grow upwards
    top = (TITLE_PX if title else 8) + (SUBPLOT_TITLE_PX + 15 * extra_lines if has_subplot_titles else 0)
    if legend == "top":
        top += 26
        legend_layout = dict(orientation="h", yref="container", y=1 - (TITLE_PX + 2) / height if title else 0.99,
                             yanchor="top", xanchor="left", x=0.0)
    else:
        legend_layout = dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.02)
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", xref="container", y=1 - 8 / height, yref="container",
                   yanchor="top", font=dict(size=15), pad=dict(l=10)) if title else None,
        height=height, margin=dict(l=10, r=10, t=top, b=10),
        font=dict(family=FONT, size=12), template="plotly_white", legend=legend_layout,
        meta={**(fig.layout.meta or {}), **({"how_to_read": how_to_read} if how_to_read else {})},
    )
    if has_subplot_titles:
        fig.update_annotations(font_size=12)
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)  # long tick labels widen the margin instead of running off the edge
    return fig


def how_to_read(fig: go.Figure) -> str | None:
    """The caption a figure builder attached to its figure (None when it has none)."""
    meta = fig.layout.meta
    return meta.get("how_to_read") if isinstance(meta, dict) else None


LOG_TICKS = dict(tickformat="~g", exponentformat="power", minor=dict(ticks="", showgrid=False))


def log_axis(fig: go.Figure, axis: str = "y", **where) -> None:
    """A log axis that labels only powers of ten (1, 10, 100 or 10⁻³), never the 2 and 5 between them; a
    range of less than one decade keeps Plotly's own labels, written in full."""
    update = fig.update_yaxes if axis == "y" else fig.update_xaxes
    update(type="log", dtick=1, **LOG_TICKS, **where)


def short(text: str, limit: int = 28) -> str:
    """A label cut to `limit` characters with an ellipsis, for tick labels of long layer names."""
    text = re.sub(r"\s+", " ", str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def wrap(text: str, width: int = 12) -> str:
    """A tick label broken into lines of about `width` characters at spaces and underscores (Plotly's <br>),
    so labels of narrow columns sit side by side without rotating."""
    words = re.findall(r"[^ _]+[ _]?", str(text))
    lines, line = [], ""
    for word in words:
        if line and len(line) + len(word.rstrip()) > width:
            lines.append(line.rstrip())
            line = ""
        line += word
    lines.append(line.rstrip())
    return "<br>".join(lines)


def empty_figure(message: str, height: int = 220) -> go.Figure:
    """A blank figure carrying a message, for views whose data is missing."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14, color="#666"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return styled(fig, height=height)
