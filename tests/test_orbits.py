"""Physics invariants of the mock's restricted N-body integrator (issue 20), against analytic truth.

Each test would have caught the missing closing half-kick of the particles (discs grew from 6 to
17 kpc in 0.12 Gyr): an isolated disc keeps its size, energy is conserved in a static potential,
the scheme is time-reversible, a two-body orbit has its Kepler period, and the orbit decays by
friction at Chandrasekhar's rate.
"""

from __future__ import annotations

import numpy as np
import pytest

from galmerge.mock import orbits
from galmerge.mock.orbits import DT, Encounter, G, kdk_step, update_accelerations


def _state(m1, a1, m2, a2, rel_pos, rel_vel, pos=None, vel=None, friction=False) -> Encounter:
    """One encounter: bodies about their centre of mass, particles (optional) as given."""
    mtot = m1 + m2
    rel_pos, rel_vel = np.asarray(rel_pos, float), np.asarray(rel_vel, float)
    bodies = np.stack([-m2 / mtot * rel_pos, m1 / mtot * rel_pos])[None]
    body_vel = np.stack([-m2 / mtot * rel_vel, m1 / mtot * rel_vel])[None]
    pos = np.zeros((0, 3)) if pos is None else np.asarray(pos, float)
    vel = np.zeros((0, 3)) if vel is None else np.asarray(vel, float)
    state = Encounter(mass=np.array([[m1, m2]], float), scale=np.array([[a1, a2]], float), bodies=bodies,
                      body_vel=body_vel, pos=pos[None].copy(), vel=vel[None].copy(), merged=np.zeros(1, bool),
                      friction=friction)
    update_accelerations(state)
    return state


def _isolated(pos, vel):
    """The library's primary alone (a massless companion 1e5 kpc away), with particles."""
    return _state(orbits.M_PRIMARY, orbits.A_PRIMARY, 0.0, 1.0, [1e5, 0, 0], [0, 0, 0], pos, vel)


def _plummer_energy(pos, vel, mass, scale):
    """Specific energy in a Plummer potential -G M / sqrt(r^2 + a^2) (Binney & Tremaine eq. 2.44a)."""
    return 0.5 * np.sum(vel**2, axis=-1) - G * mass / np.sqrt(np.sum(pos**2, axis=-1) + scale**2)


def test_isolated_disc_keeps_its_half_mass_radius_for_2_gyr():
    rng = np.random.default_rng(0)
    pos, vel = orbits._disc_particles(rng, 800, orbits.H_PRIMARY, orbits.M_PRIMARY, orbits.A_PRIMARY,
                                      orbits.random_unit_vectors(rng, 1)[0])
    state = _isolated(pos, vel)
    r0 = np.median(np.linalg.norm(state.pos[0], axis=1))
    radii = []
    for step in range(int(round(2.0 / DT))):
        kdk_step(state, DT)
        if step % 50 == 49:
            radii.append(np.median(np.linalg.norm(state.pos[0] - state.bodies[0, 0], axis=1)))
    assert 4.0 < r0 < 8.0  # the library disc: 0.8-5 scale lengths of 3 kpc
    assert np.max(np.abs(np.array(radii) / r0 - 1)) < 0.05


def _energy_history(radius, speed_fraction, periods=50):
    """Relative energy error at every step of a particle launched at ``radius`` (kpc) with
    ``speed_fraction`` of the circular speed in the library primary's Plummer potential."""
    m, a = orbits.M_PRIMARY, orbits.A_PRIMARY
    vcirc = np.sqrt(G * m * radius**2 / (radius**2 + a**2) ** 1.5)
    pos, vel = np.array([[radius, 0.0, 0.3]]), np.array([[0.0, speed_fraction * vcirc, 0.0]])
    state = _isolated(pos, vel)
    e0 = _plummer_energy(pos, vel, m, a)[0]
    period = 2 * np.pi * radius / vcirc  # circular period; an eccentric orbit's radial period is shorter
    errors = []
    for _ in range(int(np.ceil(periods * period / DT))):
        kdk_step(state, DT)
        errors.append(_plummer_energy(state.pos[0] - state.bodies[0, 0], state.vel[0], m, a)[0] / e0 - 1)
    return np.array(errors)


# the library disc spans 2.4-15 kpc; 50 periods at 15 kpc take > 5 s
@pytest.mark.parametrize("radius", [2.4, 6.0, pytest.param(15.0, marks=pytest.mark.slow)])
def test_disc_particle_in_a_static_potential_conserves_energy_over_50_periods(radius):
    assert np.max(np.abs(_energy_history(radius, 1.0))) < 1e-3


@pytest.mark.parametrize("radius, speed_fraction", [(6.0, 0.7), (10.0, 0.6)])
def test_plunging_orbit_keeps_its_energy_without_drift(radius, speed_fraction):
    """An eccentric orbit through the core (tidal debris): leapfrog's error oscillates (0.5-0.8 %
    at pericentre with the library's step) but does not grow; over 50 periods the mean energy of
    the last tenth differs from the first tenth's by < 1e-4."""
    errors = _energy_history(radius, speed_fraction)
    tenth = len(errors) // 10
    assert abs(errors[-tenth:].mean() - errors[:tenth].mean()) < 1e-4
    assert np.max(np.abs(errors)) < 1e-2


def test_the_integrator_is_time_reversible():
    rng = np.random.default_rng(1)
    ic = orbits._initial_conditions(rng, 2.0)
    state = orbits._encounter([ic], friction=False)
    start = (state.bodies.copy(), state.pos.copy(), state.body_vel.copy(), state.vel.copy())
    for _ in range(300):  # 0.6 Gyr: the pair approaches but does not coalesce
        kdk_step(state, DT)
    assert np.linalg.norm(state.bodies[0, 1] - state.bodies[0, 0]) > 10 * orbits.R_COALESCE
    moved = np.max(np.abs(state.pos - start[1]))
    state.body_vel *= -1
    state.vel *= -1
    update_accelerations(state)
    for _ in range(300):
        kdk_step(state, DT)
    assert moved > 10.0
    assert np.max(np.abs(state.bodies - start[0])) < 1e-8
    assert np.max(np.abs(state.pos - start[1])) < 1e-8
    assert np.max(np.abs(state.vel + start[3])) < 1e-8


def test_two_body_orbit_has_its_kepler_period():
    m1, m2 = 1e11, 4e10
    semi_major, ecc = 50.0, 0.5
    apo = semi_major * (1 + ecc)
    v_apo = np.sqrt(G * (m1 + m2) * (2 / apo - 1 / semi_major))  # vis-viva
    state = _state(m1, 1e-3, m2, 1e-3, [apo, 0, 0], [0, v_apo, 0])
    kepler = 2 * np.pi * np.sqrt(semi_major**3 / (G * (m1 + m2)))
    angle, last, t = 0.0, 0.0, 0.0
    while angle < 4 * np.pi:  # two full turns of the relative position
        kdk_step(state, DT)
        t += DT
        rel = state.bodies[0, 1] - state.bodies[0, 0]
        now = np.arctan2(rel[1], rel[0])
        angle += (now - last + np.pi) % (2 * np.pi) - np.pi
        last = now
    assert t / 2 == pytest.approx(kepler, rel=2e-3)
    rel = state.bodies[0, 1] - state.bodies[0, 0]
    assert np.linalg.norm(rel) == pytest.approx(apo, rel=2e-3)  # back at apocentre


def test_friction_decays_an_orbit_at_chandrasekhars_rate():
    """A light satellite on a circular orbit deep in the primary's halo core, where the density is
    uniform and the satellite slow against the dispersion: Chandrasekhar's formula (Binney & Tremaine
    2008, eq. 8.7) tends to a linear drag ``gamma = 4 sqrt(2 pi) G^2 m rho0 lnL / (3 sigma^3)``, so
    the orbital angular momentum decays as ``exp(-gamma t)`` whatever the potential."""
    q = 100.0
    m1, m2 = orbits.M_PRIMARY, orbits.M_PRIMARY / q
    a1, a2 = orbits.A_PRIMARY, orbits.A_PRIMARY * q ** (-1 / 3)
    r = 0.3
    vcirc = np.sqrt(G * (m1 + m2) * r**2 / (r**2 + a1**2 + a2**2) ** 1.5)  # the bodies' softened pull
    state = _state(m1, a1, m2, a2, [r, 0, 0], [0, vcirc, 0], friction=True)
    rho0 = orbits.V_HALO**2 / (4 * np.pi * G * orbits.R_CORE**2)  # isothermal sphere, BT08 eq. 4.103
    sigma = orbits.V_HALO / np.sqrt(2)
    gamma = 4 * np.sqrt(2 * np.pi) * G**2 * m2 * rho0 * orbits.LN_LAMBDA / (3 * sigma**3) * (m1 + m2) / m1

    def ang_mom():
        rel = state.bodies[0, 1] - state.bodies[0, 0]
        vrel = state.body_vel[0, 1] - state.body_vel[0, 0]
        return np.linalg.norm(np.cross(rel, vrel))

    l0 = ang_mom()
    duration = 1.0 / gamma  # one e-folding
    for _ in range(int(round(duration / DT))):
        kdk_step(state, DT)
    measured = -np.log(ang_mom() / l0) / duration
    assert measured == pytest.approx(gamma, rel=0.2)
    assert 0.3 / gamma < 1.0  # the test is not trivially short


def test_particles_bound_to_a_galaxy_share_its_friction():
    """Friction slows a galaxy with its stars: a particle bound to a body gets exactly that body's
    friction, an unbound one none, so a disc is not stripped by a drag on its centre alone."""
    rng = np.random.default_rng(2)
    ic = orbits._initial_conditions(rng, 3.0)
    ic["b2"] = ic["b1"] + (ic["b2"] - ic["b1"]) * 0.2  # 16-22 kpc apart: friction matters
    ic["pos"][orbits.N_PART_PRIMARY:] += ic["b2"] - ic["b2"] / 0.2 + ic["b1"] * (1 / 0.2 - 1)
    ic["pos"] = np.concatenate([ic["pos"], [[500.0, 0, 0]]])  # an escaped particle
    ic["vel"] = np.concatenate([ic["vel"], [[0.0, 1000.0, 0]]])  # far above the escape speed
    with_friction = orbits._encounter([ic])
    without = orbits._encounter([ic], friction=False)
    drag = with_friction.body_acc - without.body_acc
    extra = with_friction.particle_acc - without.particle_acc
    n1 = orbits.N_PART_PRIMARY
    assert np.linalg.norm(drag[0, 1]) > 1.0  # kpc/Gyr^2: a real deceleration
    host = with_friction.host[0]
    assert (host[:n1] == 0).mean() > 0.9 and (host[n1:-1] == 1).mean() > 0.9 and host[-1] == -1
    for k in (0, 1):
        assert np.allclose(extra[0, host == k], drag[0, k], rtol=1e-9, atol=1e-9)
    assert np.allclose(extra[0, host == -1], 0.0)
