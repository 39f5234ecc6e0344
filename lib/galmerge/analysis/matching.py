"""A control sample matched to the mergers, to tell merger morphology from sample selection.

A labelled set such as the SDSS one (Darg et al. 2010 mergers, Galaxy Zoo 1 non-mergers)
does not draw its two classes from one parent sample: if the non-mergers are nearer or brighter,
a network can separate the classes by distance or brightness alone. Scoring the same networks on
the mergers and a control subsample *matched* to them in those quantities separates the two: a
network that learned mergers keeps its specificity on the matched controls; one that learned the
selection loses it.

The matching is covariate matching, one-to-one, without replacement, and optimal: the pairs minimise
the summed distance in standardised covariates (each divided by its standard deviation over the mergers
and non-mergers together), solved as an assignment problem (:func:`scipy.optimize.linear_sum_assignment`).
A pair is kept only when every covariate differs by at most ``caliper`` standard deviations of that
covariate (0.2 by default). This borrows the width of the caliper Austin (2011, Pharmaceutical Statistics
10, 150) recommends, but Austin's caliper is on the logit of a propensity score, and it is not shown
here to remove the same share of the bias; here it is applied to each raw covariate. Mergers without a
control inside the caliper are left out and counted. Balance is reported as the standardised mean
difference (SMD: difference of the class means over the pooled standard deviation; |SMD| < 0.1 is the
usual mark of balance, Austin 2009, Statistics in Medicine 28, 3083), so how well the covariates were
matched is measured, not assumed.

:func:`selection_table` gives each classifier's accuracy, recall, specificity and AUC on all test
galaxies and on the matched pairs, with 95 % bootstrap intervals (merger sequences resampled on all test
galaxies; matched pairs resampled on the pairs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from galmerge.analysis import metrics as gm

#: Largest difference of a matched pair in every covariate, in standard deviations of that covariate
#: (the width Austin 2011 recommends for a propensity-score caliper, applied here to each raw covariate).
CALIPER_SD = 0.2
#: |SMD| below this is the usual mark of a balanced covariate (Austin 2009).
BALANCED_SMD = 0.1


class MatchingError(ValueError):
    """The frame cannot be matched (a covariate missing, no mergers or no non-mergers)."""


@dataclass(frozen=True)
class MatchedSample:
    """The mergers and their matched controls, with what the matching left out.

    Attributes
    ----------
    frame : DataFrame
        The matched galaxies (rows of the input frame), with a ``pair`` column (0, 1, ...: a merger
        and its control share it).
    n_mergers : int
        Mergers offered for matching (finite covariates).
    n_unmatched : int
        Mergers left out: no control within the caliper.
    balance : DataFrame
        Per covariate: SMD of all mergers against all non-mergers (``smd_before``) and of the
        matched mergers against their controls (``smd_after``), and the medians of all mergers,
        all non-mergers and the matched controls.
    caliper : float
        The caliper used, in standard deviations.
    """

    frame: pd.DataFrame
    n_mergers: int
    n_unmatched: int
    balance: pd.DataFrame
    caliper: float


def standardised_mean_difference(a, b) -> float:
    """SMD of two samples: (mean a - mean b) / sqrt((var a + var b) / 2) (Austin 2009, eq. 1)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2) if min(a.size, b.size) > 1 else np.nan
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else float("nan")


def _checked(frame: pd.DataFrame, covariates: Sequence[str], label: str) -> pd.DataFrame:
    missing = [c for c in (*covariates, label) if c not in frame.columns]
    if missing:
        raise MatchingError(f"cannot match: column(s) {missing} missing (have {list(frame.columns)})")
    usable = frame[np.isfinite(frame[list(covariates)].to_numpy(float)).all(axis=1)]
    counts = usable[label].value_counts()
    if counts.get(1, 0) == 0 or counts.get(0, 0) == 0:
        raise MatchingError(f"cannot match: {counts.get(1, 0)} mergers and {counts.get(0, 0)} non-mergers "
                            f"with finite {list(covariates)}")
    return usable


def match_controls(frame: pd.DataFrame, covariates: Sequence[str], label: str = "label",
                   caliper: float = CALIPER_SD) -> MatchedSample:
    """Match every merger (``label`` 1) to one non-merger (``label`` 0) in ``covariates``.

    Parameters
    ----------
    frame : DataFrame
        Galaxies with ``label`` and the covariate columns (rows with a non-finite covariate are not
        matched).
    covariates : sequence of str
        Columns to match on, e.g. ``("redshift", "log_flux")``.
    label : str
        Column with 1 for mergers and 0 for non-mergers.
    caliper : float
        Largest difference in any covariate of a kept pair, in standard deviations of that
        covariate over all usable galaxies.

    Returns
    -------
    MatchedSample
    """
    usable = _checked(frame, covariates, label)
    values = usable[list(covariates)].to_numpy(float)
    scale = values.std(axis=0, ddof=1)
    scale[~(scale > 0)] = 1.0
    z = values / scale
    is_merger = usable[label].to_numpy() == 1
    mergers, controls = np.flatnonzero(is_merger), np.flatnonzero(~is_merger)
    gaps = np.abs(z[mergers, None, :] - z[None, controls, :])  # (mergers, controls, covariates)
    cost = np.sqrt((gaps ** 2).sum(axis=-1))
    outside = (gaps > caliper).any(axis=-1)
    cost[outside] = 1e6  # allowed, so every merger gets a partner, then dropped below
    rows, cols = linear_sum_assignment(cost)
    kept = ~outside[rows, cols]
    pairs = np.arange(int(kept.sum()))
    chosen = pd.concat([usable.iloc[mergers[rows[kept]]].assign(pair=pairs),
                        usable.iloc[controls[cols[kept]]].assign(pair=pairs)])
    balance = _balance(usable[is_merger], usable[~is_merger], chosen, label, covariates)
    return MatchedSample(frame=chosen.sort_values(["pair", label]), n_mergers=int(mergers.size),
                         n_unmatched=int(mergers.size - kept.sum()), balance=balance, caliper=float(caliper))


def _balance(mergers: pd.DataFrame, controls: pd.DataFrame, matched: pd.DataFrame, label: str,
             covariates: Sequence[str]) -> pd.DataFrame:
    """SMD and medians before matching (all mergers, all non-mergers) and after (the matched pairs)."""
    matched_mergers, matched_controls = matched[matched[label] == 1], matched[matched[label] == 0]
    rows = []
    for name in covariates:
        after = (standardised_mean_difference(matched_mergers[name], matched_controls[name])
                 if len(matched) else np.nan)
        rows.append({"covariate": name,
                     "smd_before": standardised_mean_difference(mergers[name], controls[name]),
                     "smd_after": after,
                     "median_mergers": float(mergers[name].median()),
                     "median_non_mergers": float(controls[name].median()),
                     "median_matched_controls": float(matched_controls[name].median()) if len(matched) else np.nan})
    return pd.DataFrame(rows).set_index("covariate")


def primary_log_flux(images: pd.DataFrame, sources: pd.DataFrame) -> pd.Series:
    """log10 of the primary source's segment flux per image ID, NaN where no primary was found.

    The brightness proxy of display images (SDSS JPEGs), whose levels are not flux but rise
    monotonically with it, so that ranks, and hence matching, follow the galaxies' brightness.

    Parameters
    ----------
    images : DataFrame
        The fitting products' ``images.parquet``: ``ID`` and ``primary_label`` (-1: none).
    sources : DataFrame
        The products' ``sources.parquet``: ``ID``, ``label`` and ``flux`` (image units).
    """
    for table, columns in ((images, ("ID", "primary_label")), (sources, ("ID", "label", "flux"))):
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise MatchingError(f"column(s) {missing} missing from the fitting products")
    keys = images[["ID", "primary_label"]].rename(columns={"primary_label": "label"})
    flux = keys.merge(sources[["ID", "label", "flux"]], on=["ID", "label"], how="left")["flux"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_flux = np.where(flux > 0, np.log10(np.where(flux > 0, flux, 1.0)), np.nan)
    return pd.Series(log_flux, index=images["ID"].to_numpy(), name="log_flux")


#: Metrics of :func:`selection_table` that get a 95 % bootstrap interval (``<metric>_low``, ``<metric>_high``).
SELECTION_INTERVALS = ("accuracy", "recall", "specificity")


def _units(table: pd.DataFrame) -> np.ndarray:
    """Resampling units: the matched pairs when the table has a ``pair`` column, else merger sequences
    (:func:`galmerge.analysis.metrics.resampling_units`) or galaxies when it has neither."""
    if "pair" in table.columns:
        return pd.factorize(table["pair"])[0]
    if "sequence_ID" in table.columns or "split_group" in table.columns:
        return gm.resampling_units(table)
    return np.arange(len(table))


def _intervals(y: np.ndarray, pred: np.ndarray, units: np.ndarray, n_resamples: int, rng) -> dict[str, float]:
    out = {f"{m}_{b}": np.nan for m in SELECTION_INTERVALS for b in ("low", "high")}
    if y.size == 0:
        return out
    w = gm.bootstrap_weights(units, n_resamples, rng, n=len(y)).astype(float)
    right = (pred == y).astype(float)
    for metric, keep in (("accuracy", np.ones_like(y, dtype=bool)), ("recall", y == 1), ("specificity", y == 0)):
        with np.errstate(invalid="ignore", divide="ignore"):
            values = (w[:, keep] @ right[keep]) / w[:, keep].sum(axis=1)
        values = values[np.isfinite(values)]
        if values.size:
            out[f"{metric}_low"], out[f"{metric}_high"] = (100 * np.quantile(values, [0.025, 0.975])).tolist()
    return out


def selection_table(frame: pd.DataFrame, matched: pd.DataFrame, kinds: Sequence[str],
                    names: dict[str, str] | None = None, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Each classifier's metrics on all test galaxies beside the mergers with their matched controls.

    Parameters
    ----------
    frame : DataFrame
        All test galaxies: ``label`` and, per classifier ``k`` in ``kinds``, ``score_<k>`` and
        ``pred_<k>`` (0/1 at its decision threshold: every classifier, the non-CNN baseline included,
        at its validation precision = recall threshold).
    matched : DataFrame
        The matched subsample (:attr:`MatchedSample.frame`, with its ``pair`` column), same columns.
    kinds : sequence of str
        Classifiers to tabulate.
    names : dict, optional
        Display name per kind.
    n_resamples, seed : int
        Bootstrap resamples of the intervals and their seed.

    Returns
    -------
    DataFrame
        One row per classifier and sample (``all test galaxies``, ``matched pairs``): ``n``,
        ``n_mergers``, then accuracy, recall (mergers found), specificity (non-mergers kept) and
        ROC AUC in per cent, and 95 % intervals of the first three (``<metric>_low``, ``<metric>_high``;
        merger sequences resampled on all test galaxies, pairs on the matched ones). A classifier that
        learned the selection rather than the mergers loses specificity (and AUC) on the matched pairs.
    """
    names = names or {}
    rows = []
    rng = np.random.default_rng(seed)
    samples = (("all test galaxies", frame), ("matched pairs", matched))
    units = {sample: _units(table) for sample, table in samples}
    for kind in kinds:
        for sample, table in samples:
            y, pred = table["label"].to_numpy(int), table[f"pred_{kind}"].to_numpy(int)
            rows.append({"network": names.get(kind, kind), "sample": sample, "n": int(y.size),
                         "n_mergers": int(y.sum()), "accuracy": _percent(pred == y),
                         "recall": _percent(pred[y == 1] == 1), "specificity": _percent(pred[y == 0] == 0),
                         "auc": 100 * gm.roc_auc(y, table[f"score_{kind}"].to_numpy(float))
                         if 0 < y.sum() < y.size else np.nan,
                         **_intervals(y, pred, units[sample], n_resamples, rng)})
    return pd.DataFrame(rows)


def _percent(hits: np.ndarray) -> float:
    """Per cent of True in ``hits``; NaN (not a warning) for none, e.g. a matching that kept no pair."""
    return 100 * float(hits.mean()) if hits.size else float("nan")
