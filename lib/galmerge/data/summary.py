"""Counts, histograms and example galleries of a dataset catalogue (notebook 00_data; paper Figs 1-2).

Every function takes the catalogue of :func:`galmerge.data.catalog.load_catalog`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from galmerge.data.catalog import DatasetWarning
from galmerge.vocab import MERGER_TIME_EDGES, REDSHIFT_EDGES, SPLITS, STAGE_UNKNOWN, STAGES


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


#: Width of the redshift bins of a local sample (all z <= :data:`LOCAL_MAX_Z`): SDSS's z < 0.1 in five bins.
LOCAL_BIN_WIDTH = 0.02
LOCAL_MAX_Z = 0.1


def redshift_edges(redshifts) -> np.ndarray:
    """Redshift bin edges for Figs 1 and 7: the paper's 0.1-wide bins over TNG's snapshots
    (:data:`galmerge.vocab.REDSHIFT_EDGES`) when at least 90 % of the finite redshifts fall inside
    them; otherwise, for a local sample such as SDSS's z < 0.1 (issue 22), bins of
    :data:`LOCAL_BIN_WIDTH` from 0 to the largest redshift (or to z = 1 in 0.1 steps beyond the local
    range), so that no galaxy falls outside.
    """
    z = np.asarray(redshifts, dtype=float)
    z = z[np.isfinite(z)]
    if z.size == 0:
        return REDSHIFT_EDGES
    inside = ((z >= REDSHIFT_EDGES[0]) & (z <= REDSHIFT_EDGES[-1])).mean()
    if inside >= 0.9:
        return REDSHIFT_EDGES
    width = LOCAL_BIN_WIDTH if z.max() <= LOCAL_MAX_Z else 0.1
    top = np.ceil(z.max() / width - 1e-9) * width
    return np.round(np.arange(0.0, top + width / 2, width), 6)


def redshift_histogram(catalog: pd.DataFrame, edges=None) -> pd.DataFrame:
    """Mergers and non-mergers per redshift bin (Fig 1); ``edges`` default to :func:`redshift_edges`.

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``z_lo, z_hi, mergers, non-mergers, total``. Objects outside the edges
        are counted in a warning.
    """
    z = catalog["redshift"].to_numpy(dtype=float)
    edges = np.asarray(redshift_edges(z) if edges is None else edges, dtype=float)
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
