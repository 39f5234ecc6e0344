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
# How it is done here (`galmerge.nets.occlusion`):
#
# - **What is occluded.** The box is placed on exactly what the network sees: the image after the
#   training pipeline's per-image min-max normalisation to [0, 1] (`galmerge.nets.training.normalise_images`),
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

# %% tags=["remove-input"]
import warnings

import pandas as pd
from IPython.display import display

from galmerge.analysis import evaluation as ev
from galmerge.nets import occlusion as occ
from galmerge.report import figures
from galmerge.runs import Run
from galmerge.sersic.products import Products
from galmerge.vocab import PAPER_INPUT_KINDS, network_label

run = Run(run_dir)
kinds = run.trained_kinds
category_kinds = [k for k in PAPER_INPUT_KINDS if k in kinds]
if not category_kinds:
    raise RuntimeError(f"{run.root}: none of CNN1-3 (raw, model, residual) is trained; "
                       "the paper's categories need at least one of them")
missing = [k for k in PAPER_INPUT_KINDS if k not in kinds]
print("networks shown:", ", ".join(network_label(k) for k in kinds))
if missing:
    print("NOT trained (their columns and categories are marked as such):",
          ", ".join(network_label(k) for k in missing))

# %% [markdown]
# ## Thresholds and the selection of examples

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    thresholds_used = ev.threshold_table(run, kinds)
    scores = run.wide_scores(category_kinds, "test")
for w in caught:
    print("WARNING:", w.message)
thresholds = dict(zip(thresholds_used["kind"], thresholds_used["threshold"]))
display(thresholds_used)

examples = occ.select_examples(scores, thresholds, seed=occlusion_seed, kinds=category_kinds)
run.write_table("occlusion_examples", examples, index=False)
print(f"{len(scores)} test galaxies scored by {', '.join(category_kinds)}")
display(examples[["label", "letter", "description", "n_candidates", "status", "ID"]])

# %% [markdown]
# ## Occlusion maps
#
# Every map scores one occluded copy per box position: (128 - box) / stride + 1 squared copies
# (14,641 at stride 1). The unoccluded score is recomputed from the products and compared with
# `scores_test.csv`: a mismatch would mean the occlusion does not act on what the network saw.

# %%
products = Products(run.products)
networks = {kind: run.network(kind) for kind in kinds}
saved = {kind: run.scores(kind, "test").set_index("ID")["score"] for kind in kinds}
study = occ.occlusion_study(products, networks, examples, saved, box=occlusion_box, stride=occlusion_stride,
                            seed=occlusion_seed)
run.write_table("occlusion_peaks", study.peaks, index=False)
print(f"{len(study.peaks)} maps, {study.n_copies} occluded copies in {study.seconds:.0f} s "
      f"({study.n_copies / max(study.seconds, 1e-9):.0f} copies/s); "
      f"largest |score - saved test score| = {study.mismatch:.2e}")

# %% [markdown]
# ## Fig 14: mergers

# %%
figures.show("fig14_occlusion_mergers", figures_dir, examples, study.inputs, study.heatmaps, study.unoccluded,
             thresholds, kinds)

# %% [markdown]
# ## Fig 15: non-mergers

# %%
figures.show("fig15_occlusion_nonmergers", figures_dir, examples, study.inputs, study.heatmaps, study.unoccluded,
             thresholds, kinds)

# %% [markdown]
# ## Where the most important region lies
#
# For each map, the pixel whose occlusion moves the score most in the direction that matters (down for
# a merger, up for a non-merger), its distance from the image centre, and the size of that change.
# The paper reads its maps as CNN1 and CNN2 looking mostly at the primary (central) galaxy and CNN3
# around where the primary was.

# %%
summary_by_kind = occ.peak_summary(study.peaks)
display(summary_by_kind.round(3))

# %% [markdown]
# ## Fig 16: first-layer kernels and feature maps of CNN1
#
# The kernels of the first convolutional layer and their feature maps (the convolution plus bias, before
# the ReLU) for an example merger: the category (a) merger when there is one, otherwise another test
# merger.

# %%
feature_kind = "raw" if "raw" in kinds else kinds[0]
example_id = occ.feature_map_example(examples, scores)
image = occ.network_inputs(products, feature_kind, [products.row(example_id)])[0]
kernels, maps = occ.first_conv_feature_maps(networks[feature_kind], image)
name = network_label(feature_kind)
figures.show("fig16_feature_maps", figures_dir, kernels, maps, image, max_filters=128,
             title=f"{name}: first-layer kernels (left), feature maps (upper right) and "
                   f"input (lower right) for test galaxy {example_id}",
             note="" if feature_kind == "raw" else f"CNN1 is not trained in this run: {name} is shown instead.")

# %%
products.close()
_ = run.update_summary("occlusion", {
    "box": occlusion_box, "stride": occlusion_stride, "seed": occlusion_seed,
    "networks": kinds, "category_networks": category_kinds,
    "thresholds": thresholds, "threshold_sources": dict(zip(thresholds_used["kind"], thresholds_used["source"])),
    "examples": [{key: (None if pd.isna(value) else value) for key, value in record.items()}
                 for record in examples[["label", "letter", "category", "status", "n_candidates", "ID"]]
                 .astype(object).to_dict("records")],
    "maps": len(study.peaks), "occluded_copies": study.n_copies, "seconds": study.seconds,
    "copies_per_second": study.n_copies / max(study.seconds, 1e-9), "max_unoccluded_score_mismatch": study.mismatch,
    "median_peak_distance_px": summary_by_kind["median_peak_distance_px"].to_dict(),
    "feature_map_network": feature_kind, "feature_map_galaxy": example_id,
})

# %% [markdown]
# The benchmark of `occlusion_map` and the cost of the paper's stride-1 maps are in
# `benchmarks/README.md`.
