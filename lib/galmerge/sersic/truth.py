"""Sérsic fitters against an independent truth: GalSim-rendered galaxies (issue 11).

The mock (:mod:`galmerge.mock`) renders galaxies with our own code; a fitter tested only on it
could share its mistakes. GalSim (Rowe et al. 2015) renders exact Sérsic profiles convolved
with a Moffat PSF and integrated over the pixels, independently of this package. Two sets:

- ``isolated``: one galaxy at the centre of a 128 px image, S/N 50-300 (GalSim's optimal S/N
  ``sqrt(sum I^2) / sigma``), ``n`` log-uniform in 0.5-5, half-light radius 2-8 px (0.34-1.3
  arcsec at HSC's 0.168 arcsec/px), axis ratio 0.3-1;
- ``neighbours`` ("HSC-like"): the same primary at S/N 30-300 with 1-4 fainter Sérsic neighbours
  (0.05-0.7 times its flux) 12-50 px from it, so that segments touch and deblending matters;
- ``bright`` (issue 21): one bright galaxy with its own Poisson noise, where the weighting and
  the sky matter most: ``n`` log-uniform in 0.8-4, semi-major ``r_e`` 4-12 px, total flux
  log-uniform in 3e4-2e5 electrons, gain 1 (``gain`` in each record), sky noise sigma 1 e-;
- ``bright_neighbours``: the ``bright`` primary with 1-4 neighbours as in ``neighbours``.

The two sets with Poisson noise draw it from the noiseless image in electrons
(``poisson(clean * gain) / gain``) and add the Gaussian sky; the others have Gaussian sky noise
only and no gain (``gain`` None).

The PSF is a Moffat of FWHM 3.2-4.0 px (HSC-Wide i band, median 0.6 arcsec) and beta 2.5-4.5,
drawn by GalSim with the pixel response (as survey PSF images are); the noise is Gaussian sky
noise. Truth is in statmorph's conventions: ``r_e`` the semi-major half-light axis (GalSim's
half-light radius of the round profile over sqrt(q), since its shear keeps the area),
ellipticity ``1 - q``, position angle from +x counter-clockwise.

GalSim is an optional dependency (the ``test`` extra): import this module only where it is
installed.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

#: Image side (px) of the truth images.
SIZE = 128
KINDS = ("isolated", "neighbours", "bright", "bright_neighbours")
#: Sets with the sources' Poisson noise (gain 1 e-/unit, sky sigma 1): issue 21.
BRIGHT = {"bright": "isolated", "bright_neighbours": "neighbours"}
BRIGHT_SKY_SIGMA = 1.0
BRIGHT_GAIN = 1.0


def render_truth_set(n: int, kind: str = "isolated", seed: int = 0, size: int = SIZE) -> list[dict]:
    """``n`` GalSim galaxies of ``kind`` (see the module docstring), deterministic in ``seed``.

    Returns
    -------
    list of dict
        ``image`` (noisy, float64), ``clean`` (noiseless, all galaxies), ``clean_primary``
        (noiseless primary alone), ``psf`` (the PSF image, 41 x 41, sum 1), ``sigma`` (the sky
        noise rms), ``gain`` (e- per image unit, or None without Poisson noise) and ``truth``
        (dict: ``flux, r_e, n, ellip, theta, xc, yc, snr``; px and radians).
    """
    import galsim

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    return [_truth_galaxy(galsim, rng, kind, size) for _ in range(n)]


def _truth_primary(rng, kind):
    """Primary's parameters (GalSim's round half-light radius ``hlr``, px) and total flux."""
    if kind in BRIGHT:
        q = rng.uniform(0.3, 1.0)
        r_e = rng.uniform(4.0, 12.0)  # semi-major, px
        p = dict(n=float(np.exp(rng.uniform(np.log(0.8), np.log(4.0)))), hlr=r_e * np.sqrt(q), q=q)
        flux = float(np.exp(rng.uniform(np.log(3e4), np.log(2e5))))
    else:
        p = dict(n=float(np.exp(rng.uniform(np.log(0.5), np.log(5.0)))), hlr=rng.uniform(2.0, 8.0),
                 q=rng.uniform(0.3, 1.0))
        flux = 1000.0
    p.update(theta=rng.uniform(0, np.pi), dx=rng.uniform(-0.5, 0.5), dy=rng.uniform(-0.5, 0.5))
    if kind not in BRIGHT:
        snr_range = (50, 300) if kind == "isolated" else (30, 300)
        p["snr"] = float(np.exp(rng.uniform(*np.log(snr_range))))
    return p, flux


def _truth_galaxy(galsim, rng, kind, size):
    fwhm, beta = rng.uniform(3.2, 4.0), rng.uniform(2.5, 4.5)
    psf = galsim.Moffat(beta=beta, fwhm=fwhm)
    psf_image = psf.drawImage(nx=41, ny=41, scale=1.0).array
    psf_image /= psf_image.sum()
    truth, flux = _truth_primary(rng, kind)
    primary = _draw(galsim, psf, truth, flux, size)
    clean = primary.copy()
    if BRIGHT.get(kind, kind) == "neighbours":
        for _ in range(int(rng.integers(1, 5))):
            distance, angle = rng.uniform(12, 50), rng.uniform(0, 2 * np.pi)
            other = dict(n=float(np.exp(rng.uniform(np.log(0.5), np.log(4.0)))), hlr=rng.uniform(1.0, 5.0),
                         q=rng.uniform(0.3, 1.0), theta=rng.uniform(0, np.pi),
                         dx=distance * np.cos(angle), dy=distance * np.sin(angle))
            clean += _draw(galsim, psf, other, flux * rng.uniform(0.05, 0.7), size)
    if kind in BRIGHT:
        sigma, gain = BRIGHT_SKY_SIGMA, BRIGHT_GAIN
        image = rng.poisson(np.clip(clean, 0.0, None) * gain) / gain + rng.normal(0.0, sigma, clean.shape)
        # GalSim's optimal S/N with the source's own variance included
        truth["snr"] = float(np.sqrt((primary ** 2 / (sigma ** 2 + np.clip(clean, 0, None) / gain)).sum()))
    else:
        sigma, gain = float(np.sqrt((primary ** 2).sum()) / truth["snr"]), None
        image = clean + rng.normal(0.0, sigma, clean.shape)
    c = (size - 1) / 2
    q = truth["q"]
    return dict(image=image, clean=clean, clean_primary=primary, psf=psf_image, sigma=sigma, gain=gain,
                truth=dict(flux=flux, r_e=truth["hlr"] / np.sqrt(q), n=truth["n"], ellip=1 - q,
                           theta=truth["theta"], xc=c + truth["dx"], yc=c + truth["dy"],
                           snr=truth["snr"], psf_fwhm=fwhm))


def _draw(galsim, psf, p, flux, size):
    gal = galsim.Sersic(n=p["n"], half_light_radius=p["hlr"], flux=flux)
    gal = gal.shear(q=p["q"], beta=p["theta"] * galsim.radians)
    final = galsim.Convolve(gal, psf)
    image = final.drawImage(nx=size, ny=size, scale=1.0, offset=(p["dx"], p["dy"]))
    return image.array.astype(np.float64)


def fit_truth_set(galaxies: list[dict], fitter: str, background: str = "flat", **options) -> pd.DataFrame:
    """Fit every galaxy with :func:`galmerge.sersic.fit.fit_image`; one row per galaxy.

    Columns: the truth, the primary's fit (``fit_r_e, fit_n, fit_ellip, fit_xc, fit_yc,
    flag_sersic``), the errors ``dr_rel`` = (fit - true) / true r_e, ``dn_rel``, ``de``
    (fit - true ellipticity), ``failed`` (no usable fit of the primary: status not ok, no
    primary within 3 px of the true centre, or the primary's fit not in the model),
    ``cpu_s`` (CPU seconds of ``fit_image``) and the fit's ``chi_mean, chi_rms``.
    """
    from galmerge.sersic.fit import fit_image

    rows = []
    for g in galaxies:
        t0 = time.process_time()
        result = fit_image(g["image"], psf=g["psf"], fitter=fitter, background=background,
                           **{"gain": g.get("gain"), **options})
        seconds = time.process_time() - t0
        t = g["truth"]
        row = {**{f"true_{k}": v for k, v in t.items()}, "cpu_s": seconds, "status": result.status}
        p = result.primary
        ok = p is not None and result.status == "ok" and bool(p["used_in_model"]) and \
            np.hypot(p["sersic_xc"] - t["xc"], p["sersic_yc"] - t["yc"]) < 3
        if p is not None:
            row.update(fit_r_e=p["sersic_rhalf"], fit_n=p["sersic_n"], fit_ellip=p["sersic_ellip"],
                       fit_xc=p["sersic_xc"], fit_yc=p["sersic_yc"], flag_sersic=int(p["flag_sersic"]),
                       chi_mean=p["chi_mean"], chi_rms=p["chi_rms"])
        row["failed"] = not ok
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in ("fit_r_e", "fit_n", "fit_ellip"):
        if column not in table:
            table[column] = np.nan
    table["dr_rel"] = (table["fit_r_e"] - table["true_r_e"]) / table["true_r_e"]
    table["dn_rel"] = (table["fit_n"] - table["true_n"]) / table["true_n"]
    table["de"] = table["fit_ellip"] - table["true_ellip"]
    return table


def summarise(table: pd.DataFrame) -> pd.Series:
    """Median and 90th percentile of |dr_e|/r_e, |dn|/n, |de| over the successful fits (the spread),
    their signed medians (the bias), failures and mean CPU s per image."""
    good = table[~table["failed"]]
    out = {"galaxies": len(table), "failures": int(table["failed"].sum())}
    for column, name in (("dr_rel", "|dr_e|/r_e"), ("dn_rel", "|dn|/n"), ("de", "|de|")):
        values = good[column].abs()
        out[f"median {name}"] = float(values.median()) if len(values) else np.nan
        out[f"p90 {name}"] = float(values.quantile(0.9)) if len(values) else np.nan
    out["median signed dr_e/r_e"] = float(good["dr_rel"].median()) if len(good) else np.nan
    out["median signed dn/n"] = float(good["dn_rel"].median()) if len(good) else np.nan
    out["median signed de"] = float(good["de"].median()) if len(good) else np.nan
    out["mean CPU s per image"] = float(table["cpu_s"].mean())
    return pd.Series(out)


def flux_kept(galaxies: list[dict], background: str, region: str = "aperture", **detection) -> np.ndarray:
    """Fraction of each primary's light that ``background`` leaves in it, per image.

    Inside the elliptical aperture of semi-major axis ``max(4 r_e, 10 px)`` around the true
    centre (true shape): ``1 - sum(background) / sum(noiseless primary)``. The true sky is 0,
    so whatever the background estimate holds there was taken from the galaxy. (Over the whole
    image the statistical error of a flat level, summed over 16,000 pixels, would swamp the
    measurement at low S/N; inside the aperture it is what a fit of the galaxy sees.)
    ``region="image"``: the same over the whole image.
    """
    from galmerge.sersic.fit import DETECTION_DEFAULTS, _background

    opts = {**DETECTION_DEFAULTS, **detection}
    kept = []
    for g in galaxies:
        image = np.ascontiguousarray(g["image"], dtype=np.float64)
        back = _background(image, np.zeros(image.shape, bool), background, opts, None)[0]
        t = g["truth"]
        y, x = np.mgrid[:image.shape[0], :image.shape[1]]
        c, s = np.cos(t["theta"]), np.sin(t["theta"])
        dx, dy = x - t["xc"], y - t["yc"]
        a = max(4 * t["r_e"], 10.0)
        inside = ((c * dx + s * dy) / a) ** 2 + ((-s * dx + c * dy) / (a * (1 - t["ellip"]))) ** 2 <= 1
        if region == "image":
            inside[:] = True
        kept.append(float(1.0 - back[inside].sum() / g["clean_primary"][inside].sum()))
    return np.array(kept)


#: The (fitter, background) pairs compared in 01_sersic_fitting: both fitters after the same
#: background, and the paper's reading (statmorph after SEP's boxes) for reference.
COMPARED = (("lm", "flat"), ("statmorph", "flat"), ("statmorph", "sep"))


def compare_fitters(n: int, seed: int = 1, pairs=COMPARED, progress: bool = True,
                    kinds=("isolated", "neighbours")) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit ``n`` galaxies of each of ``kinds`` with every (fitter, background) pair.

    Returns
    -------
    fits : pandas.DataFrame
        One row per galaxy and pair (:func:`fit_truth_set`'s columns plus ``kind``, ``fitter``,
        ``background``).
    summary : pandas.DataFrame
        :func:`summarise` per set and pair (rows ``(kind, "fitter/background")``).
    """
    from tqdm import tqdm

    tables, rows = [], {}
    steps = [(kind, pair) for kind in kinds for pair in pairs]
    galaxies = {}
    for kind, (fitter, background) in tqdm(steps, disable=not progress, desc="GalSim truth"):
        if kind not in galaxies:
            galaxies[kind] = render_truth_set(n, kind, seed=seed)
        table = fit_truth_set(galaxies[kind], fitter, background)
        table.insert(0, "kind", kind)
        table.insert(1, "fitter", fitter)
        table.insert(2, "background", background)
        tables.append(table)
        rows[(kind, f"{fitter}/{background}")] = summarise(table)
    return pd.concat(tables, ignore_index=True), pd.DataFrame(rows).T
