"""The paper's Sérsic fitter: statmorph (Rodriguez-Gomez et al. 2019), one source at a time.

:class:`StatmorphFitter` implements the fitter interface of :mod:`galmerge.sersic.fitters`: each
segment of the image is fitted by ``statmorph.SourceMorphology`` (astropy's ``Sersic2D`` evaluated at
pixel centres and convolved with the PSF, Levenberg-Marquardt through astropy's fitter) and the model
image is rebuilt with ``Sersic2D`` and convolved once with the PSF (:func:`sersic_model_image`).

Noise model: statmorph always gets the sigma map of :func:`galmerge.sersic.fit.fit_image` as its weight
map (:func:`galmerge.sersic.fit.noise_map`: sky-limited without a gain, with the sources' Poisson term
from the smoothed data with one), never its own recipe ``sqrt(|image| / gain + sky_sigma**2)``: weights
from the pixel's own value bias the fit low wherever the source dominates (issue 21).
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import statmorph
from astropy.modeling.models import Sersic2D
from scipy.signal import fftconvolve

if TYPE_CHECKING:
    from galmerge.sersic.fitters import FitJob

#: statmorph's names of the seven Sérsic parameters (pixels, radians, image units); every fitter
#: fills these columns.
SERSIC_PARAMS = ("sersic_amplitude", "sersic_rhalf", "sersic_n", "sersic_xc", "sersic_yc",
                 "sersic_ellip", "sersic_theta")
#: statmorph_mode values: "sersic" measures only the Sérsic fit, "full" every statistic.
STATMORPH_MODES = ("sersic", "full")


class StatmorphFitter:
    """statmorph per source; the model image is ``Sersic2D`` at pixel centres, convolved with the PSF.

    Parameters
    ----------
    mode : {"sersic", "full"}
        "sersic" (default): statmorph measures only the Sérsic fit and its prerequisites (the same
        Sérsic parameters and ``flag_sersic`` as "full", 2-3 times faster on small images);
        "full": statmorph's every statistic (Gini, M20, CAS, MID...), as the paper ran it.
    options : dict, optional
        Extra keyword arguments of ``statmorph.SourceMorphology`` (e.g. ``n_sigma_outlier``).

    Raises
    ------
    ValueError
        An unknown ``mode``.
    """

    name = "statmorph"
    #: fit_image's keywords this fitter takes, and the constructor argument each becomes.
    FIT_IMAGE_OPTIONS = {"statmorph_mode": "mode", "statmorph_options": "options"}

    def __init__(self, mode: str = "sersic", options: dict | None = None):
        self.morphology = morphology_class(mode)
        self.options = dict(options or {})

    def fit(self, job: FitJob) -> list[dict]:
        """One statmorph fit per label of ``job`` (see :meth:`galmerge.sersic.fitters.SersicFitter.fit`)."""
        # the weight map, not the gain: statmorph's own weights would come from |image| (issue 21)
        return [fit_one_source(self.morphology, job.data, job.segmap, int(label), job.bad, job.sigma, None,
                               job.psf, job.seed, self.options)
                for label in job.labels]

    def render(self, fits: list[dict], shape: tuple[int, int], psf) -> np.ndarray:
        """The PSF-convolved sum of the profiles of ``fits`` (:func:`sersic_model_image`)."""
        return sersic_model_image(pd.DataFrame(fits, columns=list(SERSIC_PARAMS)), shape, psf)


_SERSIC_CLASSES: dict = {}


def morphology_class(mode: str):
    """statmorph's SourceMorphology ("full"), or a subclass that measures only the Sérsic fit ("sersic").

    statmorph computes every statistic in its constructor; the Sérsic fit needs only some of them
    (its initial guesses: asymmetry centre, concentration, elliptical half-light radius, asymmetry
    ellipticity and orientation). The "sersic" subclass evaluates just the Sérsic quantities,
    which pull in those prerequisites lazily, and skips the rest (the MID multimode basin hopping
    dominates small images). The Sérsic parameters and ``flag_sersic`` are the same as in "full"
    mode; ``flag`` then reflects only the statistics that were computed.
    """
    if mode == "full":
        return statmorph.SourceMorphology
    if mode != "sersic":
        raise ValueError(f"statmorph_mode must be one of {STATMORPH_MODES}, got {mode!r}")
    base = statmorph.SourceMorphology
    if base not in _SERSIC_CLASSES:
        class SersicOnlyMorphology(base):
            def _calculate_morphology(self):
                for quantity in (*SERSIC_PARAMS, "sersic_chi2_dof"):
                    _ = self[quantity]

        _SERSIC_CLASSES[base] = SersicOnlyMorphology
    return _SERSIC_CLASSES[base]


def fit_one_source(morphology, data, segmap, label, bad, weightmap, gain, psf, seed, options) -> dict:
    """statmorph on one label; never raises: errors and warnings are recorded.

    Returns the fitter interface's per-source dict; ``time_fitter_s`` is this call's wall-clock
    seconds. numpy's global generator is seeded with ``seed`` first (statmorph's MID statistics use
    basin hopping on it), so that results are reproducible.
    """
    out = {p: np.nan for p in SERSIC_PARAMS}
    out.update(sersic_chi2_dof=np.nan, flag=-1, flag_sersic=-1, error="", warnings="", time_fitter_s=0.0)
    t0 = time.perf_counter()
    np.random.seed(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            morph = morphology(data, segmap, label, mask=bad, weightmap=weightmap, gain=gain, psf=psf, **options)
            for p in SERSIC_PARAMS:
                out[p] = float(morph[p])
            out["sersic_chi2_dof"] = float(morph["sersic_chi2_dof"])
            out["flag"], out["flag_sersic"] = int(morph.flag), int(morph.flag_sersic)
            if out["flag_sersic"] >= 4 or not np.all(np.isfinite([out[p] for p in SERSIC_PARAMS])):
                # statmorph fills -99 when it aborts: keep NaN instead, so no statistic uses them
                out["error"] = "statmorph measured nothing (flag 4 or non-finite parameters)"
                out["flag_sersic"] = max(out["flag_sersic"], 4)
                for p in (*SERSIC_PARAMS, "sersic_chi2_dof"):
                    out[p] = np.nan
        except Exception as err:  # any statmorph failure is recorded, never fatal
            out["error"] = f"{type(err).__name__}: {err}"
            out["flag"], out["flag_sersic"] = -1, -1
    out["warnings"] = " | ".join(dict.fromkeys(str(w.message) for w in caught))
    out["time_fitter_s"] = time.perf_counter() - t0
    return out


def sersic_model_image(sources: pd.DataFrame, shape: tuple[int, int], psf=None) -> np.ndarray:
    """Sum of the Sérsic profiles in ``sources`` (statmorph's column names) on a full frame.

    Each profile is astropy's ``Sersic2D`` evaluated at pixel centres (as statmorph fits it);
    the sum is convolved once with the PSF (``fftconvolve``, mode "same", as statmorph's
    ``ConvolvedSersic2D``), which equals convolving each profile because convolution is linear.
    ``psf`` is normalised to sum 1 here.
    """
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    model = np.zeros(shape, dtype=np.float64)
    for row in sources.itertuples(index=False):
        with np.errstate(over="ignore"):  # tiny n: (r/r_e)**(1/n) overflows to inf, exp(-inf) = 0
            model += Sersic2D(amplitude=row.sersic_amplitude, r_eff=row.sersic_rhalf, n=row.sersic_n,
                              x_0=row.sersic_xc, y_0=row.sersic_yc, ellip=row.sersic_ellip,
                              theta=row.sersic_theta)(x, y)
    if psf is not None and len(sources):
        model = fftconvolve(model, normalised_psf(psf), mode="same")
    return model


def normalised_psf(psf):
    """``psf`` as float64 divided by its sum, or None; a non-finite or non-positive PSF is an error."""
    if psf is None:
        return None
    psf = np.asarray(psf, dtype=np.float64)
    if psf.ndim != 2 or not np.all(np.isfinite(psf)) or psf.sum() <= 0:
        raise ValueError(f"psf must be a finite 2-D array with a positive sum, got shape {psf.shape}")
    return psf / psf.sum()
