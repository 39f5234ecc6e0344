"""Notebook 01's diagnostics of the fitting stage's products: tables, summary numbers, figure choices.

Everything here reads the products' tables (``images.parquet``, ``sources.parquet``; see
:mod:`galmerge.sersic.products`) and returns tables or numbers for ``01_sersic_fitting``: fit status
and flags, why sources were left out of the model, fitted against true parameters on mock data,
residual chi, the cutout's scale, time per image, the headline numbers of ``summary.json``, and which
images the figures show. The stage that makes the products is :mod:`galmerge.sersic.stage`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from galmerge.vocab import CUTOUT_SIZE, FIT_STATUSES

#: Mock truth columns of the main galaxy matched to the primary's fitted parameters.
TRUTH_PAIRS = {"sersic_n": "true_main_n", "sersic_rhalf": "true_main_r_e_px", "sersic_ellip": "true_main_ellip"}


def status_table(images: pd.DataFrame) -> pd.DataFrame:
    """Images per fit status, by class (label 1 merger / 0 non-merger) and in total."""
    table = pd.crosstab(images["status"], images["label"].map({1: "mergers", 0: "non-mergers"}),
                        margins=True, margins_name="all")
    order = [s for s in FIT_STATUSES if s in table.index] + ["all"]
    return table.reindex(order).fillna(0).astype(int)


def flag_table(images: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """``flag_sersic`` counts (statmorph's meanings, whichever the fitter) for the primaries and for all
    sources (-1: the fitter raised,
    -2: not fitted, outside the fit region; 4: nothing measured), with how many entered the model."""
    rows = {}
    for name, frame, used in (("primaries", images[images["primary_label"] > 0], "primary_used_in_model"),
                              ("all sources", sources, "used_in_model")):
        counts = frame.groupby("flag_sersic")[used].agg(["size", "sum"])
        counts.columns = [f"{name}", f"{name} in model"]
        rows[name] = counts
    return pd.concat(rows.values(), axis=1).fillna(0).astype(int)


def exclusion_table(sources: pd.DataFrame) -> pd.DataFrame:
    """Sources in the model and left out of it, by reason ("flag": flag_sersic beyond the policy,
    "runaway": profile flux > max_flux_ratio x segment flux, "failed", "skipped"), primaries apart."""
    reason = sources["exclusion"].replace("", "in model")
    return pd.DataFrame({"primaries": reason[sources["is_primary"]].value_counts(),
                         "all sources": reason.value_counts()}).fillna(0).astype(int)


def truth_comparison(images: pd.DataFrame, pairs: dict = TRUTH_PAIRS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fitted vs true parameters of the primaries (mock data).

    Uses images with status ``ok`` whose primary entered the model and has finite truth. Returns
    (the matched rows with ``<param>_frac_err = (fit - true) / true``, a summary per parameter:
    count, median fractional error (signed: bias), median absolute fractional error, and the
    median absolute error in the parameter's units).
    """
    usable = images[(images["status"] == "ok") & images["primary_used_in_model"].astype(bool)].copy()
    summary = {}
    for fit, true in pairs.items():
        if true not in usable.columns:
            continue
        ok = np.isfinite(usable[fit]) & np.isfinite(usable[true]) & (usable[true] > 0)
        frac = (usable[fit] - usable[true]) / usable[true]
        usable[f"{fit}_frac_err"] = frac.where(ok)
        summary[fit] = {"truth": true, "n": int(ok.sum()), "median_frac_err": float(frac[ok].median()),
                        "median_abs_frac_err": float(frac[ok].abs().median()),
                        "median_abs_err": float((usable[fit] - usable[true])[ok].abs().median())}
    return usable, pd.DataFrame(summary).T


def used_primaries(images: pd.DataFrame) -> pd.DataFrame:
    """Images with status ``ok`` whose primary's fit entered the model (the primaries analysed)."""
    return images[(images["status"] == "ok") & images["primary_used_in_model"].astype(bool)]


def preprocessing_example(images: pd.DataFrame) -> pd.Series:
    """The image of Fig 3: the first pre- or ongoing merger with at least two sources whose primary
    entered the model; else the first such image of any class; else the first image."""
    used = used_primaries(images)
    candidates = used[(used["label"] == 1) & (used["n_sources"] >= 2) & used["stage"].isin(["pre", "ongoing"])]
    return (candidates if len(candidates) else used if len(used) else images).iloc[0]


def input_examples(images: pd.DataFrame, seed: int, n: int = 3) -> tuple[list[int], list[int]]:
    """Rows of ``n`` random mergers and ``n`` random non-mergers with status ``ok`` (Fig 4)."""
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero((images["status"] == "ok").to_numpy())
    labels = images["label"].to_numpy()
    mergers = [int(i) for i in rng.permutation(rows) if labels[i] == 1][:n]
    non_mergers = [int(i) for i in rng.permutation(rows) if labels[i] == 0][:n]
    return mergers, non_mergers


def isolated_nonmergers(used: pd.DataFrame) -> pd.Series:
    """Non-mergers; on mock data (``true_kind``) only those drawn without a companion."""
    isolated = used["label"] == 0
    if "true_kind" in used.columns:
        isolated &= used["true_kind"] == "isolated"
    return isolated


def residual_chi_table(used: pd.DataFrame) -> pd.DataFrame:
    """Median mean and rms χ inside the primary's segment, isolated non-mergers against mergers."""
    isolated = isolated_nonmergers(used)
    chi = pd.DataFrame({
        "isolated non-mergers": used.loc[isolated, ["chi_mean", "chi_rms"]].median(),
        "mergers": used.loc[used["label"] == 1, ["chi_mean", "chi_rms"]].median(),
    }).T
    chi["n"] = [int(isolated.sum()), int((used["label"] == 1).sum())]
    return chi


def cutout_scale_table(used: pd.DataFrame, size: int = CUTOUT_SIZE) -> pd.DataFrame:
    """Per image size: images, median r_e (px), the same after resampling to ``size`` px, and the
    share of primaries whose 5 r_e lies inside the central crop's half-width."""
    table = used.groupby("image_ny").agg(images=("ID", "size"), median_r_e_px=("sersic_rhalf", "median"))
    table["median_r_e_px_after_resample"] = [
        float(np.median(used.loc[used["image_ny"] == n, "sersic_rhalf"] * size / n)) for n in table.index]
    table["share_5r_e_inside_crop"] = [
        float((5 * used.loc[used["image_ny"] == n, "sersic_rhalf"] < size / 2).mean()) for n in table.index]
    return table


def timing_table(images: pd.DataFrame, fitter: str = "statmorph") -> pd.DataFrame:
    """Mean wall-clock, CPU and fitter seconds and sources per image, by image size (pixels on a side)."""
    timing = images.groupby("image_ny")[["time_image_s", "time_cpu_s", "time_fitter_s", "n_sources"]].mean()
    timing.columns = ["mean s per image (wall)", "mean CPU s per image", f"mean s in the fitter ({fitter})",
                      "mean sources"]
    return timing


def fitting_summary(images: pd.DataFrame, sources: pd.DataFrame, chi: pd.DataFrame,
                    truth_summary: pd.DataFrame | None, cutout_mode: str) -> dict:
    """Headline numbers of the fitting step for ``summary.json`` (seconds are wall-clock or CPU as named;
    ``fitter_time_share`` is the share of the per-image wall-clock time spent in the Sérsic fitter)."""
    counts = images["status"].value_counts()
    values = {
        "n_images": len(images), "n_sources": len(sources), "cutout_mode": cutout_mode,
        "status_counts": {k: int(v) for k, v in counts.items()},
        "fraction_ok": float(counts.get("ok", 0) / max(len(images), 1)),
        "primaries_in_model": int(len(used_primaries(images))),
        "median_sources_per_image": float(images["n_sources"].median()),
        "median_seconds_per_image": float(images["time_image_s"].median()),
        "mean_cpu_seconds_per_image": float(images["time_cpu_s"].mean()),
        "fitter_time_share": float(images["time_fitter_s"].sum() / images["time_image_s"].sum()),
        "chi_rms_isolated_nonmergers": float(chi.loc["isolated non-mergers", "chi_rms"]),
        "chi_mean_isolated_nonmergers": float(chi.loc["isolated non-mergers", "chi_mean"]),
    }
    if truth_summary is not None:
        for fit, row in truth_summary.iterrows():
            values[f"{fit}_median_abs_frac_err"] = float(row["median_abs_frac_err"])
            values[f"{fit}_median_frac_err"] = float(row["median_frac_err"])
    return values


def primary_on_main_galaxy(matched: pd.DataFrame, radius_px: float = 3.0) -> float:
    """Share of matched primaries (:func:`truth_comparison`) whose fitted centre lies within
    ``radius_px`` pixels of the mock's main galaxy: the primary should be that galaxy."""
    offset = np.hypot(matched["sersic_xc"] - matched["true_main_x"], matched["sersic_yc"] - matched["true_main_y"])
    return float((offset < radius_px).mean()) if len(matched) else float("nan")
