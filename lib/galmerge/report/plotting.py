"""Figure style helpers for :mod:`galmerge.report.figures`: colours and line styles, the display
stretch, saving. No figure is drawn here: every figure is in :data:`galmerge.report.figures.REGISTRY`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from galmerge.vocab import network_label

#: The paper's line styles (CNN1 solid/circles, CNN2 dashed/squares, CNN3 dotted/triangles);
#: the stacked network, which the paper does not have, gets dash-dot/diamonds.
NETWORK_STYLES = {
    "raw": {"color": "tab:blue", "linestyle": "-", "marker": "o"},
    "model": {"color": "tab:green", "linestyle": "--", "marker": "s"},
    "residual": {"color": "tab:red", "linestyle": ":", "marker": "^"},
    "stack": {"color": "tab:purple", "linestyle": "-.", "marker": "D"},
}

#: Colours of the merger stages and of the non-mergers (Figs 1, 2 and the stage gallery).
STAGE_COLORS = {"pre": "tab:blue", "ongoing": "tab:purple", "post": "tab:orange", "non": "tab:gray"}
#: The paper's metric styles (Fig 6: accuracy blue solid, precision red dotted, recall green dashed,
#: F1 black dash-dotted).
METRIC_STYLES = {"accuracy": {"color": "tab:blue", "linestyle": "-"},
                 "precision": {"color": "tab:red", "linestyle": ":"},
                 "recall": {"color": "tab:green", "linestyle": "--"},
                 "f1": {"color": "black", "linestyle": "-."}}


def network_style(kind: str) -> dict:
    """Matplotlib keyword arguments (label, color, linestyle, marker) for one network."""
    return {"label": network_label(kind), **NETWORK_STYLES[kind]}


def power_stretch(image: np.ndarray, exponent: float = 0.2) -> np.ndarray:
    """Linear min-max normalisation to [0, 1] followed by ``x**exponent`` (the paper's display, 0.2).

    NaN pixels stay NaN; a constant image maps to zeros.
    """
    image = np.asarray(image, dtype=float)
    lo, hi = np.nanmin(image), np.nanmax(image)
    if not np.isfinite(lo) or hi <= lo:
        return np.zeros_like(image)
    return ((image - lo) / (hi - lo)) ** exponent


def save_figure(fig, figures_dir: str | Path, name: str, paper: bool = True) -> list[Path]:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` (and ``.pdf`` when it is a paper figure).

    Returns the written paths. ``name`` follows the paper's numbering, e.g. ``fig07_redshift``.
    """
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    paths = [figures_dir / f"{name}.png"]
    if paper:
        paths.append(figures_dir / f"{name}.pdf")
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return paths
