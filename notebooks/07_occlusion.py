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
# # 07 Occlusion: what each network looks at (Figs 14-16)
#
# The paper (Sect. 5.2, after Pearson et al. 2022) occludes an 8x8-pixel box, slides it one pixel at a
# time over the image, scores every occluded copy, and gives each pixel the mean score of the
# occlusions that covered it. For a **merger**, the regions that matter have *lower* scores in the
# heatmap than the unoccluded image; for a **non-merger**, *higher*.
#
# How it is done here (`galmerge.occlusion`):
#
# - **What is occluded.** The box is placed on exactly what the network sees: the image after the
#   training pipeline's per-image min-max normalisation to [0, 1] (`galmerge.training.normalise_images`),
#   and the fill values are on that scale. (Occluding before normalisation would let a box over the
#   brightest pixel rescale the whole image.) The unoccluded scores computed here are checked against
#   the training notebook's saved test scores.
# - **Fill** (paper): Gaussian noise with the background's level and spread for CNN1 (raw) and CNN3
#   (residual), measured robustly (sigma-clipped statistics with the sources masked), seeded; zeros for
#   CNN2 (Sérsic model). The stacked network (not in the paper) gets noise in its raw and residual
#   channels and zeros in its model channel; the box covers all three channels.
# - **Stride.** `occlusion_stride` is a profile parameter: 1 in the paper profile, coarser in quick and
#   smoke. When the stride does not tile the image, pixels never covered keep the unoccluded score.
# - **Examples.** Five test mergers and five test non-mergers, one seeded random pick per category:
#   (a) correct by all three CNNs, (b) wrong by all three, (c)/(d)/(e) correct only by CNN1/CNN2/CNN3,
#   each network at its own decision threshold (`tables/thresholds.csv`, precision = recall on the
#   validation split; merger when score >= threshold). Only CNN1-3 define the categories; the stacked
#   network, when trained, is shown as an extra column. An empty category is drawn as such.

# %% tags=["parameters"]
run_dir = "../runs/quick-mock_quick"
data_dir = "../data/mock_quick"
figures_dir = "../figures/quick-mock_quick"
occlusion_box = 8
occlusion_stride = 8
occlusion_seed = 11

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from tqdm import tqdm

from galmerge import occlusion as occ
from galmerge.plotting import network_style, save_figure
from galmerge.products import Products
from galmerge.runs import RunPaths, load_network, load_wide_scores, threshold_table, update_summary

paths = RunPaths(run_dir)
kinds = paths.trained_kinds()
category_kinds = [k for k in occ.CATEGORY_KINDS if k in kinds]
if not category_kinds:
    raise RuntimeError(f"{paths.root}: none of CNN1-3 (raw, model, residual) is trained; "
                       "the paper's categories need at least one of them")
missing = [k for k in occ.CATEGORY_KINDS if k not in kinds]
print("networks shown:", ", ".join(network_style(k)["label"] for k in kinds))
if missing:
    print("NOT trained (their columns and categories are marked as such):",
          ", ".join(network_style(k)["label"] for k in missing))

# %% [markdown]
# ## Thresholds and the selection of examples

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    threshold_table = threshold_table(run_dir, kinds)
    scores = load_wide_scores(run_dir, category_kinds, "test")
for w in caught:
    print("WARNING:", w.message)
thresholds = dict(zip(threshold_table["kind"], threshold_table["threshold"]))
display(threshold_table)

examples = occ.select_examples(scores, thresholds, seed=occlusion_seed, kinds=category_kinds)
examples.to_csv(paths.table("occlusion_examples"), index=False)
print(f"{len(scores)} test galaxies scored by {', '.join(category_kinds)}")
display(examples[["label", "letter", "description", "n_candidates", "status", "ID"]])

# %% [markdown]
# ## Occlusion maps
#
# Every map scores one occluded copy per box position: (128 - box) / stride + 1 squared copies
# (14,641 at stride 1). The unoccluded score is recomputed from the products and compared with
# `scores_test.csv`: a mismatch would mean the occlusion does not act on what the network saw.

# %%
products = Products(paths.products)
row_of = pd.Series(np.arange(len(products)), index=products.images["ID"].to_numpy())
networks = {kind: load_network(run_dir, kind) for kind in kinds}
saved = {kind: pd.read_csv(paths.train(kind) / "scores_test.csv").set_index("ID")["score"] for kind in kinds}

picked = examples.loc[examples["status"] == "ok", ["ID", "label"]].astype(int).itertuples(index=False)
jobs = [(galaxy, label, index, kind) for galaxy, label in picked for index, kind in enumerate(kinds)]
inputs, heatmaps, unoccluded, peaks = {}, {}, {}, []
n_copies, start = 0, time.perf_counter()
for galaxy, label, index, kind in tqdm(jobs, desc="occlusion maps", unit="map"):
    image = occ.network_inputs(products, kind, [row_of[galaxy]])[0]
    score = float(occ.predict_batch(networks[kind], image[None])[0])
    fill = occ.fill_for_kind(kind, image, seed=[occlusion_seed, galaxy, index])
    heat = occ.occlusion_map(networks[kind], image, box=occlusion_box, stride=occlusion_stride, fill=fill,
                             progress=False)
    inputs[galaxy, kind], heatmaps[galaxy, kind], unoccluded[galaxy, kind] = image, heat, score
    ys, xs = occ.occlusion_positions(image.shape[:2], occlusion_box, occlusion_stride)
    n_copies += len(ys) * len(xs)
    peaks.append({"ID": galaxy, "label": label, "kind": kind, "score": score,
                  "saved_score": float(saved[kind].get(galaxy, np.nan)),
                  "heat_min": heat.min(), "heat_max": heat.max(),
                  **occ.importance_peak(heat, score, label)})
seconds = time.perf_counter() - start
peaks = pd.DataFrame(peaks)
peaks.to_csv(paths.table("occlusion_peaks"), index=False)
mismatch = float((peaks["score"] - peaks["saved_score"]).abs().max()) if len(peaks) else 0.0
print(f"{len(peaks)} maps, {n_copies} occluded copies in {seconds:.0f} s "
      f"({n_copies / max(seconds, 1e-9):.0f} copies/s); largest |score - saved test score| = {mismatch:.2e}")
if mismatch > 1e-3:
    raise RuntimeError(f"unoccluded scores differ from scores_test.csv by up to {mismatch:.3g}: "
                       "the inputs built here are not what the network was scored on")

# %% [markdown]
# ## Fig 14: mergers

# %%
fig = occ.plot_occlusion_grid(examples, inputs, heatmaps, unoccluded, thresholds, kinds, label=1)
save_figure(fig, figures_dir, "fig14_occlusion_mergers")
plt.show()

# %% [markdown]
# ## Fig 15: non-mergers

# %%
fig = occ.plot_occlusion_grid(examples, inputs, heatmaps, unoccluded, thresholds, kinds, label=0)
save_figure(fig, figures_dir, "fig15_occlusion_nonmergers")
plt.show()

# %% [markdown]
# ## Where the most important region lies
#
# For each map, the pixel whose occlusion moves the score most in the direction that matters (down for
# a merger, up for a non-merger), its distance from the image centre, and the size of that change.
# The paper reads its maps as CNN1 and CNN2 looking mostly at the primary (central) galaxy and CNN3
# around where the primary was.

# %%
if len(peaks):
    summary_by_kind = peaks.groupby("kind").agg(maps=("ID", "size"),
                                                median_peak_distance_px=("peak_distance_px", "median"),
                                                median_max_change=("max_change", "median"))
    display(summary_by_kind.round(3))
else:
    summary_by_kind = pd.DataFrame()
    print("no map: every category is empty")

# %% [markdown]
# ## Fig 16: first-layer kernels and feature maps of CNN1
#
# The kernels of the first convolutional layer and their feature maps (the convolution plus bias, before
# the ReLU) for an example merger: the category (a) merger when there is one, otherwise another test
# merger.

# %%
feature_kind = "raw" if "raw" in kinds else kinds[0]
mergers_ok = examples[(examples["label"] == 1) & (examples["status"] == "ok")]
if len(mergers_ok):
    example_id = int(mergers_ok["ID"].iloc[0])
else:
    test_mergers = scores.loc[scores["label"] == 1, "ID"]
    example_id = int(test_mergers.iloc[0]) if len(test_mergers) else int(scores["ID"].iloc[0])
image = occ.network_inputs(products, feature_kind, [row_of[example_id]])[0]
kernels, maps = occ.first_conv_feature_maps(networks[feature_kind], image)
name = network_style(feature_kind)["label"]
fig = occ.plot_feature_maps(kernels, maps, image, max_filters=128,
                            title=f"{name}: first-layer kernels (left), feature maps (upper right) and input "
                                  f"(lower right) for test galaxy {example_id}")
save_figure(fig, figures_dir, "fig16_feature_maps")
plt.show()
if feature_kind != "raw":
    print(f"CNN1 is not trained in this run: showing {name} instead")

# %%
products.close()
_ = update_summary(run_dir, "occlusion", {
    "box": occlusion_box, "stride": occlusion_stride, "seed": occlusion_seed,
    "networks": kinds, "category_networks": category_kinds,
    "thresholds": thresholds, "threshold_sources": dict(zip(threshold_table["kind"], threshold_table["source"])),
    "examples": [{key: (None if pd.isna(value) else value) for key, value in record.items()}
                 for record in examples[["label", "letter", "category", "status", "n_candidates", "ID"]]
                 .astype(object).to_dict("records")],
    "maps": len(peaks), "occluded_copies": n_copies, "seconds": seconds,
    "copies_per_second": n_copies / max(seconds, 1e-9), "max_unoccluded_score_mismatch": mismatch,
    "median_peak_distance_px": summary_by_kind["median_peak_distance_px"].to_dict() if len(peaks) else {},
    "feature_map_network": feature_kind, "feature_map_galaxy": example_id,
})

# %% [markdown]
# ## Closing note
#
# **Benchmark** (`benchmarks/bench_occlusion.py`; benchmark network: 32 filters of 13/11/9 px, dense
# 128/32, random weights; 2-core CPU shared with other jobs, measured 2026-11-25 at load average 8-12,
# so the absolute rates are several times below an idle machine's, about 50 images/s):
#
# | measurement | value |
# |---|---|
# | occluded images/s, `occlusion_map` (zero fill / noise fill), stride 6, batch 128 | 10.9 / 10.8 |
# | images/s, `model.predict` on a pre-built array of the same 441 copies | 10.5 |
# | images/s, `predict_on_batch` loop over the pre-built array | 11.3 |
# | ratio `occlusion_map` / `model.predict` (target >= 0.9) | **1.03** (0.96 against the bare loop) |
# | stride 1 on 128x128 (14,641 copies, batch 256): peak traced numpy allocations | 72 MiB (about four batches) |
# | same: growth of the process's maximum resident set (TensorFlow included) | 162 MiB |
# | same: all copies held at once would take | 915 MiB |
#
# Re-measured on 2026-11-26 at load average 1.8 with the default command below: `occlusion_map` 140.7
# images/s against `model.predict` on the pre-built batch 92.4 (ratio 1.52), stride 1: 72.3 MiB traced,
# resident set growth 314 MiB.
#
# Commands: `.venv/bin/python benchmarks/bench_occlusion.py --skip-memory --stride 6 --batch-size 128
# --repeats 3` (throughput) and `.venv/bin/python benchmarks/bench_occlusion.py` (memory, stride 1).
# Building the occluded copies in a helper thread while the network scores the previous batch keeps
# the streaming map as fast as predicting a pre-built array, with memory bounded by the batch size.
#
# **Cost.** A stride-1 map of one 128x128 image is 14,641 forward passes: about 5 min for the quick
# width on an idle 2-core CPU, and roughly ten times more at the paper's width, so the paper profile's
# 40 maps (10 galaxies x 4 networks) need a GPU. The quick profile's stride 8 means 256 passes per map,
# about 10,000 in all: this whole notebook took about 1 min in the measured quick run (README).
