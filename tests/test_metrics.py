"""galmerge.analysis.metrics: agreement with scikit-learn, the precision = recall threshold rule,
bootstrap coverage and the balanced sampler."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from galmerge.analysis import metrics as gm


def _random_sample(seed: int, n: int = 200, signal: float = 1.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    scores = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(0, 1.5, n))))
    return y, scores


# --------------------------------------------------------------------------- scikit-learn agreement
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_agree_with_sklearn(seed):
    y, s = _random_sample(seed)
    pred = gm.predict(s, 0.5)
    m = gm.classification_metrics(y, pred, s)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert m["n"] == len(y)


def test_undefined_metrics_are_nan_not_zero():
    m = gm.classification_metrics([0, 0, 0], [0, 0, 0], [0.1, 0.2, 0.3])
    assert m["accuracy"] == 1.0
    assert np.isnan(m["precision"]) and np.isnan(m["recall"]) and np.isnan(m["auc"])
    empty = gm.classification_metrics([], [], [])
    assert empty["n"] == 0 and np.isnan(empty["accuracy"])


def test_vectorised_counts_agree_with_sklearn_on_every_resample():
    rng = np.random.default_rng(5)
    # small samples so that degenerate resamples (no merger, no predicted merger) occur
    y = rng.integers(0, 2, (120, 6)).astype(bool)
    p = rng.integers(0, 2, (120, 6)).astype(bool)
    tp, fp = (y & p).sum(1), (~y & p).sum(1)
    fn, tn = (y & ~p).sum(1), (~y & ~p).sum(1)
    vec = gm.metrics_from_counts(tp, fp, fn, tn)
    for i in range(len(y)):
        ref = gm.classification_metrics(y[i].astype(int), p[i].astype(int))
        for metric in gm.METRICS:
            np.testing.assert_equal(vec[metric][i], ref[metric], err_msg=f"{metric} row {i}: {y[i]} {p[i]}")


def test_metrics_vs_threshold_matches_pointwise_metrics():
    y, s = _random_sample(3)
    curves = gm.metrics_vs_threshold(y, s, [0.2, 0.5, 0.8, 1.01])
    for _, row in curves.iterrows():
        ref = gm.classification_metrics(y, gm.predict(s, row["threshold"]))
        for metric in gm.METRICS:
            np.testing.assert_equal(row[metric], ref[metric])
    assert np.isnan(curves["precision"].iloc[-1])  # nothing predicted a merger above every score


def test_confusion_matrix_rows_normalised_and_empty_row_nan():
    y, s = _random_sample(4)
    pred = gm.predict(s, 0.5)
    cm = gm.confusion_matrix(y, pred)
    np.testing.assert_allclose(cm.sum(axis=1), 1.0)
    np.testing.assert_allclose(cm, skm.confusion_matrix(y, pred, normalize="true"))
    no_mergers = gm.confusion_matrix([0, 0, 0], [0, 1, 0])
    assert np.isnan(no_mergers[1]).all() and cm.shape == (2, 2)


def test_labels_are_validated():
    with pytest.raises(ValueError, match="only 0"):
        gm.classification_metrics([0, 2], [0, 1])
    with pytest.raises(ValueError, match="shape"):
        gm.precision_recall_threshold([0, 1], [0.5])
    with pytest.raises(ValueError, match="non-finite"):
        gm.precision_recall_threshold([0, 1], [0.5, np.nan])


# --------------------------------------------------------------------------- precision = recall threshold
def _precision_recall(y, s, t):
    """Precision and recall of ``score >= t``, counted directly (independent of the code under test)."""
    pred = s >= t
    tp = np.sum(pred & (y == 1))
    return tp / max(pred.sum(), 1), tp / np.sum(y == 1)


def _gap(y, s, t):
    p, r = _precision_recall(y, s, t)
    return abs(p - r)


@pytest.mark.parametrize("seed", range(5))
def test_threshold_has_smallest_gap_among_candidates(seed):
    y, s = _random_sample(seed, n=150, signal=0.5)
    chosen = gm.choose_precision_recall_threshold(y, s)
    gaps = [_gap(y, s, t) for t in np.unique(s)]
    assert _gap(y, s, chosen.threshold) == pytest.approx(min(gaps), abs=1e-12)
    assert chosen.threshold in np.unique(s)
    assert chosen.n_candidates == len(np.unique(s))


def test_continuous_scores_give_an_exact_crossing_with_as_many_predicted_as_true_mergers():
    y, s = _random_sample(11, n=300)
    chosen = gm.choose_precision_recall_threshold(y, s)
    assert chosen.exact and chosen.precision == pytest.approx(chosen.recall)
    assert gm.predict(s, chosen.threshold).sum() == y.sum()  # FP = FN


def test_tied_scores_follow_the_documented_rule():
    # tiny samples with scores rounded to one decimal: many ties in |precision - recall|
    tie_breaks = set()
    for seed in range(40):
        rng = np.random.default_rng(seed)
        y, s = rng.integers(0, 2, 10), np.round(rng.random(10), 1)
        if y.sum() == 0:
            continue
        ranked = []
        for t in np.unique(s):
            p, r = _precision_recall(y, s, t)
            ranked.append((round(abs(p - r), 12), -round(p + r, 12), t))
        ranked.sort()  # smallest gap, then largest p + r, then lowest threshold
        if ranked[0][0] == ranked[1][0]:
            tie_breaks.add("threshold" if ranked[0][1] == ranked[1][1] else "p + r")
        assert gm.precision_recall_threshold(y, s) == ranked[0][2], f"seed {seed}"
    assert tie_breaks == {"threshold", "p + r"}  # both tie-breaking steps were exercised


def test_threshold_needs_mergers():
    with pytest.raises(ValueError, match="no mergers"):
        gm.precision_recall_threshold([0, 0, 0], [0.1, 0.5, 0.9])


def test_one_threshold_rule_with_one_fallback_said_out_loud():
    y, s = _random_sample(3)
    chosen = gm.choose_threshold(y, s, where="validation")
    assert chosen.threshold == gm.precision_recall_threshold(y, s) and not chosen.fallback
    assert chosen.method in ("precision = recall", "min |precision - recall|")
    for labels, scores, why in (([0, 0, 0], [0.1, 0.5, 0.9], "no merger among its 3 galaxies"), ([], [], "no scores")):
        with pytest.warns(UserWarning, match=f"scores_validation.csv: {why}.*fallback threshold 0.5"):
            fallback = gm.choose_threshold(labels, scores, where="scores_validation.csv")
        assert fallback.threshold == gm.FALLBACK_THRESHOLD == 0.5
        assert fallback.method.startswith("fallback 0.5") and np.isnan(fallback.precision)
    with pytest.raises(ValueError, match="only 0"):  # malformed input is an error, never a fallback
        gm.choose_threshold([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="shape"):
        gm.choose_threshold([0, 1], [0.1])


@pytest.mark.parametrize("merger_share", [0.1, 0.25, 0.5, 0.9])
def test_balanced_threshold_is_where_recall_equals_specificity_whatever_the_class_share(merger_share):
    """Independent truth: scores ~ N(0, 1) for non-mergers and N(d, 1) for mergers have recall = specificity
    at d / 2 whatever the share of mergers, while the unweighted precision = recall threshold moves with the
    share (above d / 2 when mergers are rare, below when they are common)."""
    rng = np.random.default_rng(11)
    n, d = 40_000, 1.5
    y = (rng.random(n) < merger_share).astype(int)
    s = rng.normal(d * y, 1.0)
    chosen = gm.choose_threshold(y, s, balanced=True)
    assert chosen.threshold == pytest.approx(d / 2, abs=0.04) and not chosen.fallback
    called = s >= chosen.threshold
    assert called[y == 1].mean() == pytest.approx((~called[y == 0]).mean(), abs=2e-3)
    unweighted = gm.choose_threshold(y, s).threshold
    if merger_share != 0.5:
        assert (unweighted > d / 2 + 0.1) == (merger_share < 0.5)
    else:
        assert unweighted == pytest.approx(d / 2, abs=0.04)


def test_balanced_threshold_needs_both_classes():
    with pytest.raises(ValueError, match="no non-mergers"):
        gm.choose_precision_recall_threshold([1, 1], [0.2, 0.8], balanced=True)
    with pytest.warns(UserWarning, match="no non-merger among its 2 galaxies"):
        assert gm.choose_threshold([1, 1], [0.2, 0.8], balanced=True).threshold == gm.FALLBACK_THRESHOLD
    assert gm.choose_threshold([1, 1], [0.2, 0.8]).threshold == 0.2  # unbalanced: all mergers, all called


# --------------------------------------------------------------------------- bootstrap
def test_bootstrap_interval_covers_true_rate_about_95_percent():
    rng = np.random.default_rng(2024)
    true_rate, n, trials = 0.3, 200, 200
    covered = 0
    for _ in range(trials):
        correct = (rng.random(n) < true_rate).astype(int)  # a sample of mergers, 1 = classified correctly
        s = gm.bootstrap_metrics(np.ones(n, int), correct, ("fraction_correct",), n_resamples=200,
                                 rng=rng)["fraction_correct"]
        covered += s.lower <= true_rate <= s.upper
    coverage = covered / trials
    # binomial spread of the coverage over 200 trials is about 1.5 %
    assert 0.90 <= coverage <= 0.99, coverage


def test_bootstrap_is_seeded_and_reports_upper_minus_mean():
    y, s = _random_sample(8)
    pred = gm.predict(s, 0.5)
    a = gm.bootstrap_metrics(y, pred, n_resamples=300, rng=1)
    b = gm.bootstrap_metrics(y, pred, n_resamples=300, rng=1)
    c = gm.bootstrap_metrics(y, pred, n_resamples=300, rng=2)
    assert a == b and a["accuracy"] != c["accuracy"]
    for metric, r in a.items():
        assert r.error == pytest.approx(r.upper - r.mean)
        assert r.lower <= r.mean <= r.upper
        assert r.value == pytest.approx(gm.classification_metrics(y, pred)[metric])
        assert abs(r.mean - r.value) < 0.02
        assert r.n == len(y) and r.n_defined == 300


def test_bootstrap_of_empty_sample_is_nan():
    r = gm.bootstrap_metrics([], [], n_resamples=10, rng=0)["accuracy"]
    assert r.n == 0 and np.isnan(r.mean) and np.isnan(r.error)


# --------------------------------------------------------------------------- sequence bootstrap
def test_sequence_groups_share_codes_and_loners_get_their_own():
    codes = gm.sequence_groups([7, 7, -1, 3, np.nan, 7, -1, None, 3])
    assert codes[0] == codes[1] == codes[5] and codes[3] == codes[8] and codes[0] != codes[3]
    loners = codes[[2, 4, 6, 7]]
    assert len(set(loners)) == 4 and not set(loners) & {codes[0], codes[3]}
    assert sorted(set(codes)) == list(range(6))  # 2 sequences + 4 objects without one
    with pytest.raises(ValueError, match="1-D"):
        gm.sequence_groups([[1, 2]])


def test_bootstrap_weights_draw_whole_groups():
    groups = gm.sequence_groups([5, 5, 5, 9, 9, -1, -1, -1])  # 5 groups
    w = gm.bootstrap_weights(groups, 400, rng=0)
    assert w.shape == (400, 8)
    # every object of a group comes as often as its group was drawn; G groups per resample
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 1] == w[:, 2]).all() and (w[:, 3] == w[:, 4]).all()
    per_group = w[:, [0, 3, 5, 6, 7]]
    assert (per_group.sum(axis=1) == 5).all()
    assert abs(per_group.mean() - 1) < 0.05  # each group drawn once on average
    galaxy = gm.bootstrap_weights(None, 400, rng=0, n=8)
    assert (galaxy.sum(axis=1) == 8).all()
    np.testing.assert_array_equal(gm.bootstrap_weights(groups, 50, rng=3), gm.bootstrap_weights(groups, 50, rng=3))


def test_indices_and_weights_give_the_same_distribution():
    y, s = _random_sample(6, n=60)
    pred = gm.predict(s, 0.5)
    indices = gm.bootstrap_indices(len(y), 25, np.random.default_rng(1))
    by_indices = gm.bootstrap_distribution(y, pred, indices=indices)
    direct = {m: [gm.classification_metrics(y[i], pred[i])[m] for i in indices] for m in gm.METRICS}
    for m in gm.METRICS:
        np.testing.assert_allclose(by_indices[m], direct[m])


def _correlated_correct(rng, n_seq, size, n_single, a=2.1, b=0.9):
    """1 = classified correctly; objects of a sequence share their probability (Beta(a, b), mean
    0.7, intra-sequence correlation 1 / (a + b + 1) = 0.25), loners draw their own."""
    p = np.r_[np.repeat(rng.beta(a, b, n_seq), size), rng.beta(a, b, n_single)]
    return (rng.random(len(p)) < p).astype(int)


@pytest.mark.slow
def test_sequence_bootstrap_has_nominal_coverage_where_the_galaxy_bootstrap_is_too_narrow():
    # 30 sequences of 8 objects plus 40 loners; intra-sequence correlation 0.25 gives a design
    # effect 1 + 7 * 0.25 = 2.75 for the sequences, so galaxy intervals are ~1.5x too narrow
    rng = np.random.default_rng(11)
    n_seq, size, n_single, truth, trials = 30, 8, 40, 0.7, 200
    groups = gm.sequence_groups(np.r_[np.repeat(np.arange(n_seq), size), -np.ones(n_single, int)])
    covered = {"galaxy": 0, "sequence": 0}
    for _ in range(trials):
        correct = _correlated_correct(rng, n_seq, size, n_single)
        y = np.ones(len(correct), int)
        for name, g in (("galaxy", None), ("sequence", groups)):
            s = gm.bootstrap_metrics(y, correct, ("fraction_correct",), 200, rng, groups=g)["fraction_correct"]
            covered[name] += s.lower <= truth <= s.upper
    coverage = {k: v / trials for k, v in covered.items()}
    # the binomial spread of a coverage over 200 trials is about 1.5 % (at 0.95)
    assert 0.89 <= coverage["sequence"] <= 0.99, coverage
    assert coverage["galaxy"] <= 0.85, coverage
    assert coverage["sequence"] - coverage["galaxy"] >= 0.08, coverage


@pytest.mark.slow
def test_paired_sequence_bootstrap_keeps_false_claims_near_nominal():
    # two networks equally good on average, but which one is better varies from sequence to
    # sequence: the galaxy-level paired bootstrap and McNemar see a difference too often
    rng = np.random.default_rng(5)
    n_seq, size, trials = 40, 6, 150
    groups = gm.sequence_groups(np.repeat(np.arange(n_seq), size))
    y = np.ones(n_seq * size, int)
    claims = {"galaxy": 0, "sequence": 0, "mcnemar": 0}
    for _ in range(trials):
        shift = np.repeat(rng.normal(0, 0.15, n_seq), size)  # sequence-level advantage of a over b
        base = np.repeat(rng.uniform(0.55, 0.85, n_seq), size)
        u = rng.random(len(y))  # shared difficulty: both networks see the same galaxy
        a = (u < np.clip(base + shift, 0, 1)).astype(int)
        b = (u < np.clip(base - shift, 0, 1)).astype(int)
        for name, g in (("galaxy", None), ("sequence", groups)):
            d = gm.paired_bootstrap_difference(y, a, b, "fraction_correct", g, 200, rng)
            claims[name] += d.direction != 0
        claims["mcnemar"] += gm.mcnemar_exact(y, a, b).p_value < 0.05
    rate = {k: v / trials for k, v in claims.items()}
    assert rate["sequence"] <= 0.11, rate
    assert rate["galaxy"] >= 0.2 and rate["mcnemar"] >= 0.2, rate


def test_paired_difference_is_the_difference_on_shared_resamples_and_narrower_than_unpaired():
    y, s = _random_sample(9, n=300, signal=1.5)
    rng = np.random.default_rng(0)
    a = gm.predict(s, 0.5)
    b = a.copy()
    flip = rng.choice(len(y), 15, replace=False)  # b differs from a on 15 galaxies only
    b[flip] = 1 - b[flip]
    groups = gm.sequence_groups(np.repeat(np.arange(100), 3))
    w = gm.bootstrap_weights(groups, 500, rng=2)
    d = gm.paired_bootstrap_difference(y, a, b, "accuracy", groups, weights=w)
    da = gm.bootstrap_distribution(y, a, ("accuracy",), weights=w)["accuracy"]
    db = gm.bootstrap_distribution(y, b, ("accuracy",), weights=w)["accuracy"]
    assert d.mean == pytest.approx(np.mean(da - db))
    assert d.difference == pytest.approx(np.mean(a == y) - np.mean(b == y))
    assert d.n == 300 and d.n_groups == 100 and d.n_defined == 500
    unpaired = np.hypot(np.std(da), np.std(db))
    assert np.std(da - db) < 0.5 * unpaired
    assert d.p_not_greater + d.p_not_less >= 1  # d = 0 counted in both


def test_paired_difference_direction_and_undefined_cases():
    y = np.r_[np.ones(50, int), np.zeros(50, int)]
    good, bad = y.copy(), y.copy()
    bad[:30] = 0
    d = gm.paired_bootstrap_difference(y, good, bad, "recall", n_resamples=200, rng=0)
    assert d.direction == 1 and d.value_a == 1.0 and d.value_b == pytest.approx(0.4)
    assert gm.paired_bootstrap_difference(y, bad, good, "recall", n_resamples=200, rng=0).direction == -1
    empty = gm.paired_bootstrap_difference([], [], [], "accuracy", n_resamples=20, rng=0)
    assert empty.direction == 0 and empty.n_defined == 0 and np.isnan(empty.lower)
    with pytest.raises(ValueError, match="unknown metric"):
        gm.paired_bootstrap_difference(y, good, bad, "auc")


def test_mcnemar_exact_matches_the_binomial_by_hand():
    # a alone right on 10 galaxies, b alone on 2, both right on 20, both wrong on 8
    y = np.ones(40, int)
    a = np.r_[np.ones(10), np.zeros(2), np.ones(20), np.zeros(8)].astype(int)
    b = np.r_[np.zeros(10), np.ones(2), np.ones(20), np.zeros(8)].astype(int)
    r = gm.mcnemar_exact(y, a, b)
    assert (r.only_a, r.only_b, r.n) == (10, 2, 40)
    by_hand = 2 * sum(math.comb(12, k) for k in range(3)) / 2 ** 12
    assert r.p_value == pytest.approx(by_hand)
    assert gm.mcnemar_exact(y, a, a).p_value == 1.0


def test_balanced_metrics_from_counts_match_the_balanced_draws():
    rng = np.random.default_rng(4)
    y = np.r_[np.ones(120, int), np.zeros(600, int)]  # 1:5, like the real data
    pred = np.where(y == 1, rng.random(len(y)) < 0.7, rng.random(len(y)) < 0.2).astype(int)
    bal = gm.metrics_from_counts(*[np.array(c) for c in gm._counts(y, pred)], balanced=True)
    tpr, fpr = pred[y == 1].mean(), pred[y == 0].mean()
    assert bal["accuracy"] == pytest.approx((tpr + 1 - fpr) / 2)
    assert bal["precision"] == pytest.approx(tpr / (tpr + fpr))
    draws = gm.balanced_metrics(y, pred, ("accuracy", "precision"), per_class=120, n_draws=200, rng=1)
    assert draws["accuracy"]["mean"] == pytest.approx(float(bal["accuracy"]), abs=0.01)
    assert draws["precision"]["mean"] == pytest.approx(float(bal["precision"]), abs=0.01)
    none = gm.metrics_from_counts(5, 0, 3, 0, balanced=True)  # no non-mergers: undefined
    assert all(np.isnan(v) for v in none.values())


# --------------------------------------------------------------------------- balanced resampling
@pytest.mark.parametrize("n_mergers, n_non, per_class, expected_k",
                         [(40, 90, 500, 40), (90, 40, 500, 40), (90, 80, 30, 30), (0, 50, 500, 0)])
def test_balanced_draws_counts_and_no_repeats(n_mergers, n_non, per_class, expected_k):
    rng = np.random.default_rng(0)
    y = rng.permutation(np.r_[np.ones(n_mergers, int), np.zeros(n_non, int)])
    draws = gm.balanced_draws(y, per_class=per_class, n_draws=7, rng=3)
    assert draws.shape == (7, 2 * expected_k)
    for row in draws:
        assert len(np.unique(row)) == len(row)  # never the same galaxy twice within a draw
        assert y[row[:expected_k]].sum() == expected_k and y[row[expected_k:]].sum() == 0
    if expected_k and expected_k < max(n_mergers, n_non):
        assert len({tuple(sorted(r)) for r in draws}) > 1  # the draws differ


def test_balanced_metrics_mean_and_std_over_draws():
    y, s = _random_sample(9, n=300)
    pred = gm.predict(s, 0.5)
    draws = gm.balanced_draws(y, per_class=50, n_draws=6, rng=4)
    result = gm.balanced_metrics(y, pred, ("accuracy", "precision"), draws=draws)
    acc = [skm.accuracy_score(y[d], pred[d]) for d in draws]
    prec = [skm.precision_score(y[d], pred[d]) for d in draws]
    assert result["accuracy"]["mean"] == pytest.approx(np.mean(acc))
    assert result["accuracy"]["std"] == pytest.approx(np.std(acc, ddof=1))
    assert result["precision"]["mean"] == pytest.approx(np.mean(prec))
    assert result["accuracy"]["per_class"] == 50 and result["accuracy"]["n_draws"] == 6
    empty = gm.balanced_metrics(np.zeros(10, int), np.zeros(10, int), per_class=5, n_draws=3, rng=0)
    assert np.isnan(empty["accuracy"]["mean"]) and empty["accuracy"]["per_class"] == 0


def test_seed_resampling_gives_the_spread_of_a_k_seed_mean():
    # No galaxy resampling (every weight 1): the spread left is the seeds'. Four seeds scoring 0.5-0.8
    # have a population variance of 0.0125; a mean of 4 seeds drawn with replacement varies by
    # 0.0125 / 4, not by the 0.0125 of a single seed (the two-stage bootstrap of the seed mean).
    n, k = 1000, 4
    y = np.ones(n, dtype=int)
    preds = np.stack([(np.arange(n) < n * acc).astype(int) for acc in (0.5, 0.6, 0.7, 0.8)])
    weights = np.ones((4000, n))
    resampled, per_seed = gm.seed_resampled_metric(y, preds, "accuracy", weights, rng=1)
    np.testing.assert_allclose(per_seed, [0.5, 0.6, 0.7, 0.8])
    assert resampled.mean() == pytest.approx(0.65, abs=0.005)
    assert resampled.std() == pytest.approx(np.sqrt(0.0125 / k), rel=0.08)
    one_seed, _ = gm.seed_resampled_metric(y, preds[:1], "accuracy", weights, rng=1)
    assert np.all(one_seed == 0.5)
