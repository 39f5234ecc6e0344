"""The training-variance term of the verdicts' intervals, checked by simulation with a known truth.

Two networks a and b are scored on a test set of galaxies in merger sequences; every train seed moves
both networks' accuracies (seed effects correlated between the networks, positively or negatively, as
one train seed gives every network the same initial weights, batch order and augmentation), and each
seed also gets individual galaxies right or wrong by chance (seed x galaxy disagreement). The truth is
the difference of the two networks' accuracies in expectation over galaxies and seeds. A 95 % interval
of :func:`galmerge.analysis.metrics.seed_sequence_difference` must cover it 93-97 % of the time:

- k = 1: one seed per network, the seed term from a benchmark of five seeds on the same test set whose
  first seed is the run's (how the quick profile's benchmark was measured);
- k = 5: five seeds per network, the seed term from the networks' own seed-paired differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from galmerge.analysis import metrics as gm

#: Latent-difficulty model: a, b logits share galaxy and sequence difficulty; each has its own galaxy
#: part (so the paired difference has galaxy-level structure); seed effects (sd ``sig`` on the logit,
#: correlation ``rho`` between the networks) and per-seed, per-galaxy noise ``omega``.
BASE = dict(n_sequences=200, tau=1.0, tau_c=0.5, eta=0.5, eta_c=0.3, alpha_a=0.5, alpha_b=0.3, omega=0.8)
SCENARIOS = {"seeds correlated +0.8": dict(BASE, sig=0.25, rho=0.8),
             "seeds correlated -0.65": dict(BASE, sig=0.45, rho=-0.65)}


def _groups(n_sequences, rng):
    return np.repeat(np.arange(n_sequences), rng.integers(1, 5, n_sequences))


def _correct(groups, k, p, rng):
    """(k, n) correctness of networks a and b, k train seeds, on the galaxies of ``groups``."""
    n, n_seq = len(groups), int(groups.max()) + 1
    shared = rng.normal(0, p["tau"], n) + rng.normal(0, p["tau_c"], n_seq)[groups]
    own = [p[f"alpha_{x}"] + shared + rng.normal(0, p["eta"], n) + rng.normal(0, p["eta_c"], n_seq)[groups]
           for x in "ab"]
    seeds = rng.multivariate_normal([0, 0], p["sig"] ** 2 * np.array([[1, p["rho"]], [p["rho"], 1]]), size=k)
    return [(rng.random((k, n)) < expit(u[None] + seeds[:, [i]] + rng.normal(0, p["omega"], (k, n)))).astype(np.int8)
            for i, u in enumerate(own)]


def _truth(p):
    rng = np.random.default_rng(99)
    a, b = _correct(_groups(40000, rng), 64, p, rng)
    return float(a.mean() - b.mean())


def _coverage(p, k, reps, rng, n_resamples=300):
    truth, hits = _truth(p), 0
    for _ in range(reps):
        groups = _groups(p["n_sequences"], rng)
        a, b = _correct(groups, 5, p, rng)  # five seeds: the run's k, or the benchmark's five
        y = np.ones(len(groups), dtype=np.int8)  # correctness as predictions of mergers: accuracy = fraction right
        weights = gm.bootstrap_weights(groups, n_resamples, rng)
        if k == 1:
            paired = a.mean(axis=1) - b.mean(axis=1)  # the benchmark: five seeds, the first the run's
            d, _, term = gm.seed_sequence_difference(y, a[0], b[0], "accuracy", weights, rng,
                                                     (paired, len(y), True), groups=groups)
            assert term.source == "benchmark"
        else:
            d, _, term = gm.seed_sequence_difference(y, a, b, "accuracy", weights, rng, groups=groups)
            assert term.source == "run" and term.df == 4
        hits += d.lower <= truth <= d.upper
    return hits / reps


@pytest.mark.parametrize("k", [1, 5])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_95_percent_interval_with_the_seed_term_covers_the_truth(scenario, k):
    coverage = _coverage(SCENARIOS[scenario], k, reps=600, rng=np.random.default_rng([k, len(scenario)]))
    print(f"{scenario}, k = {k}: coverage {coverage:.3f}")
    assert 0.93 <= coverage <= 0.97, coverage


def test_the_seed_galaxy_part_is_not_counted_twice():
    """Without any seed effect the seeds still disagree galaxy by galaxy; that spread is the test-set
    bootstrap's already, and the seed term of five seeds is (nearly always) 0 or small."""
    rng = np.random.default_rng(3)
    p = dict(BASE, sig=0.0, rho=0.0)
    terms = []
    for _ in range(100):
        groups = _groups(p["n_sequences"], rng)
        a, b = _correct(groups, 5, p, rng)
        y = np.ones(len(groups), dtype=np.int8)
        _, _, term = gm.seed_sequence_difference(y, a, b, "accuracy", gm.bootstrap_weights(groups, 300, rng),
                                                 rng, groups=groups)
        terms.append((term.sd, term.paired_sd / np.sqrt(5)))
    sd, naive = np.array(terms).T
    assert np.median(sd) < 0.5 * np.median(naive), (np.median(sd), np.median(naive))


def test_seed_terms_by_hand():
    # paired differences 0.02, 0.04, 0.06: variance 4e-4; a bootstrap variance of 2e-4 on this run's 50
    # galaxies is 1e-4 on the benchmark's 100: sd = sqrt(4e-4 - 1e-4)
    term = gm.seed_term_from_benchmark(np.array([0.02, 0.04, 0.06]), 100, 2e-4, 50)
    assert term.sd == pytest.approx(np.sqrt(3e-4)) and term.df == 2 and term.source == "benchmark"
    assert gm.seed_term_from_benchmark(np.array([0.02, 0.04, 0.06]), 100, 2e-4, 50, includes_run=True).df == 4
    assert gm.seed_term_from_benchmark(np.array([0.02, 0.04, 0.06]), 100, 1e-3, 100).sd == 0  # floored
    assert gm.seed_term_from_benchmark(np.array([0.02]), 100, 1e-4, 100).sd == 0  # one seed: no term
    # three seeds whose per-resample differences are identical: no seed x galaxy part
    resampled = np.tile(np.array([0.1, 0.2, 0.3, 0.2]), (3, 1))
    assert gm.seed_galaxy_variance(resampled) == pytest.approx(0, abs=1e-15)
    term = gm.seed_term_from_seeds(np.array([0.02, 0.04, 0.06]), resampled)
    assert term.sd == pytest.approx(np.sqrt(4e-4 / 3)) and term.df == 2 and term.seeds == 3


def test_small_sample_factor_holds_the_level_of_a_null_difference():
    """Two equally good networks on 12 sequences: the plain cluster bootstrap's 95 % interval excludes 0
    more often than 5 %; widened by the small-sample factor it does not."""
    assert gm.small_sample_factor(12) == pytest.approx(1.17, abs=0.01)
    assert gm.small_sample_factor(200) == pytest.approx(1.0, abs=0.02)
    rng = np.random.default_rng(11)
    rejected = {"plain": 0, "widened": 0}
    reps = 1500
    for _ in range(reps):
        groups = np.repeat(np.arange(12), rng.integers(2, 8, 12))
        n = len(groups)
        level = rng.normal(0, 1.0, 12)[groups]  # sequences alike
        a = (rng.random(n) < expit(0.3 + level + rng.normal(0, 1, 12)[groups])).astype(np.int8)
        b = (rng.random(n) < expit(0.3 + level + rng.normal(0, 1, 12)[groups])).astype(np.int8)
        if rng.random() < 0.5:
            a, b = b, a
        y = np.ones(n, dtype=np.int8)
        w = gm.bootstrap_weights(groups, 400, rng)
        plain = gm.paired_bootstrap_difference(y, a, b, "accuracy", weights=w)
        widened, _, _ = gm.seed_sequence_difference(y, a, b, "accuracy", w, rng, groups=groups)
        rejected["plain"] += plain.direction != 0
        rejected["widened"] += widened.direction != 0
    rate = {k: v / reps for k, v in rejected.items()}
    print(rate)
    assert rate["plain"] > 0.065 and rate["widened"] <= 0.06, rate
