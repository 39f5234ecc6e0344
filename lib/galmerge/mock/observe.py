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
- Correlated noise: coadds are built by warping every exposure onto the output grid with a
  Lanczos-3 kernel (HSC pipeline, Bosch et al. 2018), which correlates neighbouring pixels.
  The noise field is white noise (sky + source Poisson variance) convolved with a Gaussian of
  sigma :data:`NOISE_CORRELATION_PX` (drawn per cutout), normalised so that the per-pixel rms
  stays the sky rms; neighbouring pixels then correlate at ~0.2-0.5.
- Sky structure: HSC-Wide sky subtraction leaves low-level residuals, gradients and the
  extended halos of bright stars (Aihara et al. 2018, 2019). Each cutout gets a smooth residual
  (a plane plus a few large-scale Fourier modes) of rms :data:`SKY_RESIDUAL_RMS` x sky rms,
  and, with the sky density of i < 16 stars (:data:`BRIGHT_STARS_PER_ARCMIN2`), the wings of
  a bright star that may lie up to 40 arcsec outside the cutout (a broad Moffat, beta 1.8-2.5).
Every cutout draws all of these from the same laws, whatever its class.
"""

from __future__ import annotations

import numpy as np

from galmerge.data.cosmology import HSC_PIXEL_SCALE

ZERO_POINT = 27.0
SKY_MAG_ARCSEC2 = 20.5
DEPTH_MEAN, DEPTH_SCATTER = 26.0, 0.15
PSF_FWHM_MEAN, PSF_FWHM_SCATTER, PSF_FWHM_RANGE = 0.6, 0.07, (0.45, 0.85)
PSF_BETA_NOMINAL = 3.0
#: Side of the PSF image (pixels, odd; 6.9 arcsec, > 10 FWHM).
PSF_SIZE = 41
#: Gaussian sigma (pixels) of the resampling correlation of coadd noise, drawn uniformly.
NOISE_CORRELATION_PX = (0.45, 0.8)
#: rms of the smooth sky residual in units of the sky rms (log-uniform range).
SKY_RESIDUAL_RMS = (0.02, 0.25)
#: Stars brighter than i = 16 per arcmin^2 at high Galactic latitude (order of magnitude).
BRIGHT_STARS_PER_ARCMIN2, BRIGHT_STAR_MAG_RANGE, BRIGHT_STAR_MARGIN_ARCSEC = 0.03, (12.0, 16.0), 40.0


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
            "sky_level": sky_level, "gain": float(gain),
            "noise_corr_px": float(rng.uniform(*NOISE_CORRELATION_PX)),
            "sky_residual": float(np.exp(rng.uniform(*np.log(SKY_RESIDUAL_RMS))))}


def sky_structure(rng, size: int, cond: dict) -> tuple[np.ndarray, int]:
    """Smooth sky residual and bright-star wings (counts) of one cutout; also the number of bright stars."""
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size - 0.5
    field = rng.normal() * xx + rng.normal() * yy
    for _ in range(3):  # a few large-scale modes (wavelengths of 1-3 cutout sides)
        kx, ky = rng.uniform(-2 * np.pi, 2 * np.pi, 2)
        field = field + rng.normal() * np.cos(kx * xx + ky * yy + rng.uniform(0, 2 * np.pi))
    field *= cond["sky_residual"] * cond["sky_rms"] / max(float(field.std()), 1e-12)
    margin = BRIGHT_STAR_MARGIN_ARCSEC / HSC_PIXEL_SCALE
    side_arcmin = (size + 2 * margin) * HSC_PIXEL_SCALE / 60.0
    n_bright = int(rng.poisson(BRIGHT_STARS_PER_ARCMIN2 * side_arcmin**2))
    for _ in range(n_bright):
        x, y = rng.uniform(-margin, size + margin, 2)
        flux = float(mag_to_counts(rng.uniform(*BRIGHT_STAR_MAG_RANGE)))
        beta = rng.uniform(1.8, 2.5)
        alpha = moffat_alpha(cond["psf_fwhm"] / HSC_PIXEL_SCALE, beta)
        r2 = ((np.arange(size) - x)[None, :] ** 2 + (np.arange(size) - y)[:, None] ** 2) / alpha**2
        # Analytic pixel-centre Moffat: fine for the wings; a saturated core is masked in real data.
        field += flux * (beta - 1) / (np.pi * alpha**2) * (1.0 + r2) ** (-beta)
    return field, n_bright


def add_noise(rng, image: np.ndarray, sky_rms: float, gain: float, corr_px: float = 0.0) -> np.ndarray:
    """Sky-subtracted image with sky noise and the sources' Poisson noise (Gaussian limit).

    With ``corr_px`` > 0 the noise is convolved with a Gaussian of that sigma (pixels) and
    rescaled, so its per-pixel rms is unchanged but neighbouring pixels correlate (resampling).
    """
    variance = sky_rms**2 + np.clip(image, 0.0, None) / gain
    noise = rng.standard_normal(image.shape)
    if corr_px > 0:
        from scipy.ndimage import gaussian_filter

        # Normalisation of a unit-variance white field after the filter (exact for the kernel).
        half = int(np.ceil(4 * corr_px))
        k = np.exp(-0.5 * (np.arange(-half, half + 1) / corr_px) ** 2)
        k /= k.sum()
        noise = gaussian_filter(noise, corr_px, mode="wrap", truncate=4.0) / float(np.sum(k**2))
    return image + noise * np.sqrt(variance)
