"""The batched Levenberg-Marquardt Sérsic fitter of :mod:`galmerge.sersic.lm` behind the fitter interface.

:class:`LMFitter` fits every source of an image in one vectorised fit (:func:`galmerge.sersic.lm.fit_sources`)
and renders the model image with the code the fit used (:func:`galmerge.sersic.lm.render_sources`: the
same stamps, pixel response and PSF), so that the residual is the fit's own residual. For this fitter
``flag`` equals ``flag_sersic``, ``warnings`` says why a fit is suspect or failed, and ``time_fitter_s``
is the source's share of its batch's fit time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from galmerge.sersic import lm

if TYPE_CHECKING:
    from galmerge.sersic.fitters import FitJob

#: The per-source seconds key of :func:`galmerge.sersic.lm.fit_sources` (a name from when statmorph was
#: the only fitter), renamed here to the interface's ``time_fitter_s``.
_LM_SECONDS_KEY = "time_statmorph_s"


class LMFitter:
    """All sources of an image in one batched Levenberg-Marquardt fit (:mod:`galmerge.sersic.lm`).

    Parameters
    ----------
    options : dict, optional
        Keyword arguments of :func:`galmerge.sersic.lm.fit_sources` (``max_iter``, ``dtype``,
        ``sky_sigma``: by default the job's ``sky_error``).
    """

    name = "lm"
    #: fit_image's keywords this fitter takes, and the constructor argument each becomes.
    FIT_IMAGE_OPTIONS = {"lm_options": "options"}

    def __init__(self, options: dict | None = None):
        self.options = dict(options or {})

    def fit(self, job: FitJob) -> list[dict]:
        """One batched fit of every label of ``job`` (see :meth:`galmerge.sersic.fitters.SersicFitter.fit`)."""
        return self.fit_many([job])[0]

    def fit_many(self, jobs: list[FitJob]) -> list[list[dict]]:
        """The labels of several images' jobs in one batched fit (:func:`galmerge.sersic.lm.fit_sources_many`).

        The jobs must share one PSF (the first job's is used). Each source keeps its own image's
        weights and sky prior, and its fit equals that of :meth:`fit` on its job alone.
        """
        options = dict(self.options)
        images = [dict(data=job.data, segmap=job.segmap, labels=job.labels,
                       centroids=list(zip(job.x_centroids, job.y_centroids)), fluxes=job.fluxes, bad=job.bad,
                       sigma=job.sigma, sky_sigma=options.get("sky_sigma", job.sky_error))  # lm_options wins
                  for job in jobs if len(job.labels)]
        options.pop("sky_sigma", None)
        fitted = iter(lm.fit_sources_many(images, jobs[0].psf if jobs else None, **options) if images else [])
        out = [next(fitted) if len(job.labels) else [] for job in jobs]
        for fits in out:
            for fit in fits:
                if _LM_SECONDS_KEY in fit:
                    fit["time_fitter_s"] = fit.pop(_LM_SECONDS_KEY)
        return out

    def render(self, fits: list[dict], shape: tuple[int, int], psf) -> np.ndarray:
        """The model image of ``fits`` rendered by the code the fit used (:func:`galmerge.sersic.lm.render_sources`)."""
        return lm.render_sources(fits, shape, psf)
