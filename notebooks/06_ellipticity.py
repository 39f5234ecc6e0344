# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
# ---

# %% [markdown]
# # 06 Sérsic ellipticity: Figs 9, 10 and 11
#
# The paper (Sect. 4) finds more non-mergers than mergers at low ellipticity of the central galaxy's
# Sérsic fit (Fig 9), and asks how the metrics depend on it (Fig 10). Because the class balance changes
# from bin to bin, precision in a bin mostly follows the share of mergers there; Fig 11 therefore
# repeats the measurement on **balanced** bins: per bin min(`balanced_per_class`, mergers, non-mergers)
# galaxies of each class, drawn without replacement, `balanced_draws` times; the points are the mean over
# the draws. The paper's ± standard deviation over the draws only measures which galaxies were drawn, not
# how well the bin's galaxies pin the metric down; the bars of Fig 11 are instead the 95 % interval of
# the class-balanced metric (classes reweighted to equal totals, which is what the draws estimate) over
# `bootstrap_resamples` resamples of the bin's merger sequences. The standard deviation stays in the table.
#
# Bins are 0.05 wide and right-closed, like the paper's "(0.65, 0.7]". The ellipticity (1 − b/a) is that
# of the primary source (the one at, or nearest to, the image centre) from the fitting stage, used only
# when that fit entered the Sérsic model (the fit the model image shows). Images without one (fit
# failed or rejected, nothing detected, bad input) are counted below, by reason and class, and left
# out of the bins.
# Fig 10 carries bootstrap 95 % intervals (`bootstrap_resamples` resamples of merger sequences per bin),
# which the paper's Fig 10 does not show.

# %% tags=["parameters"]
run_dir = "../runs/quick-mock_quick"
figures_dir = "../figures/quick-mock_quick"
bootstrap_resamples = 1000
balanced_per_class = 500
balanced_draws = 20
eval_seed = 7

# %% tags=["remove-input"]
import numpy as np
import pandas as pd
from IPython.display import display

from galmerge.analysis import evaluation as ev
from galmerge.report import figures
from galmerge.runs import Run

run = Run(run_dir)
images = ev.load_images(run)
test = ev.load_run_scores(run, "test")
kinds = test.attrs["kinds"]
edges = ev.ELLIPTICITY_EDGES

# %% [markdown]
# ## Images without a Sérsic ellipticity

# %%
failures = pd.concat([ev.fit_failures(images).assign(split="all"), ev.fit_failures(test).assign(split="test")],
                     ignore_index=True)
run.write_table("ellipticity_fit_failures", failures, index=False)
n_failed_all = int(failures.loc[failures["split"] == "all", "total"].sum())
n_failed_test = int(failures.loc[failures["split"] == "test", "total"].sum())
print(f"no ellipticity: {n_failed_all} of {len(images)} images ({100 * n_failed_all / max(len(images), 1):.1f} %), "
      f"{n_failed_test} of {len(test)} test images; they are left out of Figs 9-11")
display(failures)

# %% [markdown]
# ## Fig 9: distribution of the central galaxy's ellipticity

# %%
all_bins = ev.cut(ev.usable_ellipticity(images), edges)
test_bins = ev.cut(ev.usable_ellipticity(test), edges)
counts = {"All splits": ev.class_counts(images, all_bins), "Test split": ev.class_counts(test, test_bins)}
run.write_table("fig09_ellipticity_distribution", pd.concat([c.assign(sample=name) for name, c in counts.items()]),
                index=False)
figures.show("fig09_ellipticity_distribution", figures_dir, counts)
for name, c in counts.items():
    mids = ev.bin_positions(c["bin"])
    mean_m = np.average(mids, weights=c["mergers"]) if c["mergers"].sum() else np.nan
    mean_n = np.average(mids, weights=c["non_mergers"]) if c["non_mergers"].sum() else np.nan
    print(f"{name}: mean ellipticity of mergers {mean_m:.3f}, of non-mergers {mean_n:.3f}")

# %% [markdown]
# ## Fig 10: accuracy and precision per ellipticity bin (test split)

# %%
metrics = ("accuracy", "precision")
by_ellip = ev.binned_bootstrap(test, test_bins, metrics, bootstrap_resamples, eval_seed)
run.write_table("fig10_ellipticity_metrics", by_ellip, index=False)
figures.show("fig10_ellipticity_metrics", figures_dir, by_ellip, metrics,
             caption_values={"n_resamples": bootstrap_resamples})

# %% [markdown]
# ## Fig 11: the same on balanced bins (mean over the draws, sequence-bootstrap interval)

# %%
balanced = ev.binned_balanced(test, test_bins, metrics, balanced_per_class, balanced_draws, eval_seed,
                              n_resamples=bootstrap_resamples)
run.write_table("fig11_ellipticity_balanced", balanced, index=False)
figures.show("fig11_ellipticity_balanced", figures_dir, balanced, metrics,
             caption_values={"n_resamples": bootstrap_resamples, "n_draws": balanced_draws,
                             "per_class": balanced_per_class})
display(balanced.drop_duplicates("bin")[["bin", "n", "n_sequences", "n_mergers", "per_class", "n_draws"]])

# %% [markdown]
# ## Summary
#
# Balanced precision at low (≤ 0.3) and high (> 0.5) ellipticity: the paper finds mergers with low
# ellipticity easier to recognise (higher balanced precision at low ellipticity).

# %%
mids = pd.Series(ev.bin_positions(test_bins.categories), index=test_bins.categories)
bal_prec = balanced[balanced["metric"] == "precision"].assign(mid=lambda d: d["bin"].map(mids).astype(float))
low_high = {k: {"low_e_le_0.3": bal_prec.loc[(bal_prec["kind"] == k) & (bal_prec["mid"] <= 0.3), "mean"].mean(),
                "high_e_gt_0.5": bal_prec.loc[(bal_prec["kind"] == k) & (bal_prec["mid"] > 0.5), "mean"].mean()}
            for k in kinds}
summary = {
    "n_images": len(images), "n_failed_fits": n_failed_all, "n_test": len(test), "n_test_failed_fits": n_failed_test,
    "failed_by_reason": failures[failures["split"] == "all"].set_index("reason")["total"].to_dict(),
    "bins": [str(c) for c in test_bins.categories],
    "test_mergers_per_bin": counts["Test split"]["mergers"].tolist(),
    "test_non_mergers_per_bin": counts["Test split"]["non_mergers"].tolist(),
    "balanced_precision_low_vs_high": low_high,
    "balanced_per_class": balanced_per_class, "balanced_draws": balanced_draws,
}
run.update_summary("ellipticity", summary)
for kind, v in low_high.items():
    print(f"{ev.network_label(kind)}: balanced precision {v['low_e_le_0.3']:.2f} at e <= 0.3, "
          f"{v['high_e_gt_0.5']:.2f} at e > 0.5")
