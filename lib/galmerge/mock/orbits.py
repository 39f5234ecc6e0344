"""A library of restricted N-body encounters (Toomre & Toomre 1972), in numpy.

Two galaxies are softened point masses (Plummer spheres) on a bound, nearly parabolic orbit
(mergers) or a hyperbolic one (flybys); dynamical friction makes a bound pair sink and coalesce.
Each galaxy carries a disc of massless test particles on circular orbits (random disc
orientations, prograde and retrograde encounters alike). After coalescence the two masses
become one at the centre of mass and the particles keep moving in the remnant's potential, so
tails fall back, shells form and the debris phase-mixes: the shape and the fading of tidal
features follow from the merger clock, not from drawn arcs.

Integrator (issue 20). Kick-drift-kick leapfrog (:func:`kdk_step`) for bodies and particles alike,
second order, symplectic and time-reversible without friction; ``tests/test_orbits.py`` checks it
against analytic truth: an isolated disc keeps its half-mass radius within 5 % for 2 Gyr, disc
particles in a static Plummer potential keep their energy to 1e-3 over 50 periods (orbits
plunging through the core oscillate by < 1 % at :data:`DT` without drift), the scheme retraces
its steps, a two-body orbit has its Kepler period, and friction decays an orbit at
Chandrasekhar's rate. (Until library version 6 the particles missed the closing half-kick and
felt half of gravity: discs grew from 6 to 17 kpc in 0.12 Gyr.)

Dynamical friction (:func:`friction_rate`). Chandrasekhar's formula (Binney & Tremaine 2008,
eq. 8.7) for the companion moving through the primary's dark halo, a cored isothermal sphere of
circular speed :data:`V_HALO` (200 km/s, a Milky-Way-like halo of a M* ~ 4e10 Msun galaxy) and
core :data:`R_CORE`; the halo enters only through friction (the point masses carry the gravity),
so the Coulomb logarithm :data:`LN_LAMBDA` is the one calibrated parameter (below). Friction acts
on each galaxy together with the particles bound to it (:func:`_particle_accelerations`), with
momentum conserved (the primary takes the reaction), so discs are not stripped by a drag on
their centres alone; unbound debris feels gravity only. In the halo's core a slow satellite's
velocity and angular momentum decay as ``exp(-gamma t)`` with ``gamma = 4 sqrt(2 pi) G^2 m rho0 lnL / (3 sigma^3)``,
the low-velocity limit the tests hold the integrator to within 20 %.

Orbit parameters are continuous (start 130-170 kpc for major mergers, 80-110 kpc for the
others; mergers: pericentre 4-20 kpc, eccentricity 0.7-1; flybys: pericentre 15-40 kpc,
eccentricity 1.05-1.5; log-uniform mass ratio, isotropic
disc spins). The library holds :data:`N_MAJOR` major mergers (mass ratio 1-4), :data:`N_MINOR`
minor mergers (4-10) and :data:`N_FLYBY` flybys (1-10) that do not merge within their window;
each mock sequence adds a random viewing rotation, a mirror image (the parity-reflected orbit
is an equally valid solution) and a continuous homologous size scale. Every galaxy's disc
carries the same number of test particles (:data:`N_PART_DISC`), whatever its mass or role, so
that the graininess of its outer light says nothing about the role.

Pair separation against time (issue 12, item 7). Kitzbichler & White (2008, MNRAS 391, 1489)
calibrate on the Millennium Simulation the mean time to merge of close pairs selected within a
projected separation r_p: ``T = T0 (r_p / 25 h^-1 kpc) (M* / 3e10 h^-1 Msun)^-0.3`` with
T0 = 1.1 Gyr (line-of-sight velocity difference < 300 km/s), nearly independent of redshift
below z ~ 2. Read as a relation between separation and time to coalescence, a pair 0.8
(0.5, 0.2) Gyr before coalescence is about 27 (17, 7) kpc apart at M* ~ 4e10 Msun (h = 0.677).
Jiang et al. (2014, ApJ 790, 7) find shorter times for 1:1 and longer ones for 1:4 pairs
(0.3 and 1.6 Gyr within 20 h^-1 kpc), so the scatter is large. :data:`LN_LAMBDA` = 0.55 puts the
mock on this relation: 150 major orbits integrated without particles and kept as the library
keeps them (coalescence after 1.6 Gyr) have median projected separations (0.87 of 3-D) of 51,
30 and 14 library kpc at -0.8, -0.6 and -0.3 Gyr; the scene scales each orbit homologously with
the primary's size (:data:`galmerge.mock.scene.LIBRARY_R_E_KPC`; median scale 0.6, mean 0.76),
giving ~33, 19 and 9 kpc against 26, 20 and 10 kpc from :func:`kw08_separation_kpc` (lnL 0.5: 45,
23, 12 library kpc; 0.6: 55, 36, 15); ``benchmarks/mock_audit.py`` prints the mock's median
projected separation beside it.
A Coulomb logarithm this small stands for the halo's finite extent and the stripping of the
companion, which the model leaves out. Friction grows with the companion's mass, so 1:1 pairs
merge faster than 1:4 pairs, as Jiang et al. find.

Units: kpc, Gyr, solar masses (G = 4.4985e-6 kpc^3 Msun^-1 Gyr^-2; 1 kpc/Gyr = 0.978 km/s).

The library depends only on this module's code and constants (its own fixed seed), never on a
mock's seed, so it is computed once and cached on disk (``$GALMERGE_CACHE`` or
``$XDG_CACHE_HOME/galmerge`` or ``~/.cache/galmerge``), under a name that holds the fingerprint of
this module's code (:func:`galmerge.runs.source_fingerprint`): any change to it rebuilds the library.
A frame is stored every :data:`FRAME_DT` Gyr from :data:`WINDOW[0]` to :data:`WINDOW[1]`
Gyr around coalescence (t = 0), positions relative to the primary's nucleus before
coalescence and to the remnant after, as float16 (plenty for smoothed light).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import erf

G = 4.4985e-6  # kpc^3 Msun^-1 Gyr^-2
LIBRARY_SEED = 20250216
#: Orbits per kind: major mergers (mass ratio 1-4), minor mergers (4-10) and flybys (1-10).
#: 384 major orbits: the plan deals up to half of them, one per sequence, to the test folder, so that
#: conclusion II's test pre-mergers come from ~170 independent orbits (with 128 drawn at random: 35).
N_MAJOR, N_MINOR, N_FLYBY = 384, 96, 96
#: Kind -> (number of orbits, mass-ratio range, 'merger' or 'flyby').
KINDS = {"major": (N_MAJOR, (1.0, 4.0), "merger"), "minor": (N_MINOR, (4.0, 10.0), "merger"),
         "flyby": (N_FLYBY, (1.0, 10.0), "flyby")}
#: Test particles in every galaxy's disc (primary and companion alike).
N_PART_DISC = 800
N_PART_PRIMARY, N_PART_COMPANION = N_PART_DISC, N_PART_DISC
#: Stored windows around coalescence (Gyr) per kind (the plan's merger windows) and frame spacing (Gyr).
WINDOWS = {"major": (-1.6, 1.5), "minor": (-1.0, 1.2), "flyby": (-0.3, 1.0)}
WINDOW = (-1.6, 1.5)
FRAME_DT = 0.04
#: Primary: Plummer mass (Msun) and scale (kpc); disc scale length (kpc) of its particles.
M_PRIMARY, A_PRIMARY, H_PRIMARY = 1.0e11, 2.5, 3.0
#: Integration step (Gyr), longest integration (Gyr), separation that counts as coalescence (kpc).
DT, T_MAX, R_COALESCE = 0.002, 6.0, 1.5
#: Dynamical friction (:func:`friction_rate`): the primary's dark halo, a cored isothermal sphere of
#: circular speed V_HALO (kpc/Gyr; 200 km/s) and core R_CORE (kpc), and the Coulomb logarithm.
V_HALO, R_CORE, LN_LAMBDA = 200.0 / 0.9778, 3.0, 0.55
#: Flybys: hyperbolic encounters, pericentre (kpc) and eccentricity ranges.
FLYBY_PERICENTRE, FLYBY_ECCENTRICITY = (15.0, 40.0), (1.05, 1.5)
#: Initial separation (kpc) per kind: far enough that 90 % of the major mergers last the 1.6 Gyr
#: their window needs (from 80-110 kpc only 57 % did, and keeping those biased the library to slow
#: mergers with small separations); minor mergers (window from -1.0 Gyr; their weaker friction
#: makes them slow) and flybys (from -0.3 Gyr) start closer: from 80-110 kpc 71 % of the minor
#: mergers coalesce within the window, from 130-170 kpc only 34 %.
START_KPC = {"major": (130.0, 170.0), "minor": (80.0, 110.0), "flyby": (80.0, 110.0)}
#: Force evaluations between two refreshes of which galaxy each particle is bound to.
HOST_EVERY = 5


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


def _initial_conditions(rng, mass_ratio: float, flyby: bool = False, n_part: int = N_PART_DISC,
                        start_kpc=START_KPC["major"]):
    """Bodies and disc particles of one encounter (see :func:`integrate_batch`).

    Mergers: start ``start_kpc`` apart (:data:`START_KPC`) on a bound orbit (pericentre 4-20 kpc, eccentricity
    0.7-1; where the start lies beyond the apocentre the pair starts at rest radially).
    Flybys: start ``start_kpc`` apart on a hyperbolic orbit (pericentre :data:`FLYBY_PERICENTRE`,
    eccentricity :data:`FLYBY_ECCENTRICITY`).
    """
    m1, a1 = M_PRIMARY, A_PRIMARY
    m2, a2 = m1 / mass_ratio, A_PRIMARY * mass_ratio ** (-1 / 3)
    h2 = H_PRIMARY * mass_ratio ** (-1 / 3)
    mtot = m1 + m2
    d0 = rng.uniform(*start_kpc)
    rp = rng.uniform(*(FLYBY_PERICENTRE if flyby else (4, 20)))
    ecc = rng.uniform(*(FLYBY_ECCENTRICITY if flyby else (0.7, 1.0)))
    p = rp * (1 + ecc)                       # semi-latus rectum
    h = np.sqrt(G * mtot * p)                # specific angular momentum
    v2 = G * mtot * (2 / d0 - (1 - ecc) / rp)  # vis-viva with a = rp / (1 - e)
    vt = h / d0
    vr = -np.sqrt(max(v2 - vt**2, 0.0))      # approaching
    rel_pos = np.array([d0, 0.0, 0.0])
    rel_vel = np.array([vr, vt, 0.0])
    p1, v1 = _disc_particles(rng, n_part, H_PRIMARY, m1, a1, random_unit_vectors(rng, 1)[0])
    p2, v2p = _disc_particles(rng, n_part, h2, m2, a2, random_unit_vectors(rng, 1)[0])
    b1, b2 = -m2 / mtot * rel_pos, m1 / mtot * rel_pos
    u1, u2 = -m2 / mtot * rel_vel, m1 / mtot * rel_vel
    return {"m2": m2, "a2": a2, "b1": b1, "b2": b2, "u1": u1, "u2": u2,
            "pos": np.concatenate([p1 + b1, p2 + b2]).reshape(-1, 3),
            "vel": np.concatenate([v1 + u1, v2p + u2]).reshape(-1, 3)}


# ----------------------------------------------------------------------------- the integrator
@dataclass
class Encounter:
    """State of a batch of encounters: two softened point masses each, and massless test particles.

    Attributes
    ----------
    mass : (B, 2) float array, Msun: primary and companion (the companion's is 0 once merged).
    scale : (B, 2) float array, kpc: Plummer scale lengths.
    bodies, body_vel : (B, 2, 3) float arrays, kpc and kpc/Gyr.
    pos, vel : (B, N, 3) float arrays, kpc and kpc/Gyr: test particles (N may be 0).
    merged : (B,) bool array.
    friction : bool
        Whether dynamical friction (:func:`friction_rate`) acts (off for the invariant tests).
    body_acc, particle_acc : accelerations at the current positions (kpc/Gyr^2), set by
        :func:`update_accelerations`.
    host : (B, N) int array: the galaxy (0, 1) each particle is bound to, -1 none; refreshed every
        :data:`HOST_EVERY` evaluations (binding changes over a crossing time, ~50 steps).
    """

    mass: np.ndarray
    scale: np.ndarray
    bodies: np.ndarray
    body_vel: np.ndarray
    pos: np.ndarray
    vel: np.ndarray
    merged: np.ndarray
    friction: bool = True
    body_acc: np.ndarray | None = None
    particle_acc: np.ndarray | None = None
    host: np.ndarray | None = None
    host_age: int = 0


def chandrasekhar_factor(x):
    """``[erf(X) - 2X exp(-X^2)/sqrt(pi)] / X^3`` of Chandrasekhar's formula (BT08 eq. 8.7).

    Finite at X -> 0, where it tends to ``4 / (3 sqrt(pi))`` (a linear drag: the low-velocity limit).
    """
    x = np.asarray(x, float)
    small = x < 1e-3
    xs = np.where(small, 1.0, x)
    full = (erf(xs) - 2 * xs * np.exp(-xs * xs) / np.sqrt(np.pi)) / xs**3
    return np.where(small, 4 / (3 * np.sqrt(np.pi)) * (1 - 0.6 * x * x), full)


def halo_density(r):
    """Density (Msun/kpc^3) of the primary's dark halo at radius ``r`` (kpc): a cored isothermal
    sphere ``V_HALO^2 / (4 pi G (r^2 + R_CORE^2))`` (BT08 eq. 4.103 with a core)."""
    return V_HALO**2 / (4 * np.pi * G * (np.asarray(r, float) ** 2 + R_CORE**2))


def friction_rate(separation, speed, m_primary, m_companion):
    """Rate (1/Gyr) at which dynamical friction slows the relative velocity of a pair.

    Chandrasekhar's formula (Binney & Tremaine 2008, eq. 8.7) for the companion moving at
    ``speed`` through the primary's halo (:func:`halo_density`, Maxwellian with dispersion
    ``sigma = V_HALO / sqrt(2)``): ``a = -4 pi G^2 m2 rho lnL [erf X - 2X e^-X^2 / sqrt(pi)] / v^2``,
    ``X = v / (sqrt(2) sigma)``. The reaction on the primary conserves momentum, so the relative
    velocity slows at ``a (m1 + m2) / m1``. Returned as ``gamma`` with ``a_rel = -gamma v_rel``.
    """
    sigma = V_HALO / np.sqrt(2.0)
    x = np.asarray(speed, float) / (np.sqrt(2.0) * sigma)
    rho = halo_density(separation)
    gamma = (4 * np.pi * G**2 * m_companion * rho * LN_LAMBDA * chandrasekhar_factor(x)
             / (np.sqrt(2.0) * sigma) ** 3)
    return gamma * (m_primary + m_companion) / np.maximum(m_primary, 1e-300)


def _body_accelerations(state: Encounter):
    """Gravity between the two bodies and the friction on them: (B, 2, 3) arrays."""
    m1, m2 = state.mass[:, 0], state.mass[:, 1]
    mtot = m1 + m2
    d = state.bodies[:, 1] - state.bodies[:, 0]
    soft2 = np.einsum("bk,bk->b", state.scale, state.scale)
    r = np.sqrt(np.einsum("bi,bi->b", d, d))
    pull = G * d / ((r * r + soft2) ** 1.5)[:, None]
    gravity = np.stack([pull * m2[:, None], -pull * m1[:, None]], axis=1)
    drag = np.zeros_like(gravity)
    if state.friction:
        rel_vel = state.body_vel[:, 1] - state.body_vel[:, 0]
        gamma = friction_rate(r, np.sqrt(np.einsum("bi,bi->b", rel_vel, rel_vel)), m1, m2)
        decel = gamma[:, None] * rel_vel  # relative deceleration; the centre of mass is untouched
        share = np.stack([m2 / mtot, -m1 / mtot], axis=1)
        drag = share[:, :, None] * decel[:, None, :]
    return gravity, drag


def _particle_accelerations(state: Encounter, body_drag):
    """Gravity of both bodies on every particle, plus the friction of the galaxy it is bound to.

    A particle is bound to a body when its specific energy against it,
    ``|v - u_k|^2 / 2 - G m_k / sqrt(r_k^2 + a_k^2)``, is negative; bound to the companion it
    moves with the companion (even where the primary's deeper well would also hold it), else
    bound to the primary it moves with the primary. It then shares that galaxy's friction
    (friction acts on a galaxy as a whole, stars included), so a disc is not stripped by a drag
    on its centre alone. Unbound particles (tails, debris) feel gravity only.
    """
    acc = np.zeros_like(state.pos)
    refresh = state.friction and (state.host is None or state.host_age % HOST_EVERY == 0)
    host = np.full(state.pos.shape[:2], -1)
    for k in range(2):  # the companion (k = 1) last: it takes precedence
        d = state.pos - state.bodies[:, k, None, :]
        r2 = np.einsum("bni,bni->bn", d, d) + (state.scale[:, k] ** 2)[:, None]
        inv_r = 1.0 / np.sqrt(r2)
        gm = G * state.mass[:, k][:, None]
        acc -= (gm * inv_r**3)[..., None] * d
        if refresh:
            dv = state.vel - state.body_vel[:, k, None, :]
            bound = 0.5 * np.einsum("bni,bni->bn", dv, dv) < gm * inv_r
            host = np.where(bound, k, host)
    if refresh:
        state.host = host
    state.host_age += 1
    if state.friction:
        for k in range(2):
            acc += np.where((state.host == k)[..., None], body_drag[:, k, None, :], 0.0)
    return acc


def update_accelerations(state: Encounter) -> None:
    """Accelerations of bodies and particles at the current positions (friction at the current velocities)."""
    gravity, drag = _body_accelerations(state)
    state.body_acc = gravity + drag
    state.particle_acc = _particle_accelerations(state, drag)


def kdk_step(state: Encounter, dt: float) -> None:
    """One kick-drift-kick leapfrog step of bodies and particles alike (Springel 2005, eq. 31-33).

    Both half-kicks use the accelerations at the step's end points, so without friction the
    scheme is symplectic and time-reversible (second order; :func:`update_accelerations` must
    have been called once before the first step). Friction is evaluated with the half-step
    velocities (first order in the drag, which changes little over a step).
    """
    state.body_vel += 0.5 * dt * state.body_acc
    state.vel += 0.5 * dt * state.particle_acc
    state.bodies += dt * state.body_vel
    state.pos += dt * state.vel
    update_accelerations(state)
    state.body_vel += 0.5 * dt * state.body_acc
    state.vel += 0.5 * dt * state.particle_acc


def merge_close_pairs(state: Encounter, radius: float = R_COALESCE) -> np.ndarray:
    """Merge pairs closer than ``radius`` (kpc) into one body at their centre of mass.

    The remnant is one Plummer sphere of the total mass and scale ``(a1^3 + a2^3)^(1/3)`` (body
    0); the companion keeps mass 0, so it no longer acts. Returns the mask of pairs merged now.
    """
    d = state.bodies[:, 1] - state.bodies[:, 0]
    now = ~state.merged & (np.sqrt(np.einsum("bi,bi->b", d, d)) < radius)
    if now.any():
        m = state.mass[now]
        mtot = m.sum(axis=1)
        com = np.einsum("bk,bki->bi", m, state.bodies[now]) / mtot[:, None]
        vcom = np.einsum("bk,bki->bi", m, state.body_vel[now]) / mtot[:, None]
        state.bodies[now] = com[:, None, :]
        state.body_vel[now] = vcom[:, None, :]
        scale = state.scale[now]
        state.scale[now] = np.stack([(scale[:, 0] ** 3 + scale[:, 1] ** 3) ** (1 / 3), scale[:, 1]], axis=1)
        state.mass[now] = np.stack([mtot, np.zeros_like(mtot)], axis=1)
        state.merged |= now
        state.host_age = 0  # bindings change at once: the companion is gone
        update_accelerations(state)
    return now


def _encounter(ics: list[dict], friction: bool = True) -> Encounter:
    """An :class:`Encounter` from the initial conditions of :func:`_initial_conditions`."""
    state = Encounter(
        mass=np.array([[M_PRIMARY, ic["m2"]] for ic in ics]),
        scale=np.array([[A_PRIMARY, ic["a2"]] for ic in ics]),
        bodies=np.stack([np.stack([ic["b1"], ic["b2"]]) for ic in ics]),
        body_vel=np.stack([np.stack([ic["u1"], ic["u2"]]) for ic in ics]),
        pos=np.stack([ic["pos"] for ic in ics]), vel=np.stack([ic["vel"] for ic in ics]),
        merged=np.zeros(len(ics), bool), friction=friction)
    update_accelerations(state)
    return state


def _subset(state: Encounter, keep: np.ndarray) -> Encounter:
    """The encounters ``keep`` (bool mask) of ``state``, accelerations and hosts included."""
    fields = ("mass", "scale", "bodies", "body_vel", "pos", "vel", "merged", "body_acc", "particle_acc", "host")
    arrays = {name: None if getattr(state, name) is None else getattr(state, name)[keep] for name in fields}
    return Encounter(**arrays, friction=state.friction, host_age=state.host_age)


def _run(state: Encounter, window, reference: str):
    """Integrate until every encounter is ``window[1]`` past its reference time (or T_MAX).

    An encounter leaves the batch once its last frame is stored (the others run on faster).
    Returns per encounter its stored frames (frame, particle, 3), companion offsets (frame, 3),
    frame times and reference time (coalescence, or first pericentre for flybys; NaN when it
    never came).
    """
    nb = len(state.merged)
    active = np.arange(nb)
    t_ref = np.full(nb, np.nan)
    last_sep = np.full(nb, np.inf)
    every = int(round(FRAME_DT / DT))
    frames, comps, times = [[] for _ in range(nb)], [[] for _ in range(nb)], [[] for _ in range(nb)]
    for step in range(int(round(T_MAX / DT)) + 1):
        t = step * DT
        if step % every == 0:
            rel = state.bodies[:, 1] - state.bodies[:, 0]
            # float16 overflows at 65504 kpc; escapers that far are off every cutout anyway.
            snap = np.clip(state.pos - state.bodies[:, :1, :], -6e4, 6e4).astype(np.float16)
            for j, k in enumerate(active):
                frames[k].append(snap[j])
                comps[k].append(np.nan * rel[j] if state.merged[j] else rel[j])
                times[k].append(t)
            done = t - t_ref[active] >= window[1] + FRAME_DT - 1e-9  # NaN (not yet) compares False
            if done.all():
                break
            if done.any():
                state, active = _subset(state, ~done), active[~done]
        kdk_step(state, DT)
        if reference == "coalescence":
            t_ref[active[merge_close_pairs(state)]] = t + DT
        else:  # first pericentre: the separation stops shrinking
            sep = np.linalg.norm(state.bodies[:, 1] - state.bodies[:, 0], axis=1)
            turned = np.isnan(t_ref[active]) & (sep > last_sep[active])
            t_ref[active[turned]] = t
            last_sep[active] = sep
    return ([np.stack(f) for f in frames], [np.array(c) for c in comps], [np.array(x) for x in times], t_ref)


def integrate_batch(rng, mass_ratios, window=WINDOW, kind: str = "merger",
                    start_kpc=START_KPC["major"]) -> list[Orbit | None]:
    """Integrate several encounters at once (vectorised over orbits).

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the orbits' initial conditions (in order).
    mass_ratios : sequence of float
        Primary to companion mass ratios (>= 1).
    window : (float, float)
        Frames kept around the reference time (Gyr), with one frame of margin on each side.
    kind : 'merger' or 'flyby'
        Mergers: bound orbits that coalesce; times are relative to coalescence, and an encounter
        that does not coalesce within :data:`T_MAX`, or too early for ``window``, gives None.
        Flybys: unbound (hyperbolic) encounters; times relative to the first pericentre, and one
        that coalesces (or never reaches pericentre) within the stored window gives None.
    start_kpc : (float, float)
        Range of the initial separation (kpc).
    """
    flyby = kind == "flyby"
    ics = [_initial_conditions(rng, float(q), flyby=flyby, start_kpc=start_kpc) for q in mass_ratios]
    state = _encounter(ics)
    frames, comps, times, t_ref = _run(state, window, "pericentre" if flyby else "coalescence")
    out = []
    for k in range(len(ics)):
        rel = times[k] - t_ref[k]
        keep = (rel >= window[0] - FRAME_DT - 1e-9) & (rel <= window[1] + FRAME_DT + 1e-9)
        complete = bool(np.isfinite(t_ref[k]) and t_ref[k] + window[0] >= -1e-9
                        and rel[-1] >= window[1] + FRAME_DT - 1e-9)
        if flyby:
            complete = complete and bool(np.isfinite(comps[k][keep]).all())  # never merged in the window
        if not complete:
            out.append(None)
            continue
        out.append(Orbit(times=rel[keep].astype(np.float32), particles=frames[k][keep],
                         companion=comps[k][keep].astype(np.float32),
                         mass_ratio=float(mass_ratios[k]), n_primary=N_PART_PRIMARY))
    return out


#: Orbits integrated together by :func:`build_library`.
BATCH = 40


def _integrate_library_batch(task: tuple[str, int]) -> list[Orbit | None]:
    """One batch of a kind's library orbits, from its own seed (so any number of processes gives
    the same library)."""
    kind, batch = task
    _, (qlo, qhi), how = KINDS[kind]
    rng = np.random.default_rng([LIBRARY_SEED, list(KINDS).index(kind), batch])
    q = np.exp(rng.uniform(np.log(qlo), np.log(qhi), BATCH))
    return integrate_batch(rng, q, WINDOWS[kind], how, START_KPC[kind])


def build_library(progress: bool = False, workers: int | None = None) -> dict[str, list[Orbit]]:
    """Integrate the whole library (deterministic): ``{kind: [Orbit, ...]}`` for :data:`KINDS`.

    Batches of :data:`BATCH` orbits are integrated by ``workers`` processes (default: every CPU,
    at most 4); each batch has its own seed and the orbits are kept in batch order, so the
    library does not depend on ``workers``.
    """
    import multiprocessing
    import sys

    from tqdm import tqdm

    workers = max(1, min(4, os.cpu_count() or 1) if workers is None else int(workers))
    if "tensorflow" in sys.modules:  # never fork a process that runs TensorFlow's threads
        workers = 1
    library = {kind: [] for kind in KINDS}
    bar = tqdm(total=sum(count for count, _, _ in KINDS.values()), desc="orbit library", disable=not progress)
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        for kind, (count, _, _) in KINDS.items():
            batch = 0
            while len(library[kind]) < count:
                if batch * BATCH > 10 * count + BATCH:
                    raise RuntimeError(f"orbit library: only {len(library[kind])} of {count} {kind} orbits "
                                       f"covered the window {WINDOWS[kind]} Gyr; change LN_LAMBDA or T_MAX")
                tasks = [(kind, b) for b in range(batch, batch + workers)]
                batch += workers
                results = pool.map(_integrate_library_batch, tasks) if pool else map(_integrate_library_batch, tasks)
                for orbit in (o for result in results for o in result):
                    if orbit is not None and len(library[kind]) < count:
                        library[kind].append(orbit)
                        bar.update()
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    bar.close()
    return library


def cache_path() -> Path:
    """Where the library is cached (see the module docstring)."""
    root = os.environ.get("GALMERGE_CACHE")
    if root is None:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "galmerge"
    # keyed on the code that integrates the library: any change to it rebuilds the cache
    from galmerge.runs import source_fingerprint

    return Path(root) / f"orbit_library_{source_fingerprint(['galmerge.mock.orbits'])}.npz"


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
    library = {kind: [] for kind in KINDS}
    with np.load(path) as f:
        for kind, (count, _, _) in KINDS.items():
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
