"""One interface for the Sérsic fitters: fit the sources of a segmented image, render the model image.

:func:`galmerge.sersic.fit.fit_image` does everything that does not depend on the fitter (background,
detection, source table, flag policy, residual, chi) and hands the fitter a :class:`FitJob`: the
background-subtracted image, its segmentation, the labels to fit with their SEP centroids and segment
fluxes, the bad-pixel mask, the noise map, the gain, the PSF and a seed. A fitter returns one dict per
label and renders the model image from the fits that enter it.

Fitters are chosen by name, once, through :data:`FITTERS` (:func:`make_fitter`):

``"statmorph"``
    :class:`galmerge.sersic.statmorph_fitter.StatmorphFitter`, the paper's: statmorph per source.
``"lm"``
    :class:`galmerge.sersic.lm_fitter.LMFitter`: the batched Levenberg-Marquardt fit of
    :mod:`galmerge.sersic.lm`, about ten times faster per image.

A new fitter is a class with a ``name``, a ``FIT_IMAGE_OPTIONS`` mapping (which keywords of
``fit_image`` it takes, and under which constructor argument), and the two methods of
:class:`SersicFitter`, added to :data:`FITTERS`. A fitter may also have ``fit_many(jobs)``, the fits
of several images' jobs in one call (:func:`fit_jobs`; :func:`galmerge.sersic.fit.fit_images` uses it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from galmerge.sersic.lm_fitter import LMFitter
from galmerge.sersic.statmorph_fitter import SERSIC_PARAMS, StatmorphFitter

#: Keys of the dict a fitter returns per source (it may add private ones): the seven Sérsic parameters
#: (statmorph's names: surface brightness at r_e in image units, r_e and centre in pixels, ellipticity
#: 1 - b/a, position angle in radians from +x), the reduced chi^2, statmorph's ``flag`` and
#: ``flag_sersic`` (0 good, 1 suspect, 2 bad, 4 nothing measured, -1 the fitter raised), ``error``,
#: ``warnings`` and ``time_fitter_s`` (wall-clock seconds spent on this source in the fitter).
FIT_KEYS = (*SERSIC_PARAMS, "sersic_chi2_dof", "flag", "flag_sersic", "error", "warnings", "time_fitter_s")


@dataclass(frozen=True)
class FitJob:
    """What a fitter fits: the sources of one segmented, background-subtracted image.

    Attributes
    ----------
    data : numpy.ndarray, 2-D float64
        The image minus its background (image units); bad pixels hold 0.
    segmap : numpy.ndarray, 2-D int32
        Segmentation map; 0 is background.
    labels : numpy.ndarray of int
        The labels to fit, in the order the results come back.
    x_centroids, y_centroids : numpy.ndarray of float
        SEP centroid of each label (pixels, 0-based).
    fluxes : numpy.ndarray of float
        Flux of each label's segment (image units).
    bad : numpy.ndarray of bool
        Pixels to ignore.
    sigma : numpy.ndarray, 2-D
        Per-pixel noise (image units): the sky rms map, plus the sources' Poisson term when the gain is known.
    gain : float or None
        Electrons per image unit, None when unknown.
    psf : numpy.ndarray or None
        The PSF normalised to sum 1.
    seed : int
        Seed for fitters with a random element (statmorph).
    sky_error : float or None
        Standard error of the background level subtracted from ``data`` (image units) when it was
        measured far from every source; None otherwise. The "lm" fitter's prior on each stamp's sky.
    """

    data: np.ndarray
    segmap: np.ndarray
    labels: np.ndarray
    x_centroids: np.ndarray
    y_centroids: np.ndarray
    fluxes: np.ndarray
    bad: np.ndarray
    sigma: np.ndarray
    gain: float | None
    psf: np.ndarray | None
    seed: int
    sky_error: float | None = None


class SersicFitter(Protocol):
    """The interface every Sérsic fitter implements."""

    name: str
    FIT_IMAGE_OPTIONS: dict[str, str]

    def fit(self, job: FitJob) -> list[dict]:
        """Fit every label of ``job``; one dict per label, in order, with at least :data:`FIT_KEYS`.

        Never raises for a bad source: its failure is recorded (``flag_sersic`` -1 or 4, ``error``).
        """

    def render(self, fits: list[dict], shape: tuple[int, int], psf: np.ndarray | None) -> np.ndarray:
        """The model image (float64, ``shape``): the PSF-convolved sum of the profiles of ``fits``
        (dicts this fitter returned)."""


def fit_jobs(fitter: SersicFitter, jobs: list[FitJob]) -> list[list[dict]]:
    """:meth:`SersicFitter.fit` of every job: in one call where the fitter has ``fit_many`` (the "lm"
    fitter batches the sources of all the jobs, which must share one PSF), else one job at a time."""
    fit_many = getattr(fitter, "fit_many", None)
    if fit_many is not None:
        return fit_many(list(jobs))
    return [fitter.fit(job) for job in jobs]


#: The fitters by name.
FITTERS: dict[str, type] = {StatmorphFitter.name: StatmorphFitter, LMFitter.name: LMFitter}


def make_fitter(name: str, **fit_image_options) -> SersicFitter:
    """The fitter called ``name``, built from the ``fit_image`` keywords it takes.

    Parameters
    ----------
    name : str
        A key of :data:`FITTERS`.
    **fit_image_options
        ``fit_image``'s fitter keywords (``statmorph_mode``, ``statmorph_options``, ``lm_options``);
        each fitter takes the ones in its ``FIT_IMAGE_OPTIONS`` and ignores the others' (None means
        the fitter's default).

    Raises
    ------
    ValueError
        An unknown ``name``, or an invalid option of the chosen fitter.
    """
    if name not in FITTERS:
        raise ValueError(f"fitter must be one of {tuple(FITTERS)}, got {name!r}")
    cls = FITTERS[name]
    return cls(**{argument: fit_image_options[keyword] for keyword, argument in cls.FIT_IMAGE_OPTIONS.items()
                  if fit_image_options.get(keyword) is not None})
