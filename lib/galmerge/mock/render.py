"""Light of galaxies on a pixel grid (before the PSF): Sérsic profiles, spiral arms, bars,
clumps, smoothed tidal particles, field galaxies and stars.

Conventions (those of ``astropy.modeling.models.Sersic2D``, which statmorph fits):
pixel (x, y) = (column, row), pixel centres at integer coordinates; ``ellip = 1 - b/a``;
``theta`` is the major axis' angle counter-clockwise from +x (radians); ``r_e`` is the
half-light radius along the major axis (pixels). Fluxes are counts (zero point 27).
Every function adds into a float64 canvas in place and only touches a stamp around the
source, so that a field of a hundred faint sources stays cheap.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import gamma as gamma_fn
from scipy.special import gammaincinv

from galmerge.mock.observe import moffat_image


def sersic_bn(n):
    """b_n such that r_e encloses half of the light."""
    return gammaincinv(2.0 * n, 0.5)


def sersic_amplitude(flux: float, n: float, r_e: float, ellip: float) -> float:
    """Surface brightness at r_e (counts/pixel) of a Sérsic profile of total ``flux``."""
    bn = sersic_bn(n)
    total_over_ie = (2.0 * np.pi * n * r_e**2 * (1.0 - ellip) * np.exp(bn)
                     * bn ** (-2.0 * n) * gamma_fn(2.0 * n))
    return flux / total_over_ie


def _stamp(shape, x0, y0, half):
    """Row and column slices of a square stamp of half-width ``half`` around (x0, y0), clipped."""
    ny, nx = shape
    x_lo, x_hi = max(int(np.floor(x0 - half)), 0), min(int(np.ceil(x0 + half)) + 1, nx)
    y_lo, y_hi = max(int(np.floor(y0 - half)), 0), min(int(np.ceil(y0 + half)) + 1, ny)
    if x_lo >= x_hi or y_lo >= y_hi:
        return None
    return slice(y_lo, y_hi), slice(x_lo, x_hi)


def _elliptical_coords(xx, yy, x0, y0, ellip, theta):
    """Major-axis and minor-axis (stretched) coordinates, elliptical radius and angle."""
    dx, dy = xx - x0, yy - y0
    c, s = np.cos(theta), np.sin(theta)
    u = dx * c + dy * s
    v = (-dx * s + dy * c) / (1.0 - ellip)
    return u, v, np.hypot(u, v), np.arctan2(v, u)


def add_sersic(canvas, x0, y0, flux, n, r_e, ellip, theta, spiral=None, extent=8.0, oversample=5):
    """Add a Sérsic profile (optionally modulated by spiral arms) to ``canvas``.

    Parameters
    ----------
    canvas : 2-D float array, modified in place.
    x0, y0 : float, centre (pixels).
    flux : float, total flux of the profile (counts), spiral modulation included.
    n, r_e, ellip, theta : Sérsic index, half-light radius (pixels), 1 - b/a, angle (radians).
    spiral : dict or None
        ``{'arms': m, 'pitch': radians, 'amplitude': A, 'phase': radians}``: the light is
        multiplied by ``1 + A w(r) cos(m (phi - ln(r / r_e) / tan(pitch)) + phase)`` with a taper
        ``w`` that switches the arms on beyond 0.5 r_e (flux is renormalised).
    extent : float, stamp half-width in units of r_e (at least 6 pixels).
    oversample : int, sub-pixels per side used for the central 5x5 pixels, where a cuspy
        profile varies within a pixel.
    """
    half = max(extent * r_e, 6.0) if np.isfinite(extent) else float(max(canvas.shape))
    sl = _stamp(canvas.shape, x0, y0, half)
    if sl is None or flux <= 0:
        return
    yy, xx = np.mgrid[sl[0], sl[1]].astype(float)
    profile = _sersic_values(xx, yy, x0, y0, n, r_e, ellip, theta, spiral)
    # Supersample the 5x5 pixels around the centre, where a cuspy profile varies within a pixel.
    cx, cy = int(round(x0)), int(round(y0))
    rows = np.arange(max(cy - 2, sl[0].start), min(cy + 3, sl[0].stop))
    cols = np.arange(max(cx - 2, sl[1].start), min(cx + 3, sl[1].stop))
    if rows.size and cols.size:
        off = (np.arange(oversample) + 0.5) / oversample - 0.5
        sy = (rows[:, None] + off[None, :]).ravel()
        sx = (cols[:, None] + off[None, :]).ravel()
        syy, sxx = np.meshgrid(sy, sx, indexing="ij")
        sub = _sersic_values(sxx, syy, x0, y0, n, r_e, ellip, theta, spiral)
        sub = sub.reshape(rows.size, oversample, cols.size, oversample).mean(axis=(1, 3))
        profile[rows[0] - sl[0].start:rows[-1] + 1 - sl[0].start,
                cols[0] - sl[1].start:cols[-1] + 1 - sl[1].start] = sub
    # Normalise to the analytic total (light outside the stamp is lost, as in real cutouts);
    # with arms, the modulation's own small net flux is removed by a numerical rescale.
    amplitude = sersic_amplitude(flux, n, r_e, ellip)
    if spiral is not None:
        plain = _sersic_values(xx, yy, x0, y0, n, r_e, ellip, theta, None)
        profile *= plain.sum() / max(profile.sum(), 1e-30)
    canvas[sl] += amplitude * profile


def _sersic_values(xx, yy, x0, y0, n, r_e, ellip, theta, spiral):
    bn = sersic_bn(n)
    if spiral is None:  # the common case: no polar angle needed (arctan2 is the costly part)
        dx, dy = xx - x0, yy - y0
        c, s = np.cos(theta), np.sin(theta)
        u = dx * c + dy * s
        v = (dy * c - dx * s) * (1.0 / (1.0 - ellip))
        r2 = (u * u + v * v) * (1.0 / (r_e * r_e))
        return np.exp(-bn * (r2 ** (0.5 / n) - 1.0))
    u, v, r, phi = _elliptical_coords(xx, yy, x0, y0, ellip, theta)
    values = np.exp(-bn * ((r / r_e) ** (1.0 / n) - 1.0))
    if spiral is not None:
        rr = np.maximum(r, 1e-3 * r_e)
        wind = np.log(rr / r_e) / np.tan(spiral["pitch"])
        taper = 1.0 - np.exp(-((rr / (0.6 * r_e)) ** 2))
        arms = np.cos(spiral["arms"] * (phi - wind) + spiral["phase"])
        values = values * (1.0 + spiral["amplitude"] * taper * arms)
    return values


def add_clumps(rng, canvas, x0, y0, flux, r_e, ellip, theta, count, sigma_px):
    """Add ``count`` Gaussian star-forming clumps sharing ``flux``, scattered within ~1.5 r_e
    in the disc's plane (same ellipticity and angle)."""
    radius = r_e * np.sqrt(rng.uniform(0.05, 2.2, count))
    phi = rng.uniform(0, 2 * np.pi, count)
    u, v = radius * np.cos(phi), radius * np.sin(phi) * (1 - ellip)
    c, s = np.cos(theta), np.sin(theta)
    xs, ys = x0 + u * c - v * s, y0 + u * s + v * c
    weights = rng.dirichlet(np.ones(count)) * flux
    for x, y, w in zip(xs, ys, weights):
        add_gaussian(canvas, x, y, w, sigma_px)


def add_gaussian(canvas, x0, y0, flux, sigma):
    """Add a circular Gaussian blob of total ``flux`` and width ``sigma`` (pixels)."""
    sl = _stamp(canvas.shape, x0, y0, 4 * sigma + 1)
    if sl is None:
        return
    yy, xx = np.mgrid[sl[0], sl[1]].astype(float)
    sigma = max(sigma, 0.4)
    canvas[sl] += flux / (2 * np.pi * sigma**2) * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2)
                                                           / (2 * sigma**2))


def add_particles(canvas, xy_px, weights, smooth_px):
    """Paint point-like light at pixel positions ``xy_px`` (N, 2), Gaussian-smoothed.

    The smoothing (``smooth_px`` pixels, about a kpc) turns the discrete test particles of
    the orbit library into diffuse light; particles off the canvas are lost, as in a cutout.
    """
    ny, nx = canvas.shape
    pad = int(np.ceil(4 * smooth_px))
    hist, _, _ = np.histogram2d(xy_px[:, 1], xy_px[:, 0], bins=(ny + 2 * pad, nx + 2 * pad),
                                range=((-0.5 - pad, ny - 0.5 + pad), (-0.5 - pad, nx - 0.5 + pad)),
                                weights=weights)
    smooth = gaussian_filter(hist, smooth_px, mode="constant", truncate=4.0)
    canvas += smooth[pad:pad + ny, pad:pad + nx]


def add_star(canvas, x0, y0, flux, fwhm_arcsec, beta):
    """Add a star: the PSF itself (pixel-integrated Moffat) of total ``flux`` at (x0, y0)."""
    size = 41 if flux < 2e3 else 81
    ix, iy = int(round(x0)), int(round(y0))
    psf = moffat_image(size, fwhm_arcsec, beta, dx=x0 - ix, dy=y0 - iy, oversample=3)
    half = size // 2
    ny, nx = canvas.shape
    y_lo, y_hi = max(iy - half, 0), min(iy + half + 1, ny)
    x_lo, x_hi = max(ix - half, 0), min(ix + half + 1, nx)
    if y_lo >= y_hi or x_lo >= x_hi:
        return
    canvas[y_lo:y_hi, x_lo:x_hi] += flux * psf[y_lo - (iy - half):y_hi - (iy - half),
                                               x_lo - (ix - half):x_hi - (ix - half)]
