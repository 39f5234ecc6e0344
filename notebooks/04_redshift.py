# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
# ---

# %% [markdown]
# # 04 Redshift: Fig 7
#
# Accuracy, precision, recall and F1 of every network on the test split, per redshift bin, at the
# thresholds chosen in 03_evaluate. Uncertainties: `bootstrap_resamples` bootstrap resamples per bin
# (the paper's 1000); points are the bootstrap means and bars the 95 % percentile interval. Unlike the
# paper, the bootstrap resamples **merger sequences**, not galaxies: the objects of one sequence (the
# same pair at several snapshots) are classified alike, so resampling them one by one would make the
# intervals too narrow (`galmerge.analysis.metrics`; an object without a sequence is resampled alone). Within a
# bin all networks see the same resamples.
#
# Two binnings:
# - **Fig 7**: 0.1-wide redshift bins, as the paper's text reads them ("0.1 to 0.3", "0.1 to 0.4"), or 0.02 wide
#   for a local sample such as SDSS's z < 0.1 (`galmerge.data.summary.redshift_edges`);
#   the first bin reaches down to z = 0 because TNG snapshot 91 lies at z = 0.099;
# - the challenge's four **snapnum folders** (z 0.10-0.31, 0.31-0.52, 0.52-0.76, 0.76-1.0), whose
#   images had different sizes (320 to 128 pixels) before the 128 x 128 cut, which the paper names
#   as the cause of the bump in the lowest-redshift bin.
#
# An empty bin, or a metric undefined in a bin (e.g. precision with no predicted merger), is NaN:
# the line breaks there and the tick says how many galaxies the bin holds.

# %% tags=["parameters"]
run_dir = "../runs/quick-mock_quick"
figures_dir = "../figures/quick-mock_quick"
bootstrap_resamples = 1000
eval_seed = 7

# %% tags=["remove-input"]
from IPython.display import display

from galmerge.analysis import evaluation as ev
from galmerge.analysis import matching
from galmerge.analysis.metrics import METRICS
from galmerge.data.catalog import available_information, not_available
from galmerge.data.summary import redshift_edges
from galmerge.report import figures
from galmerge.runs import Run
from galmerge.sersic.products import Products

run = Run(run_dir)
test = ev.load_run_scores(run, "test")
kinds = test.attrs["kinds"]
print(f"test split: {len(test)} galaxies scored by {', '.join(ev.network_label(k) for k in kinds)}")
# A labelled dataset (galmerge.ingest) may have no redshifts, and has no challenge folders.
info = available_information(test)

# %% [markdown]
# ## Fig 7: metrics per redshift bin (0.1 wide; 0.02 wide for a sample at z < 0.1)

# %%
outside = {}
if info["redshift"]:
    z_edges = redshift_edges(test["redshift"])  # the paper's 0.1-wide bins, or 0.02-wide for z < 0.1 (SDSS)
    z_bins = ev.cut(test["redshift"], z_edges)
    outside = ev.outside_bins(z_bins, test, f"redshift outside {z_edges[0]}-{z_edges[-1]}")
    print("galaxies outside the redshift bins:", outside)
    by_z = ev.binned_bootstrap(test, z_bins, METRICS, bootstrap_resamples, eval_seed)
    run.write_table("fig07_redshift", by_z, index=False)
    figures.show("fig07_redshift", figures_dir, by_z, METRICS, caption_values={"n_resamples": bootstrap_resamples})
    display(by_z.pivot_table(index="bin", columns=["metric", "kind"], values="mean", observed=False,
                             dropna=False)["accuracy"].round(3))
else:
    print("Fig 7:", not_available("redshifts"))

# %% [markdown]
# ## The same per snapnum folder

# %%
if info["snapnum"]:
    folders = ev.redshift_folder_bins(test["snapnum"])
    print("galaxies outside the folders:", ev.outside_bins(folders, test, "snapnum outside 50-91"))
    by_folder = ev.binned_bootstrap(test, folders, METRICS, bootstrap_resamples, eval_seed)
    run.write_table("redshift_folders", by_folder, index=False)
    figures.show("fig07_redshift_folders", figures_dir, by_folder, METRICS,
                 caption_values={"n_resamples": bootstrap_resamples})
    table = by_folder.pivot_table(index="bin", columns=["metric", "kind"], values=["mean", "error"],
                                  observed=False, dropna=False)
    display(table.xs("accuracy", level="metric", axis=1).round(3))
else:
    print("metrics per snapnum folder:", not_available("merger-challenge redshift folders"))

# %% [markdown]
# ## Selection: the mergers against a control sample matched in redshift and brightness
#
# Not in the paper. When the two classes are not drawn from one parent sample (for instance Darg et
# al. mergers against Galaxy Zoo non-mergers), a network can tell them apart by distance or brightness
# instead of morphology. Each test merger is paired with one test non-merger of nearly the same
# redshift and brightness (`galmerge.analysis.matching`: covariate matching by optimal one-to-one
# assignment, every covariate within 0.2 of its standard deviation over both classes; brightness is the
# log of the primary segment's flux in image units, since the merger catalogue has no magnitudes). The
# SMD table shows how well the covariates were balanced. The networks keep their thresholds, and the
# non-CNN baseline (00_data) stands beside them at its own validation precision = recall threshold, the
# networks' rule. A network that learned the selection loses specificity (the non-mergers it keeps) and
# AUC on the matched pairs; one that learned mergers does not. Intervals: 95 %, merger sequences
# resampled on all test galaxies, matched pairs resampled on the pairs. On the mock both classes share
# one redshift law, so there the two rows should agree within their noise.

# %%
selection = matched = None
if info["redshift"]:
    with Products(run.products) as products:
        log_flux = matching.primary_log_flux(products.images, products.sources)
    candidates = test.assign(log_flux=test["ID"].map(log_flux).to_numpy())
    compared, names = list(kinds), {k: ev.network_label(k) for k in kinds}
    if run.has_table("baseline_scores"):
        base = run.table("baseline_scores").set_index("ID")
        candidates["score_baseline"] = candidates["ID"].map(base["score"]).to_numpy()
        candidates["pred_baseline"] = candidates["ID"].map(base["pred"]).to_numpy()
        if candidates["score_baseline"].notna().all():
            compared.append("baseline")
            names["baseline"] = "non-CNN baseline"
    matched = matching.match_controls(candidates, ["redshift", "log_flux"])
    print(f"{len(matched.frame) // 2} merger-control pairs; {matched.n_unmatched} of {matched.n_mergers} mergers "
          f"had no control within {matched.caliper} sd")
    display(matched.balance.round(3))
    figures.show("selection_matching", figures_dir, candidates, matched.frame, ["redshift", "log_flux"],
                 labels={"redshift": "redshift", "log_flux": "log10 primary flux (image units)"})
    selection = matching.selection_table(candidates, matched.frame, compared, names)
    run.write_table("selection_matched", selection, index=False)
    display(selection.round(1))
else:
    print("selection check:", not_available("redshifts"))

# %% [markdown]
# ## Summary
#
# For each network: accuracy (bootstrap mean ± (upper − mean)) in each folder, from low to high redshift.

# %%
summary = {"n_test": len(test), "outside_bins": outside, "bootstrap_resamples": bootstrap_resamples,
           "bootstrap_unit": "merger sequence",
           "available": bool(info["redshift"]), "folders_available": bool(info["snapnum"])}
if matched is not None:
    summary["selection"] = {"n_pairs": len(matched.frame) // 2, "n_unmatched": matched.n_unmatched,
                            "smd_before": matched.balance["smd_before"].round(3).to_dict(),
                            "smd_after": matched.balance["smd_after"].round(3).to_dict(),
                            "table": selection.round(2).to_dict("records")}
if info["snapnum"]:
    accuracy = by_folder[by_folder["metric"] == "accuracy"]
    summary.update({
        "folders": [str(c) for c in folders.categories],
        "n_per_folder": accuracy.drop_duplicates("bin")["n"].tolist(),
        "accuracy_per_folder": {k: accuracy.loc[accuracy["kind"] == k, "mean"].tolist() for k in kinds},
        "accuracy_error_per_folder": {k: accuracy.loc[accuracy["kind"] == k, "error"].tolist() for k in kinds},
    })
run.update_summary("redshift", summary)
for kind in kinds if info["snapnum"] else []:
    sub = accuracy[accuracy["kind"] == kind]
    cells = ", ".join(f"{b.split()[1]}: {m:.2f}±{e:.2f}" for b, m, e in zip(sub["bin"], sub["mean"], sub["error"]))
    print(f"{ev.network_label(kind)} accuracy by redshift: {cells}")
