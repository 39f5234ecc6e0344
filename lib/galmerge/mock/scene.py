"""One cutout: the galaxies of a planned object at its merger time, observed like HSC-Wide i.

Galaxies (per sequence, shared by all snapshots of a sequence)
    Absolute i magnitude at z = 0 uniform in -23 .. -20, brightening by 1 mag per unit
    redshift (passive evolution; no K-correction). Discs (65 %, n 0.7-1.6) or spheroids
    (n 2.5-4.5); half-light radius from a luminosity-size relation
    ``r_e = 10^(0.55 + 0.2 (-M - 21.5)) kpc`` (0.12 dex scatter, spheroids x0.7), shrinking
    as (1+z)^-0.75. Each galaxy is one Sérsic profile (its true parameters are the catalogue's
    ``true_*`` columns) plus an outer disc / stellar halo of test particles holding
    ``f_outer`` of its light (discs 55-70 %, spheroids 8-15 %; :data:`DISC_OUTER_SHARE`). Discs may carry spiral arms,
    a bar and star-forming clumps, whatever their class.
One rendering path
    Every galaxy of a cutout (primary, companion, remnant, chance neighbour) is drawn by
    :func:`paint_galaxy` (Sérsic core with its bar, clumps and arms) plus :data:`orbits.N_PART_DISC`
    outer-disc test particles smoothed by :data:`PARTICLE_SMOOTH_KPC` at the galaxy's own
    redshift, so neither texture nor brightness order tells a companion from a neighbour.
Encounters: major and minor mergers, flybys (same code path; mass ratio 1-4, 4-10, 1-10)
    An orbit of the restricted N-body library (:mod:`galmerge.mock.orbits`: hundreds of
    integrations with continuous parameters), a random viewing rotation and mirror parity, and
    a homologous size scale; at the object's merger time the particles give bridges, tails,
    shells and fading debris; the companion's Sérsic sits at its projected position (possibly
    outside the cutout). Tides distort the smooth light too: the deformation of each galaxy's
    own particle cloud since the start of the encounter (second moments within 2.5 r_e, now
    against the first library frame, same view) is applied to its intrinsic shape
    (:func:`tidal_shape`), so interacting and merged galaxies are on average more elongated.
Remnants (after coalescence)
    A remnant has NOT relaxed within the 0.3 Gyr after coalescence that the challenge calls
    post-merger: violent relaxation and phase mixing take a few dynamical times, of order
    :data:`T_RELAX` = 1 Gyr (DESIGN.md; the paper's Sect. 4.3 / Fig 9 finds TNG mergers' Sérsic
    fits more elliptical than non-mergers'). So the remnant keeps the deformed, elongated shape
    of the N-body debris; its Sérsic index starts at the light-weighted mean of its progenitors
    and grows towards a spheroid's (3-4.5) only as ``relax = clip(t / T_RELAX, 0, 1)``; only
    ``RELAXED_MAX * relax`` of the debris' azimuthal mean light has settled into the smooth
    profile, the rest (tails, shells, plumes, asymmetric envelope) stays as particle light and
    fades by phase mixing; a second nucleus (offset core) sinks and fades over 0.1 Gyr.
Non-mergers
    Everything that is not a major merger within -0.8..+0.3 Gyr of coalescence (issue 20, see
    :mod:`galmerge.mock.plan`): isolated galaxies (undisturbed particle disc at the Sérsic's
    inclination and angle), minor mergers, major pairs more than 0.8 Gyr before coalescence,
    major remnants more than 0.3 Gyr after (drawn by the same code as the mergers, only at
    other times) and flybys (a companion on a hyperbolic orbit, times from its pericentre; its
    discs are tidally disturbed but never merge). Chance projected neighbours at another
    redshift occur with the same probability whatever the class, drawn from the same galaxy
    population.
Field
    Unrelated faint galaxies (i-band counts ~55 arcmin^-2 to i = 26, slope 0.33 dex/mag; too
    small for an outer disc to matter, so plain Sérsics) and stars (1.5 arcmin^-2, i 17-24.5),
    then the PSF, and the correlated noise, sky residuals and bright-star halos of HSC coadds
    (:mod:`galmerge.mock.observe`), all drawn the same way for every cutout.

Geometry: the challenge keeps HSC's 0.168 arcsec pixels at the folder's fixed size, so a
cutout spans ``N * kpc_per_pixel(z)``: 100-250 kpc (~160 kpc on average), recorded per object
as ``true_field_kpc``. The main galaxy (or remnant) sits within half a pixel of the centre.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

from galmerge.data.cosmology import (
    COSMOLOGY,
    HSC_PIXEL_SCALE,
    image_size_for_snapnum,
    kpc_per_pixel,
    snapnum_to_redshift,
)
from galmerge.mock import observe, orbits, render

EVOLUTION_MAG_PER_Z = 1.0
#: Probability of a chance projected neighbour: the same for every cutout, whatever its class
#: (a chance projection knows nothing of the central galaxy's merger history).
NEIGHBOUR_PROBABILITY = 0.3
FIELD_COUNTS_PER_ARCMIN2_TO_26 = 55.0
FIELD_SLOPE = 0.33
FIELD_MAG_RANGE = (19.0, 26.8)
STARS_PER_ARCMIN2, STAR_MAG_RANGE = 1.5, (17.0, 24.5)
#: Library kpc per galaxy kpc: the library's particle disc belongs to a galaxy of r_e ~ 4 kpc.
LIBRARY_R_E_KPC = 4.0
PARTICLE_SMOOTH_KPC = 1.2
#: Share of a disc's light carried by its test particles, which start at 0.8 scale lengths h: an
#: exponential disc holds 1.8 exp(-0.8) = 81 % of its light beyond 0.8 h, and disc galaxies have
#: bulge-to-total ratios of ~0.1-0.3 (Gadotti 2009, MNRAS 393, 1531), so 0.81 (1 - B/T) = 0.55-0.70
#: of a disc's light lies where the particles are and should respond to tides. (Until 2026-12-07 it
#: was 0.20-0.35, which left the mock's mergers as symmetric as its non-mergers; measured in
#: benchmarks/mock_tidal_response.py: the post-mergers' median asymmetry doubles, 0.018 -> 0.036.)
#: The rigid Sérsic keeps its full profile, so a disc's central surface brightness is 0.30-0.45 of a pure
#: exponential's and the composite is flatter and larger than the rigid part the ``true_*`` columns describe:
#: on the quick run the fitted Sérsic index is a median 28 % under the truth (15 % before) and the
#: half-light radius 22 % over it (11 % before; 01's table sersic_vs_truth).
DISC_OUTER_SHARE = (0.55, 0.70)
#: Share for spheroids: a stellar halo beyond the particles' inner radius.
SPHEROID_OUTER_SHARE = (0.08, 0.15)
#: Fraction of the debris' azimuthal mean folded into the remnant's Sérsic profile once relaxed.
RELAXED_MAX = 0.85
#: Time after coalescence (Gyr) over which a remnant relaxes (a few dynamical times).
T_RELAX = 1.0
#: Sérsic index a major-merger remnant tends to once relaxed (spheroid-like).
N_RELAXED = (3.0, 4.5)


# ----------------------------------------------------------------------------- galaxies
def draw_galaxy(rng, abs_mag0: float | None = None) -> dict:
    """Intrinsic properties of one galaxy (redshift-independent)."""
    if abs_mag0 is None:
        abs_mag0 = rng.uniform(-23.0, -20.0)
    disc = rng.random() < 0.65
    n = rng.uniform(0.7, 1.6) if disc else rng.uniform(2.5, 4.5)
    log_re = 0.55 + 0.2 * (-abs_mag0 - 21.5) + rng.normal(0, 0.12)
    r_e0 = 10**log_re * (1.0 if disc else 0.7)
    galaxy = {
        "abs_mag0": float(abs_mag0), "disc": bool(disc), "n": float(n), "r_e0_kpc": float(r_e0),
        "ellip": float(rng.uniform(0.05, 0.7) if disc else rng.uniform(0.0, 0.4)),
        "theta": float(rng.uniform(0, np.pi)),
        "f_outer": float(rng.uniform(*(DISC_OUTER_SHARE if disc else SPHEROID_OUTER_SHARE))),
        "spiral": None, "bar": None, "clumps": None,
    }
    if disc and rng.random() < 0.5:
        galaxy["spiral"] = {"arms": int(rng.choice([2, 2, 3, 4])), "pitch": float(rng.uniform(0.2, 0.45)),
                            "amplitude": float(rng.uniform(0.3, 0.8)), "phase": float(rng.uniform(0, 2 * np.pi))}
    if disc and rng.random() < 0.3:
        galaxy["bar"] = {"fraction": float(rng.uniform(0.06, 0.15)), "length": float(rng.uniform(0.5, 0.9)),
                         "dtheta": float(rng.uniform(-np.pi / 2, np.pi / 2))}
    if disc and rng.random() < 0.35:
        galaxy["clumps"] = {"fraction": float(rng.uniform(0.04, 0.12)), "count": int(rng.integers(3, 9))}
    return galaxy


def draw_sequence(rng, kind: str, orbit: int) -> dict:
    """Everything shared by the objects of one sequence: galaxies, orbit, viewing rotation.

    ``kind``: 'isolated' or an orbit-library kind ('major', 'minor', 'flyby'); ``orbit``: the
    library index the plan gave the sequence (ignored for isolated galaxies).
    """
    sequence = {"kind": kind, "main": draw_galaxy(rng)}
    if kind in orbits.KINDS:
        library = orbits.get_library()[kind]
        index = int(orbit)
        if not 0 <= index < len(library):
            raise ValueError(f"orbit {index} is not in the {kind} library ({len(library)} orbits)")
        q = library[index].mass_ratio
        # A mirror image of an orbit is an equally valid solution (Newtonian gravity is parity
        # invariant): an improper view doubles the distinct realisations.
        mirror = np.diag([1.0, 1.0, -1.0 if rng.random() < 0.5 else 1.0])
        sequence.update(orbit=index, mass_ratio=q, view=random_rotation(rng) @ mirror,
                        companion=draw_galaxy(rng, sequence["main"]["abs_mag0"] + 2.5 * np.log10(q)),
                        nucleus_angle=float(rng.uniform(0, 2 * np.pi)),
                        n_relaxed=float(rng.uniform(*N_RELAXED)))
    return sequence


def random_rotation(rng) -> np.ndarray:
    """A uniformly random 3-D rotation matrix."""
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([[a*a + b*b - c*c - d*d, 2*(b*c - a*d), 2*(b*d + a*c)],
                     [2*(b*c + a*d), a*a - b*b + c*c - d*d, 2*(c*d - a*b)],
                     [2*(b*d - a*c), 2*(c*d + a*b), a*a - b*b - c*c + d*d]])


def at_redshift(galaxy: dict, z: float, kpc_px: float) -> dict:
    """Apparent magnitude and pixel size of ``galaxy`` at redshift ``z``."""
    mag = galaxy["abs_mag0"] - EVOLUTION_MAG_PER_Z * z + COSMOLOGY.distmod(z).value
    r_e_kpc = galaxy["r_e0_kpc"] * (1 + z) ** -0.75
    return {"mag_total": float(mag), "flux_total": float(observe.mag_to_counts(mag)),
            "r_e_kpc": float(r_e_kpc), "r_e_px": float(r_e_kpc / kpc_px)}


def paint_galaxy(rng, canvas, galaxy, x, y, flux_core, r_e_px, n, ellip, theta, features):
    """The Sérsic core of a galaxy with its spiral arms, bar and clumps (in ``flux_core``)."""
    flux_sersic = flux_core
    if galaxy.get("bar"):
        bar = galaxy["bar"]
        render.add_sersic(canvas, x, y, bar["fraction"] * flux_core, 0.5, bar["length"] * r_e_px,
                          0.7, theta + bar["dtheta"] * (1 - ellip))
        flux_sersic -= bar["fraction"] * flux_core
        features.add("bar")
    if galaxy.get("clumps"):
        cl = galaxy["clumps"]
        render.add_clumps(rng, canvas, x, y, cl["fraction"] * flux_core, r_e_px, ellip, theta,
                          cl["count"], max(0.1 * r_e_px, 0.5))
        flux_sersic -= cl["fraction"] * flux_core
        features.add("clumps")
    if galaxy.get("spiral"):
        features.add("spiral")
    # No stamp: the whole cutout, so that the wings of a large n ~ 4 profile are not cut square.
    render.add_sersic(canvas, x, y, flux_sersic, n, r_e_px, ellip, theta, spiral=galaxy.get("spiral"),
                      extent=np.inf)
    return flux_sersic


def _moments(xy: np.ndarray, radius: float):
    """Second-moment tensor of the points within ``radius`` of the origin (None if < 20)."""
    inner = xy[np.hypot(xy[:, 0], xy[:, 1]) < radius]
    if len(inner) < 20:
        return None
    cov = np.cov(inner.T)
    return cov + 0.02 * np.trace(cov) * np.eye(2)  # regularised: an edge-on disc is not singular


def _sqrtm(matrix):
    evals, evecs = np.linalg.eigh(matrix)
    return (evecs * np.sqrt(np.maximum(evals, 1e-12))) @ evecs.T


def tidal_shape(xy_now, xy_ref, radius, ellip, theta):
    """Intrinsic shape (``ellip``, ``theta``) deformed as the particle cloud was since ``xy_ref``.

    The deformation ``A = C_now^(1/2) C_ref^(-1/2)`` of the particles' second moments (within
    ``radius``, same units as the positions) maps the intrinsic shape tensor ``S`` to
    ``A S A^T``; without distortion ``A`` is the identity and the shape is unchanged.
    """
    c_now, c_ref = _moments(xy_now, radius), _moments(xy_ref, radius)
    if c_now is None or c_ref is None:
        return float(ellip), float(theta)
    deform = _sqrtm(c_now) @ np.linalg.inv(_sqrtm(c_ref))
    c, s_ = np.cos(theta), np.sin(theta)
    rot = np.array([[c, -s_], [s_, c]])
    shape = rot @ np.diag([1.0, (1.0 - ellip) ** 2]) @ rot.T
    shape = deform @ shape @ deform.T
    evals, evecs = np.linalg.eigh(shape)
    axis_ratio = np.sqrt(max(evals[0], 1e-12) / max(evals[1], 1e-12))
    angle = float(np.arctan2(evecs[1, 1], evecs[0, 1]) % np.pi)
    return float(np.clip(1 - axis_ratio, 0.0, 0.85)), angle


def isolated_disc_particles(rng, count, r_e_px, ellip, theta):
    """Outer-disc particles (pixels, relative to the centre) of an undisturbed galaxy."""
    h = r_e_px / 1.68
    radius = rng.gamma(2.0, h, 4 * count)
    radius = radius[(radius > 0.8 * h) & (radius < 5 * h)][:count]
    phi = rng.uniform(0, 2 * np.pi, radius.size)
    u, v = radius * np.cos(phi), radius * np.sin(phi) * (1 - ellip) + rng.normal(0, 0.1 * h, radius.size)
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([u * c - v * s, u * s + v * c], axis=1)


# ----------------------------------------------------------------------------- the cutout
def render_object(obj: dict, sequence: dict, object_seed: np.random.SeedSequence):
    """Image (float32, N x N, counts) and truth row of one planned object."""
    rng = np.random.default_rng(object_seed)
    z = float(snapnum_to_redshift(obj["snapnum"]))
    size = image_size_for_snapnum(obj["snapnum"])
    kpc_px = float(kpc_per_pixel(z))
    cond = observe.draw_conditions(rng)
    canvas = np.zeros((size, size))
    features: set[str] = set()
    truth = {"true_redshift": z, "true_kpc_per_pixel": kpc_px, "true_field_kpc": size * kpc_px,
             "true_psf_fwhm": cond["psf_fwhm"], "true_psf_beta": cond["psf_beta"],
             "true_sky_rms": cond["sky_rms"], "true_depth": cond["depth"], "true_gain": cond["gain"],
             "true_kind": sequence["kind"]}
    centre = (size - 1) / 2 + rng.uniform(-0.5, 0.5, 2)
    main = sequence["main"]
    main_z = at_redshift(main, z, kpc_px)
    smooth_px = max(PARTICLE_SMOOTH_KPC / kpc_px, 1.0)

    if sequence["kind"] == "isolated":
        flux_core = main_z["flux_total"] * (1 - main["f_outer"])
        flux_sersic = paint_galaxy(rng, canvas, main, *centre, flux_core, main_z["r_e_px"], main["n"],
                                   main["ellip"], main["theta"], features)
        xy = isolated_disc_particles(rng, orbits.N_PART_DISC, main_z["r_e_px"], main["ellip"], main["theta"])
        render.add_particles(canvas, xy + centre, np.full(len(xy), main_z["flux_total"] * main["f_outer"] / len(xy)),
                             smooth_px)
        truth.update(_component("main", centre, flux_sersic, main["n"], main_z, main["ellip"], main["theta"]))
        truth.update(_component("comp", (np.nan, np.nan), np.nan, np.nan, None, np.nan, np.nan))
        truth.update(true_mass_ratio=np.nan, true_separation_kpc=np.nan, true_companion_in_field=0,
                     true_orbit=-1)
    else:
        _paint_encounter(rng, canvas, obj, sequence, z, kpc_px, centre, smooth_px, features, truth)

    truth.update(_maybe_neighbour(rng, canvas, NEIGHBOUR_PROBABILITY, main_z["mag_total"], centre, features))
    n_field = _paint_field(rng, canvas, size)
    truth["true_n_field_galaxies"] = n_field
    image = fftconvolve(canvas, observe.moffat_image(observe.PSF_SIZE, cond["psf_fwhm"], cond["psf_beta"]),
                        mode="same")
    truth["true_n_stars"] = _paint_stars(rng, image, size, cond)
    sky, n_bright = observe.sky_structure(rng, size, cond)
    truth["true_n_bright_stars"] = n_bright
    truth["true_noise_corr_px"] = cond["noise_corr_px"]
    truth["true_sky_residual"] = cond["sky_residual"]
    # The source Poisson noise follows the sources, not the sky residual (already sky-subtracted).
    image = observe.add_noise(rng, image, cond["sky_rms"], cond["gain"], cond["noise_corr_px"]) + sky
    truth["true_features"] = ",".join(sorted(features))
    return image.astype(np.float32), truth, cond


def _component(prefix, xy, flux, n, at_z, ellip, theta):
    has = at_z is not None and np.isfinite(flux)
    return {f"true_{prefix}_x": float(xy[0]), f"true_{prefix}_y": float(xy[1]),
            f"true_{prefix}_mag": float(observe.counts_to_mag(flux)) if has else np.nan,
            f"true_{prefix}_n": float(n) if has else np.nan,
            f"true_{prefix}_r_e_px": at_z["r_e_px"] if has else np.nan,
            f"true_{prefix}_r_e_kpc": at_z["r_e_kpc"] if has else np.nan,
            f"true_{prefix}_ellip": float(ellip) if has else np.nan,
            f"true_{prefix}_theta": float(theta) if has else np.nan}


def _paint_encounter(rng, canvas, obj, sequence, z, kpc_px, centre, smooth_px, features, truth):
    """An encounter (major or minor merger, flyby) at the object's time: nuclei, Sérsic cores, particles."""
    kind, t = sequence["kind"], float(obj["merger_time"])
    orbit = orbits.get_library()[kind][sequence["orbit"]]
    main, comp = sequence["main"], sequence["companion"]
    main_z, comp_z = at_redshift(main, z, kpc_px), at_redshift(comp, z, kpc_px)
    # Homologous scaling at constant mean density (lengths x scale, times unchanged).
    scale = float(np.clip(main_z["r_e_kpc"] / LIBRARY_R_E_KPC, 0.6, 1.5))
    xy_kpc, comp_kpc, _depth = orbits.project(orbit, t, sequence["view"], scale)
    ref_kpc, ref_comp_kpc, _ = orbits.project(orbit, float(orbit.times[0]), sequence["view"], scale)
    xy = xy_kpc / kpc_px + centre
    n1 = orbit.n_primary
    weights = np.concatenate([
        np.full(n1, main_z["flux_total"] * main["f_outer"] / n1),
        np.full(len(xy) - n1, comp_z["flux_total"] * comp["f_outer"] / (len(xy) - n1))])
    debris = np.zeros_like(canvas)
    render.add_particles(debris, xy, weights, smooth_px)
    relaxed_flux = 0.0
    relax = float(np.clip(t / T_RELAX, 0.0, 1.0))
    if t >= 0 and kind != "flyby":
        # Partial relaxation: the part of the debris' azimuthal mean that has settled by now
        # joins the remnant's Sérsic light; tails, shells, plumes and the lopsided envelope stay.
        debris, relaxed_flux = remove_axisymmetric(debris, centre, RELAXED_MAX * relax)
    canvas += debris
    core1 = main_z["flux_total"] * (1 - main["f_outer"])
    core2 = comp_z["flux_total"] * (1 - comp["f_outer"])
    features.add({"major": "major_merger", "minor": "minor_merger", "flyby": "flyby"}[kind])
    truth.update(true_mass_ratio=sequence["mass_ratio"], true_orbit=sequence["orbit"])
    # Tidal deformation of the primary's light: its own particles now against the start.
    e1, th1 = tidal_shape(xy_kpc[:n1], ref_kpc[:n1], 2.5 * main_z["r_e_kpc"], main["ellip"], main["theta"])
    if t < 0 or kind == "flyby":  # a flyby's companion never merges (times from its pericentre)
        f1 = paint_galaxy(rng, canvas, main, *centre, core1, main_z["r_e_px"], main["n"], e1, th1, features)
        comp_xy = centre + comp_kpc / kpc_px
        e2, th2 = tidal_shape(xy_kpc[n1:] - comp_kpc, ref_kpc[n1:] - ref_comp_kpc, 2.5 * comp_z["r_e_kpc"],
                              comp["ellip"], comp["theta"])
        f2 = paint_galaxy(rng, canvas, comp, *comp_xy, core2, comp_z["r_e_px"], comp["n"], e2, th2, features)
        separation = float(np.hypot(*comp_kpc))
        in_field = bool(np.all((comp_xy >= 0) & (comp_xy <= canvas.shape[0] - 1)))
        features.add("companion" if sequence["mass_ratio"] <= 4 else "satellite")
        if in_field and separation < 10.0 and kind == "major":
            features.add("double_nucleus")
        truth.update(_component("main", centre, f1, main["n"], main_z, e1, th1))
        truth.update(_component("comp", comp_xy, f2, comp["n"], comp_z, e2, th2))
        truth.update(true_separation_kpc=separation, true_companion_in_field=int(in_field))
    else:
        # One unrelaxed remnant: both cores' light, the primary's tidally deformed shape, a
        # Sérsic index that only slowly tends to a spheroid's as the remnant relaxes.
        major = kind == "major"
        n_mix = (core1 * main["n"] + core2 * comp["n"]) / (core1 + core2)
        n_final = sequence.get("n_relaxed", 4.0) if major else n_mix
        n_rem = n_mix + (n_final - n_mix) * relax
        rem_z = dict(main_z, r_e_kpc=main_z["r_e_kpc"] * (1 + 0.5 / sequence["mass_ratio"]))
        rem_z["r_e_px"] = rem_z["r_e_kpc"] / kpc_px
        flux_rem = core1 + core2 + relaxed_flux
        second = 0.0
        if major and t < 0.1:
            # A fading second nucleus, sinking into the remnant (an offset, double core).
            second = 0.5 * core2 * (1 - t / 0.1)
            off = (0.3 + 1.5 * scale * (1 - t / 0.1)) / kpc_px
            ang = sequence["nucleus_angle"]
            render.add_sersic(canvas, centre[0] + off * np.cos(ang), centre[1] + off * np.sin(ang),
                              second, 1.5, max(0.5 * comp_z["r_e_px"], 0.5), 0.2, ang)
            features.add("double_nucleus")
        remnant = dict(main, spiral=None if major else main["spiral"], bar=None if major else main["bar"])
        f_rem = paint_galaxy(rng, canvas, remnant, *centre, flux_rem - second, rem_z["r_e_px"], n_rem, e1, th1,
                             features)
        features.add("remnant" if major else "minor_debris")
        truth.update(_component("main", centre, f_rem, n_rem, rem_z, e1, th1))
        truth.update(_component("comp", (np.nan, np.nan), np.nan, np.nan, None, np.nan, np.nan))
        truth.update(true_separation_kpc=0.0, true_companion_in_field=0)
    if major_tidal(t, kind):
        features.add("tidal")


def remove_axisymmetric(light: np.ndarray, centre, fraction: float):
    """Subtract ``fraction`` of the azimuthal mean (1-pixel annuli about ``centre``) from ``light``.

    Returns the remaining light (clipped at 0) and the flux removed.
    """
    ny, nx = light.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    ring = np.hypot(xx - centre[0], yy - centre[1]).astype(int).ravel()
    mean = np.bincount(ring, light.ravel()) / np.maximum(np.bincount(ring), 1)
    remaining = np.clip(light - fraction * mean[ring].reshape(ny, nx), 0.0, None)
    return remaining, float(light.sum() - remaining.sum())


def major_tidal(t: float, kind: str) -> bool:
    """Whether the particles are expected to show tidal structure (after first passage)."""
    return kind == "major" and t > -0.6


def _maybe_neighbour(rng, canvas, probability, main_mag, centre, features):
    """A chance projected galaxy at another redshift (no tides), with probability ``probability``."""
    out = {"true_neighbour": 0, "true_neighbour_mag": np.nan, "true_neighbour_sep_px": np.nan}
    if rng.random() >= probability:
        return out
    size = canvas.shape[0]
    galaxy = draw_galaxy(rng)
    z = rng.uniform(0.1, 1.2)
    at_z = at_redshift(galaxy, z, float(kpc_per_pixel(z)))
    mag = main_mag + rng.uniform(-0.5, 2.5)
    sep = rng.uniform(0.06, 0.45) * size
    ang = rng.uniform(0, 2 * np.pi)
    x, y = centre[0] + sep * np.cos(ang), centre[1] + sep * np.sin(ang)
    flux = float(observe.mag_to_counts(mag))
    paint_galaxy(rng, canvas, galaxy, x, y, flux * (1 - galaxy["f_outer"]), at_z["r_e_px"], galaxy["n"],
                 galaxy["ellip"], galaxy["theta"], set())
    xy = isolated_disc_particles(rng, orbits.N_PART_DISC, at_z["r_e_px"], galaxy["ellip"], galaxy["theta"])
    smooth_px = max(PARTICLE_SMOOTH_KPC / float(kpc_per_pixel(z)), 1.0)  # the same rule as every galaxy
    render.add_particles(canvas, xy + (x, y), np.full(len(xy), flux * galaxy["f_outer"] / len(xy)), smooth_px)
    features.add("neighbour")
    return {"true_neighbour": 1, "true_neighbour_mag": float(mag), "true_neighbour_sep_px": float(sep)}


def _paint_field(rng, canvas, size) -> int:
    """Unrelated faint galaxies with Euclidean-like counts; returns how many were drawn."""
    area = (size * HSC_PIXEL_SCALE / 60.0) ** 2
    lo, hi = FIELD_MAG_RANGE
    k = FIELD_SLOPE * np.log(10)
    norm = FIELD_COUNTS_PER_ARCMIN2_TO_26 / (np.exp(k * 26.0) - np.exp(k * lo))
    expected = area * norm * (np.exp(k * hi) - np.exp(k * lo))
    count = int(rng.poisson(expected))
    u = rng.random(count)
    mags = np.log(np.exp(k * lo) + u * (np.exp(k * hi) - np.exp(k * lo))) / k
    for mag in mags:
        r_e = max(0.45 * 10 ** (-0.2 * (mag - 22.0)) * np.exp(rng.normal(0, 0.3)) / HSC_PIXEL_SCALE, 0.4)
        x, y = rng.uniform(-0.5, size - 0.5, 2)
        render.add_sersic(canvas, x, y, float(observe.mag_to_counts(mag)), rng.uniform(0.7, 3.0), r_e,
                          rng.uniform(0.0, 0.7), rng.uniform(0, np.pi), extent=5.0, oversample=3)
    return count


def _paint_stars(rng, image, size, cond) -> int:
    area = (size * HSC_PIXEL_SCALE / 60.0) ** 2
    count = int(rng.poisson(area * STARS_PER_ARCMIN2))
    for _ in range(count):
        mag = rng.uniform(*STAR_MAG_RANGE)
        x, y = rng.uniform(-0.5, size - 0.5, 2)
        render.add_star(image, x, y, float(observe.mag_to_counts(mag)), cond["psf_fwhm"], cond["psf_beta"])
    return count
