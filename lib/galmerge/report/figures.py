"""Every figure of the project, drawn by one function each and listed by name in :data:`REGISTRY`.

In the spirit of showyourwork, a figure is known by its *name*, which is also its file name in
``figures/<run>/`` and the key of its caption in :mod:`galmerge.report.captions`. A notebook draws,
saves and captions a figure with one call::

    figures.show("fig07_redshift", figures_dir, by_z, caption_values={"n_resamples": 1000})

:func:`show` looks the name up in :data:`REGISTRY` (an unknown name is an error listing the known
ones), calls the drawing function with the remaining arguments, saves the figure
(:func:`galmerge.report.plotting.save_figure`: PNG, plus PDF for a paper figure), shows it and prints
its caption under it. ``tests/test_figures.py`` checks that the registry, the captions and the names
the notebooks pass to :func:`show` agree.

No function here reads a run folder or computes a statistic; the notebooks compute with
:mod:`galmerge.analysis.evaluation`, :mod:`galmerge.nets.occlusion`, :mod:`galmerge.sersic.diagnostics`,
:mod:`galmerge.nets.transfer` and :mod:`galmerge.data.summary`, then draw with :func:`show`.
Colours, line styles and the display stretch are in :mod:`galmerge.report.plotting`.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from galmerge.analysis import metrics as gm
from galmerge.data.catalog import load_image
from galmerge.data.summary import stages_present
from galmerge.report.plotting import METRIC_STYLES, STAGE_COLORS, network_style, power_stretch
from galmerge.vocab import CHANNELS, FOLDER_REDSHIFT_BOUNDARIES, STAGE_WINDOWS_GYR, network_label, network_name


def fig01_redshift_distribution(hist: pd.DataFrame, ax=None):
    """Fig 1: galaxies per redshift bin, mergers stacked on non-mergers; folder boundaries dotted."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    width = hist["z_hi"] - hist["z_lo"]
    ax.bar(hist["z_lo"], hist["non-mergers"], width=width, align="edge", color=STAGE_COLORS["non"],
           edgecolor="k", label="non-mergers")
    ax.bar(hist["z_lo"], hist["mergers"], width=width, bottom=hist["non-mergers"], align="edge",
           color="tab:red", edgecolor="k", label="mergers")
    edges = list(hist["z_lo"]) + [hist["z_hi"].iloc[-1]]
    for boundary in FOLDER_REDSHIFT_BOUNDARIES:
        if edges[0] < boundary < edges[-1]:  # a local sample (SDSS, z < 0.1) lies below every folder boundary
            ax.axvline(boundary, color="k", linestyle=":", linewidth=1)
    digits = 1 if float(width.min()) >= 0.1 - 1e-9 else 2
    ax.set_xticks(edges)
    ax.set_xticklabels([f"{z:.{digits}f}" for z in edges])
    ax.margins(y=0.1)
    ax.set_xlabel("redshift bin")
    ax.set_ylabel("number of galaxies")
    ax.legend(title="dotted: challenge folders", fontsize="small")
    return ax.figure


def fig02_merger_time_distribution(hist: pd.DataFrame, ax=None):
    """Fig 2: fraction of mergers per merger-time bin (Gyr), stacked by stage."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    total = max(int(hist["count"].sum()), 1)
    width = hist["t_hi"] - hist["t_lo"]
    bottom = np.zeros(len(hist))
    for stage, label in (("pre", "pre-merger"), ("ongoing", "ongoing"), ("post", "post-merger")):
        fraction = hist[stage].to_numpy() / total
        ax.bar(hist["t_lo"], fraction, width=width, bottom=bottom, align="edge", color=STAGE_COLORS[stage],
               edgecolor="k", label=label)
        bottom += fraction
    ax.axvline(0, color="k", linewidth=1)
    ax.set_xticks(list(hist["t_lo"]) + [hist["t_hi"].iloc[-1]])
    ax.set_xticklabels([f"{t + 0.0:.1f}" for t in list(hist["t_lo"]) + [hist["t_hi"].iloc[-1]]], rotation=45)
    ax.margins(y=0.1)
    ax.set_xlabel("merger time bin (Gyr; negative before coalescence)")
    ax.set_ylabel("fraction of galaxies")
    # above the axes: inside, the legend covered the last (post-merger) bars
    ax.legend(fontsize="small", ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return ax.figure


def stage_gallery(examples: pd.DataFrame, per_stage: int = 4, exponent: float = 0.2):
    """Grid of example images, one row per stage, shown with the paper's power-law stretch."""
    import matplotlib.pyplot as plt

    stages = stages_present(examples)
    fig, axes = plt.subplots(len(stages), per_stage, figsize=(2.2 * per_stage, 2.4 * len(stages)),
                             squeeze=False)
    for row, stage in zip(axes, stages):
        chosen = examples[examples["stage"] == stage]
        for ax, item in zip(row, list(chosen.itertuples()) + [None] * per_stage):
            ax.set_xticks([])
            ax.set_yticks([])
            if item is None:
                ax.set_axis_off()
                continue
            image = load_image(item.image_path, nonfinite="keep")
            ax.imshow(power_stretch(image, exponent), cmap="gray", origin="lower")
            time = "" if np.isnan(item.merger_time) else f", t={item.merger_time:+.2f} Gyr"
            redshift = "" if np.isnan(item.redshift) else f"z={item.redshift:.2f}"
            ax.set_title(f"{item.ID}\n{redshift}{time}", fontsize=7)
        row[0].set_ylabel(stage if len(chosen) else f"{stage} (none)")
        if not len(chosen):
            row[0].set_axis_on()
            row[0].set_xticks([])
            row[0].set_yticks([])
    fig.tight_layout()
    return fig


def fig06_threshold_curves(curves: pd.DataFrame, thresholds: dict[str, float]):
    """Fig. 6: one panel per network, the four metrics against the threshold (paper's colours),
    the chosen threshold marked."""
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(curves["kind"]))
    fig, axes = plt.subplots(len(kinds), 1, figsize=(6, 2.6 * len(kinds)), sharex=True, squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds):
        sub = curves[curves["kind"] == kind]
        for metric in gm.METRICS:
            ax.plot(sub["threshold"], sub[metric], label=gm.METRIC_LABELS[metric], **METRIC_STYLES[metric])
        ax.axvline(thresholds[kind], color="grey", lw=0.8)
        ax.text(thresholds[kind], 0.02, f" {thresholds[kind]:.2f}", color="grey", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("Metric value")
        ax.set_title(network_label(kind), fontsize=10)
    axes[-1, 0].set_xlabel("Decision threshold on the network score")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, ncol=4, loc="upper center", frameon=False)
    return fig


def fig12_roc(roc: pd.DataFrame, table1: pd.DataFrame):
    """Fig. 12: ROC curves of all networks with the chance diagonal."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for kind, sub in roc.groupby("kind", sort=False):
        style = network_style(kind)
        style.pop("marker")
        style["label"] += f", AUC = {table1.at[kind, 'auc'] / 100:.2f}"
        ax.plot(sub["fpr"], sub["tpr"], **style)
    ax.plot([0, 1], [0, 1], color="red", linestyle="--", lw=1, label="Random classifier")
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def fig13_confusion(confusion: pd.DataFrame):
    """Fig. 13: row-normalised confusion matrices, one panel per network."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    kinds = list(dict.fromkeys(confusion["kind"]))
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.4 * len(kinds), 3.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        sub = confusion[confusion["kind"] == kind]
        matrix = sub.pivot(index="true", columns="predicted", values="fraction")
        matrix = matrix.reindex(index=["non-merger", "merger"], columns=["non-merger", "merger"])
        sns.heatmap(matrix, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="Blues", cbar=False, ax=ax,
                    square=True)
        ax.set_title(network_label(kind), fontsize=10)
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
    fig.tight_layout()
    return fig


def _tick_labels(table: pd.DataFrame) -> list[str]:
    """Bin name and its number of galaxies (and, for balanced bins, galaxies per class per draw)."""
    first = table.drop_duplicates("bin").set_index("bin").reindex(table["bin"].cat.categories)
    labels = []
    for name, row in first.iterrows():
        text = f"{name}\nn={int(row['n']) if pd.notna(row['n']) else 0}"
        if "per_class" in first.columns:
            text += f", k={int(row['per_class']) if pd.notna(row['per_class']) else 0}"
        labels.append(text)
    return labels


def plot_binned(table: pd.DataFrame, metrics: Sequence[str], xlabel: str, centre: str = "mean",
                error: str = "interval", x: np.ndarray | None = None, tick_labels: bool = True):
    """One panel per metric, one line per network, against the bins (Figs. 7, 8, 10, 11).

    Parameters
    ----------
    table : long table from :func:`binned_bootstrap` or :func:`binned_balanced`
    metrics : metrics to draw, top to bottom
    xlabel : axis label with units
    centre : column drawn as the point ("mean" or "value")
    error : "interval" (bootstrap percentile interval around the point), "std" (± std) or None
    x : bin positions; default 0, 1, 2, ... with the bin names (and counts) as ticks

    Empty bins are NaN: the line breaks there, the panel says "no value" and the tick gives the
    bin's number of galaxies n (and k, galaxies per class per draw, for balanced bins).
    """
    import matplotlib.pyplot as plt

    categories = table["bin"].cat.categories
    positions = np.arange(len(categories)) if x is None else np.asarray(x, dtype=float)
    kinds = list(dict.fromkeys(table["kind"]))
    figsize = (max(6, 0.55 * len(categories) + 2), max(3.6, 2.4 * len(metrics)))
    fig, axes = plt.subplots(len(metrics), 1, figsize=figsize, sharex=True, squeeze=False)
    offsets = (np.arange(len(kinds)) - (len(kinds) - 1) / 2) * 0.04 * (np.ptp(positions) / max(len(positions) - 1, 1)
                                                                      if len(positions) > 1 else 1)
    for ax, metric in zip(axes[:, 0], metrics):
        for offset, kind in zip(offsets, kinds):
            sub = table[(table["kind"] == kind) & (table["metric"] == metric)].set_index("bin").reindex(categories)
            y = sub[centre].to_numpy(dtype=float)
            if error == "interval":
                yerr = np.vstack([y - sub["lower"].to_numpy(dtype=float), sub["upper"].to_numpy(dtype=float) - y])
                yerr = np.clip(np.nan_to_num(yerr), 0, None)
            elif error == "std":
                yerr = np.nan_to_num(sub["std"].to_numpy(dtype=float))
            else:
                yerr = None
            ax.errorbar(positions + offset, y, yerr=yerr, capsize=2, ms=4, **network_style(kind))
        undefined = table[table["metric"] == metric].groupby("bin", observed=False)[centre] \
            .apply(lambda v: v.isna().all()).reindex(categories).to_numpy(dtype=bool)
        for position in positions[undefined]:
            ax.text(position, 0.5, "no value", rotation=90, ha="center", va="center", fontsize=7, color="grey")
        ax.set_ylabel(gm.METRIC_LABELS.get(metric, metric))
        step = np.min(np.diff(positions)) if len(positions) > 1 else 1.0
        ax.set_xlim(positions.min() - 0.6 * step, positions.max() + 0.6 * step)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    bottom = axes[-1, 0]
    bottom.set_xlabel(xlabel)
    if tick_labels:
        bottom.set_xticks(positions)
        bottom.set_xticklabels(_tick_labels(table), rotation=90 if len(categories) > 6 else 0, fontsize=7)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, ncol=min(len(kinds), 4), loc="upper center", frameon=False)
    return fig


def fig09_class_counts(panels: dict[str, pd.DataFrame],
                       xlabel: str = "Sérsic ellipticity of the central galaxy (1 - b/a)"):
    """Fig. 9: mergers and non-mergers per bin, one panel per entry of ``panels`` (title -> counts)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.6), squeeze=False)
    for ax, (title, counts) in zip(axes[0], panels.items()):
        positions = np.arange(len(counts))
        ax.bar(positions - 0.2, counts["mergers"], width=0.4, label="Mergers", color="tab:orange")
        ax.bar(positions + 0.2, counts["non_mergers"], width=0.4, label="Non-mergers", color="tab:blue")
        ax.set_xticks(positions)
        ax.set_xticklabels(counts["bin"].astype(str), rotation=90, fontsize=7)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Number of galaxies")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig14_15_occlusion_grid(examples: pd.DataFrame, inputs: dict, heatmaps: dict, unoccluded: dict,
                        thresholds: dict[str, float], kinds: Sequence[str], label: int,
                        stretch: Callable[[np.ndarray], np.ndarray] | None = None):
    """Figure 14/15: per category row, each network's input and its occlusion heatmap.

    Parameters
    ----------
    examples : pandas.DataFrame
        Output of :func:`galmerge.nets.occlusion.select_examples` restricted to one label (five rows).
    inputs, heatmaps, unoccluded : dict
        Keyed by ``(ID, kind)``: the (H, W, C) input, the (H, W) heatmap, the unoccluded score.
    thresholds : dict
        Threshold per kind (shown in the column headers and the caption).
    kinds : sequence of str
        Columns, in order; a kind absent from ``thresholds`` is drawn as "not trained".
    label : int
        1 for mergers (Fig 14), 0 for non-mergers (Fig 15).
    stretch : callable, optional
        Display stretch of the inputs (default: :func:`galmerge.report.plotting.power_stretch`).
    """
    import matplotlib.pyplot as plt

    stretch = stretch or power_stretch
    examples = examples[examples["label"] == label].reset_index(drop=True)
    n_rows, n_cols = len(examples), 2 * len(kinds)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.0 * n_cols, 2.25 * n_rows), squeeze=False)
    for r, row in examples.iterrows():
        axes[r, 0].set_ylabel(f"({row.letter}) ID {row.ID}" if row.status == "ok" else f"({row.letter})",
                              fontsize=9)
        for c, kind in enumerate(kinds):
            ax_in, ax_heat = axes[r, 2 * c], axes[r, 2 * c + 1]
            for ax in (ax_in, ax_heat):
                ax.set_xticks([])
                ax.set_yticks([])
            if r == 0:
                ax_in.set_title(f"{network_style(kind)['label']}\ninput", fontsize=8)
            if row.status != "ok" or kind not in thresholds:
                _blank_pair(ax_in, ax_heat, "network not trained" if kind not in thresholds else
                            "no galaxy in this category" if row.status == "empty" else
                            "category needs a network\nthat was not trained")
                continue
            key = (int(row.ID), kind)
            image = inputs[key]
            shown = image[..., 0] if image.ndim == 3 else image
            ax_in.imshow(stretch(shown), cmap="gray", origin="lower")
            if image.ndim == 3 and image.shape[2] > 1:
                ax_in.text(0.03, 0.03, "raw channel", color="w", fontsize=6, transform=ax_in.transAxes)
            heat = ax_heat.imshow(heatmaps[key], cmap="viridis", origin="lower")
            bar = fig.colorbar(heat, ax=ax_heat, fraction=0.046, pad=0.02)
            bar.ax.tick_params(labelsize=6)
            bar.formatter.set_useOffset(False)  # an offset label would overlap the next title
            score = unoccluded[key]
            verdict = "merger" if score >= thresholds[kind] else "non-merger"
            digits = 2 if abs(score - thresholds[kind]) >= 0.005 else 4  # never "0.50 < 0.50"
            ax_heat.set_title(f"{score:.{digits}f} ({verdict})", fontsize=8)
    what = "mergers" if label == 1 else "non-mergers"
    thresholds_text = ", ".join(f"{network_name(k)} {thresholds[k]:.2f}" for k in kinds if k in thresholds)
    fig.suptitle(f"Occlusion of test {what}: above each heatmap the unoccluded score and its class; "
                 f"thresholds {thresholds_text}", fontsize=9)
    if "description" in examples:
        lines = [f"({r.letter}) {r.description}" + (" [empty]" if r.status == "empty" else "")
                 for r in examples.itertuples()]
        fig.text(0.01, 0.0, "\n".join(lines), fontsize=8, va="top", ha="left")
    fig.tight_layout()
    return fig


def _blank_pair(ax_in, ax_heat, why: str) -> None:
    """An input/heatmap pair with nothing to show: grey, with the reason written across it."""
    for ax in (ax_in, ax_heat):
        ax.set_facecolor("0.93")
        for spine in ax.spines.values():
            spine.set_visible(False)
    ax_in.text(1.0, 0.5, why, ha="center", va="center", fontsize=7, transform=ax_in.transAxes,
               bbox=dict(facecolor="white", edgecolor="0.6", boxstyle="round"))


def fig16_feature_maps(kernels: np.ndarray, maps: np.ndarray, image: np.ndarray, max_filters: int = 64,
                      title: str = ""):
    """Figure 16: first-layer kernels (left), their feature maps (upper right), the input (lower right).

    At most ``max_filters`` kernels are drawn (the paper's 128 are legible on a page; more are
    not). Kernels show the first input channel.
    """
    import matplotlib.pyplot as plt

    n = min(len(kernels), max_filters)
    cols = int(np.ceil(np.sqrt(n)))  # square grid in the square left half
    rows = int(np.ceil(n / cols))
    rows_map = int(np.ceil(np.sqrt(n / 2)))  # twice as wide as tall in the upper-right quarter
    cols_map = int(np.ceil(n / rows_map))
    fig = plt.figure(figsize=(12, 6.4))
    outer = fig.add_gridspec(1, 2, wspace=0.08)
    left = outer[0].subgridspec(rows, cols, wspace=0.05, hspace=0.05)
    right = outer[1].subgridspec(2, 1, hspace=0.12)
    upper = right[0].subgridspec(rows_map, cols_map, wspace=0.05, hspace=0.05)
    for i in range(n):
        ax = fig.add_subplot(left[i // cols, i % cols])
        ax.imshow(kernels[i][..., 0], cmap="RdBu_r", origin="lower")
        ax.set_axis_off()
        ax = fig.add_subplot(upper[i // cols_map, i % cols_map])
        ax.imshow(maps[i], cmap="magma", origin="lower")
        ax.set_axis_off()
    ax = fig.add_subplot(right[1])
    ax.imshow(power_stretch(image[..., 0] if image.ndim == 3 else image), cmap="gray", origin="lower")
    ax.set_axis_off()
    ax.set_title("input (power-law 0.2 stretch)", fontsize=8)
    shown = f"{n} of {len(kernels)}" if n < len(kernels) else f"all {n}"
    fig.suptitle(title or f"First convolutional layer: {shown} kernels (left) and feature maps (upper right)",
                 fontsize=10)
    return fig


# --------------------------------------------------------------------------- 01_sersic_fitting
def fig03_preprocessing(image: np.ndarray, fit) -> object:
    """Fig 3: a) original, b) segmentation before deblending, c) deblended, d) Sérsic model, e) residual.

    ``fit`` is a :class:`galmerge.sersic.fit.FitResult` of ``image`` made with ``keep_undeblended=True``.
    """
    import matplotlib.pyplot as plt
    from photutils.segmentation import SegmentationImage

    fig, axes = plt.subplots(1, 5, figsize=(16, 3.6))
    panels = [("a) original", power_stretch(image), "gray"),
              ("b) segmentation", SegmentationImage(fit.segmap_undeblended), None),
              ("c) deblended", SegmentationImage(fit.segmap), None),
              ("d) Sérsic model", power_stretch(fit.model), "gray"),
              ("e) residual", power_stretch(fit.residual), "gray")]
    for ax, (title, data, cmap) in zip(axes, panels):
        if isinstance(data, SegmentationImage):
            ax.imshow(data.data, origin="lower", cmap=data.cmap, interpolation="nearest")
        else:
            ax.imshow(data, origin="lower", cmap=cmap)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def fig04_examples(cutouts: dict[str, np.ndarray], images: pd.DataFrame, mergers: Sequence[int],
                   non_mergers: Sequence[int]) -> object:
    """Fig 4: three mergers (left) and three non-mergers (right): raw, model and residual inputs.

    ``cutouts`` maps each channel to its (N, 128, 128) cube (or anything indexable by row);
    ``images`` is the products' image table (``stage``, ``redshift`` label the rows);
    ``mergers`` and ``non_mergers`` are cube rows (at most three each).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 6, figsize=(13, 6.8), squeeze=False)
    for block, (name, chosen) in enumerate((("a) mergers", list(mergers)[:3]),
                                            ("b) non-mergers", list(non_mergers)[:3]))):
        for r in range(3):
            for c, channel in enumerate(CHANNELS):
                ax = axes[r, 3 * block + c]
                ax.set_xticks([])
                ax.set_yticks([])
                if r < len(chosen):
                    row = int(chosen[r])
                    ax.imshow(power_stretch(np.asarray(cutouts[channel][row])), origin="lower", cmap="gray")
                    if c == 0:
                        ax.set_ylabel(f"{images['stage'].iat[row]}, z={images['redshift'].iat[row]:.2f}",
                                      fontsize=8)
                if r == 0:
                    ax.set_title(f"{name}\n{channel}" if c == 1 else channel)
    return fig


#: Sérsic parameters drawn by :func:`sersic_parameters` and their axis labels.
SERSIC_PARAMETER_LABELS = {"sersic_n": "Sérsic index n", "sersic_rhalf": "r_e (pixels)",
                           "sersic_ellip": "ellipticity", "sersic_theta": "position angle (rad)"}


def sersic_parameters(used: pd.DataFrame) -> object:
    """Histograms of the primaries' fitted Sérsic parameters, mergers against non-mergers."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SERSIC_PARAMETER_LABELS), figsize=(15, 3.2))
    for ax, (column, title) in zip(axes, SERSIC_PARAMETER_LABELS.items()):
        values = used[column].dropna()
        logarithmic = column in ("sersic_n", "sersic_rhalf")
        if len(values) and logarithmic:
            bins = np.geomspace(max(values.min(), 1e-2), max(values.max(), 2e-2), 25)
        elif len(values):
            bins = np.linspace(values.min(), values.max() + 1e-9, 25)
        else:
            bins = 10
        for label, name in ((1, "mergers"), (0, "non-mergers")):
            ax.hist(used.loc[used["label"] == label, column].dropna(), bins=bins, histtype="step", lw=1.5,
                    label=name)
        if logarithmic:
            ax.set_xscale("log")
        ax.set_xlabel(title)
    axes[0].set_ylabel("primaries")
    axes[0].legend()
    return fig


def sersic_fit_vs_truth(matched: pd.DataFrame, truth_summary: pd.DataFrame, pairs: dict[str, str]) -> object:
    """Fitted against true Sérsic parameters of the mock's main galaxy, one panel per pair."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(pairs), figsize=(13, 4), squeeze=False)
    for ax, (fit, true) in zip(axes[0], pairs.items()):
        for label, name in ((1, "mergers"), (0, "non-mergers")):
            part = matched[matched["label"] == label]
            ax.scatter(part[true], part[fit], s=6, alpha=0.5, label=name)
        lo, hi = np.nanpercentile(matched[[true, fit]].to_numpy(dtype=float), [0.5, 99.5])
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(true)
        ax.set_ylabel(fit)
        ax.set_title(f"median |frac. err| {truth_summary.loc[fit, 'median_abs_frac_err']:.2f}")
    axes[0, 0].legend()
    return fig


def sersic_residual_chi(used: pd.DataFrame, isolated: pd.Series) -> object:
    """Histogram of the rms χ inside the primary's segment: isolated non-mergers against mergers."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    top = np.nanpercentile(used["chi_rms"], 99) if used["chi_rms"].notna().any() else 2.0
    bins = np.geomspace(0.5, max(2.0, top), 30)
    ax.hist(used.loc[isolated, "chi_rms"].dropna(), bins=bins, histtype="step", lw=1.5,
            label="isolated non-mergers")
    ax.hist(used.loc[used["label"] == 1, "chi_rms"].dropna(), bins=bins, histtype="step", lw=1.5, label="mergers")
    ax.set_xscale("log")
    ax.set_xlabel("rms χ in the primary's segment")
    ax.set_ylabel("images")
    ax.legend()
    return fig


# --------------------------------------------------------------------------- 02_train
def learning_curves(history: pd.DataFrame, kind: str, best_epoch: int) -> object:
    """Training and validation accuracy and loss per epoch of one network, the kept epoch dotted."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    style = network_style(kind)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for ax, metric, name in zip(axes, ("accuracy", "loss"), ("accuracy", "binary cross-entropy")):
        ax.plot(history["epoch"], history[metric], color=style["color"], linestyle="--", marker=style["marker"],
                markersize=4, label="training")
        ax.plot(history["epoch"], history[f"val_{metric}"], color=style["color"], linestyle="-",
                marker=style["marker"], markersize=4, label="validation")
        if metric == "accuracy" and "val_accuracy_pr" in history.columns:
            ax.plot(history["epoch"], history["val_accuracy_pr"], color="0.3", linestyle="-.", marker=".",
                    label="validation, precision = recall threshold")
        ax.axvline(best_epoch, color="0.4", linestyle=":", label=f"kept epoch ({best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_title(style["label"])
    axes[0].legend()
    fig.tight_layout()
    return fig


def score_histogram(scores: pd.DataFrame, kind: str, split: str = "validation") -> object:
    """Distribution of one network's scores (``ID, label, score``) per class."""
    import matplotlib.pyplot as plt

    style = network_style(kind)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for label, name, hatch in ((0, "non-mergers", None), (1, "mergers", "//")):
        ax.hist(scores.loc[scores["label"] == label, "score"], bins=20, range=(0, 1), histtype="step",
                hatch=hatch, color=style["color"] if label else "0.4", label=name)
    ax.set_xlabel("score, P(merger)")
    ax.set_ylabel(f"{split} images")
    ax.set_title(style["label"], fontsize=10)
    ax.legend()
    return fig


# --------------------------------------------------------------------------- binned metrics (Figs 7, 8, 10, 11)
def fig07_redshift(table: pd.DataFrame, metrics: Sequence[str] = gm.METRICS):
    """Fig 7: the metrics per 0.1-wide redshift bin (``table`` from ``binned_bootstrap``)."""
    return plot_binned(table, metrics, "Redshift bin")


def fig07_redshift_folders(table: pd.DataFrame, metrics: Sequence[str] = gm.METRICS):
    """Fig 7 per challenge redshift folder (snapnum range) instead of per 0.1 in redshift."""
    return plot_binned(table, metrics, "Redshift range (challenge folder)")


def fig08_merger_time(table: pd.DataFrame, x: np.ndarray):
    """Fig 8: fraction of mergers correctly classified per merger-time bin, the stages marked.

    Parameters
    ----------
    table : pandas.DataFrame
        ``binned_bootstrap`` of the metric ``fraction_correct`` over the merger-time bins.
    x : numpy.ndarray
        Bin mid-points in Gyr (negative before coalescence), one per bin of ``table``.

    The stage windows come from :data:`galmerge.vocab.STAGE_WINDOWS_GYR` (paper Sect. 2.1); the
    ongoing window is shaded and coalescence (0 Gyr) is a vertical line.
    """
    fig = plot_binned(table, ("fraction_correct",), "Merger time (Gyr; negative before coalescence)", x=x)
    ax = fig.axes[0]
    for stage, (lo, hi) in STAGE_WINDOWS_GYR.items():
        if stage == "ongoing":
            ax.axvspan(lo, hi, color="grey", alpha=0.08)
        ax.text((lo + hi) / 2, 0.03, stage, ha="center", fontsize=8, color="grey")
    ax.axvline(0, color="grey", lw=0.8)
    return fig


def fig10_ellipticity_metrics(table: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "precision")):
    """Fig 10: accuracy and precision per Sérsic-ellipticity bin on the test split."""
    return plot_binned(table, metrics, "Sérsic ellipticity bin")


def fig11_ellipticity_balanced(table: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "precision")):
    """Fig 11: the same on balanced bins (``table`` from ``binned_balanced``)."""
    return plot_binned(table, metrics, "Sérsic ellipticity bin (balanced: equal mergers and non-mergers)")


# --------------------------------------------------------------------------- GalSim truth (01_sersic_fitting)
def sersic_fitters_vs_galsim(fits: pd.DataFrame, pairs: Sequence[tuple[str, str]] | None = None):
    """Fitted against true r_e, n and ellipticity of GalSim galaxies, one row per set, the fitters overlaid.

    Parameters
    ----------
    fits : pandas.DataFrame
        :func:`galmerge.sersic.truth.compare_fitters`'s fits: columns ``kind``, ``fitter``,
        ``background``, ``failed``, ``cpu_s``, ``true_*``, ``fit_*`` and the errors ``dr_rel``,
        ``dn_rel`` (fractional) and ``de`` (absolute).
    pairs : sequence of (fitter, background), optional
        The pairs to draw (at most three); default every pair in ``fits``, in order.
    """
    import matplotlib.pyplot as plt

    kinds = list(pd.unique(fits["kind"]))
    if pairs is None:
        pairs = list(dict.fromkeys(zip(fits["fitter"], fits["background"])))
    fig, axes = plt.subplots(len(kinds), 3, figsize=(13, 4.1 * len(kinds)), squeeze=False)
    quantities = (("r_e", "r_e (px)", True), ("n", "Sérsic n", True), ("ellip", "ellipticity", False))
    for row, kind in enumerate(kinds):
        for col, quantity in enumerate(quantities):
            _truth_panel(axes[row, col], fits[fits["kind"] == kind], pairs, quantity)
            axes[row, col].set_title(f"{kind}: {quantity[1]}", fontsize=10)
    fig.tight_layout()
    return fig


def _truth_panel(ax, fits: pd.DataFrame, pairs, quantity: tuple[str, str, bool]) -> None:
    """One panel of :func:`sersic_fitters_vs_galsim`: fitted against true ``quantity`` of one set."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    name, label, log = quantity
    error_column = {"r_e": "dr_rel", "n": "dn_rel", "ellip": "de"}[name]
    for marker, (fitter, background) in zip(("o", "s", "^"), pairs):
        pair = fits[(fits["fitter"] == fitter) & (fits["background"] == background)]
        ok = pair[~pair["failed"]]
        error = ok[error_column].abs().median()
        ax.scatter(ok[f"true_{name}"], ok[f"fit_{name}"], s=14, alpha=0.6, marker=marker,
                   label=f"{fitter} ({background}): median |err| {error:.3f}, {pair['cpu_s'].mean():.2f} CPU s/image")
    lo, hi = np.nanpercentile(fits[[f"true_{name}", f"fit_{name}"]].to_numpy(dtype=float), [1, 99])
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(ScalarFormatter())
            axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"true {label}")
    ax.set_ylabel(f"fitted {label}")
    ax.legend(fontsize=7, loc="upper left")


# --------------------------------------------------------------------------- 08_transfer
def selection_matching(frame: pd.DataFrame, matched: pd.DataFrame, covariates: Sequence[str],
                       labels: dict[str, str] | None = None):
    """The covariates of the mergers, of all non-mergers and of the matched controls, one panel each."""
    import matplotlib.pyplot as plt

    labels = labels or {}
    fig, axes = plt.subplots(1, len(covariates), figsize=(4.5 * len(covariates), 3.6), squeeze=False)
    groups = (("mergers", frame[frame["label"] == 1], "tab:red", "-"),
              ("all non-mergers", frame[frame["label"] == 0], STAGE_COLORS["non"], "-"),
              ("matched controls", matched[matched["label"] == 0], "k", "--"))
    for ax, name in zip(axes[0], covariates):
        values = frame[name].to_numpy(float)
        bins = np.histogram_bin_edges(values[np.isfinite(values)], bins=25)
        for label, table, colour, style in groups:
            values = table[name].dropna()
            if values.empty:  # e.g. no pair inside the caliper: a legend entry, no (0/0) density
                ax.plot([], [], color=colour, linestyle=style, label=f"{label} (0)")
                continue
            ax.hist(values, bins=bins, density=True, histtype="step", color=colour,
                    linestyle=style, linewidth=1.6, label=f"{label} ({len(values)})")
        ax.set_xlabel(labels.get(name, name))
        ax.set_ylabel("density")
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def transfer_scores(own: pd.DataFrame | None, transfer: pd.DataFrame, thresholds: dict[str, float],
                    own_thresholds: dict[str, float] | None = None, bins: int = 20):
    """Score histograms of mergers and non-mergers: one column per network, rows trained here / transfer.

    Parameters
    ----------
    own : pandas.DataFrame or None
        This run's test scores (columns ``label`` and ``score_<kind>``), or None when it has no networks.
    transfer : pandas.DataFrame
        The same galaxies scored by the source run's networks; ``transfer.attrs["kinds"]`` are the columns.
    thresholds, own_thresholds : dict
        Decision threshold per kind of the transfer row (the source run's own) and of this run's row.
    bins : int
        Histogram bins over the scores [0, 1].
    """
    import matplotlib.pyplot as plt

    kinds = transfer.attrs["kinds"]
    rows = [("transfer", transfer, thresholds)]
    if own is not None:
        rows.insert(0, ("trained here", own, own_thresholds or {}))
    fig, axes = plt.subplots(len(rows), len(kinds), figsize=(3.2 * len(kinds), 2.6 * len(rows)), squeeze=False,
                             sharex=True)
    edges = np.linspace(0, 1, bins + 1)
    for r, (name, frame, chosen) in enumerate(rows):
        for c, kind in enumerate(kinds):
            _score_panel(axes[r, c], frame, kind, chosen.get(kind), f"{network_label(kind)}: {name}", edges)
    for ax in axes[-1]:
        ax.set_xlabel("score P(merger)")
    axes[0, 0].set_ylabel("test galaxies")
    axes[0, 0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def _score_panel(ax, frame: pd.DataFrame, kind: str, threshold: float | None, title: str, edges: np.ndarray):
    """One panel of :func:`transfer_scores`: both classes' scores of one network, its threshold dotted."""
    column = f"score_{kind}"
    if column not in frame:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"{network_label(kind)}\nnot trained here", ha="center", va="center",
                transform=ax.transAxes)
        return
    for label, text, colour in ((1, "mergers", "tab:red"), (0, "non-mergers", "tab:gray")):
        ax.hist(frame.loc[frame["label"] == label, column], bins=edges, histtype="step", lw=1.5,
                color=colour, label=text)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls=":", lw=1)
    ax.set_title(title, fontsize=9)


# --------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class FigureSpec:
    """One figure of the project.

    Attributes
    ----------
    name : str
        The registry key and the key of its caption in :data:`galmerge.report.captions.CAPTIONS`.
    draw : callable
        Returns a matplotlib Figure from the notebook's tables or arrays.
    notebook : str
        Stem of the notebook that draws it (``notebooks/<notebook>.py``).
    paper_figure : int or None
        The paper's figure number (Chudy et al. 2025); None for a figure the paper does not have.
    file_name : str
        File stem in ``figures/<run>/``; ``{field}`` parts are filled from :func:`show`'s keyword
        arguments (e.g. ``learning_curves_{kind}``, one file per network). Default: ``name``.
    """

    name: str
    draw: Callable[..., object]
    notebook: str
    paper_figure: int | None = None
    file_name: str = ""

    def file_stem(self, **options) -> str:
        """The figure's file stem, its ``{field}`` parts filled from ``options``."""
        template = self.file_name or self.name
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
        missing = [f for f in fields if f not in options]
        if missing:
            raise TypeError(f"figure {self.name!r} is saved as {template!r}: pass {', '.join(missing)} to show()")
        return template.format(**{f: options[f] for f in fields})


def _registry(*specs: FigureSpec) -> dict[str, FigureSpec]:
    return {spec.name: spec for spec in specs}


#: Every figure of the project by name, in the order of the notebooks.
REGISTRY: dict[str, FigureSpec] = _registry(
    FigureSpec("fig01_redshift_distribution", fig01_redshift_distribution, "00_data", 1),
    FigureSpec("fig02_merger_time_distribution", fig02_merger_time_distribution, "00_data", 2),
    FigureSpec("gallery_stages", stage_gallery, "00_data"),
    FigureSpec("fig03_preprocessing", fig03_preprocessing, "01_sersic_fitting", 3),
    FigureSpec("fig04_examples", fig04_examples, "01_sersic_fitting", 4),
    FigureSpec("sersic_parameters", sersic_parameters, "01_sersic_fitting"),
    FigureSpec("sersic_fit_vs_truth", sersic_fit_vs_truth, "01_sersic_fitting"),
    FigureSpec("sersic_fitters_vs_galsim", sersic_fitters_vs_galsim, "01_sersic_fitting"),
    FigureSpec("sersic_residual_chi", sersic_residual_chi, "01_sersic_fitting"),
    FigureSpec("learning_curves", learning_curves, "02_train", file_name="learning_curves_{kind}"),
    FigureSpec("scores", score_histogram, "02_train", file_name="scores_{kind}"),
    FigureSpec("fig06_metrics_vs_threshold", fig06_threshold_curves, "03_evaluate", 6),
    FigureSpec("fig12_roc", fig12_roc, "03_evaluate", 12),
    FigureSpec("fig13_confusion", fig13_confusion, "03_evaluate", 13),
    FigureSpec("fig07_redshift", fig07_redshift, "04_redshift", 7),
    FigureSpec("fig07_redshift_folders", fig07_redshift_folders, "04_redshift"),
    FigureSpec("selection_matching", selection_matching, "04_redshift"),
    FigureSpec("fig08_merger_time", fig08_merger_time, "05_merger_time", 8),
    FigureSpec("fig09_ellipticity_distribution", fig09_class_counts, "06_ellipticity", 9),
    FigureSpec("fig10_ellipticity_metrics", fig10_ellipticity_metrics, "06_ellipticity", 10),
    FigureSpec("fig11_ellipticity_balanced", fig11_ellipticity_balanced, "06_ellipticity", 11),
    FigureSpec("fig14_occlusion_mergers", functools.partial(fig14_15_occlusion_grid, label=1), "07_occlusion", 14),
    FigureSpec("fig15_occlusion_nonmergers", functools.partial(fig14_15_occlusion_grid, label=0), "07_occlusion",
               15),
    FigureSpec("fig16_feature_maps", fig16_feature_maps, "07_occlusion", 16),
    FigureSpec("transfer_scores", transfer_scores, "08_transfer"),
)


class UnknownFigureError(LookupError):
    """A figure name that is not in :data:`REGISTRY`."""


def figure_spec(name: str) -> FigureSpec:
    """The registry entry of figure ``name``; :class:`UnknownFigureError` naming the known ones otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownFigureError(f"no figure named {name!r} in galmerge.report.figures.REGISTRY; "
                                 f"known: {', '.join(REGISTRY)}") from None


def show(name: str, figures_dir: str | Path, *data, caption_values: dict | None = None, note: str = "",
         **options):
    """Draw figure ``name`` of :data:`REGISTRY`, save it, show it and print its caption under it.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY` (an unknown name raises :class:`UnknownFigureError`).
    figures_dir : str or Path
        Folder the figure is saved in (``figures/<run>/``): PNG, and PDF too for a paper figure.
    *data, **options
        The drawing function's arguments; ``options`` also fill the file name's ``{field}`` parts.
    caption_values : dict, optional
        Values the caption is filled with (``n_resamples``, ``n_draws``, ``per_class``;
        :func:`galmerge.report.captions.caption`).
    note : str
        Text printed after the caption.

    Returns
    -------
    matplotlib.figure.Figure
        The drawn figure.
    """
    import matplotlib.pyplot as plt

    from galmerge.report.captions import caption
    from galmerge.report.plotting import save_figure

    spec = figure_spec(name)
    fig = spec.draw(*data, **options)
    save_figure(fig, figures_dir, spec.file_stem(**options), paper=spec.paper_figure is not None)
    plt.show()
    text = " ".join(t for t in (caption(name, **(caption_values or {})), note) if t)
    _print_caption(text)
    return fig


def _print_caption(text: str) -> None:
    """Markdown under the figure in a notebook; plain text elsewhere (a script, a test)."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Markdown(f"*{text}*"))
    else:
        print(text)
