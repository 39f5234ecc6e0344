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
# * a non-CNN baseline (logistic regression on nine simple image statistics, scored in
#   sequence-grouped cross-validation), which tells how much of the answer is available without a CNN;
# * an audit of the dataset: the AUC for the label of every simple statistic (those TNG would not
#   show, such as noise, image size, headers, IDs and file order, must sit at 0.5), the primary's
#   ellipticity of mergers against non-mergers (paper Fig 9) and, for the mock, the companion
#   separation against merger time;
# * a shortcut check: whether the far sky (statistics of the four corners, and a small CNN on them)
#   or the files' encoding tells the classes apart (`tables/shortcut_check.csv`, a warning above AUC 0.60).
#
# Policies of the reader (sentinel times, minor mergers, missing files, NaN pixels) are listed in
# the docstring of `galmerge.data.catalog`.
#
# A *labelled* dataset (your own cutouts, written by `python -m galmerge.ingest`) may lack
# redshifts, merger times and stages: the figures that need them say "not available for this
# dataset" instead, and everything else runs.

# %% tags=["parameters"]
run_dir = "../runs/quick-mock_quick"
data_dir = "../data/mock_quick"
figures_dir = "../figures/quick-mock_quick"
mock_n = 10000
mock_seed = 3
mock_test_fraction = 0.16
split_seed = 42

# %% tags=["remove-input"]
from pathlib import Path

from IPython.display import display

import galmerge.data.catalog as gdata
import galmerge.data.summary as summary
from galmerge.analysis import baseline
from galmerge.ingest import PROBLEMS_FILE, read_ingest_info
from galmerge.report import figures
from galmerge.runs import Run

data_dir = Path(data_dir)
run = Run(run_dir)

# %% [markdown]
# ## Dataset
#
# A missing dataset folder whose name starts with `mock` is generated with the profile's
# `mock_n`, `mock_seed` and `mock_test_fraction` (`run_all.py` normally does this before the notebook runs); any
# other missing folder is an error.

# %%
if not data_dir.exists():
    if not data_dir.name.startswith("mock"):
        raise FileNotFoundError(f"dataset folder {data_dir} does not exist")
    from galmerge.mock import generate_mock

    print(f"generating a mock dataset of {mock_n} objects (seed {mock_seed}) in {data_dir}")
    generate_mock(data_dir, n=mock_n, seed=mock_seed, test_fraction=mock_test_fraction)

catalog = gdata.load_catalog(data_dir, split_seed=split_seed)
print(f"{len(catalog)} objects from {catalog.attrs['dataset']}")
print("dropped:", {k: len(v) for k, v in catalog.attrs["dropped"].items()},
      "| non-mergers with merger info:", len(catalog.attrs["nonmergers_with_merger_info"]),
      "| moved to test:", len(catalog.attrs["moved_to_test"]))
info = gdata.available_information(catalog)
ingest_info = read_ingest_info(data_dir)
print("information in this dataset:", ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in info.items()))
if ingest_info is not None:
    n_display = int((~catalog["linear_flux"].astype(bool)).sum()) if "linear_flux" in catalog else 0
    print(f"labelled dataset ingested from {ingest_info['images']}: {ingest_info['n_ingested']} of "
          f"{ingest_info['n_table_rows']} table rows, {ingest_info['n_left_out']} left out "
          f"(listed in {data_dir / PROBLEMS_FILE}), channel {ingest_info['channel']!r}")
    if n_display:
        print(f"{n_display} display images (8/16-bit PNG/JPEG/TIFF, non-linear stretch): "
              "Sérsic parameters fitted on them are not physical")
catalog.head()

# %% [markdown]
# Every image is opened once: its side must be the one its redshift folder promises
# (128, 160, 192 or 320 px; a labelled dataset's images: at least 128 px), and NaN/inf pixels are counted.

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
run.write_table("counts", counts)
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
if info["redshift"]:
    z_hist = summary.redshift_histogram(catalog)
    figures.show("fig01_redshift_distribution", figures_dir, z_hist)
    display(z_hist)
else:
    print("Fig 1:", gdata.not_available("redshifts", data_dir))

# %% [markdown]
# ## Fig 2 — mergers over merger time
#
# Fraction of all mergers per 0.1 Gyr bin from 0.8 Gyr before to 0.3 Gyr after coalescence,
# coloured by stage (pre-merger −0.8 to −0.1, ongoing −0.1 to 0.1, post-merger 0.1 to 0.3 Gyr).

# %%
if info["merger_time"]:
    t_hist = summary.merger_time_histogram(catalog)
    figures.show("fig02_merger_time_distribution", figures_dir, t_hist)
    display(t_hist)
else:
    print("Fig 2:", gdata.not_available("merger times", data_dir))

# %% [markdown]
# ## Examples per stage
#
# Random objects of each stage (a labelled dataset without stages: its mergers as 'unknown'),
# shown with a linear [0, 1] normalisation followed by a power law
# of exponent 0.2 (the paper's display).

# %%
examples = summary.pick_examples(catalog, per_stage=4, seed=split_seed)
figures.show("gallery_stages", figures_dir, examples, per_stage=4)

# %% [markdown]
# ## Audit statistics and a non-CNN baseline
#
# Every image is detected once with SEP (the paper's 1.5 sigma, 5 pixels, deblended) and gives
# observing statistics (noise level and correlation, image size, header cards) and nine
# morphology statistics (`galmerge.analysis.baseline`: number of sources, flux, inner and outer rotational
# asymmetry, concentration, flux ratio and distance of the second brightest source, ellipticity
# and offset of the central source). The baseline is a logistic regression on the nine, scored in
# 5-fold cross-validation grouped by merger sequence (and trained on train, scored on test).
# If it came close to the CNNs, the classes would be separable without a CNN.

# %%
from galmerge.mock import audit

stats = audit.image_statistics(catalog)
baseline_result = baseline.run_baseline(catalog, features=stats[["ID", *baseline.FEATURES]])
baseline_accuracy = float(baseline_result["test_accuracy"])  # the report compares it with CNN1's test accuracy
run.write_table("baseline_scores", baseline.baseline_scores(baseline_result["model"], baseline_result["features"],
                                                          catalog), index=False)  # beside the networks in 04
print(f"baseline accuracy: grouped {baseline_result['cv_folds']}-fold CV {baseline_result['cv_accuracy']:.3f} "
      f"+- {baseline_result['cv_accuracy_std']:.3f}; train -> test {baseline_accuracy:.3f} "
      f"({baseline_result['n_test']} test objects, train {baseline_result['train_accuracy']:.3f})")
print("coefficients (standardised features):", baseline_result["coefficients"])
stats.groupby("stage")[list(baseline.FEATURES)].mean().round(3)

# %% [markdown]
# ## Audit: what simple statistics give away
#
# ROC AUC of each statistic for the merger label. `not_in_tng` marks statistics that TNG images
# injected into HSC would not carry about the label (noise, image size, headers, IDs, file order,
# redshift): they must sit at 0.5 ± 0.03 (`ok`), which is meaningful only when the AUC's own
# scatter (`null_sigma`, about 0.01 for 3000 objects) is well below 0.03. The morphology statistics
# may separate: that is the physics the CNNs are meant to learn.

# %%
leaks = audit.leak_table(stats)
run.write_table("audit_leaks", leaks)  # the report names every flagged statistic with its AUC
n_leaks = int((leaks["not_in_tng"] & ~leaks["ok"]).sum())
print("statistics TNG would not show, outside 0.5 ± 0.03:",
      list(leaks.index[leaks["not_in_tng"] & ~leaks["ok"]]) or "none")
leaks

# %% [markdown]
# Primary's ellipticity, mergers against non-mergers: in TNG, mergers' Sérsic fits are more
# elliptical (paper Sect. 4.3, Fig 9). The SEP moments of the central segment measure it on every
# image; on the mock the truth `true_main_ellip` is shown too (the fitted Sérsic ellipticity
# follows in notebook 06).

# %%
ellipticity = audit.ellipticity_difference(catalog, stats)
ellipticity

# %% [markdown]
# For the mock: pre-mergers' projected companion separation against merger time, beside the
# relation of Kitzbichler & White (2008) for simulated close pairs (`galmerge.mock.orbits`).

# %%
if "true_separation_kpc" in catalog:
    display(audit.separation_against_time(catalog))

# %% [markdown]
# ## Shortcut check: what the far sky says about the label
#
# A merger set drawn from two catalogues can differ in ways that are not morphology (Suelves et al.
# 2023 separated an SDSS merger set at about 92 % from sky-background errors alone). The four 32 px
# corner patches of every image lie far from the galaxy; their sky level, noise and quantisation
# (`galmerge.analysis.shortcut`) go into a logistic regression scored out of fold in 5-fold
# cross-validation grouped by merger sequence, one probe per group of statistics and one on all of
# them. For a dataset ingested from image files, one more probe (`file_encoding`) asks the same of
# how the files were encoded (format; for JPEGs the quantisation tables, chroma subsampling and
# progressive mode, recorded by the ingest), and a small CNN looks at the corner patches themselves
# (`corner_cnn`, on at most 4,000 images). The ROC AUC (95 % interval: bootstrap over sequences)
# should sit at 0.5; above 0.60 the table's `warning` is set: the label can be read off the far sky
# or the files' encoding, and the networks may use it.

# %%
from galmerge.analysis import shortcut

shortcut_table = shortcut.shortcut_check(catalog, seed=split_seed, cnn=True)
run.write_table(shortcut.TABLE, shortcut_table, index=False)
shortcut_warning = bool(shortcut_table["warning"].any())
shortcut_all = shortcut_table.set_index("probe").loc[shortcut.ALL_PROBE]
print(f"far-sky probe, all corner statistics: AUC {shortcut_all['auc']:.3f} "
      f"[{shortcut_all['auc_low']:.3f}, {shortcut_all['auc_high']:.3f}] on {int(shortcut_all['n'])} images"
      + ("; WARNING: the corners carry the label (AUC above 0.60)" if shortcut_warning else
         "; no probe above 0.60"))
shortcut_table

# %%
sep_difference = float(ellipticity["difference"].get("SEP moments, central segment", float("nan")))
run.update_summary("data", {**summary.summary_counts(catalog),
                            "split_seed": split_seed,
                            "images_unreadable": n_unreadable,
                            "images_wrong_size": n_wrong_size,
                            "images_with_nonfinite": n_with_nonfinite,
                            "baseline_accuracy": baseline_accuracy,
                            "baseline_cv_accuracy": float(baseline_result["cv_accuracy"]),
                            "baseline_cv_accuracy_std": float(baseline_result["cv_accuracy_std"]),
                            "baseline_train_accuracy": float(baseline_result["train_accuracy"]),
                            "baseline_n_test": baseline_result["n_test"],
                            "audit_leaks_outside_tolerance": n_leaks,
                            "audit_ellipticity_difference_sep": sep_difference,
                            "available": info,
                            "labelled_dataset": ingest_info is not None,
                            # how the images were read, for python -m galmerge.predict to read new files alike
                            "input": {key: (ingest_info or {}).get(key)
                                      for key in ("channel", "target_scale", "nonfinite", "bands")},
                            "shortcut_auc": float(shortcut_all["auc"]),
                            "shortcut_auc_max": float(shortcut_table["auc"].max()),
                            "shortcut_warning": shortcut_warning,
                            "n_display_images": (int((~catalog["linear_flux"].astype(bool)).sum())
                                                 if "linear_flux" in catalog else 0)})["data"]
