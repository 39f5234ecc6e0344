"""The catalogue plan: which objects exist, their class, merger sequence, snapshot and merger time.

Sequences follow the merger clock through the TNG snapshots, as in the challenge: an encounter
sequence has a reference time ``t_c`` (cosmic age, Gyr, uniform over the range whose window
reaches the ages of snapshots 50-91: coalescence, or the first pericentre of a flyby); every
snapshot whose age lies in the kind's window around ``t_c`` can show it, and the sequence
contributes 1-4 of those snapshots (one object each, same galaxies, same orbit and viewing
angle). Isolated galaxies are followed through the snapshots too (a TNG galaxy is in every
snapshot): 1-4 snapshots of one galaxy form a sequence, drawn with the same objects-per-sequence
law, so the size of a sequence says nothing of its class. ``sequence_ID`` is a random
permutation of the sequence numbers (class-free), and object IDs follow a random shuffle of all
rows. Every kind draws its snapshot through the same age -> snapshot mapping, so all share one
redshift law (otherwise the image size would leak the label).

Labels follow the paper's definition exactly (Sect. 2.1, after Margalef-Bentabol et al. 2024): a
merger is a major merger (stellar mass ratio 1-4) within -0.8..+0.3 Gyr of coalescence;
everything else is a non-merger, as in TNG (issue 20):

* ``major`` objects outside that window: pairs 0.8-1.6 Gyr before coalescence (KW08 separations
  of ~26-50 kpc; earlier, the companion mostly leaves the cutout) and remnants 0.3-1.5 Gyr after
  (tidal features fade over ~1-2 Gyr);
* ``minor`` mergers (mass ratio 4-10), -1.0..+1.2 Gyr around coalescence;
* ``flyby`` encounters (mass ratio 1-10) that do not merge, -0.3..+1.0 Gyr around pericentre;
* ``isolated`` galaxies (with chance projected neighbours like every cutout).

Proportions (:func:`non_merger_mix`): with a steady rate per galaxy, the number of galaxies in
each phase is the rate times the phase's duration. Rodriguez-Gomez et al. (2015, MNRAS 449, 49)
give for Illustris a major-merger (mu > 1/4) rate of ~0.05 per galaxy per Gyr at M* ~ 4e10 Msun
and z ~ 0.5 (:data:`MAJOR_RATE_PER_GYR`; rising as (1+z)^2.4-2.8, a power law in the mass ratio
with slope ~ -1.3, so 1/10-1/4 mergers are :data:`MINOR_PER_MAJOR` = 0.93 times as frequent);
flybys are taken as frequent as major mergers (Sinha & Holley-Bockelmann 2012, ApJ 751, 17: the
flyby rate is comparable to the merger rate below z ~ 1). The rest of the galaxies are
isolated. With the windows above this gives the non-merger class 4 % early major pairs, 6 %
late major remnants, 7 % flybys, 11 % minor mergers and 72 % isolated galaxies.

Orbits held out: the test folder (``test_fraction`` of the objects, default
:data:`TEST_FRACTION`) takes whole sequences, cut per library kind (major-library objects, minor,
flyby, isolated), each kind up to the fraction, so it keeps the dataset's merger fraction. Then
every encounter sequence is dealt its library orbit (:func:`assign_orbits`): the test sequences
from a test block of the library, one orbit each until the block (at most half the library) runs
out, the others from the rest, so no training sequence uses an orbit of a test sequence and the
test mergers come from many independent orbits (the quick mock: ~170 for its ~440 test
pre-mergers, where drawing orbits first and holding whole orbits out left 35). The catalogue's
``split_group`` column (``major:17``, ``seq:42``) tells :func:`galmerge.data.catalog.assign_splits`
to keep every orbit in one split, so validation is held out the same way.

Stages (Sect. 2.1 of the paper): pre-merger -0.8 .. -0.1 Gyr, ongoing -0.1 .. +0.1 Gyr,
post-merger +0.1 .. +0.3 Gyr.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from galmerge.data.cosmology import COSMOLOGY, SNAPSHOT_REDSHIFTS
from galmerge.mock.orbits import KINDS as LIBRARY_KINDS

MERGER_WINDOW = (-0.8, 0.3)
#: Windows (Gyr around coalescence, or a flyby's pericentre) of the non-merger encounters.
EARLY_WINDOW, LATE_WINDOW = (-1.6, -0.8), (0.3, 1.5)
MINOR_WINDOW = (-1.0, 1.2)
FLYBY_WINDOW = (-0.3, 1.0)
#: Major-merger (mass ratio > 1/4) rate per galaxy (1/Gyr), Rodriguez-Gomez et al. (2015) at
#: M* ~ 4e10 Msun, z ~ 0.5.
MAJOR_RATE_PER_GYR = 0.05
#: Minor (1/10-1/4) to major merger rate: the mass-ratio power law of Rodriguez-Gomez et al.
#: (2015), dN/dmu ~ mu^-1.3.
MINOR_PER_MAJOR = 0.93
#: Flyby to major merger rate (Sinha & Holley-Bockelmann 2012: comparable below z ~ 1).
FLYBY_PER_MAJOR = 1.0
#: Plan kind -> (library kind, window): the encounters among the non-mergers.
NON_MERGER_ENCOUNTERS = {"early": ("major", EARLY_WINDOW), "late": ("major", LATE_WINDOW),
                         "flyby": ("flyby", FLYBY_WINDOW), "minor": ("minor", MINOR_WINDOW)}
#: Probabilities of 1, 2, 3, 4 objects from one sequence.
OBJECTS_PER_SEQUENCE = (0.4, 0.3, 0.2, 0.1)
#: Default fraction of the objects in the test folder: the paper's 10 % (75:15:10, Sect. 2.2).
TEST_FRACTION = 0.10
FIRST_ID = 100_000
FIRST_SEQUENCE_ID = 5_000


def snapshot_ages() -> tuple[np.ndarray, np.ndarray]:
    """TNG snapshots 50-91 and their cosmic ages (Gyr) in the paper's cosmology."""
    snaps = np.array(sorted(SNAPSHOT_REDSHIFTS))
    ages = COSMOLOGY.age([SNAPSHOT_REDSHIFTS[s] for s in snaps]).value
    return snaps, ages


def stage_of(merger_time: float) -> str:
    """'pre', 'ongoing' or 'post' for a merger time (Gyr) inside the merger window."""
    if merger_time < -0.1:
        return "pre"
    if merger_time <= 0.1:
        return "ongoing"
    return "post"


def _sequence_objects(rng, snaps, ages, window, wanted):
    """Snapshots (and times relative to t_c) of one sequence, at most ``wanted`` objects."""
    while True:
        # Coalescence times over the whole range whose window reaches a snapshot, so that every
        # kind's objects spread uniformly in cosmic age (the same redshift law for both classes).
        t_c = rng.uniform(ages[0] - window[1], ages[-1] - window[0])
        offset = ages - t_c
        inside = np.flatnonzero((offset >= window[0]) & (offset <= window[1]))
        if inside.size:
            break
    k = min(wanted, rng.choice(4, p=OBJECTS_PER_SEQUENCE) + 1, inside.size)
    chosen = np.sort(rng.choice(inside, size=k, replace=False))
    return snaps[chosen], offset[chosen]


def non_merger_mix() -> dict[str, float]:
    """Fraction of the non-merger class in each kind: 'early' and 'late' major encounters,
    'flyby', 'minor' and 'isolated' (steady rates times phase durations; see the module docstring)."""
    def span(window):
        return window[1] - window[0]

    rate = MAJOR_RATE_PER_GYR
    per_galaxy = {"early": rate * span(EARLY_WINDOW), "late": rate * span(LATE_WINDOW),
                  "flyby": FLYBY_PER_MAJOR * rate * span(FLYBY_WINDOW),
                  "minor": MINOR_PER_MAJOR * rate * span(MINOR_WINDOW)}
    non_mergers = 1.0 - rate * span(MERGER_WINDOW)
    mix = {kind: value / non_mergers for kind, value in per_galaxy.items()}
    mix["isolated"] = 1.0 - sum(mix.values())
    return mix


def _plan_sequences(rng, snaps, ages, library_kind, window, count, group):
    """Rows (snapnum, group, kind, merger_time, orbit) of sequences adding up to ``count`` objects."""
    rows, made = [], 0
    while made < count:
        sn, times = _sequence_objects(rng, snaps, ages, window, count - made)
        if library_kind is None:  # isolated: no merger time, no orbit
            rows.extend((int(s), group, "isolated", np.nan, -1) for s in sn)
        else:  # the orbit is dealt once the test folder is chosen (assign_orbits)
            rows.extend((int(s), group, library_kind, float(t), -1) for s, t in zip(sn, times))
        made += len(sn)
        group += 1
    return rows, group


def plan_catalogue(n: int, seed: int, merger_fraction: float = 0.5,
                   test_fraction: float = TEST_FRACTION) -> pd.DataFrame:
    """Plan ``n`` objects: one row per object, one group per sequence; about ``test_fraction`` of them,
    whole orbits and sequences, in the test folder.

    Returns
    -------
    DataFrame with columns ID, snapnum, sequence_ID, group (int: a key shared by the objects
    of one sequence, unique for isolated objects), kind ('major', 'minor', 'flyby', 'isolated':
    the physics, whatever the label), merger_time (Gyr relative to coalescence, or to a flyby's
    pericentre; NaN for isolated galaxies), orbit (library index within the kind, -1 none),
    split_group (objects that must share a split: ``<kind>:<orbit>`` or ``seq:<group>``), stage
    ('pre', 'ongoing', 'post' for mergers, 'non') and split ('train' or 'test').
    """
    if n < 1:
        raise ValueError(f"number of objects must be >= 1, got {n}")
    if not 0.0 <= merger_fraction <= 1.0:
        raise ValueError(f"merger_fraction must be within [0, 1], got {merger_fraction}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be within [0, 1), got {test_fraction}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    snaps, ages = snapshot_ages()
    n_major = int(round(n * merger_fraction))
    n_non = n - n_major
    mix = non_merger_mix()
    wanted = [("major", MERGER_WINDOW, n_major)]
    wanted += [(lib, window, int(round(n_non * mix[kind]))) for kind, (lib, window) in NON_MERGER_ENCOUNTERS.items()]
    wanted.append((None, MERGER_WINDOW, n_non - sum(count for _, _, count in wanted[1:])))
    rows, group = [], 0
    for library_kind, window, count in wanted:
        new, group = _plan_sequences(rng, snaps, ages, library_kind, window, count, group)
        rows.extend(new)
    plan = pd.DataFrame(rows, columns=["snapnum", "group", "kind", "merger_time", "orbit"])
    plan = plan.iloc[rng.permutation(len(plan))].reset_index(drop=True)
    plan.insert(0, "ID", np.arange(FIRST_ID, FIRST_ID + len(plan), dtype=np.int64))
    # Class-free sequence IDs: a random permutation of the sequence numbers.
    numbering = rng.permutation(group)
    plan["sequence_ID"] = (FIRST_SEQUENCE_ID + numbering[plan["group"].to_numpy()]).astype(np.int64)
    plan["stage"] = [stage_of(t) if is_merger(k, t) else "non" for k, t in zip(plan["kind"], plan["merger_time"])]
    groups, kinds = plan["group"].to_numpy(), plan["kind"].to_numpy()
    test = np.zeros(len(plan), bool)
    for kind in ("major", "minor", "flyby", "isolated"):  # whole sequences, each kind up to test_fraction
        members = kinds == kind
        test[members] = _test_split(rng, groups[members], test_fraction) == "test"
    plan["split"] = np.where(test, "test", "train")
    plan["orbit"] = assign_orbits(rng, plan)
    plan["split_group"] = np.where(plan["kind"] == "isolated", "seq:" + plan["group"].astype(str),
                                   plan["kind"] + ":" + plan["orbit"].astype(str))
    return plan


def assign_orbits(rng, plan: pd.DataFrame) -> np.ndarray:
    """Library orbit of every object (-1 for isolated galaxies), one per sequence.

    Each library kind's orbits are cut in two blocks: the test block holds one orbit per test
    sequence, up to half of the library, and the test sequences are dealt its orbits without
    repetition until it runs out; the training (and validation) sequences draw from the other
    block. So no orbit is both in the test folder and in training, and the test folder's mergers
    come from as many independent orbits as the library allows (with the quick profile's ~500
    test sequences of major encounters and :data:`~galmerge.mock.orbits.N_MAJOR` = 384, 192
    orbits; drawing orbits at random and then holding whole orbits out left 35 of 128).
    """
    orbit = np.full(len(plan), -1, dtype=np.int64)
    kinds, groups, test = plan["kind"].to_numpy(), plan["group"].to_numpy(), plan["split"].to_numpy() == "test"
    for kind, (n_orbits, _, _) in LIBRARY_KINDS.items():
        members = kinds == kind
        if not members.any():
            continue
        test_sequences = np.unique(groups[members & test])
        train_sequences = np.unique(groups[members & ~test])
        library = rng.permutation(n_orbits)
        block_limit = n_orbits // 2 if len(train_sequences) else n_orbits  # leave orbits for training
        n_test_block = min(len(test_sequences), block_limit)
        test_block, train_block = library[:n_test_block], library[n_test_block:]
        dealt = {g: int(test_block[i % n_test_block]) for i, g in enumerate(rng.permutation(test_sequences))}
        dealt.update({int(g): int(rng.choice(train_block)) for g in train_sequences})
        orbit[members] = [dealt[g] for g in groups[members]]
    return orbit


def is_merger(kind: str, merger_time: float) -> bool:
    """The paper's label: a major merger within -0.8..+0.3 Gyr of coalescence."""
    return kind == "major" and MERGER_WINDOW[0] <= merger_time <= MERGER_WINDOW[1]


def _test_split(rng, groups: np.ndarray, fraction: float = TEST_FRACTION) -> np.ndarray:
    """'test' for whole groups adding up to about ``fraction`` of the objects."""
    if groups.size == 0:
        return np.array([], dtype=object)
    unique, counts = np.unique(groups, return_counts=True)
    order = rng.permutation(unique.size)
    target = fraction * groups.size
    test_groups, total = [], 0
    for i in order:
        if total >= target - 0.5:
            break
        if total + counts[i] > target + 0.5 and total > 0:
            continue  # a large sequence would overshoot: try a smaller one
        test_groups.append(unique[i])
        total += counts[i]
    return np.where(np.isin(groups, test_groups), "test", "train")
