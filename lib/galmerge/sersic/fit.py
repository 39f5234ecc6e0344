"""Sérsic model and residual of one image: background, SEP segmentation, a Sérsic fit of every source.

The paper's preprocessing (Chudy et al., Sect. 3.1, Fig 3), for one image:

1. the background is estimated and subtracted (see *Background*: the paper used SEP's, box 64 px;
   the default here is a flat level that keeps the galaxies' wings);
2. SEP detects sources at ``1.5 x`` the *global* background rms with a minimum area of 5 pixels and
   deblends overlapping ones (``deblend_nthresh``, ``deblend_cont`` exposed);
3. a 2-D Sérsic profile is fitted to every segment, with the PSF when one is given (see *Fitters*);
4. the usable fits (see *Flag policy*) are rebuilt on the full frame, summed and convolved with
   the PSF: this is the model image; the residual is ``image - model`` on the full frame (the
   cut to 128 x 128 comes afterwards, :func:`cutout`).

Fitters (``fitter``)
    Chosen by name through the fitter interface (:mod:`galmerge.sersic.fitters`: fit the sources of
    a segmented image, render the model image). ``"statmorph"`` (default, the paper's):
    statmorph (Rodriguez-Gomez et al. 2019) per source, its profile evaluated at pixel centres;
    the model image is rebuilt with astropy's ``Sersic2D`` and convolved once with the PSF
    (:mod:`galmerge.sersic.statmorph_fitter`). ``"lm"``: :mod:`galmerge.sersic.lm`, a batched
    Levenberg-Marquardt fit of all sources at once (pixel-integrated profile, PSF with its pixel
    response divided out, neighbours masked, sky pixels around the source fitted); its model
    image is rendered by the same code the fit used (:mod:`galmerge.sersic.lm_fitter`). Both fill
    the same columns with the same flag meanings; for "lm", ``flag`` equals ``flag_sersic``,
    ``warnings`` says why a fit is suspect or failed, and ``time_fitter_s`` is the source's share
    of its batch's fit time.

Several images (:func:`fit_images`)
    Each image is prepared (steps 1-2, the noise map, the sources) and finished (step 4, flags,
    chi) on its own; the fits of all their sources are one call of the fitter, which the "lm"
    fitter batches (issue 23). Every image's result equals that of :func:`fit_image` on it alone.

Background (``background``, default :data:`DEFAULT_BACKGROUND` = ``"flat"``)
    ``"flat"``: one sky level per image, the clipped median of the pixels outside every source's
    segment grown to its extent (:func:`_flat_background`); HSC coadds and the merger challenge's
    cutouts are sky-subtracted already, so the level is a small correction and a galaxy's wings
    stay in the image. ``"sep"``, the paper's reading (the paper profile's choice): SEP's
    background map (box ``bkg_box`` 64 px, filter 3 boxes, a second pass with the detected
    sources masked). On 128 px images a 64 px box follows a large galaxy's wings: issue 11
    measured a median 17 % (up to 61 %) of an isolated galaxy's flux removed at S/N 50-300, after
    which every fitter underestimates r_e and n; hence the flat default. ``"none"``: no
    subtraction (an image that is background-subtracted already). A given ``segmap`` is used as
    the source mask of "flat" and "sep". The "lm" fitter also fits a sky level per source stamp
    (issue 21): where the flat level was measured far from every source it is a small correction
    held by a prior of the level's standard error; where too few pixels are far from the sources
    (one bright galaxy filling a 128 px image) no level is subtracted, since one measured next to
    the galaxy comes from its wings (+0.3 sigma median), and the stamp's sky is fitted freely.

Noise model (``gain``)
    Both fitters weight pixels by one sigma map (:func:`noise_map`). With ``gain`` given (electrons
    per image unit) it is ``sqrt(sky_rms**2 + max(S, 0) / gain)``, the sources' Poisson variance
    taken from ``S``, the data smoothed around each pixel *without* the pixel and its 8
    neighbours. statmorph's own recipe takes it from the pixel itself (``|image| / gain``): pixels
    that fluctuate low then get more weight, and the model sits ~1/gain below the data wherever the
    source dominates (issue 21: with gain 1 and fluxes 3e4-2e5, r_e and n came out 7 % and 12 %
    low on GalSim galaxies). With ``gain=None`` (the merger challenge images carry no gain) the
    sigma image is the background rms map: the sky-limited approximation, which neglects the
    sources' own Poisson noise. For the faint, sky-dominated galaxies of HSC-like data this is
    close to the truth; for bright cores it overweights the centre a little (all fits get the same
    weighting, so it does not bias one class).

Flag policy (``flag_policy``)
    statmorph's ``flag_sersic`` is 0 (good), 1 (suspect: a parameter at a bound), 2 (bad: the
    Levenberg-Marquardt fit did not converge, too few pixels, nonpositive flux at r_e) and 4
    (catastrophic: nothing measured). Which fits enter the model image:

    - ``"good"``: ``flag_sersic == 0`` only;
    - ``"suspect"`` (default): ``flag_sersic <= 1``, i.e. everything but failed fits;
    - ``"any"``: every fit with finite parameters, failed ones included.

    A fit that raised an exception or has non-finite parameters never enters, nor does a "runaway"
    fit whose profile holds more than ``max_flux_ratio`` (5) times its segment's flux. What the policy did is
    counted in :class:`FitResult` (``n_used``, ``n_excluded``, ``n_failed``, ``n_skipped``) and marked per source
    (``used_in_model``).

Image status
    ``ok`` (at least one fit in the model), ``no_source`` (nothing detected), ``all_fits_failed``
    (sources detected, none usable under the policy), ``bad_input`` (no finite pixel, or a constant
    image: there is no noise to set a threshold from). A non-2-D array raises ``ValueError``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.ndimage as ndi
import sep
from scipy.special import gammaincinv, gammaln

from galmerge.sersic.fitters import FitJob, fit_jobs, make_fitter
from galmerge.sersic.statmorph_fitter import SERSIC_PARAMS, normalised_psf

FLAG_POLICIES = {"good": 0, "suspect": 1, "any": 2}
CUTOUT_MODES = ("crop", "resample")
BACKGROUNDS = ("flat", "sep", "none")
#: The one background default, here and in :class:`galmerge.config.Parameters` (a test checks they agree):
#: a flat sky level keeps the galaxies' wings, where SEP's 64 px boxes removed a median 17 % of an
#: isolated galaxy's flux (issue 11). The paper's reading, ``"sep"``, is the paper profile's choice.
DEFAULT_BACKGROUND = "flat"
#: fit_image's defaults of the options that the fitting stage always records.
FIT_DEFAULTS = {"fitter": "statmorph", "background": DEFAULT_BACKGROUND}
#: Columns of :attr:`FitResult.sources`, in order.
SOURCE_COLUMNS = ("label", "x_centroid", "y_centroid", "area", "flux", "contains_centre",
                  "is_primary", *SERSIC_PARAMS, "sersic_chi2_dof", "sersic_sky", "sersic_n_fixed",
                  "sersic_ln_n_sigma", "flag", "flag_sersic",
                  "used_in_model", "exclusion", "model_flux_ratio", "chi_mean", "chi_rms", "error", "warnings",
                  "time_fitter_s")

#: Defaults of the detection options (SEP's names); any of them can be passed to fit_image.
DETECTION_DEFAULTS = dict(thresh=1.5, minarea=5, deblend_nthresh=32, deblend_cont=0.005,
                          bkg_box=64, bkg_filter=3, mask_sources_in_background=True)

@dataclass
class FitResult:
    """What :func:`fit_image` found in one image. All images are full size, float32.

    Attributes
    ----------
    status : str
        One of the first four of :data:`galmerge.vocab.FIT_STATUSES` (see the module docstring).
    message : str
        Why the status is not ``ok`` (empty when it is).
    sources : pandas.DataFrame
        One row per segmentation label, columns :data:`SOURCE_COLUMNS`: ``label``; SEP centroid
        ``x_centroid, y_centroid`` (pixels, 0-based), ``area`` (pixels), ``flux`` (image units,
        background subtracted); ``contains_centre`` (the segment covers the image centre) and
        ``is_primary`` (the segment at the image centre, else the nearest centroid); the seven
        Sérsic parameters (statmorph's names and units: pixels, radians, surface brightness at
        r_e in image units), ``sersic_chi2_dof``, statmorph's ``flag`` and ``flag_sersic``
        (-1 when statmorph raised, -2 not fitted), ``used_in_model``, ``exclusion`` (why not:
        "flag", "runaway", "failed", "skipped"; empty when used), ``model_flux_ratio`` (the
        profile's total flux over the segment's); ``chi_mean`` and ``chi_rms`` of
        ``(image - background - model) / sigma`` inside the segment; ``error`` (exception text),
        ``warnings`` (the fitter's warnings joined by " | "), ``time_fitter_s`` (wall-clock seconds
        in the fitter for this source: statmorph's call, or the source's share of LM's batch).
    segmap : numpy.ndarray of int32
        The (deblended) segmentation map used for the fits; 0 is background.
    segmap_undeblended : numpy.ndarray of int32 or None
        The same detection without deblending (only with ``keep_undeblended=True``; for Fig 3).
    background : numpy.ndarray
        SEP's background map that was subtracted before detection and fitting.
    sigma : numpy.ndarray
        The per-pixel noise (sigma) image given to statmorph.
    model : numpy.ndarray
        Sum of the PSF-convolved Sérsic profiles of the fits in use (zeros when none).
    residual : numpy.ndarray
        ``image - model``, the paper's residual (the background is not removed from it).
    n_used, n_excluded, n_failed, n_skipped : int
        Fits in the model; fits excluded by ``flag_policy``; fits that raised or gave
        non-finite parameters; sources not fitted because their segment lies outside ``fit_box``
        (``flag_sersic`` -2).
    timing : dict
        Wall-clock seconds: ``time_detect_s`` (background and detection), ``time_fitter_s`` (in the
        fitter, whichever it is), ``time_model_s`` (model, residual, chi), ``time_total_s``.
    """

    status: str
    message: str
    sources: pd.DataFrame
    segmap: np.ndarray
    background: np.ndarray
    sigma: np.ndarray
    model: np.ndarray
    residual: np.ndarray
    segmap_undeblended: np.ndarray | None = None
    n_used: int = 0
    n_excluded: int = 0
    n_failed: int = 0
    n_skipped: int = 0
    timing: dict = field(default_factory=dict)

    @property
    def primary(self) -> pd.Series | None:
        """The primary source's row of :attr:`sources`, or None when nothing was detected."""
        rows = self.sources[self.sources["is_primary"]]
        return rows.iloc[0] if len(rows) else None

def fit_image(image, psf=None, gain=None, segmap=None, mask=None, *, fitter="statmorph",
              flag_policy="suspect", max_flux_ratio=5.0, background=DEFAULT_BACKGROUND, keep_undeblended=False,
              seed=0, fit_box=None, min_fit_area=None, statmorph_mode="sersic",
              statmorph_options=None, lm_options=None, **detection) -> FitResult:
    """Segment one image with SEP and fit a Sérsic profile to every source (statmorph or LM).

    Parameters
    ----------
    image : array_like, 2-D
        The image (any float units, e.g. nanomaggies). Non-finite pixels are masked.
    psf : array_like, 2-D, optional
        The PSF image (normalised here to sum 1). Used by the fit and to convolve the model.
    gain : float, optional
        Electrons per image unit for Poisson weights; None: the sigma image is the background rms
        map (see the module docstring).
    segmap : array_like of int, optional
        A segmentation map to use as is (no detection, no deblending); 0 is background. Its sources
        mask the background estimate; pass ``background="none"`` for an image that is
        background-subtracted already (statmorph's convention for its inputs).
    mask : array_like of bool, optional
        Pixels to ignore (True = bad), passed to SEP and the fitter.
    fitter : {"statmorph", "lm"}
        A name of :data:`galmerge.sersic.fitters.FITTERS`: "statmorph" (default), statmorph per
        source, the paper's fitter; "lm": the batched Levenberg-Marquardt fitter of
        :mod:`galmerge.sersic.lm` (all sources of the image in one vectorised fit, about 10x faster;
        same columns and flag meanings). See *Fitters*.
    flag_policy : {"good", "suspect", "any"}
        Which fits enter the model image (module docstring). Default "suspect".
    max_flux_ratio : float or None
        Leave out "runaway" fits whose Sérsic profile holds more than this many times the flux of
        its segment (default 5): a faint source fitted with a huge r_e and n extrapolates light
        far beyond the data and would paint a broad halo over the whole model image. statmorph
        does not flag these. None disables the check.
    background : {"flat", "sep", "none"} or float
        "flat" (default, :data:`DEFAULT_BACKGROUND`): a flat sky level, the sigma-clipped median of
        the pixels outside every source's segment grown to its extent (see *Background*); "sep":
        subtract SEP's background map (box ``bkg_box``, the paper's reading); "none": the image is
        background-subtracted already; a float: subtract that constant.
    keep_undeblended : bool
        Also keep the detection without deblending in ``segmap_undeblended`` (for figures).
    seed : int
        Seed of numpy's global generator before each statmorph call (statmorph's MID statistics
        use basin hopping on it), so that results are reproducible.
    fit_box : (y0, y1, x0, x1), optional
        Fit only the sources whose segment overlaps this pixel box (half-open bounds); the others
        are kept in ``sources`` unfitted (``flag_sersic`` -2, counted in ``n_skipped``) and stay
        in the residual. None (default) fits every source, as the paper does. Used by the stage
        to skip sources that cannot reach the 128 x 128 crop.
    min_fit_area : int, optional
        Fit only segments of at least this many pixels; smaller ones (mostly faint detections
        whose fits fail, yet the slowest to fit) are kept unfitted like those outside
        ``fit_box``. None (default) fits every detection, as the paper does.
    statmorph_mode : {"sersic", "full"}
        statmorph only: "sersic" (default) measures only the Sérsic fit and its prerequisites
        (same Sérsic parameters and ``flag_sersic`` as "full", 2-3 times faster on small images);
        "full": statmorph's every statistic (Gini, M20, CAS, MID...), as the paper ran it.
    statmorph_options : dict, optional
        statmorph only: extra keyword arguments of ``statmorph.SourceMorphology`` (e.g. ``n_sigma_outlier``).
    lm_options : dict, optional
        lm only: extra keyword arguments of :func:`galmerge.sersic.lm.fit_sources` (``max_iter``, ``dtype``).
    **detection
        Detection options, defaults in :data:`DETECTION_DEFAULTS`: ``thresh`` (x global rms, 1.5),
        ``minarea`` (pixels, 5), ``deblend_nthresh`` (32), ``deblend_cont`` (0.005; 1.0 disables
        deblending), ``bkg_box`` (pixels, 64), ``bkg_filter`` (boxes, 3),
        ``mask_sources_in_background`` (True: second background pass with the sources masked).

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        ``image`` is not 2-D, or ``psf``/``segmap``/``mask`` do not fit it, or an option is unknown.
    """
    return fit_images([dict(image=image, segmap=segmap, mask=mask, seed=seed, fit_box=fit_box)], psf=psf,
                      gain=gain, fitter=fitter, flag_policy=flag_policy, max_flux_ratio=max_flux_ratio,
                      background=background, keep_undeblended=keep_undeblended, min_fit_area=min_fit_area,
                      statmorph_mode=statmorph_mode, statmorph_options=statmorph_options,
                      lm_options=lm_options, **detection)[0]


#: The arguments of :func:`fit_image` that :func:`fit_images` takes per image (the rest are shared).
PER_IMAGE_ARGUMENTS = ("image", "segmap", "mask", "seed", "fit_box")


def fit_images(images, psf=None, gain=None, *, fitter="statmorph", flag_policy="suspect", max_flux_ratio=5.0,
               background=DEFAULT_BACKGROUND, keep_undeblended=False, min_fit_area=None,
               statmorph_mode="sersic", statmorph_options=None, lm_options=None, errors="raise",
               **detection) -> list:
    """:func:`fit_image` of several images, with the fitter's work on all of them in one call.

    Each image is prepared (background, detection, noise map, sources) and finished (flag policy,
    model, residual, chi) on its own exactly as :func:`fit_image` does; the fits of all the images'
    sources are made in one call of the fitter (:func:`galmerge.sersic.fitters.fit_jobs`): the
    "lm" fitter then batches the sources of every image into shared array operations, with the
    same fits as image by image (issue 23: a few sources per image left each iteration's arrays
    small, and their fixed cost dominated); statmorph fits one source at a time either way.

    Parameters
    ----------
    images : sequence of dict
        Per image, ``image`` (required) and optionally ``segmap``, ``mask``, ``seed`` and
        ``fit_box``, as in :func:`fit_image` (:data:`PER_IMAGE_ARGUMENTS`).
    psf, gain
        As in :func:`fit_image`, shared by all the images.
    errors : {"raise", "return"}
        "raise" (default): an image's error (e.g. a non-2-D array) raises; "return": the
        exception is returned in that image's place and the other images are fitted. Should the
        one fitter call raise, each image's sources are fitted again on their own, so that one
        image's error is not the others'.
    fitter, flag_policy, max_flux_ratio, background, keep_undeblended, min_fit_area, statmorph_mode, \
statmorph_options, lm_options, **detection
        As in :func:`fit_image`, shared by all the images.

    Returns
    -------
    list
        One :class:`FitResult` per image, in order (or, with ``errors="return"``, the exception
        an image raised). Its ``timing`` holds the image's own seconds and its share of the
        fitter call, in proportion to its sources' ``time_fitter_s``.
    """
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    opts = _checked_options(detection, background, flag_policy)
    engine = make_fitter(fitter, statmorph_mode=statmorph_mode, statmorph_options=statmorph_options,
                         lm_options=lm_options)
    psf = normalised_psf(psf)
    prepared = [_guarded(errors, _prepare, item, psf, gain, background, opts, keep_undeblended, min_fit_area)
                for item in images]
    pending = [p for p in prepared if isinstance(p, _Prepared)]
    fits, seconds = _fit_prepared(engine, pending, errors)
    finished = iter(_guarded(errors, _finish, p, f, t, engine, psf, flag_policy, max_flux_ratio)
                    for p, f, t in zip(pending, fits, seconds))
    return [next(finished) if isinstance(p, _Prepared) else p for p in prepared]


def _guarded(errors, function, *args):
    """``function(*args)``, or with ``errors="return"`` the exception it raised."""
    if errors == "raise":
        return function(*args)
    try:
        return function(*args)
    except Exception as err:  # an image's error is its own: the stage records it as the image's status
        return err


@dataclass
class _Prepared:
    """An image ready for its fits: what :func:`_prepare` computed and the fitter's job."""

    image: np.ndarray
    clean: np.ndarray
    bkg_map: np.ndarray
    data: np.ndarray
    segmap: np.ndarray
    undeblended: np.ndarray | None
    noise: np.ndarray
    sources: pd.DataFrame
    job: FitJob
    skipped: list          # per source: None when fitted, else why not
    t_start: float
    t_detect: float
    t_prepare: float


def _prepare(item: dict, psf, gain, background, opts, keep_undeblended, min_fit_area):
    """Background, detection, noise map and sources of one image: a :class:`_Prepared`, or the
    :class:`FitResult` of an image with nothing to fit (bad input, no source)."""
    unknown = set(item) - set(PER_IMAGE_ARGUMENTS)
    if unknown or "image" not in item:
        raise ValueError(f"an image of fit_images takes {PER_IMAGE_ARGUMENTS} ('image' required), got {sorted(item)}")
    t_start = time.perf_counter()
    image, bad = _checked_image(item["image"], item.get("mask"))
    segmap = _checked_segmap(item.get("segmap"), image.shape)
    clean = np.where(bad, 0.0, image)
    reason = _bad_input_reason(image, bad)
    if reason:
        return _empty_result(image, clean, "bad_input", reason, t_start)
    bkg_map, rms_map, global_rms, sky_error = _background(clean, bad, background, opts, segmap)
    if not np.isfinite(global_rms) or global_rms <= 0:
        return _empty_result(image, clean, "bad_input", "background rms is zero: a noiseless image",
                             t_start, bkg_map)
    data = clean - bkg_map
    segmap, sep_table, undeblended = _segment(data, bad, global_rms, opts, segmap, keep_undeblended)
    t_detect = time.perf_counter() - t_start
    noise = noise_map(data, rms_map, gain)
    sources = _source_table(data, segmap, sep_table)
    if sources.empty:
        result = _empty_result(image, clean, "no_source", "no source detected above the threshold",
                               t_start, bkg_map, segmap)
        result.segmap_undeblended = undeblended
        result.sigma = _as32(rms_map)
        return result
    todo, skipped = _selected(segmap, sources, item.get("fit_box"), min_fit_area)
    job = FitJob(data=data, segmap=segmap, labels=sources["label"].to_numpy()[todo],
                 x_centroids=sources["x_centroid"].to_numpy()[todo],
                 y_centroids=sources["y_centroid"].to_numpy()[todo], fluxes=sources["flux"].to_numpy()[todo],
                 bad=bad, sigma=noise, gain=gain, psf=psf, seed=int(item.get("seed", 0)), sky_error=sky_error)
    return _Prepared(image, clean, bkg_map, data, segmap, undeblended, noise, sources, job, skipped, t_start,
                     t_detect, time.perf_counter() - t_start)


def _fit_prepared(engine, pending: list, errors: str) -> tuple[list, list]:
    """The fitter's dicts for every prepared image (one call; image by image should it raise) and each
    image's seconds in the fitter (the call's wall time shared by the sources' ``time_fitter_s``)."""
    jobs = [p.job for p in pending]
    t0 = time.perf_counter()
    try:
        fits = fit_jobs(engine, jobs)
    except Exception:
        if errors == "raise" or len(jobs) == 1:
            raise
        fits = [_guarded(errors, lambda job: fit_jobs(engine, [job])[0], job) for job in jobs]
    wall = time.perf_counter() - t0
    weight = np.array([0.0 if isinstance(f, Exception) else sum(float(d.get("time_fitter_s", 0.0)) for d in f)
                       for f in fits])
    share = weight / weight.sum() if weight.sum() > 0 else np.full(len(fits), 1.0 / max(len(fits), 1))
    return fits, list(wall * share)


def _finish(prepared: _Prepared, fits, t_fitter: float, engine, psf, flag_policy, max_flux_ratio) -> FitResult:
    """Flag policy, model, residual and chi of one prepared image from its fitter's dicts."""
    if isinstance(fits, Exception):
        raise fits
    p = prepared
    t0 = time.perf_counter()
    fitted = iter(fits)
    rows = [next(fitted) if why is None else _skipped(why) for why in p.skipped]
    sources = p.sources
    _copy_fit_columns(sources, rows)
    sources = _apply_policy(sources, flag_policy, max_flux_ratio)
    used = sources["used_in_model"].to_numpy()
    model = engine.render([f for f, u in zip(rows, used) if u], p.image.shape, psf)
    residual = p.clean - model
    with np.errstate(invalid="ignore", divide="ignore"):
        chi = np.where(p.noise > 0, (p.data - model) / p.noise, np.nan)
    _add_chi(sources, chi, p.segmap)
    t_model = time.perf_counter() - t0
    timing = dict(time_detect_s=p.t_detect, time_fitter_s=t_fitter, time_model_s=t_model,
                  time_total_s=p.t_prepare + t_fitter + t_model)
    return _fitted_result(sources, flag_policy, p.segmap, p.undeblended, p.bkg_map, p.noise, model, residual,
                          timing)


#: Per-source columns only the "lm" fitter fills (:func:`galmerge.sersic.lm.fit_sources`), and their
#: value for other fitters and unfitted sources.
LM_ONLY_COLUMNS = {"sersic_sky": np.nan, "sersic_n_fixed": False, "sersic_ln_n_sigma": np.nan}


def _copy_fit_columns(sources: pd.DataFrame, fits: list[dict]) -> None:
    """The fitter's per-source values into ``sources`` (in place); LM-only columns get their fill value."""
    for column in SOURCE_COLUMNS:
        if column in LM_ONLY_COLUMNS:
            sources[column] = [f.get(column, LM_ONLY_COLUMNS[column]) for f in fits]
        elif column in fits[0]:
            sources[column] = [f[column] for f in fits]


#: Gaussian sigma (px) of the smoothing that gives the sources' Poisson variance (:func:`noise_map`).
POISSON_SMOOTH_PX = 1.5


def noise_map(data: np.ndarray, rms_map: np.ndarray, gain: float | None) -> np.ndarray:
    """Per-pixel sigma (image units): the sky rms, plus the sources' Poisson term when ``gain`` is known.

    Parameters
    ----------
    data : numpy.ndarray, 2-D
        Background-subtracted image (image units; bad pixels 0).
    rms_map : numpy.ndarray, 2-D
        Sky noise rms (image units).
    gain : float or None
        Electrons per image unit; None: ``rms_map`` alone (sky-limited).

    Returns
    -------
    numpy.ndarray
        ``sqrt(rms_map**2 + max(S, 0) / gain)``, ``S`` the data smoothed by a Gaussian of
        :data:`POISSON_SMOOTH_PX` px (about the PSF's half width at half maximum on HSC images)
        whose central 3 x 3 px are left out: a pixel's weight then does not depend on its own
        noise, nor on noise correlated with it over ~1 px, so the fit's weighted residuals have
        mean zero at the truth (weights from ``|data|`` do not: issue 21). The smoothed light
        underestimates a sharp core's variance a little, which costs precision, not bias.
    """
    if gain is None:
        return rms_map
    radius = int(np.ceil(3 * POISSON_SMOOTH_PX))
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    kernel = np.exp(-(x * x + y * y) / (2 * POISSON_SMOOTH_PX ** 2))
    kernel[radius - 1:radius + 2, radius - 1:radius + 2] = 0.0
    smooth = ndi.convolve(data, kernel / kernel.sum(), mode="nearest")
    return np.sqrt(rms_map ** 2 + np.clip(smooth, 0.0, None) / gain)


def _checked_options(detection: dict, background, flag_policy: str) -> dict:
    """The detection options with their defaults; an unknown option or value is a ValueError."""
    unknown = set(detection) - set(DETECTION_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown fit_image option(s) {sorted(unknown)}; detection options are "
                         f"{sorted(DETECTION_DEFAULTS)}")
    if background == "auto":  # recorded in the stage.json of runs made before issue 19
        raise ValueError("background 'auto' was removed: it meant 'flat' (the default now) when detecting and "
                         "'none' with a given segmap; pass one of those")
    if not (background in BACKGROUNDS or isinstance(background, (int, float))):
        raise ValueError(f"background must be one of {BACKGROUNDS} or a number, got {background!r}")
    if flag_policy not in FLAG_POLICIES:
        raise ValueError(f"flag_policy must be one of {sorted(FLAG_POLICIES)}, got {flag_policy!r}")
    return {**DETECTION_DEFAULTS, **detection}


def _checked_image(image, mask) -> tuple[np.ndarray, np.ndarray]:
    """The image as contiguous float64 and its bad pixels (non-finite, or True in ``mask``)."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"fit_image needs a 2-D image, got an array of shape {image.shape}")
    image = np.ascontiguousarray(image, dtype=np.float64)
    bad = ~np.isfinite(image)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != image.shape:
            raise ValueError(f"mask shape {mask.shape} differs from image shape {image.shape}")
        bad |= mask
    return image, bad


def _checked_segmap(segmap, shape: tuple[int, int]):
    if segmap is None:
        return None
    segmap = np.asarray(segmap)
    if segmap.shape != shape:
        raise ValueError(f"segmap shape {segmap.shape} differs from image shape {shape}")
    return segmap


def _segment(data, bad, global_rms, opts, segmap, keep_undeblended):
    """(segmap int32, SEP's object table or None, undeblended segmap or None): SEP's detection, or the given map."""
    if segmap is not None:
        return np.ascontiguousarray(segmap, dtype=np.int32), None, None
    segmap, sep_table = _detect(data, bad, global_rms, opts)
    undeblended = _detect(data, bad, global_rms, {**opts, "deblend_cont": 1.0})[0] if keep_undeblended else None
    return segmap, sep_table, undeblended


def _selected(segmap, sources: pd.DataFrame, fit_box, min_fit_area) -> tuple[np.ndarray, list]:
    """Which rows of ``sources`` the fitter fits (inside ``fit_box``, at least ``min_fit_area`` pixels),
    and per row None (fitted) or why it is not (a :func:`_skipped` row then stands for its fit)."""
    inside = _inside_box(segmap, sources["label"].to_numpy(), fit_box)
    large = sources["area"].to_numpy() >= (min_fit_area or 0)
    skipped = [None if fit and big else (f"segment outside fit_box {tuple(fit_box)}" if not fit
                                         else f"area < min_fit_area {min_fit_area}")
               for fit, big in zip(inside, large)]
    return inside & large, skipped


def _fitted_result(sources, flag_policy, segmap, undeblended, bkg_map, noise, model, residual, timing) -> FitResult:
    """The :class:`FitResult` of an image whose sources were fitted: counts and status from ``sources``."""
    n_used = int(sources["used_in_model"].sum())
    n_failed = int(((sources["flag_sersic"] == -1) | (sources["flag_sersic"] >= 4)).sum())
    n_skipped = int((sources["flag_sersic"] == SKIPPED).sum())
    status, message = ("ok", "") if n_used else (
        "all_fits_failed", f"none of {len(sources)} fits is usable under flag_policy={flag_policy!r}")
    return FitResult(
        status=status, message=message, sources=sources[list(SOURCE_COLUMNS)], segmap=segmap,
        segmap_undeblended=undeblended, background=_as32(bkg_map), sigma=_as32(noise),
        model=_as32(model), residual=_as32(residual), n_used=n_used,
        n_excluded=len(sources) - n_used - n_failed - n_skipped, n_failed=n_failed, n_skipped=n_skipped,
        timing=timing)


def cutout(image: np.ndarray, size: int = 128, mode: str = "crop") -> np.ndarray:
    """Bring a full-size image to ``size x size`` pixels (float32).

    Parameters
    ----------
    image : numpy.ndarray, 2-D, square or not
    size : int
        Output side in pixels (the CNN input, 128).
    mode : {"crop", "resample"}
        "crop": the central ``size x size`` pixels (identity for a ``size`` image; the centre pixel
        is kept at the centre; the image must be at least ``size`` on each side).
        "resample": the whole field rebinned by exact pixel-area overlap (each input pixel's flux is
        shared among the output pixels it overlaps), so the total flux is conserved exactly and an
        integer factor reduces to a block sum. Units stay flux per pixel (of the new, larger pixel).
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"cutout needs a 2-D image, got shape {image.shape}")
    if mode == "crop":
        ny, nx = image.shape
        if ny < size or nx < size:
            raise ValueError(f"cannot crop {size}x{size} from an image of shape {image.shape}; "
                             "use cutout_mode='resample'")
        y0, x0 = (ny - size) // 2, (nx - size) // 2
        return np.ascontiguousarray(image[y0:y0 + size, x0:x0 + size], dtype=np.float32)
    if mode == "resample":
        rows = _overlap_matrix(image.shape[0], size)
        cols = _overlap_matrix(image.shape[1], size)
        return (rows @ image.astype(np.float64) @ cols.T).astype(np.float32)
    raise ValueError(f"cutout mode must be one of {CUTOUT_MODES}, got {mode!r}")


def _overlap_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) fractions of each input pixel that fall into each output pixel (columns sum to 1)."""
    edges_in = np.arange(n_in + 1) / n_in
    edges_out = np.arange(n_out + 1) / n_out
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    return np.clip(hi - lo, 0.0, None) * n_in


# --------------------------------------------------------------------------- helpers


def _as32(array) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)


def _bad_input_reason(image: np.ndarray, bad: np.ndarray) -> str:
    good = image[~bad]
    if good.size == 0:
        return "no finite, unmasked pixel"
    if np.all(good == good[0]):
        return f"constant image (every pixel {good[0]:g})"
    return ""


def _empty_result(image, clean, status, message, t_start, bkg_map=None, segmap=None) -> FitResult:
    zeros = np.zeros(image.shape, dtype=np.float32)
    sources = pd.DataFrame({c: pd.Series(dtype=_SOURCE_DTYPES.get(c, "float64")) for c in SOURCE_COLUMNS})
    return FitResult(
        status=status, message=message, sources=sources,
        segmap=np.zeros(image.shape, np.int32) if segmap is None else segmap,
        background=zeros if bkg_map is None else _as32(bkg_map), sigma=zeros, model=zeros,
        residual=_as32(clean), timing=dict(time_detect_s=0.0, time_fitter_s=0.0, time_model_s=0.0,
                                           time_total_s=time.perf_counter() - t_start))


_SOURCE_DTYPES = {"label": "int32", "area": "int64", "contains_centre": "bool", "is_primary": "bool",
                  "sersic_n_fixed": "bool",
                  "flag": "int64", "flag_sersic": "int64", "used_in_model": "bool", "error": "object",
                  "exclusion": "object",
                  "warnings": "object"}


def _background(clean, bad, how, opts, segmap):
    """Background map, rms map, global rms (image units) and the level's standard error.

    The error (image units) is that of a flat level measured far from every source, None for every
    other background (the "lm" fitter then fits each stamp's sky freely; see *Background*).
    """
    box, filt = int(opts["bkg_box"]), int(opts["bkg_filter"])
    bkg = sep.Background(clean, mask=bad, bw=box, bh=box, fw=filt, fh=filt)
    if how == "flat":
        return _flat_background(clean, bad, bkg, opts, segmap)
    if how == "sep" and opts["mask_sources_in_background"]:
        seg = segmap if segmap is not None else _detect(clean - bkg.back(), bad, bkg.globalrms, opts)[0]
        # grow the segments so that faint wings stay out of the background boxes
        sources = ndi.binary_dilation(seg > 0, iterations=3)
        if (~(sources | bad)).sum() > 0.2 * clean.size:
            bkg = sep.Background(clean, mask=bad | sources, bw=box, bh=box, fw=filt, fh=filt)
    rms_map = bkg.rms()
    if how == "sep":
        back = bkg.back()
    elif how == "none":
        back = np.zeros_like(clean)
    else:
        back = np.full_like(clean, float(how))
    return back, rms_map, float(bkg.globalrms), None


#: "flat" background: each segment is grown by this many times its equivalent radius sqrt(area/pi)
#: (at least FLAT_MIN_GROW px) before the sky pixels are chosen.
FLAT_GROW = 2.0
FLAT_MIN_GROW = 4.0


def _flat_background(clean, bad, bkg, opts, segmap):
    """A flat sky level and rms from the pixels far from every source (``background="flat"``).

    SEP's box background (``bkg_box`` 64 px, the paper's) follows a large galaxy's wings: on
    isolated galaxies at S/N 50-300 it removed a median 17 % (up to 61 %) of the flux (issue 11),
    after which every fitter comes out low in r_e and n. HSC coadds, and the merger challenge's
    cutouts made from them, are already sky-subtracted, and a 128-320 px cutout (27-54 arcsec) is
    far smaller than the scales of the coadd's residual sky, so one level per image is the right
    model. The sources are detected once over SEP's background (as before), each segment is grown
    by ``FLAT_GROW`` times its equivalent radius, and the sky level and rms are the 3-sigma-clipped
    median and standard deviation of the pixels left, and its standard error that of a median,
    ``1.2533 rms / sqrt(N)``. Fewer than 5 % of the pixels left (one bright galaxy filling the
    image): the pixels just outside the segments give the rms, but their level would be the
    sources' wings (issue 21: +0.3 sigma median, up to +0.9, on 128 px images of galaxies of
    3e4-2e5 e-; statmorph's r_e and n then came out 1.6 % and 3.5 % low), so the level is 0 (the
    image is taken to be sky-subtracted already, as HSC coadds are) and its error None; still too
    few pixels: level 0 and SEP's rms.
    """
    seg = segmap if segmap is not None else _detect(clean - bkg.back(), bad, bkg.globalrms, opts)[0]
    good = ~bad
    sources = seg > 0
    if sources.any():
        labels = np.arange(1, int(seg.max()) + 1)
        area = ndi.sum_labels(np.ones(seg.shape), seg, labels)
        grow = np.maximum(FLAT_GROW * np.sqrt(area / np.pi), FLAT_MIN_GROW)
        distance, (iy, ix) = ndi.distance_transform_edt(~sources, return_indices=True)
        nearest = seg[iy, ix]
        grown = distance <= np.where(nearest > 0, grow[np.maximum(nearest, 1) - 1], 0.0)
        far = (~(grown | bad)).sum() >= 0.05 * clean.size
        good = ~(grown | bad) if far else ~(sources | bad)
        if good.sum() < 0.05 * clean.size:
            return np.zeros_like(clean), bkg.rms(), float(bkg.globalrms), None
    else:
        far = True
    from astropy.stats import sigma_clipped_stats

    _, level, rms = sigma_clipped_stats(clean[good], sigma=3.0, maxiters=10)
    if not np.isfinite(rms) or rms <= 0:
        return np.zeros_like(clean), bkg.rms(), float(bkg.globalrms), None
    if not far:  # pixels just outside the segments measure the sources' wings, not the sky
        return np.zeros_like(clean), np.full_like(clean, float(rms)), float(rms), None
    error = 1.2533 * float(rms) / np.sqrt(good.sum())
    return np.full_like(clean, float(level)), np.full_like(clean, float(rms)), float(rms), error


def _detect(data, bad, global_rms, opts):
    """SEP detection at ``thresh x global rms``: (segmap int32, table of objects)."""
    if float(global_rms) <= 0:
        return np.zeros(data.shape, np.int32), None
    try:
        objects, segmap = sep.extract(
            np.ascontiguousarray(data), float(opts["thresh"]), err=float(global_rms), mask=bad,
            minarea=int(opts["minarea"]), deblend_nthresh=int(opts["deblend_nthresh"]),
            deblend_cont=float(opts["deblend_cont"]), segmentation_map=True)
    except Exception as err:  # sep raises on pathological inputs (e.g. too many pixels active)
        raise RuntimeError(f"SEP detection failed: {err}") from err
    return segmap.astype(np.int32), objects


def _source_table(data, segmap, sep_table) -> pd.DataFrame:
    """One row per label: centroid, area, flux, primary."""
    labels = np.unique(segmap)
    labels = labels[labels > 0]
    if labels.size == 0:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in ("label",)})
    positive = np.clip(data, 0.0, None)
    centres = ndi.center_of_mass(positive, segmap, labels)
    area = ndi.sum_labels(np.ones_like(data), segmap, labels)
    flux = ndi.sum_labels(data, segmap, labels)
    table = pd.DataFrame({
        "label": labels.astype(np.int32),
        "x_centroid": [c[1] for c in centres],
        "y_centroid": [c[0] for c in centres],
        "area": area.astype(np.int64),
        "flux": flux,
    })
    if sep_table is not None:  # SEP's own windowed centroids for the labels it produced
        index = table["label"].to_numpy() - 1
        table["x_centroid"] = sep_table["x"][index]
        table["y_centroid"] = sep_table["y"][index]
    ny, nx = segmap.shape
    yc, xc = (ny - 1) / 2.0, (nx - 1) / 2.0
    centre_label = segmap[int(round(yc)), int(round(xc))]
    table["contains_centre"] = table["label"] == centre_label
    if centre_label > 0:
        table["is_primary"] = table["contains_centre"]
    else:
        distance = np.hypot(table["x_centroid"] - xc, table["y_centroid"] - yc)
        table["is_primary"] = np.arange(len(table)) == int(np.argmin(distance.to_numpy()))
    return table


#: ``flag_sersic`` of a source that was not fitted because it lies outside ``fit_box``.
SKIPPED = -2


def _inside_box(segmap: np.ndarray, labels: np.ndarray, box) -> np.ndarray:
    """Whether each label's segment overlaps ``box`` = (y0, y1, x0, x1); all True without a box."""
    if box is None:
        return np.ones(len(labels), bool)
    y0, y1, x0, x1 = box
    slices = ndi.find_objects(segmap)
    inside = []
    for label in labels:
        sy, sx = slices[int(label) - 1]
        inside.append(sy.start < y1 and sy.stop > y0 and sx.start < x1 and sx.stop > x0)
    return np.array(inside, bool)


def _skipped(why: str) -> dict:
    out = {p: np.nan for p in (*SERSIC_PARAMS, "sersic_chi2_dof")}
    out.update(flag=SKIPPED, flag_sersic=SKIPPED, error=f"not fitted: {why}",
               warnings="", time_fitter_s=0.0)
    return out


def sersic_total_flux(amplitude, r_eff, n, ellip) -> np.ndarray:
    """Total flux of astropy's Sersic2D (image units x pixels):
    ``2 pi (1 - ellip) n r_e**2 I_e exp(b_n) b_n**(-2n) Gamma(2n)``, with ``b_n`` exact
    (``gammaincinv(2n, 0.5)``, as astropy uses). Computed in logarithms; NaN where undefined."""
    amplitude, r_eff, n, ellip = (np.asarray(v, dtype=float) for v in (amplitude, r_eff, n, ellip))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        b = gammaincinv(2 * n, 0.5)
        log_flux = (np.log(2 * np.pi * (1 - ellip) * n * r_eff ** 2 * amplitude) + b
                    - 2 * n * np.log(b) + gammaln(2 * n))
        return np.exp(log_flux)


def _apply_policy(sources: pd.DataFrame, flag_policy: str, max_flux_ratio) -> pd.DataFrame:
    """Mark ``used_in_model`` and why a source is left out (``exclusion``)."""
    flag = sources["flag_sersic"]
    sources["flag_sersic"] = np.where(flag >= 4, 4, flag)
    flag = sources["flag_sersic"]
    ratio = sersic_total_flux(sources["sersic_amplitude"], sources["sersic_rhalf"], sources["sersic_n"],
                              sources["sersic_ellip"]) / sources["flux"].where(sources["flux"] > 0)
    sources["model_flux_ratio"] = ratio
    reason = np.full(len(sources), "", dtype=object)
    runaway = ~(ratio <= max_flux_ratio) if max_flux_ratio is not None else np.zeros(len(sources), bool)
    reason[np.asarray(runaway)] = "runaway"
    reason[np.asarray(flag > FLAG_POLICIES[flag_policy])] = "flag"
    reason[np.asarray((flag == -1) | (flag >= 4))] = "failed"  # statmorph raised or measured nothing
    reason[np.asarray(flag == SKIPPED)] = "skipped"
    sources["exclusion"] = reason
    sources["used_in_model"] = reason == ""
    return sources


def _add_chi(sources: pd.DataFrame, chi: np.ndarray, segmap: np.ndarray) -> None:
    """Mean and rms of the chi image inside each segment (finite pixels only)."""
    labels = sources["label"].to_numpy()
    finite = np.isfinite(chi)
    seg = np.where(finite, segmap, 0)
    chi0 = np.where(finite, chi, 0.0)
    count = ndi.sum_labels(np.ones_like(chi0), seg, labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        sources["chi_mean"] = ndi.sum_labels(chi0, seg, labels) / count
        sources["chi_rms"] = np.sqrt(ndi.sum_labels(chi0 ** 2, seg, labels) / count)
