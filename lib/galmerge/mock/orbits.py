"""A small library of restricted N-body merger orbits (Toomre & Toomre 1972), in numpy.

Two galaxies are softened point masses (Plummer spheres) on a bound, nearly parabolic
orbit; a dynamical-friction drag on their relative velocity makes the pair sink and
coalesce. Each galaxy carries a disc of massless test particles on circular orbits
(random disc orientations, prograde and retrograde encounters alike). After coalescence
the two masses become one at the centre of mass and the particles keep moving in the
remnant's potential, so tails fall back, shells form and the debris phase-mixes: the
shape and the fading of tidal features follow from the merger clock, not from drawn arcs.

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
LIBRARY_VERSION = 5
LIBRARY_SEED = 20250216
#: Orbits per kind: major mergers (mass ratio 1-4) and minor mergers (4-10).
N_MAJOR, N_MINOR = 16, 8
#: Test particles in the primary's and in the companion's disc.
N_PART_PRIMARY, N_PART_COMPANION = 2600, 1400
#: Stored window around coalescence (Gyr) and frame spacing (Gyr).
WINDOW = (-1.0, 1.2)
FRAME_DT = 0.02
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
        if t < 0:  # never a post-coalescence frame for a time before coalescence
            index = min(index, int(np.searchsorted(self.times, 0.0)) - 1)
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


def integrate_orbit(rng, mass_ratio: float) -> Orbit | None:
    """Integrate one encounter; None if the pair does not coalesce within :data:`T_MAX`.

    Parameters
    ----------
    rng : numpy.random.Generator
    mass_ratio : float
        Primary to companion mass ratio (>= 1).
    """
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
    b1 = -m2 / mtot * rel_pos
    b2 = m1 / mtot * rel_pos
    u1 = -m2 / mtot * rel_vel
    u2 = m1 / mtot * rel_vel
    p1, v1 = _disc_particles(rng, N_PART_PRIMARY, H_PRIMARY, m1, a1, random_unit_vectors(rng, 1)[0])
    p2, v2p = _disc_particles(rng, N_PART_COMPANION, h2, m2, a2, random_unit_vectors(rng, 1)[0])
    pos = np.concatenate([p1 + b1, p2 + b2])
    vel = np.concatenate([v1 + u1, v2p + u2])

    merged = False
    a_rem = (a1**3 + a2**3) ** (1 / 3)
    every = int(round(FRAME_DT / DT))
    frames, comps, times = [], [], []
    t_coal = None

    def body_acc(b1, b2, u1, u2):
        d = b2 - b1
        r = np.sqrt(d @ d)
        soft = np.sqrt(a1**2 + a2**2)
        f = G * d / (r * r + soft * soft) ** 1.5
        gamma = GAMMA0 / (1 + (r / R_DRAG) ** 2)
        drag = gamma * (u2 - u1)
        # Drag slows the relative motion only; the centre of mass is untouched.
        return f * m2 + m2 / mtot * drag, -f * m1 - m1 / mtot * drag

    def particle_acc(pos, b1, b2):
        if merged:
            return _plummer_acc(pos, b1, mtot, a_rem)
        return _plummer_acc(pos, b1, m1, a1) + _plummer_acc(pos, b2, m2, a2)

    acc = particle_acc(pos, b1, b2)
    ab1, ab2 = body_acc(b1, b2, u1, u2)
    nsteps = int(round(T_MAX / DT))
    for step in range(nsteps + 1):
        t = step * DT
        if step % every == 0:
            centre = b1
            # float16 overflows at 65504 kpc; escapers that far are off every cutout anyway.
            frames.append(np.clip(pos - centre, -6e4, 6e4).astype(np.float16))
            comps.append(np.full(3, np.nan) if merged else b2 - b1)
            times.append(t)
            if t_coal is not None and t - t_coal >= WINDOW[1] - 1e-9:
                break
        # Kick-drift-kick leapfrog (drag evaluated with the half-step velocities).
        vel += 0.5 * DT * acc
        if not merged:
            u1 = u1 + 0.5 * DT * ab1
            u2 = u2 + 0.5 * DT * ab2
            b1 = b1 + DT * u1
            b2 = b2 + DT * u2
        pos += DT * vel
        if not merged:
            ab1, ab2 = body_acc(b1, b2, u1, u2)
            u1 = u1 + 0.5 * DT * ab1
            u2 = u2 + 0.5 * DT * ab2
            if np.linalg.norm(b2 - b1) < R_COALESCE:
                merged = True
                t_coal = t + DT
                com = (m1 * b1 + m2 * b2) / mtot
                vcom = (m1 * u1 + m2 * u2) / mtot
                b1, b2, u1, u2 = com, com, vcom, vcom
        elif merged:
            b1 = b1 + DT * u1  # the remnant drifts with the centre-of-mass velocity
            b2 = b1
        acc = particle_acc(pos, b1, b2)
    if t_coal is None or t_coal + WINDOW[0] < 0:
        return None
    times = np.array(times) - t_coal
    keep = (times >= WINDOW[0] - 1e-9) & (times <= WINDOW[1] + 1e-9)
    return Orbit(times=times[keep].astype(np.float32),
                 particles=np.stack([f for f, k in zip(frames, keep) if k]),
                 companion=np.stack([c for c, k in zip(comps, keep) if k]).astype(np.float32),
                 mass_ratio=float(mass_ratio), n_primary=N_PART_PRIMARY)


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
            tries += 1
            if tries > 10 * count:
                raise RuntimeError(f"orbit library: only {len(library[kind])} of {count} {kind} "
                                   "orbits coalesced; raise GAMMA0 or T_MAX")
            q = float(np.exp(rng.uniform(np.log(qlo), np.log(qhi))))
            orbit = integrate_orbit(rng, q)
            if orbit is not None:
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
