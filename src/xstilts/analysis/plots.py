"""Deterministic matplotlib plots (Agg canvas, no pyplot global state), returned as PNG bytes.

PNG metadata is stripped of the matplotlib version ("Software") so the same numbers give the same bytes.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize, to_hex
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

DIVERGING = "RdBu"  # red = loss, blue = gain, white = no change
DPI = 100
ANNOTATE_MAX_COLUMNS = 25
RC: dict[RcKeyType, Any] = {"svg.hashsalt": "xstilts", "font.family": "DejaVu Sans", "font.size": 9}


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def symmetric_limit(values) -> float:
    """Half-width of a colour scale centred at zero that covers every finite value (1.0 when all are zero)."""
    finite = [abs(v) for v in values if not math.isnan(v)]
    top = max(finite, default=0.0)
    return top if top > 0 else 1.0


def diverging_colour(value: float, limit: float) -> str | None:
    """Hex colour of `value` on the zero-centred diverging scale [-limit, limit]; None for nan."""
    if math.isnan(value):
        return None
    return to_hex(matplotlib.colormaps[DIVERGING](Normalize(-limit, limit, clip=True)(value)))


def gain_heatmap(title: str, rows: list[str], columns: list[str], gains: np.ndarray) -> bytes:
    """Heatmap of gains (rows x columns), colour scale centred at zero; missing cells (nan) grey."""
    limit = symmetric_limit(gains.ravel().tolist())
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(max(4.5, 0.55 * len(columns) + 2.8), max(2.0, 0.42 * len(rows) + 1.4)))
        ax = fig.add_subplot()
        cmap = matplotlib.colormaps[DIVERGING].with_extremes(bad="#dddddd")  # missing cells grey
        image = ax.imshow(np.ma.masked_invalid(gains), cmap=cmap, norm=Normalize(-limit, limit), aspect="auto")
        ax.set_xticks(range(len(columns)), columns, rotation=90 if len(columns) > 12 else 0)
        ax.set_yticks(range(len(rows)), rows)
        ax.set_title(title)
        if len(columns) <= ANNOTATE_MAX_COLUMNS:
            for (i, j), v in np.ndenumerate(gains):
                if not math.isnan(v):
                    ax.text(
                        j,
                        i,
                        f"{round(v, 1) + 0.0:+.1f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if abs(v) > 0.6 * limit else "black",
                    )
        fig.colorbar(image, ax=ax, label="gain over baseline (points)")
        fig.tight_layout()
        return _png(fig)


def grouped_bars(title: str, groups: list[str], series: dict[str, list[float]], ylabel: str) -> bytes:
    """One bar per (group, series) side by side: e.g. the mean gain of each setting for each model."""
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(max(4.5, 0.9 * len(groups) * max(1, len(series)) / 2 + 2.5), 3.2))
        ax = fig.add_subplot()
        width = 0.8 / max(1, len(series))
        x = np.arange(len(groups))
        for k, (name, values) in enumerate(series.items()):
            ax.bar(x + (k - (len(series) - 1) / 2) * width, np.nan_to_num(values), width, label=name)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xticks(x, groups, rotation=30 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=7)
        fig.tight_layout()
        return _png(fig)
