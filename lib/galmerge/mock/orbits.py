"""A library of restricted N-body merger orbits (Toomre & Toomre 1972), in numpy.

Two galaxies are softened point masses (Plummer spheres) on a bound, nearly parabolic
orbit; a dynamical-friction drag on their relative velocity makes the pair sink and
coalesce. Each galaxy carries a disc of massless test particles on circular orbits
(random disc orientations, prograde and retrograde encounters alike). After coalescence
the two masses become one at the centre of mass and the particles keep moving in the
remnant's potential, so tails fall back, shells form and the debris phase-mixes: the
shape and the fading of tidal features follow from the merger clock, not from drawn arcs.

Orbit parameters are continuous (start 80-110 kpc, pericentre 4-20 kpc, eccentricity 0.7-1,
log-uniform mass ratio, isotropic disc spins) and the library holds :data:`N_MAJOR` +
:data:`N_MINOR` distinct integrations; each mock sequence adds a random viewing rotation,
a mirror image (the parity-reflected orbit is an equally valid solution) and a continuous
homologous size scale, so a test sequence's tidal morphology does not recur in training.
Every galaxy's disc carries the same number of test particles (:data:`N_PART_DISC`), whatever
its mass or role, so that the graininess of its outer light says nothing about the role.

Pair separation against time (issue 12, item 7). Kitzbichler & White (2008, MNRAS 391, 1489)
calibrate on the Millennium Simulation the mean time to merge of close pairs selected within a
projected separation r_p: ``T = T0 (r_p / 25 h^-1 kpc) (M* / 3e10 h^-1 Msun)^-0.3`` with
T0 = 1.1 Gyr (line-of-sight velocity difference < 300 km/s), nearly independent of redshift
below z ~ 2. Read as a relation between separation and time to coalescence, a pair 0.8
(0.5, 0.2) Gyr before coalescence is about 27 (17, 7) kpc apart at M* ~ 4e10 Msun (h = 0.677).
Jiang et al. (2014, ApJ 790, 7) find shorter times for 1:1 and longer ones for 1:4 pairs
(0.3 and 1.6 Gyr within 20 h^-1 kpc), so the scatter is large. The drag of this library
(:data:`GAMMA0`, :data:`R_DRAG`) is the one free dynamical parameter; :func:`kw08_separation_kpc`
gives the calibration, and ``benchmarks/mock_audit.py`` prints the mock's median projected
separation against time beside it.

Units: kpc, Gyr, solar masses (G = 4.4985e-6 kpc^3 Msun^-1 Gyr^-2; 1 kpc/Gyr = 0.978 km/s).

The library depends only on :data:`LIBRARY_VERSION` and the constants below (its own
fixed seed), never on a mock's seed, so it is computed once and cached on disk
(``$GALMERGE_CACHE`` or ``$XDG_CACHE_HOME/galmerge`` or ``~/.cache/galmerge``).
A frame is stored every :data:`FRAME_DT` Gyr from :data:`WINDOW[0]` to :data:`WINDOW[1]`
Gyr around coalescence (t = 0), positions relative to the primary's nucleus before
coalescence and to the remnant after, as float16 (plenty for smoothed light).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

G = 4.4985e-6  # kpc^3 Msun^-1 Gyr^-2
LIBRARY_VERSION = 6
LIBRARY_SEED = 20250216
#: Orbits per kind: major mergers (mass ratio 1-4) and minor mergers (4-10).
N_MAJOR, N_MINOR = 128, 64
#: Test particles in every galaxy's disc (primary and companion alike).
N_PART_DISC = 800
N_PART_PRIMARY, N_PART_COMPANION = N_PART_DISC, N_PART_DISC
#: Stored windows around coalescence (Gyr) per kind (the plan's merger windows) and frame spacing (Gyr).
WINDOWS = {"major": (-0.8, 0.3), "minor": (-1.0, 1.2)}
WINDOW = (-1.0, 1.2)
FRAME_DT = 0.04
#: Primary: Plummer mass (Msun) and scale (kpc); disc scale length (kpc) of its particles.
M_PRIMARY, A_PRIMARY, H_PRIMARY = 1.0e11, 2.5, 3.0
#: Integration step (Gyr), longest integration (Gyr), separation that counts as coalescence (kpc).
DT, T_MAX, R_COALESCE = 0.002, 6.0, 1.5
#: Dynamical-friction drag rate on the relative velocity: GAMMA0 / (1 + (r / R_DRAG)^2) (1/Gyr).
GAMMA0, R_DRAG = 30.0, 3.0


@dataclass
class Orbit:
    """One library orbit: frames of 3-D positions around coalescence.

    Attributes
    ----------
    times : (T,) float array, Gyr relative to coalescence.
    particles : (T, N1 + N2, 3) float16 array, kpc, relative to the primary nucleus (t < 0)
        or the remnant (t >= 0). The first ``n_primary`` belong to the primary.
    companion : (T, 3) float array, kpc: companion nucleus relative to the primary (NaN after
        coalescence).
    mass_ratio : float, M_primary / M_companion (>= 1).
    n_primary : int.
    """

    times: np.ndarray
    particles: np.ndarray
    companion: np.ndarray
    mass_ratio: float
    n_primary: int

    def frame(self, t: float) -> int:
        """Index of the stored frame nearest to merger time ``t`` (Gyr), clipped to the window."""
        index = int(np.clip(np.rint((t - self.times[0]) / FRAME_DT), 0, len(self.times) - 1))
        if t < 0:  # never the coalescence frame or a later one for a time before coalescence
            # (the coalescence frame's stored time can be -2e-16, not 0: compare half a frame early)
            index = min(index, int(np.searchsorted(self.times, -0.5 * FRAME_DT)) - 1)
        return index


def _plummer_acc(pos, centre, mass, scale):
    d = pos - centre
    r2 = np.einsum("...i,...i->...", d, d) + scale * scale
    return -G * mass * d / (r2 * np.sqrt(r2))[..., None]


def _disc_particles(rng, n, scale_length, mass, plummer_a, spin):
    """Circular-orbit test particles of an exponential disc (outer disc, 0.8-5 scale lengths)."""
    # Radii from the exponential surface density r exp(-r/h), by rejection in the range.
    radii = np.empty(0)
    while radii.size < n:
        r = rng.gamma(2.0, scale_length, size=4 * n)
        radii = np.concatenate([radii, r[(r > 0.8 * scale_length) & (r < 5 * scale_length)]])
    radii = radii[:n]
    phi = rng.uniform(0, 2 * np.pi, n)
    z = rng.normal(0, 0.08 * scale_length, n)
    pos = np.stack([radii * np.cos(phi), radii * np.sin(phi), z], axis=1)
    vcirc = np.sqrt(G * mass * radii**2 / (radii**2 + plummer_a**2) ** 1.5)
    vel = np.stack([-vcirc * np.sin(phi), vcirc * np.cos(phi), np.zeros(n)], axis=1)
    rot = _rotation_to(spin)
    return pos @ rot.T, vel @ rot.T


def _rotation_to(axis):
    """Rotation matrix taking +z to the unit vector ``axis``."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(z, axis)
    c = float(np.dot(z, axis))
    if np.linalg.norm(v) < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx * (1 / (1 + c))


def random_unit_vectors(rng, n):
    """``n`` isotropic unit vectors (n, 3)."""
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def kw08_separation_kpc(time_to_merger_gyr, stellar_mass_msun=4e10, h=0.677):
    """Projected separation (kpc) of a pair ``time_to_merger_gyr`` before coalescence after
    Kitzbichler & White (2008): ``r_p = 25 h^-1 kpc (T / 1.1 Gyr) (M* / 3e10 h^-1 Msun)^0.3``."""
    t = np.asarray(time_to_merger_gyr, float)
    return 25.0 / h * (t / 1.1) * (stellar_mass_msun / (3e10 / h)) ** 0.3


def _initial_conditions(rng, mass_ratio: float):
    """Bodies and disc particles of one encounter (see :func:`integrate_batch`)."""
    m1, a1 = M_PRIMARY, A_PRIMARY
    m2, a2 = m1 / mass_ratio, A_PRIMARY * mass_ratio ** (-1 / 3)
    h2 = H_PRIMARY * mass_ratio ** (-1 / 3)
    mtot = m1 + m2
    # Relative orbit: start 80-110 kpc apart, pericentre 4-20 kpc, eccentricity 0.7-1.
    d0 = rng.uniform(80, 110)
    rp = rng.uniform(4, 20)
    ecc = rng.uniform(0.7, 1.0)
    p = rp * (1 + ecc)                       # semi-latus rectum
    h = np.sqrt(G * mtot * p)                # specific angular momentum
    v2 = G * mtot * (2 / d0 - (1 - ecc) / rp)  # vis-viva with a = rp / (1 - e)
    vt = h / d0
    vr = -np.sqrt(max(v2 - vt**2, 0.0))      # approaching
    rel_pos = np.array([d0, 0.0, 0.0])
    rel_vel = np.array([vr, vt, 0.0])
    p1, v1 = _disc_particles(rng, N_PART_PRIMARY, H_PRIMARY, m1, a1, random_unit_vectors(rng, 1)[0])
    p2, v2p = _disc_particles(rng, N_PART_COMPANION, h2, m2, a2, random_unit_vectors(rng, 1)[0])
    b1, b2 = -m2 / mtot * rel_pos, m1 / mtot * rel_pos
    u1, u2 = -m2 / mtot * rel_vel, m1 / mtot * rel_vel
    return {"m2": m2, "a2": a2, "b1": b1, "b2": b2, "u1": u1, "u2": u2,
            "pos": np.concatenate([p1 + b1, p2 + b2]), "vel": np.concatenate([v1 + u1, v2p + u2])}


def integrate_batch(rng, mass_ratios, window=WINDOW) -> list[Orbit | None]:
    """Integrate several encounters at once (vectorised over orbits); None for a pair that does
    not coalesce within :data:`T_MAX` or coalesces too early for ``window``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the orbits' initial conditions (in order).
    mass_ratios : sequence of float
        Primary to companion mass ratios (>= 1).
    window : (float, float)
        Frames kept around coalescence (Gyr), with one frame of margin on each side.
    """
    ics = [_initial_conditions(rng, float(q)) for q in mass_ratios]
    nb = len(ics)
    m1, a1 = M_PRIMARY, A_PRIMARY
    m2 = np.array([ic["m2"] for ic in ics])
    a2 = np.array([ic["a2"] for ic in ics])
    mtot = m1 + m2
    a_rem = (a1**3 + a2**3) ** (1 / 3)
    soft2 = a1**2 + a2**2
    b1, b2 = np.stack([ic["b1"] for ic in ics]), np.stack([ic["b2"] for ic in ics])
    u1, u2 = np.stack([ic["u1"] for ic in ics]), np.stack([ic["u2"] for ic in ics])
    pos, vel = np.stack([ic["pos"] for ic in ics]), np.stack([ic["vel"] for ic in ics])
    merged = np.zeros(nb, bool)
    t_coal = np.full(nb, np.nan)

    def body_acc(b1, b2, u1, u2):
        d = b2 - b1
        r = np.sqrt(np.einsum("bi,bi->b", d, d))
        f = G * d / ((r * r + soft2) ** 1.5)[:, None]
        gamma = GAMMA0 / (1 + (r / R_DRAG) ** 2)
        drag = gamma[:, None] * (u2 - u1)
        # Drag slows the relative motion only; the centre of mass is untouched.
        return (f * m2[:, None] + (m2 / mtot)[:, None] * drag,
                -f * m1 - (m1 / mtot)[:, None] * drag)

    def particle_acc(pos, b1, b2):
        # After coalescence one Plummer sphere of the total mass at the centre of mass.
        mass1 = np.where(merged, mtot, m1)[:, None, None]
        scale1 = np.where(merged, a_rem, a1)[:, None]
        mass2 = np.where(merged, 0.0, m2)[:, None, None]
        acc = 0.0
        for centre, mass, scale in ((b1, mass1, scale1), (b2, mass2, a2[:, None])):
            d = pos - centre[:, None, :]
            r2 = np.einsum("bni,bni->bn", d, d) + scale * scale
            acc = acc - G * mass * d / (r2 * np.sqrt(r2))[..., None]
        return acc

    every = int(round(FRAME_DT / DT))
    frames, comps, times = [], [], []
    acc = particle_acc(pos, b1, b2)
    ab1, ab2 = body_acc(b1, b2, u1, u2)
    nsteps = int(round(T_MAX / DT))
    for step in range(nsteps + 1):
        t = step * DT
        if step % every == 0:
            # float16 overflows at 65504 kpc; escapers that far are off every cutout anyway.
            frames.append(np.clip(pos - b1[:, None, :], -6e4, 6e4).astype(np.float16))
            comps.append(np.where(merged[:, None], np.nan, b2 - b1))
            times.append(t)
            if np.all(merged & (t - t_coal >= window[1] + FRAME_DT - 1e-9)):
                break
        # Kick-drift-kick leapfrog (drag evaluated with the half-step velocities).
        vel += 0.5 * DT * acc
        live = ~merged[:, None]
        u1 = np.where(live, u1 + 0.5 * DT * ab1, u1)
        u2 = np.where(live, u2 + 0.5 * DT * ab2, u2)
        b1 = b1 + DT * u1  # a merged remnant drifts with the centre-of-mass velocity
        b2 = np.where(live, b2 + DT * u2, b1)
        pos += DT * vel
        ab1, ab2 = body_acc(b1, b2, u1, u2)
        u1 = np.where(live, u1 + 0.5 * DT * ab1, u1)
        u2 = np.where(live, u2 + 0.5 * DT * ab2, u2)
        coalesce = ~merged & (np.linalg.norm(b2 - b1, axis=1) < R_COALESCE)
        if coalesce.any():
            c = coalesce[:, None]
            com = (m1 * b1 + m2[:, None] * b2) / mtot[:, None]
            vcom = (m1 * u1 + m2[:, None] * u2) / mtot[:, None]
            b1, b2 = np.where(c, com, b1), np.where(c, com, b2)
            u1, u2 = np.where(c, vcom, u1), np.where(c, vcom, u2)
            t_coal[coalesce] = t + DT
            merged |= coalesce
        acc = particle_acc(pos, b1, b2)
    times = np.array(times)
    frames = np.stack(frames, axis=1)  # (orbit, frame, particle, 3)
    comps = np.stack(comps, axis=1)
    out = []
    for k in range(nb):
        if not merged[k] or t_coal[k] + window[0] < 0:
            out.append(None)
            continue
        rel = times - t_coal[k]
        keep = (rel >= window[0] - FRAME_DT - 1e-9) & (rel <= window[1] + FRAME_DT + 1e-9)
        out.append(Orbit(times=rel[keep].astype(np.float32), particles=frames[k, keep],
                         companion=comps[k, keep].astype(np.float32),
                         mass_ratio=float(mass_ratios[k]), n_primary=N_PART_PRIMARY))
    return out


def integrate_orbit(rng, mass_ratio: float, window=WINDOW) -> Orbit | None:
    """Integrate one encounter (:func:`integrate_batch` of one)."""
    return integrate_batch(rng, [mass_ratio], window)[0]


#: Orbits integrated together by :func:`build_library`.
BATCH = 40


def build_library(progress: bool = False) -> dict[str, list[Orbit]]:
    """Integrate the whole library (deterministic): ``{'major': [...], 'minor': [...]}``."""
    from tqdm import tqdm

    rng = np.random.default_rng(LIBRARY_SEED)
    library = {"major": [], "minor": []}
    wanted = [("major", N_MAJOR, (1.0, 4.0)), ("minor", N_MINOR, (4.0, 10.0))]
    bar = tqdm(total=N_MAJOR + N_MINOR, desc="orbit library", disable=not progress)
    for kind, count, (qlo, qhi) in wanted:
        tries = 0
        while len(library[kind]) < count:
            tries += BATCH
            if tries > 10 * count + BATCH:
                raise RuntimeError(f"orbit library: only {len(library[kind])} of {count} {kind} "
                                   "orbits coalesced; raise GAMMA0 or T_MAX")
            q = np.exp(rng.uniform(np.log(qlo), np.log(qhi), BATCH))
            for orbit in integrate_batch(rng, q, WINDOWS[kind]):
                if orbit is not None and len(library[kind]) < count:
                    library[kind].append(orbit)
                    bar.update()
    bar.close()
    return library


def cache_path() -> Path:
    """Where the library is cached (see the module docstring)."""
    root = os.environ.get("GALMERGE_CACHE")
    if root is None:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "galmerge"
    return Path(root) / f"orbit_library_v{LIBRARY_VERSION}.npz"


def _save(library, path: Path) -> None:
    arrays = {}
    for kind, orbits in library.items():
        for i, o in enumerate(orbits):
            key = f"{kind}_{i}"
            arrays[f"{key}_times"] = o.times
            arrays[f"{key}_particles"] = o.particles
            arrays[f"{key}_companion"] = o.companion
            arrays[f"{key}_meta"] = np.array([o.mass_ratio, o.n_primary])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # atomic: a parallel reader never sees half a file


def _load(path: Path) -> dict[str, list[Orbit]]:
    library = {"major": [], "minor": []}
    with np.load(path) as f:
        for kind, count in (("major", N_MAJOR), ("minor", N_MINOR)):
            for i in range(count):
                key = f"{kind}_{i}"
                meta = f[f"{key}_meta"]
                library[kind].append(Orbit(f[f"{key}_times"], f[f"{key}_particles"],
                                           f[f"{key}_companion"], float(meta[0]), int(meta[1])))
    return library


_LIBRARY: dict[str, list[Orbit]] | None = None


def get_library(progress: bool = False) -> dict[str, list[Orbit]]:
    """The orbit library: from memory, else from the disk cache, else integrated (and cached)."""
    global _LIBRARY
    if _LIBRARY is None:
        path = cache_path()
        if path.exists():
            try:
                _LIBRARY = _load(path)
            except (OSError, KeyError, ValueError):
                _LIBRARY = None  # stale or corrupt cache: rebuild below
        if _LIBRARY is None:
            _LIBRARY = build_library(progress=progress)
            try:
                _save(_LIBRARY, path)
            except OSError:
                pass  # read-only home: keep it in memory only
    return _LIBRARY


def project(orbit: Orbit, t: float, view: np.ndarray, scale: float):
    """Projected particle and companion positions at merger time ``t``.

    Parameters
    ----------
    orbit : Orbit
    t : float
        Merger time (Gyr, negative before coalescence).
    view : (3, 3) rotation matrix; rows 0 and 1 give the sky x and y axes.
    scale : float
        Multiplies library kpc (the galaxies' size relative to the library's primary).

    Returns
    -------
    xy : (N, 2) float array, kpc on the sky, relative to the primary (or remnant).
    companion_xy : (2,) float array (NaN after coalescence).
    companion_depth : float, kpc along the line of sight (NaN after coalescence).
    """
    k = orbit.frame(t)
    p = orbit.particles[k].astype(np.float64) @ view.T * scale
    c = orbit.companion[k].astype(np.float64) @ view.T * scale
    return p[:, :2], c[:2], float(c[2])
