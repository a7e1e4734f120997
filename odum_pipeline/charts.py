"""Small PNG charts for Dagster metadata (rendered from Markdown as data: URIs).

Matplotlib is imported when a chart is first drawn (:func:`pyplot`), not with this module: its
import costs about half a second, and every Dagster run worker imports the definitions, most of
them never drawing."""

from __future__ import annotations

import base64
import functools
import io

import numpy as np


@functools.cache
def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def figure_png(figure) -> bytes:
    """The figure as PNG bytes (laid out tight); the figure is closed."""
    try:
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        pyplot().close(figure)


def equity_curve_png(curve, *, title: str = "Equity", width: float = 5.0, height: float = 2.2) -> bytes:
    """A line of equity (balance + unrealized PnL) over time from the run's
    :class:`~odum_pipeline.backtests.equity_grid.EquityCurve` (the report's values)."""
    times = np.asarray(curve.ts, dtype=np.int64).astype("datetime64[ns]")
    equity = curve.exact("equity")
    figure, axis = pyplot().subplots(figsize=(width, height), dpi=90)
    axis.plot(times, equity, linewidth=1.0, color="#1f6feb")
    axis.set_title(title, fontsize=9)
    axis.tick_params(labelsize=7)
    axis.grid(alpha=0.3)
    figure.autofmt_xdate()
    return figure_png(figure)
