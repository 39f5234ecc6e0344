"""The HSC-Wide i-band observation model: photometric scale, PSF, sky and Poisson noise.

- Zero point 27 (AB mag of one count), pixel scale 0.168 arcsec (HSC).
- PSF: a Moffat profile (beta 2.5-3.5) whose FWHM scatters around 0.6 arcsec
  (HSC-Wide i-band median seeing ~0.6", Aihara et al. 2018), normal with sigma 0.07",
  clipped to 0.45-0.85". The nominal PSF (FWHM 0.6", beta 3) is written to ``psf/psf_i.fits``
  for the fitting stage, which therefore sees a realistic PSF mismatch.
- Sky: the 5-sigma point-source depth scatters around i = 26.0 (HSC-Wide: ~26.2),
  so the sky rms per pixel is flux(depth) / (5 sqrt(n_eff)) with n_eff = 4 pi sigma_psf^2
  the noise-equivalent area of the PSF (pixels).
- Poisson noise of the sources uses the effective gain of a sky-limited coadd,
  gain = sky level / sky rms^2, with the i-band sky at 20.5 mag/arcsec^2: the sky's own
  Poisson noise is then exactly the sky rms. The sky level itself is subtracted, as in HSC coadds.
"""

from __future__ import annotations

import numpy as np

from galmerge.cosmology import HSC_PIXEL_SCALE

ZERO_POINT = 27.0
SKY_MAG_ARCSEC2 = 20.5
DEPTH_MEAN, DEPTH_SCATTER = 26.0, 0.15
PSF_FWHM_MEAN, PSF_FWHM_SCATTER, PSF_FWHM_RANGE = 0.6, 0.07, (0.45, 0.85)
PSF_BETA_NOMINAL = 3.0
#: Side of the PSF image (pixels, odd; 6.9 arcsec, > 10 FWHM).
PSF_SIZE = 41


def mag_to_counts(mag):
    """Counts (zero point 27) of a source of AB magnitude ``mag``."""
    return 10.0 ** (-0.4 * (np.asarray(mag, float) - ZERO_POINT))


def counts_to_mag(counts):
    """AB magnitude of ``counts`` (zero point 27)."""
    return ZERO_POINT - 2.5 * np.log10(counts)


def moffat_alpha(fwhm_px: float, beta: float) -> float:
    """Moffat core width alpha (pixels) for a given FWHM (pixels) and beta."""
    return fwhm_px / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def moffat_image(size: int, fwhm_arcsec: float, beta: float, dx: float = 0.0, dy: float = 0.0,
                 oversample: int = 5) -> np.ndarray:
    """A pixel-integrated Moffat PSF on a ``size`` x ``size`` grid, normalised to sum 1.

    Parameters
    ----------
    size : int
        Side in pixels (odd: the centre is the middle pixel).
    fwhm_arcsec : float
        Full width at half maximum (arcsec).
    beta : float
        Moffat power index.
    dx, dy : float
        Sub-pixel offset of the centre (pixels).
    oversample : int
        Sub-pixels per pixel side used to integrate over each pixel.
    """
    if size % 2 == 0:
        raise ValueError(f"PSF size must be odd, got {size}")
    alpha = moffat_alpha(fwhm_arcsec / HSC_PIXEL_SCALE, beta)
    half = size // 2
    sub = (np.arange(size * oversample) + 0.5) / oversample - 0.5 - half
    yy, xx = np.meshgrid(sub - dy, sub - dx, indexing="ij")
    img = (1.0 + (xx**2 + yy**2) / alpha**2) ** (-beta)
    img = img.reshape(size, oversample, size, oversample).sum(axis=(1, 3))
    return img / img.sum()


def nominal_psf() -> np.ndarray:
    """The nominal HSC i-band PSF written to ``psf/psf_i.fits`` (float32, sum 1)."""
    return moffat_image(PSF_SIZE, PSF_FWHM_MEAN, PSF_BETA_NOMINAL).astype(np.float32)


def draw_conditions(rng) -> dict:
    """Random observing conditions of one cutout: PSF FWHM and beta, depth, sky rms, gain."""
    fwhm = float(np.clip(rng.normal(PSF_FWHM_MEAN, PSF_FWHM_SCATTER), *PSF_FWHM_RANGE))
    beta = float(rng.uniform(2.5, 3.5))
    depth = float(rng.normal(DEPTH_MEAN, DEPTH_SCATTER))
    sigma_psf_px = fwhm / HSC_PIXEL_SCALE / 2.3548
    n_eff = 4.0 * np.pi * sigma_psf_px**2
    sky_rms = float(mag_to_counts(depth) / (5.0 * np.sqrt(n_eff)))
    sky_level = float(mag_to_counts(SKY_MAG_ARCSEC2) * HSC_PIXEL_SCALE**2)
    gain = sky_level / sky_rms**2
    return {"psf_fwhm": fwhm, "psf_beta": beta, "depth": depth, "sky_rms": sky_rms,
            "sky_level": sky_level, "gain": float(gain)}


def add_noise(rng, image: np.ndarray, sky_rms: float, gain: float) -> np.ndarray:
    """Sky-subtracted image with sky noise and the sources' Poisson noise (Gaussian limit)."""
    variance = sky_rms**2 + np.clip(image, 0.0, None) / gain
    return image + rng.standard_normal(image.shape) * np.sqrt(variance)
