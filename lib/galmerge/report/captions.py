"""Figure captions, shared by the notebooks (shown under each figure) and ``REPORT.md``.

Every caption says what is plotted, on which galaxies, and what the error bars are. The
bootstraps resample merger sequences (:func:`galmerge.analysis.metrics.bootstrap_weights`), not galaxies
as the paper does, because the objects of one sequence are classified alike.
"""

from __future__ import annotations

from galmerge.vocab import STAGE_WINDOWS_GYR

#: What the error bars of the bootstrapped figures (7, 8, 10) are.
BOOTSTRAP_BARS = ("Points: mean over {n_resamples} bootstrap resamples of the bin's merger sequences (an object "
                  "without a sequence is resampled alone); bars: the 95 % percentile interval of those resamples. "
                  "Within a bin all networks see the same resamples. A bin without a value (empty, or the metric "
                  "undefined) breaks the line; each tick gives the bin's galaxies n.")



def _stage_windows() -> str:
    """'pre −0.8 to −0.1, ongoing −0.1 to 0.1, post 0.1 to 0.3 Gyr' from the vocabulary's windows."""
    def gyr(value: float) -> str:
        return f"{value:g}".replace("-", "−")
    return ", ".join(f"{stage} {gyr(lo)} to {gyr(hi)}" for stage, (lo, hi) in STAGE_WINDOWS_GYR.items()) + " Gyr"


#: Caption of every figure of :data:`galmerge.report.figures.REGISTRY`, by name.
CAPTIONS = {
    "fig01_redshift_distribution": "Galaxies per 0.1-wide redshift bin, mergers and non-mergers, all splits "
                                   "(paper Fig. 1); dotted lines separate the challenge's four redshift folders.",
    "fig02_merger_time_distribution": "Fraction of all mergers per 0.1 Gyr of merger time, coloured by stage "
                                      f"({_stage_windows()}; paper Fig. 2).",
    "gallery_stages": "Random objects of each stage (linear [0, 1] normalisation, then a power law of exponent 0.2).",
    "fig03_preprocessing": "Preprocessing of one object (paper Fig. 3): image, segmentation, deblended segmentation, "
                           "Sérsic model and residual.",
    "fig04_examples": "The three networks' 128 × 128 inputs (raw, Sérsic model, residual) for mergers and "
                      "non-mergers (paper Fig. 4), power-law stretched for display.",
    "sersic_parameters": "Fitted Sérsic index, effective radius, ellipticity and position angle of the primaries "
                         "whose fit entered the model, mergers against non-mergers.",
    "sersic_fit_vs_truth": "Fitted against true (intrinsic, before the PSF) Sérsic parameters of the mock's main "
                           "galaxy; the dashed line is equality, each title gives the median absolute fractional "
                           "error.",
    "sersic_fitters_vs_galsim": "Fitted against true effective radius, Sérsic index and ellipticity of "
                                "GalSim-rendered galaxies (one row per set: isolated, and with neighbours), "
                                "both fitters overlaid; the legend gives each fitter's median absolute error and "
                                "CPU seconds per image; the dashed line is equality.",
    "learning_curves": "Learning curves of the network in the title: accuracy and loss per epoch on the "
                       "training and validation splits; the dotted line marks the kept epoch (highest validation "
                       "accuracy at the validation precision = recall threshold).",
    "scores": "Validation scores of the saved network in the title per class; the analysis chooses the decision "
              "threshold where precision equals recall on this split.",
    "transfer_scores": "Scores of this run's test galaxies by its own networks and by the source run's, mergers "
                       "red and non-mergers grey; the dotted line is each row's decision threshold (the source "
                       "run's own for the transfer row).",
    "sersic_residual_chi": "rms of χ = (image − background − model) / σ inside the primary's segment: isolated "
                           "non-mergers (about 1 for a perfect Sérsic galaxy with sky-limited noise) against "
                           "mergers.",
    "fig06_metrics_vs_threshold": "Accuracy, precision, recall and F1 on the test split against the decision "
                                  "threshold (paper Fig. 6); the grey line is the precision = recall threshold "
                                  "chosen on the validation split. No error bars.",
    "fig07_redshift": "Accuracy, precision, recall and F1 per redshift bin on the test split (paper Fig. 7). "
                      + BOOTSTRAP_BARS,
    "fig07_redshift_folders": "The same per challenge redshift folder. " + BOOTSTRAP_BARS,
    "selection_matching": "Selection check (not in the paper): redshift and brightness (log10 of the primary "
                          "segment's flux in image units) of the test mergers, of all test non-mergers and of the "
                          "non-mergers matched one to one to the mergers (optimal assignment, caliper 0.2 standard "
                          "deviations; galmerge.analysis.matching). Matched controls that follow the mergers show "
                          "that the selection was removed.",
    "fig08_merger_time": "Fraction of test mergers correctly classified per 0.1 Gyr of merger time (paper Fig. 8; "
                         "for mergers alone this is the recall). " + BOOTSTRAP_BARS,
    "fig09_ellipticity_distribution": "Mergers and non-mergers per bin of the primary's Sérsic ellipticity "
                                      "(paper Fig. 9); galaxies without a usable fit are counted in the notebook, "
                                      "not binned.",
    "fig10_ellipticity_metrics": "Accuracy and precision per Sérsic-ellipticity bin on the test split (paper "
                                 "Fig. 10, which shows no uncertainties). " + BOOTSTRAP_BARS,
    "fig11_ellipticity_balanced": "Accuracy and precision per ellipticity bin on balanced draws (paper Fig. 11): "
                                  "points are the mean over {n_draws} draws of min({per_class}, mergers, "
                                  "non-mergers) galaxies per class. Bars: 95 % percentile interval of the "
                                  "class-balanced metric (classes reweighted to equal totals, which is what the "
                                  "draws estimate) over {n_resamples} bootstrap resamples of the bin's merger "
                                  "sequences; the paper's ± standard deviation over draws only says which "
                                  "galaxies were drawn and is kept in the table.",
    "fig12_roc": "ROC curves of every network on the test split with their AUC (paper Fig. 12); the diagonal is "
                 "a random classifier. No error bars.",
    "fig13_confusion": "Confusion matrices on the test split at the precision = recall threshold, normalised by "
                       "row: the diagonal is the fraction of non-mergers and of mergers correctly classified "
                       "(paper Fig. 13).",
    "fig14_occlusion_mergers": "Occlusion maps of test mergers (paper Fig. 14), one row per category, per network "
                               "its input and its heatmap: each pixel is the mean score of the occluded copies "
                               "whose box covered it, so the regions that make a merger a merger are darker "
                               "(lower) than the unoccluded score printed above the map.",
    "fig15_occlusion_nonmergers": "Occlusion maps of test non-mergers (paper Fig. 15), as Fig. 14: each pixel is "
                                  "the mean score of the occluded copies whose box covered it, so the regions "
                                  "that make a non-merger look like one are brighter (higher) than the unoccluded "
                                  "score printed above the map.",
    "fig16_feature_maps": "First-layer kernels of CNN1 and their feature maps for an example merger "
                          "(paper Fig. 16).",
}

#: Values the captions are filled with unless the caller gives others (the notebooks' defaults).
DEFAULTS = {"n_resamples": 1000, "n_draws": 20, "per_class": 500}


def caption(name: str, **values) -> str:
    """The caption of figure ``name`` (a registry name such as ``fig07_redshift``), filled with ``values``
    (``n_resamples``, ``n_draws``, ``per_class``; defaults :data:`DEFAULTS`).

    ``REPORT.md`` captions every ``fig*.png`` of a figures folder by its file stem; a file that is
    no figure of the registry (left by an older version, say) gets "(no caption recorded)" rather
    than stopping the report."""
    text = CAPTIONS.get(name)
    if text is None:
        return f"{name} (no caption recorded)."
    return text.format(**{**DEFAULTS, **values})
