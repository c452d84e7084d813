"""Pure Plotly figure builders (and the tables behind them), shared by the dashboard and the HTML report.

Nothing here imports Streamlit: every builder takes plain values (metric dicts, diagnostics, tensors) and
returns a `plotly.graph_objects.Figure` or a pandas DataFrame, so tests and the report draw the same thing.
"""

from unlearn_core.viz import compare, inside, model
from unlearn_core.viz.style import method_color

__all__ = ["compare", "inside", "method_color", "model"]
