"""Counts, histograms and example galleries of a dataset catalogue (notebook 00_data; paper Figs 1-2).

Every function takes the catalogue of :func:`galmerge.data.load_catalog`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from galmerge.data import DatasetWarning, load_image
from galmerge.plotting import power_stretch
from galmerge.vocab import FOLDER_REDSHIFT_BOUNDARIES, MERGER_TIME_EDGES, REDSHIFT_EDGES, SPLITS, STAGE_UNKNOWN, STAGES

STAGE_COLORS = {"pre": "tab:blue", "ongoing": "tab:purple", "post": "tab:orange", "non": "tab:gray"}


def count_table(catalog: pd.DataFrame) -> pd.DataFrame:
    """Objects per split (rows train, validation, test, all) and stage / class (columns).

    Columns: ``pre, ongoing, post, non`` (stages; ``unknown`` too when a labelled dataset has
    mergers of unknown stage), ``mergers`` (label 1), ``non-mergers`` (label 0), ``total``.
    """
    stages = stages_present(catalog)
    counts = pd.crosstab(catalog["split"], catalog["stage"]).reindex(index=list(SPLITS), columns=stages,
                                                                     fill_value=0)
    counts["mergers"] = counts[[s for s in stages if s != "non"]].sum(axis=1)
    counts["non-mergers"] = counts["non"]
    counts["total"] = counts["mergers"] + counts["non-mergers"]
    counts.loc["all"] = counts.sum()
    counts.index.name = "split"
    counts.columns.name = None
    return counts.astype(int)


def summary_counts(catalog: pd.DataFrame) -> dict[str, int]:
    """Flat counts for ``summary.json``: n_objects, n_<split>, n_mergers, n_nonmergers, n_<stage>
    (and n_unknown for a labelled dataset's mergers of unknown stage)."""
    table = count_table(catalog)
    out = {"n_objects": int(table.loc["all", "total"]),
           "n_mergers": int(table.loc["all", "mergers"]),
           "n_nonmergers": int(table.loc["all", "non-mergers"])}
    out.update({f"n_{split}": int(table.loc[split, "total"]) for split in SPLITS})
    out.update({f"n_{stage}": int(table.loc["all", stage]) for stage in STAGES})
    if STAGE_UNKNOWN in table.columns:  # a labelled dataset's mergers without a stage
        out[f"n_{STAGE_UNKNOWN}"] = int(table.loc["all", STAGE_UNKNOWN])
    return out


def _warn_outside(n_outside: int, what: str, edges) -> None:
    if n_outside:
        warnings.warn(f"{n_outside} objects have {what} outside the histogram's range "
                      f"[{edges[0]}, {edges[-1]}] and are not counted in it", DatasetWarning, stacklevel=3)


def redshift_histogram(catalog: pd.DataFrame, edges=REDSHIFT_EDGES) -> pd.DataFrame:
    """Mergers and non-mergers per redshift bin (Fig 1).

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``z_lo, z_hi, mergers, non-mergers, total``. Objects outside the edges
        are counted in a warning.
    """
    edges = np.asarray(edges, dtype=float)
    z = catalog["redshift"].to_numpy(dtype=float)
    is_merger = catalog["label"].to_numpy() == 1
    mergers, _ = np.histogram(z[is_merger], edges)
    others, _ = np.histogram(z[~is_merger], edges)
    _warn_outside(int(len(z) - mergers.sum() - others.sum()), "a redshift", edges)
    return pd.DataFrame({"z_lo": edges[:-1], "z_hi": edges[1:], "mergers": mergers, "non-mergers": others,
                         "total": mergers + others})


def merger_time_histogram(catalog: pd.DataFrame, edges=MERGER_TIME_EDGES) -> pd.DataFrame:
    """Mergers per merger-time bin, per stage, as counts and as fractions of all mergers (Fig 2).

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``t_lo, t_hi`` (Gyr), ``pre, ongoing, post`` (counts), ``count``,
        ``fraction`` (count / number of mergers with a time). Mergers outside the edges are
        counted in a warning.
    """
    edges = np.asarray(edges, dtype=float)
    mergers = catalog[catalog["label"] == 1]
    out = pd.DataFrame({"t_lo": edges[:-1], "t_hi": edges[1:]})
    for stage in ("pre", "ongoing", "post"):
        out[stage], _ = np.histogram(mergers.loc[mergers["stage"] == stage, "merger_time"], edges)
    out["count"] = out[["pre", "ongoing", "post"]].sum(axis=1)
    _warn_outside(int(len(mergers) - out["count"].sum()), "a merger time", edges)
    out["fraction"] = out["count"] / max(len(mergers), 1)
    return out


def stages_present(catalog: pd.DataFrame) -> list[str]:
    """STAGES, plus 'unknown' when a labelled dataset has mergers of unknown stage."""
    return list(STAGES) + ([STAGE_UNKNOWN] if (catalog["stage"] == STAGE_UNKNOWN).any() else [])


def pick_examples(catalog: pd.DataFrame, per_stage: int = 4, seed: int = 0) -> pd.DataFrame:
    """Up to ``per_stage`` random objects of each stage (fewer where a stage has fewer), in STAGES order
    ('unknown' last, for a labelled dataset's mergers of unknown stage)."""
    rng = np.random.default_rng(seed)
    picks = []
    for stage in stages_present(catalog):
        rows = catalog[catalog["stage"] == stage]
        chosen = rng.choice(len(rows), size=min(per_stage, len(rows)), replace=False)
        picks.append(rows.iloc[np.sort(chosen)])
    return pd.concat(picks)


# --------------------------------------------------------------------------------------------
# Figures


def plot_redshift_distribution(hist: pd.DataFrame, ax=None):
    """Fig 1: galaxies per redshift bin, mergers stacked on non-mergers; folder boundaries dotted."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    width = hist["z_hi"] - hist["z_lo"]
    ax.bar(hist["z_lo"], hist["non-mergers"], width=width, align="edge", color=STAGE_COLORS["non"],
           edgecolor="k", label="non-mergers")
    ax.bar(hist["z_lo"], hist["mergers"], width=width, bottom=hist["non-mergers"], align="edge",
           color="tab:red", edgecolor="k", label="mergers")
    for boundary in FOLDER_REDSHIFT_BOUNDARIES:
        ax.axvline(boundary, color="k", linestyle=":", linewidth=1)
    ax.set_xticks(list(hist["z_lo"]) + [hist["z_hi"].iloc[-1]])
    ax.set_xticklabels([f"{z:.1f}" for z in list(hist["z_lo"]) + [hist["z_hi"].iloc[-1]]])
    ax.margins(y=0.1)
    ax.set_xlabel("redshift bin")
    ax.set_ylabel("number of galaxies")
    ax.legend(title="dotted: challenge folders", fontsize="small")
    return ax.figure


def plot_merger_time_distribution(hist: pd.DataFrame, ax=None):
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
    ax.legend(fontsize="small")
    return ax.figure


def plot_stage_gallery(examples: pd.DataFrame, per_stage: int = 4, exponent: float = 0.2):
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
