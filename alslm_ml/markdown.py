"""Markdown for asset metadata and reports: one table builder, inline PNGs, and matplotlib
figures as PNG bytes. Every stage's tables go through `table`, so they render alike in the Dagster
UI and in the written reports."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable


def _row(cells: Iterable) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(header: list[str], rows: Iterable[Iterable], align: str = "") -> str:
    """A GitHub-style table. Cells are written with str(): format numbers before passing them.
    `align` has one letter per column, "l" (default) or "r" (right-aligned numbers); a pipe
    inside a cell is the caller's to escape."""
    align = align.ljust(len(header), "l")
    lines = [_row(header), "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    return "\n".join(lines + [_row(r) for r in rows])


def png_markdown(png: bytes, alt: str = "chart") -> str:
    """Inline a PNG into Markdown (the Dagster UI renders data URIs)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display: assets and tests run headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig, **savefig) -> bytes:
    """The figure as PNG bytes; the figure is closed (pyplot keeps every open figure alive)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **savefig)
    pyplot().close(fig)
    return buf.getvalue()
