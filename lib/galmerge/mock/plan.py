"""The catalogue plan: which objects exist, their class, merger sequence, snapshot and merger time.

Sequences follow the merger clock through the TNG snapshots, as in the challenge: a merger
sequence has a coalescence time ``t_c`` (cosmic age, Gyr, uniform over the range whose window
reaches the ages of snapshots 50-91); every snapshot whose age lies in ``t_c - 0.8 .. t_c + 0.3``
Gyr can show it, and the sequence contributes 1-4 of those snapshots (one object each, same galaxies, same orbit and
viewing angle). Minor mergers (mass ratio 4-10) form sequences of non-mergers the same way
(window -1.0 .. +1.2 Gyr). Isolated non-mergers are followed through the snapshots too
(a TNG galaxy is in every snapshot): 1-4 snapshots of one galaxy form a sequence, drawn with
the same objects-per-sequence law as the mergers, so the size of a sequence says nothing of its
class. ``sequence_ID`` is a random permutation of the sequence numbers (class-free: mergers'
sequences are not numbered first), and object IDs follow a random shuffle of all rows.
Non-mergers draw their snapshot through the same age -> snapshot mapping, so both classes have
the same redshift distribution (otherwise the image size would leak the label). The counts per
snapshot then follow the snapshots' spacing in age, roughly flat over the four folders with a
few more at low redshift (n=2000, seed 3: 24 % / 21 % / 27 % / 28 % in the 128 / 160 / 192 /
320 px folders).

The test folder (:data:`TEST_FRACTION` of the objects, whole sequences) is stratified by class:
major mergers' and non-mergers' sequences are picked separately, each up to the fraction of its
own class, so the test folder has the dataset's merger fraction.

Stages (Sect. 2.1 of the paper): pre-merger -0.8 .. -0.1 Gyr, ongoing -0.1 .. +0.1 Gyr,
post-merger +0.1 .. +0.3 Gyr.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from galmerge.data.cosmology import COSMOLOGY, SNAPSHOT_REDSHIFTS

MERGER_WINDOW = (-0.8, 0.3)
MINOR_WINDOW = (-1.0, 1.2)
#: Fraction of non-mergers that belong to a minor-merger sequence.
MINOR_FRACTION = 0.3
#: Probabilities of 1, 2, 3, 4 objects from one sequence.
OBJECTS_PER_SEQUENCE = (0.4, 0.3, 0.2, 0.1)
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


def plan_catalogue(n: int, seed: int, merger_fraction: float = 0.5) -> pd.DataFrame:
    """Plan ``n`` objects: one row per object, one group per sequence.

    Returns
    -------
    DataFrame with columns ID, snapnum, sequence_ID, group (int: a key shared by the objects
    of one sequence, unique for isolated objects), kind ('major', 'minor', 'isolated'),
    merger_time (Gyr: major and minor mergers; NaN for isolated galaxies), stage
    ('pre', 'ongoing', 'post', 'non') and split ('train' or 'test').
    """
    if n < 1:
        raise ValueError(f"number of objects must be >= 1, got {n}")
    if not 0.0 <= merger_fraction <= 1.0:
        raise ValueError(f"merger_fraction must be within [0, 1], got {merger_fraction}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    snaps, ages = snapshot_ages()
    n_major = int(round(n * merger_fraction))
    n_non = n - n_major
    n_minor = int(round(n_non * MINOR_FRACTION))
    rows = []
    group = 0
    for kind, count, window in (("major", n_major, MERGER_WINDOW), ("minor", n_minor, MINOR_WINDOW)):
        made = 0
        while made < count:
            sn, times = _sequence_objects(rng, snaps, ages, window, count - made)
            for s, t in zip(sn, times):
                rows.append((int(s), group, kind, float(t)))
            made += len(sn)
            group += 1
    made, count = 0, n_non - n_minor
    while made < count:  # isolated galaxies: the same sequence law, no merger time
        sn, _times = _sequence_objects(rng, snaps, ages, MERGER_WINDOW, count - made)
        for s in sn:
            rows.append((int(s), group, "isolated", np.nan))
        made += len(sn)
        group += 1
    plan = pd.DataFrame(rows, columns=["snapnum", "group", "kind", "merger_time"])
    plan = plan.iloc[rng.permutation(len(plan))].reset_index(drop=True)
    plan.insert(0, "ID", np.arange(FIRST_ID, FIRST_ID + len(plan), dtype=np.int64))
    # Class-free sequence IDs: a random permutation of the sequence numbers.
    numbering = rng.permutation(group)
    plan["sequence_ID"] = (FIRST_SEQUENCE_ID + numbering[plan["group"].to_numpy()]).astype(np.int64)
    plan["stage"] = [stage_of(t) if k == "major" else "non"
                     for k, t in zip(plan["kind"], plan["merger_time"])]
    major = (plan["kind"] == "major").to_numpy()
    test = np.zeros(len(plan), bool)
    for members in (major, ~major):  # stratified: each class up to TEST_FRACTION of its objects
        test[members] = _test_split(rng, plan["group"].to_numpy()[members]) == "test"
    plan["split"] = np.where(test, "test", "train")
    return plan


def _test_split(rng, groups: np.ndarray) -> np.ndarray:
    """'test' for whole groups adding up to about :data:`TEST_FRACTION` of the objects."""
    if groups.size == 0:
        return np.array([], dtype=object)
    unique, counts = np.unique(groups, return_counts=True)
    order = rng.permutation(unique.size)
    target = TEST_FRACTION * groups.size
    test_groups, total = [], 0
    for i in order:
        if total >= target - 0.5:
            break
        if total + counts[i] > target + 0.5 and total > 0:
            continue  # a large sequence would overshoot: try a smaller one
        test_groups.append(unique[i])
        total += counts[i]
    return np.where(np.isin(groups, test_groups), "test", "train")
