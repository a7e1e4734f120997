"""Small PNG charts for Dagster metadata (rendered from Markdown as data: URIs)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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
        plt.close(figure)


def equity_curve_png(points, *, title: str = "Equity", width: float = 5.0, height: float = 2.2) -> bytes:
    """A line of equity (balance + unrealized PnL) over time from the run's EquityPoint marks."""
    times = np.array([p.ts for p in points], dtype="datetime64[ns]")
    equity = np.array([float(p.equity) for p in points])
    figure, axis = plt.subplots(figsize=(width, height), dpi=90)
    axis.plot(times, equity, linewidth=1.0, color="#1f6feb")
    axis.set_title(title, fontsize=9)
    axis.tick_params(labelsize=7)
    axis.grid(alpha=0.3)
    figure.autofmt_xdate()
    return figure_png(figure)
