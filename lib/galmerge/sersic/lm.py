"""A batched Levenberg-Marquardt Sérsic fitter: every source of an image in one vectorised fit.

:func:`galmerge.sersic.fit.fit_image` calls :func:`fit_sources` when ``fitter="lm"``; statmorph stays
the paper's reference (``fitter="statmorph"``). Both fit the same profile (astropy's ``Sersic2D``
parameters: surface brightness ``I_e`` at the semi-major effective radius ``r_e``, index ``n``,
centre, ellipticity ``1 - b/a``, position angle from +x counter-clockwise) and fill the same
columns of :attr:`galmerge.sersic.fit.FitResult.sources` with the same flag semantics.

The fit, per source
    - **Stamp**: a square cut of side ``S`` from :data:`STAMP_SIZES` (the smallest one that holds
      the source's segment with a margin of half its extent and at least 8 px), centred on the SEP
      centroid; pixels outside the image are masked. Sources with the same ``S`` are fitted as one
      batch (numpy arrays of shape ``(B, S, S)``), so an image with 20 sources costs a handful of
      array operations per iteration, not 20 Python loops. :func:`fit_sources_many` batches the
      sources of several images the same way (issue 23: the quick profile fits about 6 sources per
      image, too few to fill a batch); a source's fit does not depend on its batch.
    - **Fitted pixels**: every stamp pixel except bad ones and the segments of *other* sources
      (grown by :data:`NEIGHBOUR_GROW` px so that their bright inner wings stay out); the sky
      pixels around the source are fitted too (they pin the wings, where statmorph-as-used fits
      only the segment's bounding box).
    - **Weights**: ``1 / sigma`` with the sigma map of ``fit_image``: the sky rms, plus the
      sources' Poisson term when the gain is known, which must not be taken from the pixel's own
      value (issue 21: weights from ``|data|`` favour pixels that fluctuate low and put the model
      ~1/gain below the data wherever the source dominates; see ``fit_image``'s noise model).
    - **Sky**: a constant per stamp is fitted with the profile (the eighth parameter), optionally
      with a Gaussian prior around 0 (``sky_sigma``: the error of a background level measured
      elsewhere in the image). On a 128 px image filled by one bright galaxy a level measured
      next to the galaxy comes from its wings (issue 21: +0.3 sigma median), and every fitter
      then comes out low in r_e and n.
    - **Model**: the intrinsic profile averaged over each pixel: samples at pixel centres raised
      to pixel averages to second order (``I + laplacian(I) / 24``), true sub-pixel averages
      (``SUBSAMPLE^2`` points) over the ``WINDOW x WINDOW`` px around the centre, a
      ``CENTRE_SUBSAMPLE^2``-point average for the centre pixel and the exact enclosed flux for
      the innermost sub-pixel cell (the cusp of a large-``n`` profile holds a finite share of
      the light in a vanishing area); then convolved by FFT with the PSF **divided by the
      pixel's sinc response** in Fourier space. A PSF image already contains the pixel
      response; integrating the galaxy over pixels and convolving with that PSF would count the
      pixel twice (a +2.5 % bias in ``n``, found in issue 11 and also seen in imfit). Against
      GalSim's rendering of the same Sérsic and Moffat (tests/test_sersic_lm.py) the model is
      within 0.05 % of the peak for n = 1, 1 % for n = 3 (r_e 3 px) and 3 % at the peak pixel
      for n = 4 with r_e = 1.9 px. The fit convolves circularly on the stamp (its edges are far
      from the source).
    - **Parameters**: log total flux; the centre; ``ln r_e`` and ``ln n``, kept inside
      [:data:`R_E_MIN`, stamp side] and :data:`N_BOUNDS` by projection (:func:`bounds`; a
      logistic map, used before, has a vanishing derivative at the bound, so LM could not leave
      one it had reached); the shape as a reduced shear ``g = (1 - q) / (1 + q)`` with
      ``(g1, g2) = G_MAX v / sqrt(1 + |v|^2)``, which keeps ``q >= 0.05`` and has no
      singularity at a round galaxy; the stamp's sky level.
    - **Jacobian**: analytic (derivatives of the log profile, chained through the maps above,
      sub-pixel averaged and convolved like the model; the sky's is 1), one model-and-Jacobian
      evaluation per iteration. LM with Marquardt's diagonal damping, per-source damping factor, accept only
      steps that lower chi^2; a source stops when chi^2 falls by less than ``TOL`` relative.
    - **Starting values** from the segment's moments: flux-weighted centroid (SEP's), axis ratio
      and angle from the second moments, ``r_e`` from the segment's half-light radius,
      flux 1.2 x the segment's, ``n = 1.5``, sky 0.
    - **Unconstrained indices** (:func:`_fit_fixed_then_free`): every source is first fitted
      with n fixed at :data:`FIXED_N` = 1. Where the 1-sigma error of ``ln n`` at that fit
      (normal matrix, scaled by chi^2 / dof) exceeds :data:`LN_N_SIGMA_MAX` (ln 4 / 3: a
      constrained index tells n = 1 from n = 4 at 3 sigma) the data cannot constrain the index
      and the n = 1 fit is kept; the others are refitted with n free from it, and keep that fit
      unless it ends at an n bound or its own error of ``ln n`` exceeds the limit. The model
      image then draws a source with an index the data hold, or with an exponential profile,
      never with an unconstrained index (issue 21: on mock images a quarter of the free fits
      ended at an n bound, mostly small faint segments, and the n = 8 ones painted a halo of
      ~2.6x their segment flux). Fitting n = 1 first spends no free fit on the faint majority:
      on the 40 mock images of ``benchmarks/bench_fitting.py`` (all segments) 86 % of the
      sources keep n = 1, and the fitting CPU time is that of one free fit per source before
      issue 21. Recorded per source: ``sersic_n_fixed`` and ``sersic_ln_n_sigma`` (the error of
      ``ln n`` that decided).
    - **Model image** (:func:`render_sources`): every profile over the whole frame, so the model
      and residual carry no stamp edges.

Flags (``flag_sersic``, as statmorph's): 0 good; 1 suspect (``r_e``, free ``n`` or ``q`` at a bound,
or the centre more than ``S/4`` from its start); 2 failed (not converged in ``max_iter``
iterations, fewer than :data:`MIN_PIXELS_PER_PARAMETER` x 8 fitted pixels); 4 nothing measured
(the segment holds no positive flux, or chi^2 is not finite). ``flag`` is ``flag_sersic``.

numpy or TensorFlow
    numpy + scipy.fft, one thread. Measured with ``benchmarks/bench_fitter_accuracy.py
    --kernel`` (shared 2-core CPU, one thread each, CPU s): the inner evaluation (profile and 7
    derivative images at pixel centres, 8 FFT convolutions) of 64 stamps of 64 px takes 1.22 ms
    per stamp in numpy float64, 0.70 ms in numpy float32 and 0.52 ms in TensorFlow float32
    (tf.function). TensorFlow is thus 1.35x faster at equal precision on that kernel, but the
    kernel is half of an LM iteration (sub-pixel windows, cusp, chain rule, 7 x 7 solves
    are the rest), and end to end float32 gained only 15 % here (0.53 -> 0.45 CPU s per mock
    image). numpy meets the issue's speed target (about 10x statmorph per image) with simpler,
    float64-safe code; a TensorFlow port, which would also run on a GPU, is left as a
    follow-up. The model and Jacobian are computed in float32 by default (``dtype``; the 7 x 7
    normal equations, chi^2 sums and parameters stay float64): on 40 mock images of the quick
    profile float32 took 0.377 CPU s per image against 0.473 in float64 (20 % less), with the
    same fits (median relative difference 1e-7 in ``r_e``, ``n`` and ellipticity, 90th
    percentile 1e-6; 2026-11-26, ``galmerge.sersic.stage.fit_catalog_image`` with ``lm_options`` of
    either dtype, one process, on a 4000-object mock of seed 0). The
    float32 and float64 fits of GalSim galaxies agree to 1e-3 (tested).

Determinism: no random numbers; the same inputs give the same outputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
import scipy.ndimage as ndi
from scipy.special import gammainc, gammaincinv, gammaln, psi

#: Stamp sides (px). Sources are grouped by stamp side so that a batch shares one shape.
STAMP_SIZES = (32, 48, 64, 96, 128, 192, 256, 384, 512)
#: Bounds of the Sérsic index (statmorph 0.7 fits n in [0.01, 10]; below 0.2 a profile is a
#: flat-topped disc the data cannot tell apart, above 8 the wings are below the sky noise).
N_BOUNDS = (0.2, 8.0)
#: Lower bound of r_e (px); the upper bound is the stamp side.
R_E_MIN = 0.2
#: Largest reduced shear |g| = (1 - q) / (1 + q): q >= 0.05.
G_MAX = 0.905
#: Sub-pixel averaging around the centre: a WINDOW x WINDOW px window, SUBSAMPLE^2 points per px.
WINDOW = 5
SUBSAMPLE = 5
#: ... and the centre pixel alone with CENTRE_SUBSAMPLE^2 points (the cusp of a large-n profile).
CENTRE_SUBSAMPLE = 16
#: Pixels by which other sources' segments are grown before they are masked from a stamp.
NEIGHBOUR_GROW = 2
#: Fewer fitted pixels than this many per parameter: flag 2.
MIN_PIXELS_PER_PARAMETER = 5
#: Relative chi^2 decrease below which a source has converged.
TOL = 1e-5
#: Marquardt's damping factor at the start: 0.1 (was 1e-3) took 20 % fewer iterations on the 40
#: mock images of benchmarks/bench_fitting.py (15.7 against 18.0 per free fit, 11.4 against 15.3
#: per fixed-n refit), with the same fits on GalSim truth.
LAMBDA_START = 0.1
#: Upper bound of the batch's stamp pixels (B * S * S) per array operation, to cap memory.
MAX_BATCH_PIXELS = 600_000
#: Parameters of the profile (ln F, xc, yc, ln r_e, ln n, v1, v2) ...
PROFILE_PARAMS = 7
#: ... and of the fit: the profile's and the stamp's sky level (image units).
N_PARAMS = 8


@dataclass
class Stamps:
    """A batch of same-shaped stamps: data, weights (0 = not fitted), origin in the image."""

    data: np.ndarray      # (B, S, S)
    weight: np.ndarray    # (B, S, S) 1/sigma, 0 where not fitted
    y0: np.ndarray        # (B,) row of the stamp's first pixel in the image
    x0: np.ndarray        # (B,)


# --------------------------------------------------------------------------- parameter maps


def bounds(size: int, batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (batch, 8) of the fitted vector: ln r_e and ln n are bounded.

    The bounds are enforced by projection (a step is clipped onto them, and a parameter at a bound
    whose gradient points outwards is held for that step), not by a logistic map: a map of the
    real line onto an interval has a vanishing derivative at its ends, so LM could never leave a
    bound it had reached (issue 21: 15 of 83 fits at an n bound had a lower chi^2 inside).
    """
    lower = np.full((batch, N_PARAMS), -np.inf)
    upper = np.full((batch, N_PARAMS), np.inf)
    lower[:, 3], upper[:, 3] = np.log(R_E_MIN), np.log(float(size))
    lower[:, 4], upper[:, 4] = np.log(N_BOUNDS[0]), np.log(N_BOUNDS[1])
    return lower, upper


def natural(u: np.ndarray, size: int) -> dict:
    """Physical parameters of fitted vectors ``u`` (B, 8), stamp coordinates; ``sky`` in image units."""
    lower, upper = bounds(size)
    flux = np.exp(u[:, 0])
    re = np.exp(np.clip(u[:, 3], lower[0, 3], upper[0, 3]))
    n = np.exp(np.clip(u[:, 4], lower[0, 4], upper[0, 4]))
    v1, v2 = u[:, 5], u[:, 6]
    rho = np.sqrt(1 + v1 ** 2 + v2 ** 2)
    g1, g2 = G_MAX * v1 / rho, G_MAX * v2 / rho
    g = np.hypot(g1, g2)
    q = (1 - g) / (1 + g)
    theta = 0.5 * np.arctan2(g2, g1)
    sky = u[:, 7] if u.shape[1] > PROFILE_PARAMS else np.zeros(len(u))
    return dict(flux=flux, xc=u[:, 1], yc=u[:, 2], re=re, n=n, q=q, theta=theta, sky=sky)


def unconstrained(flux, xc, yc, re, n, q, theta, size: int, sky=None) -> np.ndarray:
    """Inverse of :func:`natural` (r_e and n are clipped inside their bounds first; sky 0 by default)."""
    re = np.clip(re, R_E_MIN, float(size))
    n = np.clip(n, *N_BOUNDS)
    q = np.clip(q, 0.06, 1.0)
    g = np.minimum((1 - q) / (1 + q), G_MAX * 0.99)
    g = np.maximum(g, 1e-3)  # a tiny shear: the derivative in theta is then well defined
    r = g / G_MAX  # |v| / sqrt(1 + |v|^2) = r  ->  |v| = r / sqrt(1 - r^2)
    vmag = r / np.sqrt(1 - r ** 2)
    sky = np.zeros(np.shape(flux)) if sky is None else sky
    return np.stack([np.log(np.maximum(flux, 1e-30)), xc, yc, np.log(re), np.log(n),
                     vmag * np.cos(2 * theta), vmag * np.sin(2 * theta), sky], axis=1)


def b_n(n):
    """Sérsic b_n, exact: the half-light condition ``gammainc(2n, b_n) = 1/2`` (as astropy)."""
    return gammaincinv(2 * n, 0.5)


def log_norm(n, re, q):
    """log of the total flux of a profile with I_e = 1: 2 pi q n r_e^2 e^b b^(-2n) Gamma(2n)."""
    b = b_n(n)
    return np.log(2 * np.pi * q * n * re ** 2) + b - 2 * n * np.log(b) + gammaln(2 * n)


# --------------------------------------------------------------------------- model and Jacobian


def _pixel_average(images: np.ndarray) -> np.ndarray:
    """Pixel averages of a smooth function from its samples at pixel centres, to second order.

    The average over a pixel is ``I + (I_xx + I_yy) / 24 + O(h^4)``; the second derivatives are
    the discrete second differences (edges: the difference is taken as 0). A compact profile is
    steep on the pixel scale well outside its centre (an exponential disc of minor-axis scale
    length 1.4 px: 1.8 % between the centre sample and the average 5 px out); this brings the
    error to about 0.1 % where the sub-pixel window does not reach. Linear, so it is applied to
    the Jacobian images the same way.
    """
    out = images.copy()
    lap = np.zeros_like(images)
    lap[..., 1:-1, :] += images[..., 2:, :] + images[..., :-2, :] - 2 * images[..., 1:-1, :]
    lap[..., :, 1:-1] += images[..., :, 2:] + images[..., :, :-2] - 2 * images[..., :, 1:-1]
    out += lap / 24.0
    return out


def with_constants(p: dict, dtype=np.float64) -> dict:
    """Add b_n, its derivative, log flux and log normalisation to natural parameters ``p``."""
    n = np.asarray(p["n"], dtype=np.float64)
    b = b_n(n)
    h = 1e-6 * n
    dbdn = (b_n(n + h) - b_n(n - h)) / (2 * h)
    p = dict(p, b=b, dbdn=dbdn, lnf=np.log(p["flux"]), lnorm=log_norm(n, p["re"], p["q"]),
             dlnorm_dn=1.0 / n + dbdn * (1 - 2 * n / b) - 2 * np.log(b) + 2 * psi(2 * n))
    return {k: np.asarray(v, dtype=dtype) for k, v in p.items()}


class Renderer:
    """Renders PSF-convolved Sérsic stamps of one side ``size`` and their Jacobian.

    Parameters
    ----------
    size : int
        Stamp side (px).
    psf : numpy.ndarray or None
        The PSF image (sum 1), pixel response included; None: no convolution.
    dtype : numpy dtype
        float64 (default) or float32.
    """

    def __init__(self, size: int, psf, dtype=np.float64, padded: bool = False):
        self.size = int(size)
        self.dtype = np.dtype(dtype)
        coords = np.arange(self.size, dtype=self.dtype)
        self.y, self.x = coords[:, None], coords[None, :]
        offsets = (np.arange(SUBSAMPLE) + 0.5) / SUBSAMPLE - 0.5
        # sub-pixel offsets inside one pixel, and the window's pixel offsets
        self.sub = offsets.astype(self.dtype)
        self.sub_centre = ((np.arange(CENTRE_SUBSAMPLE) + 0.5) / CENTRE_SUBSAMPLE - 0.5).astype(self.dtype)
        self.psf = psf
        self.pad = (0, 0)
        if psf is None:
            return
        ph, pw = psf.shape
        if padded:  # the model image: keep the light the PSF spreads beyond the stamp
            self.pad = (ph // 2, pw // 2)
            self.fft_shape = (sfft.next_fast_len(self.size + 2 * self.pad[0], real=True),
                              sfft.next_fast_len(self.size + 2 * self.pad[1], real=True))
        else:  # the fit: circular convolution on the stamp (its edges are far from the source)
            self.fft_shape = (sfft.next_fast_len(max(self.size, ph), real=True),
                              sfft.next_fast_len(max(self.size, pw), real=True))
        kernel = np.zeros(self.fft_shape)
        kernel[:ph, :pw] = psf
        # move the PSF's centre pixel to (0, 0): the convolution then keeps the stamp in place
        kernel = np.roll(kernel, (-(ph // 2), -(pw // 2)), axis=(0, 1))
        kernel_ft = sfft.rfft2(kernel)
        fy = sfft.fftfreq(self.fft_shape[0])[:, None]
        fx = sfft.rfftfreq(self.fft_shape[1])[None, :]
        # the PSF image is the optical PSF times the pixel's box response: divide it out once,
        # since the galaxy model is already integrated over the pixel
        self.kernel_ft = (kernel_ft / (np.sinc(fy) * np.sinc(fx))).astype(
            np.complex64 if self.dtype == np.float32 else np.complex128)

    @property
    def padded_size(self) -> tuple[int, int]:
        """Shape of :meth:`render` with ``padded=True``: the stamp grown by the PSF's half-width."""
        return self.size + 2 * self.pad[0], self.size + 2 * self.pad[1]

    def _profile(self, p, dx, dy, jacobian):
        """Intrinsic profile (and d profile / d natural parameter) at offsets dx, dy from the centre.

        ``p`` holds (B,)-arrays broadcast against dx/dy of shape (B, ...). Returns I and, with
        ``jacobian``, the derivatives of I with respect to (ln F, xc, yc, ln re, n, q, theta).
        """
        shape = (-1,) + (1,) * (dx.ndim - 1)
        n, re, q, th = (p[k].reshape(shape) for k in ("n", "re", "q", "theta"))
        b = p["b"].reshape(shape)
        c, s = np.cos(th), np.sin(th)
        inv_re2, iq2 = 1.0 / re ** 2, 1.0 / q ** 2
        xp = c * dx + s * dy
        yp = c * dy - s * dx
        z2 = (xp * xp + yp * yp * iq2) * inv_re2
        np.maximum(z2, 1e-24, out=z2)
        logz = 0.5 * np.log(z2)
        sz = np.exp(logz / n)                              # z ** (1 / n)
        log_i = (p["lnf"] - p["lnorm"]).reshape(shape) - b * (sz - 1.0)
        intensity = np.exp(np.maximum(log_i, -700.0))
        if not jacobian:
            return intensity, None
        derivs = np.empty((intensity.shape[0], PROFILE_PARAMS) + intensity.shape[1:], dtype=intensity.dtype)
        bsz_n = b * sz / n
        g = -bsz_n * intensity * inv_re2 / z2              # (d I / d z) / (z re^2)
        derivs[:, 0] = intensity
        derivs[:, 1] = -g * (xp * c - yp * s * iq2)       # d z / d xc = -(x' c - y' s / q^2) / (re^2 z)
        derivs[:, 2] = -g * (xp * s + yp * c * iq2)
        derivs[:, 3] = intensity * (bsz_n - 2.0)           # d z / d ln re = -z; d ln norm / d ln re = 2
        derivs[:, 4] = intensity * (-p["dbdn"].reshape(shape) * (sz - 1.0) + bsz_n * logz / n
                                    - p["dlnorm_dn"].reshape(shape))
        derivs[:, 5] = -g * yp * yp * iq2 / q - intensity / q  # d z / d q = -y'^2 / (q^3 re^2 z); d ln norm / d q = 1/q
        derivs[:, 6] = g * xp * yp * (1.0 - iq2)           # d z / d theta = x' y' (1 - 1/q^2) / (re^2 z)
        return intensity, derivs

    def intrinsic(self, u, jacobian=True):
        """Pixel-averaged intrinsic profile (B, S, S) and d/d natural parameter (B, 7, S, S)."""
        return self.intrinsic_natural(with_constants(natural(u, self.size), self.dtype), jacobian)

    def intrinsic_natural(self, p, jacobian=True):
        """:meth:`intrinsic` for natural parameters ``p`` (a dict of (B,) arrays, :func:`with_constants`).

        Pixel centres everywhere, raised to pixel averages to second order (:func:`_pixel_average`);
        then the ``WINDOW x WINDOW`` px around the centre pixel are
        replaced by ``SUBSAMPLE^2``-point averages, and the centre pixel by a
        ``CENTRE_SUBSAMPLE^2``-point average (the cusp of a large-n profile).
        """
        dx = self.x[None] - p["xc"][:, None, None]
        dy = self.y[None] - p["yc"][:, None, None]
        img, jac = self._profile(p, dx, dy, jacobian)
        if jac is None:
            img = _pixel_average(img)
        else:  # d I / d ln F is I itself: the image is the Jacobian's first column, computed once (issue 23)
            jac = _pixel_average(jac)
            img = jac[:, 0]
        for width, sub in ((WINDOW, self.sub), (1, self.sub_centre)):
            self._replace_by_average(p, img, jac, width, sub)
        self._cusp(p, img, jac)
        return img, jac

    def _cusp(self, p, img, jac):
        """Replace the centre pixel's sub-sample nearest the centre by the exact flux of the cusp.

        A large-n profile holds a finite share of its light in a vanishing area at its centre
        (n = 4, r_e = 2 px: 0.8 % of the total within the innermost 1/16 x 1/16 px cell), which
        any grid of point samples misses. That cell's sample is replaced by the flux inside the
        ellipse of the same area, ``F P(2n, b z^(1/n))`` (regularised incomplete gamma), and its
        derivatives (finite differences of this scalar per source).
        """
        k = CENTRE_SUBSAMPLE
        cy = np.clip(np.rint(p["yc"]).astype(int), 0, self.size - 1)
        cx = np.clip(np.rint(p["xc"]).astype(int), 0, self.size - 1)
        iy = np.clip(np.floor((p["yc"] - cy + 0.5) * k).astype(int), 0, k - 1)
        ix = np.clip(np.floor((p["xc"] - cx + 0.5) * k).astype(int), 0, k - 1)
        dy = (cy + self.sub_centre[iy] - p["yc"]).astype(self.dtype)[:, None]
        dx = (cx + self.sub_centre[ix] - p["xc"]).astype(self.dtype)[:, None]
        sample, sample_jac = self._profile(p, dx, dy, jac is not None)
        area = 1.0 / k ** 2

        def enclosed(n, re, q):
            z = np.sqrt(area / (np.pi * q)) / re
            return np.exp(p["lnf"]) * gammainc(2 * n, b_n(n) * z ** (1.0 / n))

        n, re, q = (np.asarray(p[key], dtype=np.float64) for key in ("n", "re", "q"))
        cusp = enclosed(n, re, q)
        rows = np.arange(len(img))
        if jac is None:
            img[rows, cy, cx] += (cusp - sample[:, 0] * area).astype(self.dtype)
            return
        h = 1e-5
        d = np.zeros((len(img), PROFILE_PARAMS))
        d[:, 0] = cusp
        d[:, 3] = (enclosed(n, re * np.exp(h), q) - enclosed(n, re * np.exp(-h), q)) / (2 * h)
        d[:, 4] = (enclosed(n + h, re, q) - enclosed(n - h, re, q)) / (2 * h)
        d[:, 5] = (enclosed(n, re, q + h) - enclosed(n, re, q - h)) / (2 * h)
        jac[rows, :, cy, cx] += (d - sample_jac[:, :, 0] * area).astype(self.dtype)

    def _replace_by_average(self, p, img, jac, width, sub):
        """Replace the ``width x width`` px around the centre pixel by sub-pixel averages (in place)."""
        B, k = len(img), len(sub)
        half = width // 2
        cy = np.clip(np.rint(p["yc"]).astype(int), half, self.size - 1 - half)
        cx = np.clip(np.rint(p["xc"]).astype(int), half, self.size - 1 - half)
        offsets = np.arange(width) - half
        rows, cols = cy[:, None] + offsets, cx[:, None] + offsets   # (B, W)
        sy = (rows[:, :, None] + sub).astype(self.dtype) - p["yc"][:, None, None]   # (B, W, K)
        sx = (cols[:, :, None] + sub).astype(self.dtype) - p["xc"][:, None, None]
        full = (B, width, k, width, k)
        sub_img, sub_jac = self._profile(p, np.broadcast_to(sx[:, None, None], full),
                                         np.broadcast_to(sy[:, :, :, None, None], full), jac is not None)
        bi, ri, ci = np.arange(B)[:, None, None], rows[:, :, None], cols[:, None, :]
        if jac is None:
            img[bi, ri, ci] = sub_img.mean(axis=(2, 4))
        else:  # the image is jac[:, 0] (see intrinsic_natural)
            jac[bi, :, ri, ci] = np.moveaxis(sub_jac.mean(axis=(3, 5)), 1, -1)

    def convolve(self, images):
        """FFT convolution of (..., S, S) images with the pixel-deconvolved PSF.

        Returns (..., S, S) images, or (..., S + 2 pad, S + 2 pad) for a ``padded`` renderer
        (the stamp's first pixel then sits at (pad, pad)).
        """
        if self.psf is None:
            return images
        py, px = self.pad
        ft = sfft.rfft2(images, s=self.fft_shape, axes=(-2, -1), workers=1)
        out = sfft.irfft2(ft * self.kernel_ft, s=self.fft_shape, axes=(-2, -1), workers=1)
        if py or px:
            # the stamp was placed at (0, 0); light spread to negative offsets wrapped to the far end
            out = np.roll(out, (py, px), axis=(-2, -1))
        return out[..., :self.size + 2 * py, :self.size + 2 * px]

    def render(self, u, jacobian=True):
        """PSF-convolved model plus the stamp's sky (B, S, S) and its Jacobian in ``u`` (B, 8, S, S)."""
        p = natural(u, self.size)
        sky = p["sky"].astype(self.dtype)[:, None, None]
        img, jac = self.intrinsic_natural(with_constants(p, self.dtype), jacobian)
        if not jacobian:
            return self.convolve(img) + sky, None
        a = self._shape_chain(u)
        jq, jt = jac[:, 5].copy(), jac[:, 6].copy()
        # the shape derivatives mix: (q, theta) -> (v1, v2)
        jac[:, 5] = a[:, 0, 0, None, None] * jq + a[:, 1, 0, None, None] * jt
        jac[:, 6] = a[:, 0, 1, None, None] * jq + a[:, 1, 1, None, None] * jt
        jac[:, 4] *= p["n"].astype(self.dtype)[:, None, None]  # d / d ln n; column 3 is d / d ln r_e already
        # column 0 (d / d ln F) is the model itself (img is that column): its convolution is the model's
        conv = self.convolve(jac)
        full = np.empty((len(u), N_PARAMS) + conv.shape[2:], dtype=conv.dtype)
        full[:, :PROFILE_PARAMS] = conv
        full[:, PROFILE_PARAMS] = 1.0  # d model / d sky
        return conv[:, 0] + sky, full

    @staticmethod
    def _shape_chain(u):
        """(B, 2, 2): d(q, theta) / d(v1, v2)."""
        v1, v2 = u[:, 5], u[:, 6]
        rho = np.sqrt(1 + v1 ** 2 + v2 ** 2)
        g1, g2 = G_MAX * v1 / rho, G_MAX * v2 / rho
        g = np.maximum(np.hypot(g1, g2), 1e-9)
        dg_dv = G_MAX * (np.eye(2)[None] / rho[:, None, None]
                         - np.stack([np.stack([v1 * v1, v1 * v2], 1), np.stack([v2 * v1, v2 * v2], 1)], 1)
                         / rho[:, None, None] ** 3)  # (B, i=g index, j=v index)
        dq_dg = -2.0 / (1 + g) ** 2
        dq_dgi = np.stack([dq_dg * g1 / g, dq_dg * g2 / g], 1)          # (B, 2)
        dth_dgi = np.stack([-0.5 * g2 / g ** 2, 0.5 * g1 / g ** 2], 1)  # (B, 2)
        out = np.empty((len(u), 2, 2))
        out[:, 0] = np.einsum("bi,bij->bj", dq_dgi, dg_dv)
        out[:, 1] = np.einsum("bi,bij->bj", dth_dgi, dg_dv)
        return out


# --------------------------------------------------------------------------- LM


def _chi2(residuals: np.ndarray) -> np.ndarray:
    """Sum of squares per stamp, accumulated in float64 (float32 sums of 10^4 terms drift)."""
    flat = residuals.reshape(len(residuals), -1).astype(np.float64)
    return np.square(flat).sum(axis=1)  # per row: a stamp's sum does not depend on the others in its batch


def levenberg_marquardt(renderer: Renderer, stamps: Stamps, u0: np.ndarray, max_iter: int = 150,
                        frozen: np.ndarray | None = None, sky_prior: np.ndarray | None = None):
    """Fit every stamp of the batch; returns (u, chi2, n_iter, converged, normal matrix).

    ``frozen`` (B, 8) bool: parameters held at their value in ``u0`` (e.g. ln n of a fixed-index
    fit). r_e and n are kept inside :func:`bounds` by projection: the trial step is clipped onto
    the bounds, and a parameter sitting at a bound whose gradient points outwards is held for
    that iteration (so the others still move, and it can leave the bound the next time the
    gradient points inwards). ``sky_prior`` (B,): 1 / sigma of a Gaussian prior on the sky level
    centred on 0 (one pseudo-pixel of data 0 and model ``sky``); 0 or None: no prior. The normal
    matrix ``J^T W^2 J`` (B, 8, 8) is that of the returned ``u``, for the parameters' covariance.
    """
    u = np.array(u0, dtype=np.float64)
    data = stamps.data.astype(renderer.dtype)
    w = stamps.weight.astype(renderer.dtype)
    B = len(u)
    prior = np.zeros(B) if sky_prior is None else np.asarray(sky_prior, dtype=np.float64)
    lower, upper = bounds(renderer.size, B)
    u = np.clip(u, lower, upper)
    frozen = np.zeros((B, N_PARAMS), bool) if frozen is None else np.asarray(frozen, bool)
    rf, jw, chi2 = _evaluate(renderer, u, data, w, prior)
    lam = np.full(B, LAMBDA_START)
    active = np.isfinite(chi2)
    converged = np.zeros(B, bool)
    n_iter = np.zeros(B, int)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        A, g = _normal_equations(jw[idx], rf[idx])
        held = frozen[idx] | ((u[idx] <= lower[idx]) & (g < 0)) | ((u[idx] >= upper[idx]) & (g > 0))
        trial = np.clip(u[idx] + _damped_step(A, g, lam[idx], held), lower[idx], upper[idx])
        r_try, j_try, chi_try = _evaluate(renderer, trial, data[idx], w[idx], prior[idx])
        better = np.isfinite(chi_try) & (chi_try < chi2[idx])
        n_iter[idx] += 1
        gain = np.where(better, (chi2[idx] - chi_try) / np.maximum(chi2[idx], 1e-300), 0.0)
        acc = idx[better]
        u[acc], chi2[acc], jw[acc], rf[acc] = trial[better], chi_try[better], j_try[better], r_try[better]
        lam[idx] = np.where(better, np.maximum(lam[idx] / 3.0, 1e-7), lam[idx] * 4.0)
        done = (better & (gain < TOL)) | (lam[idx] > 1e8)
        converged[idx[done]] = True
        active[idx[done]] = False
    normal, _ = _normal_equations(jw, rf)
    return u, chi2, n_iter, converged, normal


def _evaluate(renderer, u, data, w, prior):
    """Weighted residuals (B, P + 1), Jacobian (B, 8, P + 1) and chi^2 (B,) of ``u``.

    The last of the P + 1 "pixels" is the sky prior's pseudo-pixel (0 without a prior).
    """
    model, jac = renderer.render(u)
    B = len(u)
    rf = np.concatenate([((data - model) * w).reshape(B, -1), (-u[:, PROFILE_PARAMS] * prior)[:, None]], axis=1)
    extra = np.zeros((B, N_PARAMS, 1), dtype=jac.dtype)
    extra[:, PROFILE_PARAMS, 0] = prior
    jw = np.concatenate([(jac * w[:, None]).reshape(B, N_PARAMS, -1), extra], axis=2)
    return rf, jw, _chi2(rf)


def _normal_equations(jw, rf):
    """``J^T J`` (B, 8, 8) and ``J^T r`` (B, 8) of weighted Jacobians and residuals, in float64.

    Stacked matrix products (BLAS), not ``einsum``: the same sums in another order, 3x faster on
    the quick profile's batches (issue 23).
    """
    jwa = jw.astype(np.float64)
    return jwa @ jwa.transpose(0, 2, 1), (jwa @ rf.astype(np.float64)[:, :, None])[:, :, 0]


def _damped_step(A, g, lam, held):
    """Marquardt step ``(A + lam diag A) d = g`` with the ``held`` parameters' rows fixed at d = 0."""
    eye = np.eye(N_PARAMS)[None]
    diag = np.maximum(np.einsum("bkk->bk", A), 1e-12)
    damped = A + lam[:, None, None] * diag[:, :, None] * eye
    free = ~held
    damped = damped * (free[:, :, None] & free[:, None, :]) + eye * held[:, :, None]
    g = np.where(held, 0.0, g)
    try:
        step = np.linalg.solve(damped, g[..., None])[..., 0]
    except np.linalg.LinAlgError:
        step = np.stack([np.linalg.lstsq(m, v, rcond=None)[0] for m, v in zip(damped, g)])
    step = np.nan_to_num(step)
    # no wild jumps in the profile (ln F, ln r_e, ln n: a factor 20; the centre 3 px); the sky is linear
    step[:, :PROFILE_PARAMS] = np.clip(step[:, :PROFILE_PARAMS], -3.0, 3.0)
    return step


# --------------------------------------------------------------------------- sources of one image


def stamp_size(extent: float) -> int:
    """Smallest of :data:`STAMP_SIZES` holding a source of half-extent ``extent`` px with margin."""
    need = 2 * (1.5 * extent + 8)
    for size in STAMP_SIZES:
        if size >= need:
            return size
    return STAMP_SIZES[-1]


def _cut(array, y0, x0, size, fill):
    """``array[y0:y0+size, x0:x0+size]`` with ``fill`` outside the image."""
    out = np.full((size, size), fill, dtype=array.dtype)
    ny, nx = array.shape
    ya, yb = max(y0, 0), min(y0 + size, ny)
    xa, xb = max(x0, 0), min(x0 + size, nx)
    if ya < yb and xa < xb:
        out[ya - y0:yb - y0, xa - x0:xb - x0] = array[ya:yb, xa:xb]
    return out


def _starting_values(data, seg, label, sl, xc, yc, seg_flux):
    """Flux, r_e (px, semi-major), q, theta from the segment's light (image coordinates)."""
    sub = seg[sl] == label
    yy, xx = np.nonzero(sub)
    values = np.clip(data[sl][sub], 0.0, None)
    total = values.sum()
    ys, xs = yy + sl[0].start - yc, xx + sl[1].start - xc
    if total <= 0:
        return None
    mxx, myy, mxy = (values * xs ** 2).sum() / total, (values * ys ** 2).sum() / total, (values * xs * ys).sum() / total
    tr, det = mxx + myy, mxx * myy - mxy ** 2
    disc = np.sqrt(max(tr ** 2 / 4 - det, 0.0))
    l1, l2 = tr / 2 + disc, max(tr / 2 - disc, 1e-6)
    q = float(np.clip(np.sqrt(l2 / max(l1, 1e-6)), 0.1, 1.0))
    theta = 0.5 * np.arctan2(2 * mxy, mxx - myy)
    r = np.hypot(xs, ys)
    order = np.argsort(r)
    cum = np.cumsum(values[order])
    r50 = float(r[order][np.searchsorted(cum, 0.5 * cum[-1])]) + 0.5
    re = max(r50 / np.sqrt(q), 0.5)
    return dict(flux=1.2 * max(seg_flux, total), re=re, q=q, theta=theta)


#: A free fit whose 1-sigma error in ln n exceeds this does not constrain the index: ln 4 / 3, so
#: that a constrained index tells an exponential disc (n = 1) from a de Vaucouleurs bulge (n = 4)
#: at 3 sigma. Such fits, and free fits that end at an n bound, are refitted with n fixed.
LN_N_SIGMA_MAX = float(np.log(4.0) / 3.0)
#: The index of a fit whose data do not constrain it: an exponential profile. Faint galaxies are
#: mostly discs: Blanton et al. (2003, ApJ 594, 186, Fig. 7) find Sérsic n near 1 for most
#: galaxies fainter than M_r - 5 log h = -20, and the faint detections of HSC-depth images are such.
FIXED_N = 1.0


@dataclass
class _Member:
    """One source to fit: its stamp, weights (0 = not fitted), place in the image and start."""

    index: tuple          # (image, source): its place in the results of :func:`fit_sources_many`
    data: np.ndarray
    weight: np.ndarray
    y0: int
    x0: int
    size: int
    u0: np.ndarray
    n_pix: int
    sky_sigma: float | None = None  # the sky prior's width (image units); None: free; 0: not fitted


@dataclass
class _Fit:
    """LM's result for one member."""

    u: np.ndarray
    chi2: float
    n_iter: int
    converged: bool
    normal: np.ndarray
    seconds: float
    #: 1-sigma error of ln n that decided whether n is free (see :func:`_fit_fixed_then_free`)
    free_ln_n_sigma: float = np.nan

    def ln_n_sigma(self, n_pix: int) -> float:
        """1-sigma error of ln n from the normal matrix, scaled by chi^2 / dof (inf when singular)."""
        dof = max(n_pix - N_PARAMS, 1)
        with np.errstate(all="ignore"):
            cov = np.linalg.pinv(self.normal)
            value = np.sqrt(cov[4, 4] * max(self.chi2 / dof, 1e-12))
        return float(value) if np.isfinite(value) and value > 0 else np.inf


def fit_sources(data, segmap, labels, centroids, fluxes, bad, sigma, psf, *, max_iter: int = 150,
                dtype=np.float32, sky_sigma: float | None = None) -> list[dict]:
    """Fit a Sérsic profile and a sky level to each source in ``labels``, batched by stamp size.

    Parameters
    ----------
    data : numpy.ndarray, 2-D
        Background-subtracted image (bad pixels may hold anything; they get zero weight).
    segmap : numpy.ndarray of int, 2-D
        Segmentation map (0 = background).
    labels : sequence of int
        The labels to fit.
    centroids : sequence of (x, y)
        Starting centre of each label (px, image coordinates).
    fluxes : sequence of float
        Segment flux of each label (image units).
    bad : numpy.ndarray of bool
        Pixels never fitted.
    sigma : numpy.ndarray, 2-D
        Per-pixel noise (image units); non-positive or non-finite values are not fitted. Its
        Poisson term must not come from the pixel's own data (see :func:`noise_map`).
    psf : numpy.ndarray or None
        Normalised PSF (pixel response included).
    max_iter : int
        LM iterations at most.
    dtype : numpy dtype
        Arithmetic precision of the model and Jacobian: float32 (default; 20 % less CPU, the
        same fits) or float64. The normal equations and chi^2 are always float64.
    sky_sigma : float or None
        Each stamp's sky level is fitted (it absorbs what the background subtracted from ``data``
        got wrong). None (default): freely; a positive number: with a Gaussian prior of this width
        (image units) around 0, the error of a background measured elsewhere in the image; 0: not
        fitted (``data`` is sky-subtracted exactly).

    Returns
    -------
    list of dict
        Per label, in order: the seven statmorph-named Sérsic parameters (image coordinates),
        ``sersic_chi2_dof``, ``flag``, ``flag_sersic``, ``error``, ``warnings``,
        ``time_statmorph_s`` (this source's share of its batches' fit time), ``n_iter``,
        ``sersic_sky`` (the stamp's fitted sky level, image units), ``sersic_n_fixed`` (True: the
        data do not constrain n, see :data:`LN_N_SIGMA_MAX`, and n is :data:`FIXED_N`),
        ``sersic_ln_n_sigma`` (the 1-sigma error of ln n that decided: the free fit's when one
        was made, else the n = 1 fit's) and ``_stamp`` = (y0, x0, size).
    """
    image = dict(data=data, segmap=segmap, labels=labels, centroids=centroids, fluxes=fluxes, bad=bad,
                 sigma=sigma, sky_sigma=sky_sigma)
    return fit_sources_many([image], psf, max_iter=max_iter, dtype=dtype)[0]


def fit_sources_many(images, psf, *, max_iter: int = 150, dtype=np.float32) -> list[list[dict]]:
    """:func:`fit_sources` on the sources of several images in one batched fit (issue 23).

    Every source is still fitted on its own stamp with its own image's weights and sky prior; only
    the array operations are shared: the sources of all images are grouped by stamp side, and each
    Levenberg-Marquardt iteration evaluates every active source of a group at once. LM treats the
    sources of a batch independently (per-source damping, acceptance and convergence), so a
    source's fit does not depend on which other sources share its batch (tested: the results equal
    those of :func:`fit_sources` per image). On the quick profile's images a handful of sources
    per image made each iteration's array operations small, and their fixed cost dominated.

    Parameters
    ----------
    images : sequence of dict
        Per image, the arguments of :func:`fit_sources`: ``data``, ``segmap``, ``labels``,
        ``centroids``, ``fluxes``, ``bad``, ``sigma`` and ``sky_sigma`` (optional, default None).
    psf : numpy.ndarray or None
        The normalised PSF, shared by all the images.
    max_iter, dtype
        As in :func:`fit_sources`.

    Returns
    -------
    list of list of dict
        Per image, what :func:`fit_sources` returns for it.
    """
    out, members = [], []
    for k, image in enumerate(images):
        rows, mine = _image_members(k, **image)
        out.append(rows)
        members += mine
    psf = None if psf is None else np.asarray(psf, dtype=np.float64)
    fits, loose = _fit_fixed_then_free(members, psf, dtype, max_iter)
    for m in members:
        k, i = m.index
        out[k][i].update(_result_row(fits[m.index], m, loose.get(m.index, "")))
    return out


def _image_members(k, data, segmap, labels, centroids, fluxes, bad, sigma, sky_sigma=None):
    """Blank result rows of image ``k``'s labels and the :class:`_Member` of each label that has light."""
    data = np.asarray(data, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(np.isfinite(sigma) & (sigma > 0) & ~bad, 1.0 / sigma, 0.0)
    inv = np.where(np.isfinite(data), inv, 0.0)
    data = np.where(inv > 0, data, 0.0)
    rows: list[dict] = [_blank() for _ in labels]
    members = []
    slices = ndi.find_objects(segmap)
    for i, (label, centre, flux) in enumerate(zip(labels, centroids, fluxes)):
        member = _member((k, i), int(label), centre, flux, data, segmap, slices, inv)
        if member is None:
            rows[i].update(flag=4, flag_sersic=4, error="segment has no positive flux: nothing to fit")
        else:
            member.sky_sigma = sky_sigma
            members.append(member)
    return rows, members


def _fit_fixed_then_free(members, psf, dtype, max_iter):
    """Every member with n = :data:`FIXED_N`, then freely those whose data can constrain n.

    The fixed fit's normal matrix gives sigma(ln n) at n = 1; where it exceeds :data:`LN_N_SIGMA_MAX`
    the data cannot constrain the index and the fixed fit stays (most faint sources: no free fit is
    spent on them). The others are refitted freely from the fixed fit, and keep the free fit unless
    it ends at an n bound or its own sigma(ln n) exceeds the limit. Returns ({index: :class:`_Fit`},
    {index: why n is fixed}).
    """
    start = [_Member(**{**m.__dict__, "u0": _with_fixed_n(m.u0)}) for m in members]
    fits = _fit_members(start, psf, dtype, max_iter, fix_n=True)
    loose = {}
    for m in members:
        sigma = fits[m.index].ln_n_sigma(m.n_pix)
        fits[m.index].free_ln_n_sigma = sigma
        if sigma > LN_N_SIGMA_MAX:
            loose[m.index] = f"sigma(ln n) {sigma:.2f} at the n = {FIXED_N:g} fit > {LN_N_SIGMA_MAX:.2f}"
    informative = {m.index: _Member(**{**m.__dict__, "u0": fits[m.index].u})
                   for m in members if m.index not in loose}
    for index, free in _fit_members(list(informative.values()), psf, dtype, max_iter).items():
        free.seconds += fits[index].seconds
        why = _unconstrained_index(free, informative[index])
        if why:
            fits[index].seconds = free.seconds
            fits[index].free_ln_n_sigma = free.free_ln_n_sigma
            loose[index] = why
        else:
            fits[index] = free
    return fits, loose


def _member(i, label, centre, flux, data, segmap, slices, inv):
    """The stamp and starting values of one label, or None when its segment has no positive flux."""
    xc, yc = centre
    sl = slices[label - 1] if label - 1 < len(slices) else None
    start = None if sl is None else _starting_values(data, segmap, label, sl, xc, yc, flux)
    if start is None or not np.isfinite([xc, yc]).all():
        return None
    half = max(abs(sl[0].start - yc), abs(sl[0].stop - yc), abs(sl[1].start - xc), abs(sl[1].stop - xc))
    size = stamp_size(half)
    y0, x0 = int(np.rint(yc)) - size // 2, int(np.rint(xc)) - size // 2
    seg = _cut(segmap, y0, x0, size, 0)
    others = ndi.binary_dilation((seg != label) & (seg > 0), iterations=NEIGHBOUR_GROW) & (seg != label)
    weight = _cut(inv, y0, x0, size, 0.0) * ~others
    u0 = unconstrained(np.array([start["flux"]]), np.array([xc - x0]), np.array([yc - y0]),
                       np.array([start["re"]]), np.array([1.5]), np.array([start["q"]]),
                       np.array([start["theta"]]), size)[0]
    return _Member(i, _cut(data, y0, x0, size, 0.0), weight, y0, x0, size, u0, int((weight > 0).sum()))


def _fit_members(members, psf, dtype, max_iter, fix_n=False) -> dict:
    """LM on every member, batched by stamp size; {member index: :class:`_Fit`}. Each member's sky is
    fitted with its own prior (``sky_sigma``: None free, 0 not fitted)."""
    groups: dict[int, list] = {}
    for m in members:
        groups.setdefault(m.size, []).append(m)
    fits = {}
    for size in sorted(groups):
        renderer = Renderer(size, psf, dtype)
        chunk = max(1, MAX_BATCH_PIXELS // (size * size))
        for first in range(0, len(groups[size]), chunk):
            part = groups[size][first:first + chunk]
            t0 = time.perf_counter()
            stamps = Stamps(np.stack([m.data for m in part]), np.stack([m.weight for m in part]),
                            np.array([m.y0 for m in part]), np.array([m.x0 for m in part]))
            frozen = np.zeros((len(part), N_PARAMS), bool)
            frozen[:, 4] = fix_n
            frozen[:, PROFILE_PARAMS] = [m.sky_sigma == 0 for m in part]
            prior = np.array([1.0 / m.sky_sigma if m.sky_sigma else 0.0 for m in part])
            u, chi2, n_iter, converged, normal = levenberg_marquardt(
                renderer, stamps, np.stack([m.u0 for m in part]), max_iter, frozen, prior)
            seconds = (time.perf_counter() - t0) / len(part)
            for k, m in enumerate(part):
                fit = _Fit(u[k], float(chi2[k]), int(n_iter[k]), bool(converged[k]), normal[k], seconds)
                fit.free_ln_n_sigma = np.nan if fix_n else fit.ln_n_sigma(m.n_pix)
                fits[m.index] = fit
    return fits


def _unconstrained_index(fit: _Fit, member: _Member) -> str:
    """Why a free fit does not constrain its Sérsic index (n at a bound, or ln n known to worse than
    :data:`LN_N_SIGMA_MAX`); empty when it does."""
    n, sigma = float(np.exp(fit.u[4])), fit.ln_n_sigma(member.n_pix)
    if not N_BOUNDS[0] * 1.02 < n < N_BOUNDS[1] * 0.98:
        return f"the free fit ended at the bound n = {n:.2g}"
    if sigma > LN_N_SIGMA_MAX:
        return f"the free fit's sigma(ln n) {sigma:.2f} > {LN_N_SIGMA_MAX:.2f}"
    return ""


def _with_fixed_n(u: np.ndarray) -> np.ndarray:
    """A fitted vector with n set to :data:`FIXED_N` and r_e kept inside its bounds."""
    u = np.array(u, dtype=np.float64)
    u[4] = np.log(FIXED_N)
    return u


def _blank() -> dict:
    return {"sersic_amplitude": np.nan, "sersic_rhalf": np.nan, "sersic_n": np.nan, "sersic_xc": np.nan,
            "sersic_yc": np.nan, "sersic_ellip": np.nan, "sersic_theta": np.nan, "sersic_chi2_dof": np.nan,
            "sersic_sky": np.nan, "sersic_n_fixed": False, "sersic_ln_n_sigma": np.nan,
            "flag": 4, "flag_sersic": 4, "error": "", "warnings": "", "time_statmorph_s": 0.0,
            "n_iter": 0, "_stamp": None}


def _result_row(fit: _Fit, member: _Member, why_fixed: str) -> dict:
    p = natural(fit.u[None], member.size)
    u, u0, size, n_pix = fit.u, member.u0, member.size, member.n_pix
    n, re, q = float(p["n"][0]), float(p["re"][0]), float(p["q"][0])
    amplitude = float(p["flux"][0] / np.exp(log_norm(n, re, q)))
    row = dict(sersic_amplitude=amplitude, sersic_rhalf=re, sersic_n=n,
               sersic_xc=float(p["xc"][0] + member.x0), sersic_yc=float(p["yc"][0] + member.y0),
               sersic_ellip=float(1 - q), sersic_theta=float(np.mod(p["theta"][0], np.pi)),
               sersic_chi2_dof=float(fit.chi2 / max(n_pix - N_PARAMS, 1)), sersic_sky=float(p["sky"][0]),
               sersic_n_fixed=bool(why_fixed), sersic_ln_n_sigma=fit.free_ln_n_sigma, error="", warnings="",
               time_statmorph_s=fit.seconds, n_iter=fit.n_iter, _stamp=(member.y0, member.x0, size))
    n_fixed = bool(why_fixed)
    notes = [f"n fixed at {FIXED_N:g}: {why_fixed}"] if n_fixed else []
    if not np.isfinite(fit.chi2) or not np.all(np.isfinite(u)):
        row.update({key: np.nan for key in row if key.startswith("sersic_") and key != "sersic_n_fixed"})
        flag, notes = 4, ["non-finite chi^2 or parameters"]
    elif n_pix < MIN_PIXELS_PER_PARAMETER * N_PARAMS:
        flag = 2
        notes.append(f"only {n_pix} fitted pixels")
    elif not fit.converged:
        flag = 2
        notes.append(f"not converged in {fit.n_iter} iterations")
    else:
        flag = 0
    if flag < 2:
        at_bound = []
        if re <= R_E_MIN * 1.05 or re >= size * 0.95:
            at_bound.append("r_e")
        if not n_fixed and (n <= N_BOUNDS[0] * 1.02 or n >= N_BOUNDS[1] * 0.98):
            at_bound.append("n")
        if q <= (1 - G_MAX) / (1 + G_MAX) * 1.05:
            at_bound.append("q")
        if np.hypot(u[1] - u0[1], u[2] - u0[2]) > size / 4:
            at_bound.append("centre moved > S/4")
        if at_bound:
            flag = 1
            notes.append("at a bound: " + ", ".join(at_bound))
    row.update(flag=flag, flag_sersic=flag, warnings=" | ".join(notes))
    return row


#: Pixels (sources x frame pixels) rendered per array operation by :func:`render_sources`.
MAX_RENDER_PIXELS = 2_000_000


def render_sources(rows, shape, psf, dtype=np.float64) -> np.ndarray:
    """Full-frame sum of the PSF-convolved profiles of ``rows`` (dicts or a DataFrame's records).

    Every profile is evaluated over the whole frame by the code its fit used (:class:`Renderer`:
    pixel integration, centre window, cusp), so the model and residual images carry no stamp
    edges (issue 21: rendering each profile only over its stamp left steps of up to 2 sigma
    around extended fits). The frame is a square of its longer side grown by the PSF's half-width
    on every side (the light just outside the frame that the PSF spreads into it); the intrinsic
    images are summed and convolved once with the PSF (linear, so the same as convolving each),
    padded so that no light wraps around, and the frame is cut out.
    """
    ny, nx = shape
    rows = list(rows)
    if not rows:
        return np.zeros(shape, dtype=np.float64)
    grow = 0 if psf is None else max(np.shape(psf)) // 2
    renderer = Renderer(max(ny, nx) + 2 * grow, psf, dtype, padded=True)
    total = np.zeros((renderer.size, renderer.size), dtype=np.float64)
    chunk = max(1, MAX_RENDER_PIXELS // renderer.size ** 2)
    for first in range(0, len(rows), chunk):
        part = rows[first:first + chunk]
        q = np.array([1 - float(r["sersic_ellip"]) for r in part])
        n = np.array([float(r["sersic_n"]) for r in part])
        re = np.array([float(r["sersic_rhalf"]) for r in part])
        flux = np.array([float(r["sersic_amplitude"]) for r in part]) * np.exp(log_norm(n, re, q))
        p = dict(flux=flux, n=n, re=re, q=q, theta=np.array([float(r["sersic_theta"]) for r in part]),
                 xc=np.array([float(r["sersic_xc"]) + grow for r in part]),
                 yc=np.array([float(r["sersic_yc"]) + grow for r in part]))
        img, _ = renderer.intrinsic_natural(with_constants(p, renderer.dtype), jacobian=False)
        total += img.sum(axis=0, dtype=np.float64)
    py, px = renderer.pad
    return renderer.convolve(total)[py + grow:py + grow + ny, px + grow:px + grow + nx].astype(np.float64)
