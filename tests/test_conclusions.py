"""galmerge.analysis.conclusions: the paper's three conclusions judged by paired sequence bootstraps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galmerge.analysis import conclusions as gc

KINDS = ("raw", "model", "residual")


def _frame(right: dict[str, dict[str, float]], n: dict[str, int] | None = None, per_sequence: int = 3,
           seed: int = 0, correlated: bool = False) -> pd.DataFrame:
    """A test split: per stage ('pre', 'ongoing', 'post', 'non') ``n[stage]`` galaxies in sequences
    of ``per_sequence`` (non-mergers without one); network ``k`` classifies a galaxy of ``stage``
    correctly with probability ``right[k][stage]``, all networks drawing on one shared uniform per
    galaxy (so they fail on the same hard galaxies, as real networks do); with ``correlated`` the
    uniform is shared by a whole sequence (its objects are then all right or all wrong)."""
    n = n or {"pre": 200, "ongoing": 60, "post": 200, "non": 500}
    rng = np.random.default_rng(seed)
    rows, next_sequence = [], 0
    for stage, count in n.items():
        for i in range(count):
            if stage == "non":
                sequence = -1
            else:
                sequence = next_sequence + i // per_sequence
            rows.append({"stage": stage, "label": int(stage != "non"), "sequence_ID": sequence})
        if stage != "non":
            next_sequence += -(-count // per_sequence)
    frame = pd.DataFrame(rows)
    u = rng.random(len(frame))
    if correlated:
        sequence = frame["sequence_ID"].to_numpy()
        per_sequence_u = rng.random(sequence.max() + 1)
        u = np.where(sequence >= 0, per_sequence_u[np.maximum(sequence, 0)], u)
    for kind, by_stage in right.items():
        correct = u < frame["stage"].map(by_stage).to_numpy()
        frame[f"pred_{kind}"] = np.where(correct, frame["label"], 1 - frame["label"]).astype(np.int8)
    frame["ID"] = np.arange(len(frame))
    return frame


def _rates(pre, post, non=0.8, ongoing=0.7):
    return {"pre": pre, "ongoing": ongoing, "post": post, "non": non}


PAPER_LIKE = {"raw": _rates(0.85, 0.7, non=0.85), "model": _rates(0.8, 0.4, non=0.7),
              "residual": _rates(0.55, 0.65, non=0.7)}


def test_clear_differences_reproduce_every_conclusion():
    verdicts, claims = gc.judge_conclusions(_frame(PAPER_LIKE), n_resamples=300, seed=1)
    assert [v.key for v in verdicts] == ["I", "II", "III"]
    assert [v.verdict for v in verdicts] == ["reproduced"] * 3, claims
    assert len(claims) == 5 and set(claims["outcome"]) == {"supported"}
    assert (claims["lower"] > 0).all() and (claims["lower"] <= claims["difference"]).all()
    post = claims[claims["subset"] == "post"].iloc[0]
    assert post["n"] == 200 and post["n_sequences"] == 67  # sequences of 3: 66 full and one of 2
    assert "CNN3 > CNN2" in verdicts[2].evidence and "McNemar" not in verdicts[2].evidence


def test_reversed_ranking_is_contradicted():
    rates = {**PAPER_LIKE, "residual": _rates(0.55, 0.2, non=0.7)}  # CNN3 far worse on post-mergers
    verdicts, _ = gc.judge_conclusions(_frame(rates), n_resamples=300, seed=1)
    assert verdicts[2].verdict == "contradicted" and "below 0" in verdicts[2].reason
    assert verdicts[1].verdict == "reproduced"


def test_equal_networks_are_inconclusive_and_say_why():
    same = _rates(0.7, 0.6)
    verdicts, claims = gc.judge_conclusions(_frame({k: same for k in KINDS}), n_resamples=300, seed=1)
    assert [v.verdict for v in verdicts] == ["inconclusive"] * 3
    assert (claims["difference"] == 0).all() and (claims["mcnemar_p"] == 1).all()
    assert all("includes 0" in v.reason for v in verdicts)


def test_too_few_post_mergers_is_inconclusive_not_untestable():
    frame = _frame(PAPER_LIKE, n={"pre": 200, "ongoing": 20, "post": 8, "non": 500})
    verdicts, claims = gc.judge_conclusions(frame, n_resamples=200, seed=1)
    assert verdicts[2].verdict == "inconclusive"
    assert "only 8 post-mergers from 3 independent sequences" in verdicts[2].reason
    assert claims.loc[claims["subset"] == "post", "n"].item() == 8
    none = _frame(PAPER_LIKE, n={"pre": 200, "ongoing": 20, "post": 0, "non": 500})
    verdicts, _ = gc.judge_conclusions(none, n_resamples=50, seed=1)
    assert verdicts[2].verdict == "inconclusive" and "no post-mergers in the test set" in verdicts[2].evidence
    assert "nan" not in verdicts[2].evidence
    assert verdicts[0].verdict == "reproduced"


def test_few_sequences_are_not_enough_even_with_many_galaxies():
    frame = _frame(PAPER_LIKE, n={"pre": 200, "ongoing": 20, "post": 60, "non": 500}, per_sequence=10)
    verdicts, _ = gc.judge_conclusions(frame, n_resamples=200, seed=1)
    assert verdicts[2].verdict == "inconclusive" and "from 6 independent sequences" in verdicts[2].reason


def test_a_missing_network_leaves_its_conclusions_inconclusive():
    frame = _frame(PAPER_LIKE).drop(columns="pred_model")
    verdicts, claims = gc.judge_conclusions(frame, n_resamples=200, seed=1)
    assert [v.verdict for v in verdicts] == ["inconclusive"] * 3
    assert "CNN2 not trained" in verdicts[2].reason
    raw_vs_residual = (claims["better"] == "raw") & (claims["worse"] == "residual") & (claims["subset"] == "all")
    assert claims.loc[raw_vs_residual, "outcome"].item() == "supported"


def test_claims_are_seeded_and_every_verdict_is_one_of_three():
    frame = _frame(PAPER_LIKE, seed=3)
    a = gc.judge_claims(frame, n_resamples=100, seed=5)
    b = gc.judge_claims(frame, n_resamples=100, seed=5)
    pd.testing.assert_frame_equal(a, b)
    for v in gc.verdicts_from_claims(a):
        assert v.verdict in gc.VERDICTS and v.reason


def test_correlated_sequences_widen_the_interval():
    # 20 sequences of 10 post-mergers whose objects are all right or all wrong together, judged
    # once as sequences and once as if every galaxy were independent
    rates = {**PAPER_LIKE, "residual": _rates(0.55, 0.5)}
    tight = _frame(rates, per_sequence=10, seed=2, correlated=True)
    loose = tight.assign(sequence_ID=-1)
    claim = gc.CONCLUSIONS[2].claims[0]
    wide = gc.judge_claim(tight, claim, 400, np.random.default_rng(0))
    narrow = gc.judge_claim(loose, claim, 400, np.random.default_rng(0))
    assert wide["difference"] == pytest.approx(narrow["difference"])
    assert wide["n_sequences"] == 20 and narrow["n_sequences"] == 200
    assert wide["upper"] - wide["lower"] > 2 * (narrow["upper"] - narrow["lower"])


# --------------------------------------------------------------------------- minimum detectable difference
def _independent_pair(n: int, p_better: float, p_worse: float, seed: int) -> pd.DataFrame:
    """``n`` test galaxies, each its own unit, that two networks classify correctly independently with
    probabilities ``p_better`` and ``p_worse``: the per-galaxy difference of correctness then has the
    known variance ``p_b (1 - p_b) + p_w (1 - p_w)``, and the accuracy difference's standard error is
    sqrt(variance / n)."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    right = {"raw": rng.random(n) < p_better, "model": rng.random(n) < p_worse}
    frame = pd.DataFrame({"label": label, "stage": np.where(label == 1, "pre", "non"), "sequence_ID": -1})
    for kind, ok in right.items():
        frame[f"pred_{kind}"] = np.where(ok, label, 1 - label)
    return frame


def test_minimum_detectable_difference_is_bloom_s_multiple_of_the_standard_error():
    assert gc.minimum_detectable_difference(1.0) == pytest.approx(1.959964 + 0.841621, abs=1e-5)  # 2.80
    assert gc.minimum_detectable_difference(0.01, confidence=0.9, power=0.5) == pytest.approx(0.01644854, rel=1e-5)
    assert np.isnan(gc.minimum_detectable_difference(float("nan")))
    with pytest.raises(ValueError, match="power"):
        gc.minimum_detectable_difference(0.01, power=1.0)


def test_detectable_difference_matches_the_known_variance_and_shrinks_as_one_over_root_n():
    claim = gc.CONCLUSIONS[0].claims[0]  # CNN1 > CNN2, accuracy on every test galaxy
    p_better, p_worse = 0.72, 0.68
    mdd = {}
    for n in (400, 1600, 6400):
        row = gc.judge_claim(_independent_pair(n, p_better, p_worse, seed=n), claim, 2000, np.random.default_rng(1))
        analytic = 2.8016 * np.sqrt((p_better * (1 - p_better) + p_worse * (1 - p_worse)) / n)
        assert row["detectable"] == pytest.approx(analytic, rel=0.08), n  # bootstrap SE within ~3 % at 2000
        mdd[n] = row["detectable"]
    assert mdd[400] / mdd[1600] == pytest.approx(2.0, rel=0.1)
    assert mdd[1600] / mdd[6400] == pytest.approx(2.0, rel=0.1)


def test_an_inconclusive_verdict_names_its_detectable_difference():
    frame = _independent_pair(300, 0.70, 0.70, seed=5)
    frame["pred_residual"] = frame["pred_model"]
    verdicts, claims = gc.judge_conclusions(frame, n_resamples=400, seed=2)
    first = claims.iloc[0]
    assert verdicts[0].verdict == "inconclusive" and first["outcome"] == "unresolved"
    points = f"{100 * first['detectable']:.1f} points"
    assert 5 < 100 * first["detectable"] < 15  # 2.80 sqrt(2 * 0.21 / 300) = 10.5 points
    assert f"the smallest difference this run could detect is {points}" in verdicts[0].reason
    assert (f"detectable from {points} at 80% power; the paper's difference, +4.0, would be found"
            in verdicts[0].evidence)
    assert verdicts[0].detectable["CNN1 > CNN2 (accuracy, test galaxies)"] == pytest.approx(
        100 * first["detectable"], abs=0.01)
    assert claims["paper_difference"].round(3).tolist() == [0.04, 0.06, 0.06, 0.033, 0.021]
    # CNN2 and CNN3 never disagree: no spread, so no detectable difference is claimed
    assert np.isnan(claims.iloc[3]["detectable"]) and "not estimable" in verdicts[1].evidence


# --------------------------------------------------------------------------- one rule for resampling units
def _same_partition(a, b) -> bool:
    """True when two unit labellings group the same rows together (whatever the codes)."""
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
    return len(pairs) == len(set(np.asarray(a).tolist())) == len(set(np.asarray(b).tolist()))


def _captured_units(monkeypatch, frame):
    """The units the verdicts (claim I on all galaxies) and a binned figure (one bin holding every
    galaxy) resample, captured where each hands them to the bootstrap."""
    from galmerge.analysis import evaluation as ev
    from galmerge.analysis import metrics as gm

    seen = {}
    paired, weights = gm.seed_sequence_difference, gm.bootstrap_weights

    def spy_paired(y, a, b, metric, w, rng, benchmark, confidence, groups):
        seen.setdefault("verdicts", np.asarray(groups))  # the first claim: CNN1 vs CNN2 on all galaxies
        return paired(y, a, b, metric, w, rng, benchmark, confidence, groups)

    def spy_weights(groups, *args, **kwargs):
        seen.setdefault("binned", np.asarray(groups))
        return weights(groups, *args, **kwargs)

    monkeypatch.setattr(gm, "seed_sequence_difference", spy_paired)
    monkeypatch.setattr(gm, "bootstrap_weights", spy_weights)
    gc.judge_conclusions(frame, n_resamples=20, seed=0)
    seen.pop("binned", None)  # the verdicts draw their resamples through bootstrap_weights too
    frame.attrs["kinds"] = list(KINDS)
    ev.binned_bootstrap(frame, np.zeros(len(frame), dtype=int), ("accuracy",), n_resamples=20)
    return seen


def test_verdicts_and_binned_figures_resample_the_same_units(monkeypatch):
    frame = _frame(PAPER_LIKE, n={"pre": 30, "ongoing": 9, "post": 30, "non": 60})
    frame = frame.sample(frac=1, random_state=3).reset_index(drop=True)  # units must not depend on row order
    seen = _captured_units(monkeypatch, frame)
    assert len(seen["verdicts"]) == len(seen["binned"]) == len(frame)
    assert _same_partition(seen["verdicts"], seen["binned"])
    # and the partition is the merger sequences, each non-merger (no sequence) a unit of its own
    assert _same_partition(seen["binned"], np.where(frame["sequence_ID"] >= 0, frame["sequence_ID"],
                                                    -1 - frame.index.to_numpy()))
    assert len(set(seen["binned"].tolist())) == 10 + 3 + 10 + 60  # sequences of 3: pre, ongoing, post; non


def test_without_sequences_both_fall_back_to_galaxies_out_loud(monkeypatch):
    frame = _frame(PAPER_LIKE, n={"pre": 30, "ongoing": 9, "post": 30, "non": 60}).drop(columns="sequence_ID")
    with pytest.warns(UserWarning, match="no sequence_ID column") as caught:
        seen = _captured_units(monkeypatch, frame)
    assert len([w for w in caught if "sequence_ID" in str(w.message)]) == 2  # once for the verdicts, once binned
    assert _same_partition(seen["verdicts"], seen["binned"])
    assert len(set(seen["binned"].tolist())) == len(frame)


def test_the_split_groups_by_the_same_units_as_the_bootstraps():
    """The train/validation/test split (data.catalog.split_groups) and the bootstraps
    (metrics.resampling_units) put the same galaxies together: a sequence never straddles splits,
    and never counts as several bootstrap units."""
    from galmerge.analysis.metrics import resampling_units
    from galmerge.data.catalog import split_groups

    catalog = pd.DataFrame({"ID": np.arange(12) + 100, "sequence_ID": [4, 4, -1, 7, 7, 7, -1, -1, 2, 4, 2, -1]})
    assert _same_partition(split_groups(catalog).to_numpy(), resampling_units(catalog))
    assert len(set(resampling_units(catalog).tolist())) == 3 + 4
    # the mock's split_group (one library orbit for several sequences) joins sequences in both
    catalog["split_group"] = ["major:1", "major:1", "", "major:1", "major:1", "major:1", "", "flyby:2", "seq:2",
                              "major:1", "seq:2", "flyby:2"]
    assert _same_partition(split_groups(catalog).to_numpy(), resampling_units(catalog))
    units = resampling_units(catalog)
    assert len(set(units[[0, 1, 3, 4, 5, 9]].tolist())) == 1  # sequences 4 and 7 share orbit 1: one unit
    assert units[7] == units[11] and units[8] == units[10]
    assert len(set(units.tolist())) == 5  # orbit 1, flyby orbit 2, sequence 2, and objects 102 and 106 alone
    shuffled = catalog.sample(frac=1, random_state=0)
    assert _same_partition(resampling_units(shuffled), units[shuffled.index.to_numpy()])


# --------------------------------------------------------------------------- training variance (issue 23)
def _with_seeds(frame: pd.DataFrame, kind: str, preds: list[np.ndarray], seeds: list[int]) -> pd.DataFrame:
    """``frame`` with ``kind`` trained with ``seeds`` (the per-seed columns load_run_scores adds)."""
    from galmerge.analysis import evaluation as ev

    out = frame.copy()
    for seed, p in zip(seeds, preds):
        out[ev.seed_column(kind, seed)] = np.asarray(p, dtype=np.int8)
    out[f"pred_{kind}"] = np.asarray(preds[0], dtype=np.int8)
    out.attrs = {**frame.attrs, "seeds": {**frame.attrs.get("seeds", {}), kind: list(seeds)}}
    return out


def _flip(pred: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flip = rng.random(len(pred)) < fraction
    return np.where(flip, 1 - pred, pred).astype(np.int8)


def test_seeds_that_agree_give_the_sequence_bootstrap_interval():
    frame = _frame(PAPER_LIKE)
    claim = gc.CONCLUSIONS[0].claims[0]
    alone = gc.judge_claim(frame, claim, n_resamples=300, rng=5)
    same = _with_seeds(frame, "raw", [frame["pred_raw"].to_numpy()] * 3, [1, 2, 3])
    seeded = gc.judge_claim(same, claim, n_resamples=300, rng=5)
    for key in ("difference", "lower", "upper", "standard_error", "detectable", "p_not_better"):
        assert seeded[key] == pytest.approx(alone[key], abs=1e-12), key
    assert seeded["seeds_better"] == 3 and "train seeds" in seeded["variance"]
    # and the one-seed path is the paired sequence bootstrap itself, on the same resamples
    from galmerge.analysis import metrics as gm

    mask = np.ones(len(frame), bool)
    units = gm.resampling_units(frame)[mask]
    weights = gm.bootstrap_weights(units, 300, np.random.default_rng(5), n=len(frame))
    paired = gm.paired_bootstrap_difference(frame["label"], frame["pred_raw"], frame["pred_model"], "accuracy",
                                            units, weights=weights)
    # widened by the small-sample factor for its number of sequences (a linear map of every resample)
    f = gm.small_sample_factor(gm.n_groups(units))
    expected = [paired.mean + f * (q - paired.mean) for q in (paired.lower, paired.upper)]
    assert (alone["lower"], alone["upper"]) == pytest.approx(expected)


def test_seeds_that_disagree_widen_the_interval():
    frame = _frame(PAPER_LIKE)
    claim = gc.CONCLUSIONS[0].claims[0]
    first = frame["pred_raw"].to_numpy()
    preds = [first, _flip(first, 0.10, 1), _flip(first, 0.20, 2)]  # three trainings 10-20 points apart
    seeded = gc.judge_claim(_with_seeds(frame, "raw", preds, [1, 2, 3]), claim, n_resamples=400, rng=5)
    alone = gc.judge_claim(frame, claim, n_resamples=400, rng=5)
    assert seeded["upper"] - seeded["lower"] > 1.5 * (alone["upper"] - alone["lower"])
    assert seeded["standard_error"] > alone["standard_error"]
    # the point estimate is the difference of the seed means
    y = frame["label"].to_numpy()
    mean_raw = np.mean([(p == y).mean() for p in preds])
    assert seeded["value_better"] == pytest.approx(mean_raw)
    assert seeded["difference"] == pytest.approx(mean_raw - (frame["pred_model"] == y).mean())


def _benchmark(tmp_path, sd_points: dict[str, float], seeds=(1, 2, 3, 4, 5), profile="quick"):
    """A tiny seed-variance table (galmerge.runs.write_seed_variance) whose accuracy on every subset spreads
    over the seeds with the given SD (points), read back as the report reads it."""
    from galmerge.runs import read_seed_variance, write_seed_variance

    z = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])[: len(seeds)]
    z = z / z.std(ddof=1) if len(seeds) > 1 else z
    rows = [{"profile": profile, "run": f"{profile}-mock_{profile}", "dataset": f"mock_{profile}", "kind": kind,
             "seed": seed, "own_seed": i == 0, "subset": subset, "accuracy": 0.7 + sd / 100 * z[i],
             "precision": np.nan, "recall": np.nan, "auc": np.nan, "n": 100, "threshold": 0.5}
            for kind, sd in sd_points.items() for i, seed in enumerate(seeds) for subset in gc.SUBSETS]
    write_seed_variance(pd.DataFrame(rows), profile, tmp_path)
    return read_seed_variance(profile, tmp_path)


def test_one_seed_intervals_include_the_benchmark_seed_paired_variance(tmp_path):
    frame = _frame(PAPER_LIKE)
    claim = gc.CONCLUSIONS[0].claims[0]
    # raw and model move together over the seeds (3 and 4 points SD, correlation +1): the seed-paired
    # difference varies by 1 point only, not hypot(3, 4) = 5
    table = _benchmark(tmp_path, {"raw": 3.0, "model": 4.0, "residual": 2.0})
    sd_raw, n = gc.benchmark_seed_sd(table, "raw", "all")
    assert sd_raw == pytest.approx(0.03) and n == 5
    paired, n_bench = gc.benchmark_paired_differences(table, "raw", "model", "all")
    assert paired.std(ddof=1) == pytest.approx(0.01) and n_bench == 100
    plain = gc.judge_claim(frame, claim, n_resamples=2000, rng=5)
    added = gc.judge_claim(frame, claim, n_resamples=2000, rng=5, seed_variance=table)
    assert added["seed_paired_sd"] == pytest.approx(0.01) and added["seed_source"] == "benchmark"
    assert added["seed_df"] == 4 and added["benchmark_seeds"] == 5
    # the seed x galaxy part (the bootstrap variance scaled to the benchmark's 100 galaxies) is subtracted
    scaled = plain["standard_error"] ** 2 * plain["n"] / 100
    assert added["seed_sd"] == pytest.approx(np.sqrt(max(0.0, 0.01 ** 2 - scaled)), rel=0.15, abs=1e-3)
    assert added["difference"] == pytest.approx(plain["difference"])
    assert "benchmark's seed-paired differences (5 seeds" in added["variance"] and str(tmp_path) in added["variance"]
    claims = gc.judge_claims(frame, n_resamples=50, seed_variance=table)
    assert "seed-paired" in gc.variance_note(claims)
    # a seed effect far above the test-set spread widens the interval by about its size
    big = _benchmark(tmp_path, {"raw": 20.0, "model": -20.0})
    wide = gc.judge_claim(frame, claim, n_resamples=2000, rng=5, seed_variance=big)
    assert wide["seed_paired_sd"] == pytest.approx(0.40)
    assert wide["standard_error"] > 0.3 and wide["outcome"] == "unresolved"
    # the run's own seed among the benchmark's (the run's name in its run column, the same test galaxies):
    # t with 2 (k - 1) df; another test set of the same name (the profile changed since): k - 1
    own = gc.judge_claim(frame, claim, n_resamples=200, rng=5, seed_variance=table, run_name="quick-mock_quick")
    assert own["seed_df"] == (8 if len(frame) == 100 else 4)
    same = table.assign(n=len(frame))
    same.attrs.update(table.attrs)
    own = gc.judge_claim(frame, claim, n_resamples=200, rng=5, seed_variance=same, run_name="quick-mock_quick")
    assert own["seed_df"] == 8 and "bounded by this run's bootstrap" in own["variance"]


def test_the_benchmark_measures_the_seed_galaxy_part_and_one_seed_runs_subtract_it(tmp_path):
    """benchmarks/seed_variance.py writes, per claim, the seed x galaxy variance from its seeds' predictions
    (seed_claims_table); a one-seed run of the profile reads it beside the benchmark's table."""
    frame = _frame(PAPER_LIKE)
    first = {k: frame[f"pred_{k}"].to_numpy() for k in ("raw", "model", "residual")}
    seeded = frame
    for i, kind in enumerate(first):
        preds = [first[kind], _flip(first[kind], 0.1, 10 + i), _flip(first[kind], 0.1, 20 + i)]
        seeded = _with_seeds(seeded, kind, preds, [1, 2, 3])
    claims = gc.seed_claims_table(seeded, n_resamples=200)
    assert len(claims) == 5 and (claims["seeds"] == 3).all()
    # seeds that flip 10 % of the galaxies at random disagree galaxy by galaxy: a seed x galaxy part near the
    # variance of their paired differences, 2 * 0.1 * 0.9 / n per network pair and seed
    first_claim = claims.iloc[0]
    assert 0.3 < first_claim["seed_galaxy_variance"] / (2 * 2 * 0.1 * 0.9 / first_claim["n"]) < 3
    table = _benchmark(tmp_path, {"raw": 3.0, "model": -3.0, "residual": 2.0})
    assert gc.benchmark_seed_galaxy_variance(table, "raw", "model", "all") is None  # not written yet
    claims.to_csv(gc.seed_claims_path(table), index=False)
    measured = gc.benchmark_seed_galaxy_variance(table, "raw", "model", "all")
    assert measured == pytest.approx(first_claim["seed_galaxy_variance"])
    row = gc.judge_claim(frame, gc.CONCLUSIONS[0].claims[0], n_resamples=200, rng=5, seed_variance=table)
    assert "measured from the benchmark's predictions" in row["variance"]
    assert row["seed_galaxy_sd"] == pytest.approx(np.sqrt(measured))


def test_without_a_benchmark_of_two_seeds_the_intervals_say_they_count_sampling_only(tmp_path):
    frame = _frame(PAPER_LIKE)
    claim = gc.CONCLUSIONS[0].claims[0]
    one_seed = _benchmark(tmp_path, {"raw": 3.0, "model": 4.0}, seeds=(1,))
    for table in (None, one_seed):
        row = gc.judge_claim(frame, claim, n_resamples=200, rng=5, seed_variance=table)
        assert row["seed_sd"] == 0 and "test-set sampling only" in row["variance"]
    claims = gc.judge_claims(frame, n_resamples=50)
    assert "test-set sampling only" in gc.variance_note(claims)
