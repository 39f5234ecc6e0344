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
# # 00 — The dataset
#
# Reads a dataset in the merger-challenge layout (Margalef-Bentabol et al. 2024; the embedded
# mock writes the same layout), assigns the paper's 75:15:10 train/validation/test split grouped
# by merger sequence, and draws the paper's dataset figures:
#
# * counts per split, class and stage (table `counts`);
# * **Fig 1** — galaxies per redshift bin;
# * **Fig 2** — distribution of mergers over merger time (pre- and post-coalescence);
# * an example gallery per stage with the paper's power-law 0.2 stretch;
# * a simple non-CNN baseline (logistic regression on a few image statistics), which tells how
#   much of the answer is available without morphology.
#
# Policies of the reader (sentinel times, minor mergers, missing files, NaN pixels) are listed in
# the docstring of `galmerge.data`.

# %% tags=["parameters"]
run_dir = "../runs/quick-mock_quick"
data_dir = "../data/mock_quick"
figures_dir = "../figures/quick-mock_quick"
mock_n = 600
mock_seed = 3
split_seed = 42

# %%
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import display

import galmerge.data as gdata
import galmerge.datasummary as summary
from galmerge import baseline
from galmerge.plotting import save_figure
from galmerge.runs import RunPaths, update_summary

data_dir = Path(data_dir)
paths = RunPaths(run_dir)

# %% [markdown]
# ## Dataset
#
# A missing dataset folder whose name starts with `mock` is generated with the profile's
# `mock_n` and `mock_seed` (`run_all.py` normally does this before the notebook runs); any
# other missing folder is an error.

# %%
if not data_dir.exists():
    if not data_dir.name.startswith("mock"):
        raise FileNotFoundError(f"dataset folder {data_dir} does not exist")
    from galmerge.mock import generate_mock

    print(f"generating a mock dataset of {mock_n} objects (seed {mock_seed}) in {data_dir}")
    generate_mock(data_dir, n=mock_n, seed=mock_seed)

catalog = gdata.load_catalog(data_dir, split_seed=split_seed)
print(f"{len(catalog)} objects from {catalog.attrs['dataset']}")
print("dropped:", {k: len(v) for k, v in catalog.attrs["dropped"].items()},
      "| non-mergers with merger info:", len(catalog.attrs["nonmergers_with_merger_info"]),
      "| moved to test:", len(catalog.attrs["moved_to_test"]))
catalog.head()

# %% [markdown]
# Every image is opened once: its side must be the one its redshift folder promises
# (128, 160, 192 or 320 px), and NaN/inf pixels are counted.

# %%
image_report = gdata.validate_images(catalog)
n_unreadable = int((image_report["error"] != "").sum())
n_wrong_size = int((~image_report["shape_ok"]).sum()) - n_unreadable
n_with_nonfinite = int((image_report["n_nonfinite"] > 0).sum())
print(f"unreadable: {n_unreadable}, wrong size: {n_wrong_size}, with NaN/inf pixels: {n_with_nonfinite}")
problems = image_report[(image_report["error"] != "") | ~image_report["shape_ok"] | (image_report["n_nonfinite"] > 0)]
if len(problems):
    display(problems.head(20))
image_report.groupby("expected_size")[["ny", "nx"]].agg(["min", "max"])

# %% [markdown]
# ## Counts per split, class and stage
#
# No merger sequence crosses splits (checked below); the split is deterministic from `split_seed`.

# %%
counts = summary.count_table(catalog)
counts.to_csv(paths.table("counts"))
crossing = catalog[catalog["sequence_ID"] >= 0].groupby("sequence_ID")["split"].nunique().gt(1).sum()
assert crossing == 0, f"{crossing} merger sequences cross splits"
display(counts)
print("split fractions:", (counts["total"].drop("all") / counts.loc["all", "total"]).round(3).to_dict())

# %% [markdown]
# ## Fig 1 — galaxies per redshift bin
#
# Bins 0.1 wide; the dotted lines separate the challenge's four redshift folders
# (320, 192, 160 and 128 px from low to high redshift).

# %%
z_hist = summary.redshift_histogram(catalog)
fig = summary.plot_redshift_distribution(z_hist)
save_figure(fig, figures_dir, "fig01_redshift_distribution")
plt.show()
z_hist

# %% [markdown]
# ## Fig 2 — mergers over merger time
#
# Fraction of all mergers per 0.1 Gyr bin from 0.8 Gyr before to 0.3 Gyr after coalescence,
# coloured by stage (pre-merger −0.8 to −0.1, ongoing −0.1 to 0.1, post-merger 0.1 to 0.3 Gyr).

# %%
t_hist = summary.merger_time_histogram(catalog)
fig = summary.plot_merger_time_distribution(t_hist)
save_figure(fig, figures_dir, "fig02_merger_time_distribution")
plt.show()
t_hist

# %% [markdown]
# ## Examples per stage
#
# Random objects of each stage, shown with a linear [0, 1] normalisation followed by a power law
# of exponent 0.2 (the paper's display).

# %%
examples = summary.pick_examples(catalog, per_stage=4, seed=split_seed)
fig = summary.plot_stage_gallery(examples, per_stage=4)
save_figure(fig, figures_dir, "gallery_stages", paper=False)
plt.show()

# %% [markdown]
# ## A non-CNN baseline
#
# Logistic regression on the number of detected sources, the total flux and an asymmetry index,
# trained on the train split and scored on the test split. If this came close to the CNNs, the
# classes would be separable without morphology; on the mock it should stay well below 75 %.

# %%
baseline_result = baseline.run_baseline(catalog)
baseline_accuracy = float(baseline_result["test_accuracy"])
print(f"baseline accuracy: test {baseline_accuracy:.3f} ({baseline_result['n_test']} objects), "
      f"train {baseline_result['train_accuracy']:.3f} ({baseline_result['n_train']} objects)")
print("coefficients (standardised features):", baseline_result["coefficients"])
baseline_result["features"].join(catalog[["stage"]]).groupby("stage")[list(baseline.FEATURES)].mean()

# %%
update_summary(run_dir, "data", {**summary.summary_counts(catalog),
                                 "split_seed": split_seed,
                                 "images_unreadable": n_unreadable,
                                 "images_wrong_size": n_wrong_size,
                                 "images_with_nonfinite": n_with_nonfinite,
                                 "baseline_accuracy": baseline_accuracy,
                                 "baseline_train_accuracy": float(baseline_result["train_accuracy"]),
                                 "baseline_n_test": baseline_result["n_test"]})["data"]
