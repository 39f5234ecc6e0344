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
# # 01 — Sérsic fitting: segmentation, models and residuals
#
# The paper's preprocessing (Chudy et al., Sect. 3.1, Figs 3 and 4). For every image:
#
# 1. the background is estimated and subtracted (`background`: the paper's reading is SEP's box-64
#    background, `sep`; `flat`, one sky level from the pixels far from every source, keeps the
#    galaxies' wings), then SEP detects sources at 1.5 × the global background rms with a minimum
#    area of 5 pixels and deblends overlapping ones;
# 2. a 2-D Sérsic profile is fitted to every source with the dataset's PSF (`fitter`: `statmorph`,
#    the paper's, or `lm`, the batched Levenberg-Marquardt fitter of `galmerge.sersic.lm`, about
#    ten times faster; both are compared against GalSim truth below);
# 3. the PSF-convolved Sérsic profiles of the usable fits make the **model** image; the
#    **residual** is image − model, made on the full-size image;
# 4. only then are raw, model and residual brought to the CNN's 128 × 128 pixels.
#
# The stage (`galmerge.sersic.stage.run_fitting_stage`) runs the fits in parallel with Dask, writes each
# finished image at once (an interrupted run resumes where it stopped) and consolidates the
# products that training reads (`galmerge.sersic.products`). The per-image function and its policies
# (noise model, flag policy, statuses) are documented in `galmerge.sersic.fit`.

# %% tags=["parameters"]
run_dir = "../runs/quick-mock_quick"
data_dir = "../data/mock_quick"
figures_dir = "../figures/quick-mock_quick"
fit_workers = 2
scheduler_address = None
cutout_mode = "crop"
fit_region = "cutout"
min_fit_area = 25
detect_thresh = 1.5
detect_minarea = 5
fitter = "lm"
background = "flat"
truth_galaxies = 24
split_seed = 42
bands = None

# %% tags=["remove-input"]
import time

from IPython.display import display

import galmerge.data.catalog as gdata
from galmerge.report import figures
from galmerge.runs import Run
from galmerge.sersic import diagnostics
from galmerge.sersic import stage as fitting
from galmerge.sersic.fit import fit_image

run = Run(run_dir)

# %% [markdown]
# ## The fitting stage
#
# Finished products in `products/` are reused; a folder with `parts/` but no `COMPLETE` mark is
# an interrupted run and is resumed. Images that cannot be read or fitted are kept with a
# status (nothing is dropped).
#
# Two profile keys trade completeness for CPU time (the paper profile keeps the paper's choice):
# `fit_region = "cutout"` fits only the sources whose segment comes near the 128 × 128 crop (the
# others cannot change the CNN inputs), and `min_fit_area` leaves segments smaller than that many
# pixels unfitted (faint field detections; they stay in the residual). The paper fits every source.
# `detect_thresh` and `detect_minarea` are SEP's detection threshold (× the global rms) and minimum
# segment area (px); every profile keeps the paper's 1.5 and 5 but `sdss`, whose JPEG cutouts
# would give hundreds of noise "sources" per image at 1.5σ (`profiles/sdss.yaml`).

# %%
catalog = gdata.load_catalog(data_dir, split_seed=split_seed)
psf = gdata.load_psf(data_dir)
print(f"{len(catalog)} images; PSF: {'none' if psf is None else psf.shape}; cutout_mode={cutout_mode!r}; "
      f"workers: {scheduler_address or fit_workers}")
if "linear_flux" in catalog and not catalog["linear_flux"].astype(bool).all():
    # labelled cutouts from a survey viewer (galmerge.ingest): stretched 8-bit levels, not flux
    print(f"{int((~catalog['linear_flux'].astype(bool)).sum())} display images (PNG/JPEG/TIFF): the fits below "
          "describe stretched display levels; their Sérsic parameters are not physical")
t0 = time.perf_counter()
products = fitting.run_fitting_stage(catalog, run.products, psf=psf, n_workers=fit_workers,
                                   scheduler_address=scheduler_address, cutout_mode=cutout_mode,
                                   fit_region=fit_region, min_fit_area=min_fit_area, fitter=fitter,
                                   background=background, thresh=detect_thresh, minarea=detect_minarea)
stage_seconds = time.perf_counter() - t0
images, sources = products.images, products.sources
print(f"stage: {stage_seconds:.0f} s in this session; {len(images)} images, {len(sources)} sources")

# %% [markdown]
# ## Several bands
#
# With `bands` (e.g. `gri`, for a dataset ingested with `--bands gri`) every input kind becomes C = 3
# channels, one per band. The Sérsic fit above is the one of the primary image (the i band, the
# red channel of a gri composite); each band's model is that structural model times the band's flux
# scale (least squares with a sky level on the 128 px crop), its residual the band minus that model,
# as multi-band fitting does with the structure tied across bands (`galmerge.sersic.products`, where
# the choice is argued). Without `bands` (every profile's default) the products have one band and any
# band cubes an earlier run left are removed.

# %%
import numpy as np

from galmerge.sersic.products import add_band_cubes, remove_band_cubes

products.close()
if bands:
    t0 = time.perf_counter()
    products = add_band_cubes(run.products, catalog, bands, cutout_mode=cutout_mode)
    band_scales = products.band_scales()
    fitted = images["status"].eq("ok").to_numpy()
    print(f"band cubes ({bands}) in {time.perf_counter() - t0:.0f} s; median flux scale of each band's model "
          "relative to the fitted band, over the images fitted: "
          + ", ".join(f"{b} {np.median(band_scales[fitted, k]):.3f}" for k, b in enumerate(bands)))
    if "linear_flux" in catalog and not catalog["linear_flux"].astype(bool).all():
        print("the bands of display images are stretched levels, not flux: the scales are ratios of display levels")
else:
    products = remove_band_cubes(run.products)
print("network inputs per kind:", {kind: products.input_channels(kind) for kind in ("raw", "model", "residual")})

# %% [markdown]
# ## Fit status and flags
#
# Statuses: `ok` (at least one fit in the model), `no_source`, `all_fits_failed` (sources found,
# none usable under the flag policy), `bad_input` (unreadable, not 2-D, no finite pixel,
# constant), `error` (unexpected failure, with its message). statmorph's `flag_sersic`: 0 good,
# 1 suspect (a parameter at its bound), 2 bad fit, 4 nothing measured, −1 statmorph raised. The
# default policy puts fits with `flag_sersic` ≤ 1 into the model, except "runaway" fits whose
# profile holds more than 5 times the flux of its segment (faint sources fitted with a huge
# r_e and n, which statmorph does not flag; they would paint a halo over the whole model).

# %%
status = diagnostics.status_table(images)
flags = diagnostics.flag_table(images, sources)
exclusions = diagnostics.exclusion_table(sources)
run.write_table("sersic_fit_status", status)
run.write_table("sersic_flags", flags)
run.write_table("sersic_exclusions", exclusions)
display(status)
display(flags)
display(exclusions)
per_image = images[["n_sources", "n_used", "n_excluded", "n_failed"]].describe().T[["mean", "50%", "max"]]
display(per_image)
if (images["status"] != "ok").any():
    display(images.loc[images["status"] != "ok", ["ID", "status", "message"]].head(10))

# %% [markdown]
# ## Fig 3 — preprocessing steps
#
# One merger, refitted here at full size to show the steps: a) original image, b) segmentation
# map before deblending, c) deblended map, d) Sérsic model of every source, e) residual.

# %%
example = diagnostics.preprocessing_example(images)
image = gdata.load_image(example["image_path"], nonfinite="keep")
fig3 = fit_image(image, psf=psf, seed=int(example["ID"]) % 2**32, keep_undeblended=True, fitter=fitter,
                 background=background, thresh=detect_thresh, minarea=detect_minarea)
print(f"ID {example['ID']}: {example['stage']} at z={example['redshift']:.2f}, {image.shape[0]} px, "
      f"{len(fig3.sources)} sources ({fig3.n_used} in the model)")
figures.show("fig03_preprocessing", figures_dir, image, fig3)

# %% [markdown]
# ## Fig 4 — mergers and non-mergers: original, model, residual
#
# The 128 × 128 inputs of the three CNNs, each shown with a linear [0, 1] normalisation followed
# by a power law of exponent 0.2 (the paper's display). The stretch lifts values a million times
# fainter than the peak into view: the faint squares around compact sources in the model are the
# edges of the 41 × 41 px PSF image they are convolved with.

# %%
mergers, non_mergers = diagnostics.input_examples(images, seed=split_seed)
cutouts = {channel: products.cube(channel) for channel in ("raw", "model", "residual")}
figures.show("fig04_examples", figures_dir, cutouts, images, mergers, non_mergers)

# %% [markdown]
# ## Fitted parameters of the primaries
#
# The primary is the source whose segment covers the image centre (else the nearest one).
# Only primaries whose fit entered the model are shown.

# %%
used = diagnostics.used_primaries(images)
figures.show("sersic_parameters", figures_dir, used)
used.groupby("label")[list(figures.SERSIC_PARAMETER_LABELS)].median()

# %% [markdown]
# ## Fitted vs true parameters (mock data)
#
# The mock records the true Sérsic parameters of its main galaxy (`true_main_*`: intrinsic,
# before the PSF). The fractional error is (fit − true) / true; the signed median shows a bias,
# the median of its absolute value the typical error. On real data this section is skipped.

# %%
truth_summary = None
if "true_main_n" in images.columns:
    matched, truth_summary = diagnostics.truth_comparison(images)
    share = diagnostics.primary_on_main_galaxy(matched)
    print(f"primary centred on the main galaxy (< 3 px) in {share:.1%} of {len(matched)} images")
    run.write_table("sersic_vs_truth", truth_summary)
    display(truth_summary)
    figures.show("sersic_fit_vs_truth", figures_dir, matched, truth_summary, diagnostics.TRUTH_PAIRS)
else:
    print("not available for this dataset: no mock truth columns (real data); comparison skipped")

# %% [markdown]
# ## Both fitters against GalSim truth
#
# The mock's truth comes from our own renderer; GalSim (Rowe et al. 2015) renders exact Sérsic
# profiles with a Moffat PSF independently (`galmerge.sersic.truth`). `truth_galaxies` isolated
# galaxies (S/N 50–300) and as many HSC-like ones with 1–4 neighbours (S/N 30–300), 128 px, are
# fitted by the batched Levenberg-Marquardt fitter (`lm`) and by statmorph after the same flat
# background. The table gives the median and 90th percentile of the errors, the failures and the
# CPU seconds per image of each; `benchmarks/bench_fitter_accuracy.py` runs the same on 100
# galaxies per set, with two more sets of bright galaxies (3e4-2e5 e-, their own Poisson noise,
# gain 1; alone and with neighbours) and statmorph after SEP's 64 px boxes (the paper's reading).

# %%
try:
    import galsim  # noqa: F401  (sersic_truth imports it only when it renders)

    from galmerge.sersic import truth as sersic_truth
except ImportError:  # GalSim is in the test extra: pip install -e '.[test]'
    sersic_truth = None
    print("GalSim is not installed: comparison skipped")
if sersic_truth is not None and truth_galaxies > 0:
    truth_fits, truth_table = sersic_truth.compare_fitters(truth_galaxies, seed=split_seed,
                                                           pairs=sersic_truth.COMPARED[:2])
    run.write_table("sersic_fitters_vs_galsim", truth_table)
    display(truth_table.round(3))
    figures.show("sersic_fitters_vs_galsim", figures_dir, truth_fits)

# %% [markdown]
# ## Residual χ inside the primary's segment, isolated non-mergers
#
# χ = (image − background − model) / σ over the primary's segment, σ being SEP's background rms
# (the sky-limited noise model of `galmerge.sersic.fit`). A perfect Sérsic galaxy with sky-limited
# noise gives mean χ ≈ 0 and rms χ ≈ 1; spiral arms, bars and clumps of real discs, and the
# sources' own Poisson noise, raise the rms. Mergers are shown for comparison.

# %%
chi = diagnostics.residual_chi_table(used)
run.write_table("sersic_residual_chi", chi)
display(chi)
figures.show("sersic_residual_chi", figures_dir, used, diagnostics.isolated_nonmergers(used))

# %% [markdown]
# ## Crop or resample to 128 × 128?
#
# The paper says the images were "cropped to 128 × 128 pixels" and that "resizing" is done after
# the subtraction. Both readings are implemented (`cutout_mode`): `crop` keeps the central
# 128 × 128 pixels at the native 0.168″ scale; `resample` rebins the whole field (about 160 kpc)
# to 128 pixels, conserving flux exactly. The default is **crop**:
#
# * it is the paper's word, and it keeps every image at the survey's resolution, so the PSF
#   (FWHM ≈ 3.6 px) and the faint, small-scale residual features look the same at every redshift;
#   resampling would shrink the low-redshift (320 px) images by 2.5×, smearing the primary and
#   its residual structure below the PSF scale, and give each redshift folder its own pixel scale
#   and noise texture, a redshift signal a CNN could learn instead of morphology;
# * what crop loses is the outskirts of the larger fields, far from the primary. The numbers below
#   show how small the primaries are compared with the 64-pixel half-width of the crop.

# %%
size_table = diagnostics.cutout_scale_table(used)
run.write_table("sersic_cutout_scale", size_table)
size_table

# %% [markdown]
# ## Timing and summary

# %%
timing = diagnostics.timing_table(images, fitter)
run.write_table("sersic_timing", timing)
display(timing)
values = diagnostics.fitting_summary(images, sources, chi, truth_summary, cutout_mode)
print(f"the fitter's ({fitter}) share of the per-image time: {values['fitter_time_share']:.1%}")
if sersic_truth is not None and truth_galaxies > 0:
    for (kind, pair), row in truth_table.iterrows():
        for key in ("median |dr_e|/r_e", "median |dn|/n", "median |de|", "failures", "mean CPU s per image"):
            values[f"galsim_{kind}_{pair}_{key}"] = float(row[key])
run.update_summary("sersic", values)
values
