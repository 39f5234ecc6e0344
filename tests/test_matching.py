"""A control sample matched to the mergers (galmerge.analysis.matching, issue 22 item 4)."""

import numpy as np
import pandas as pd
import pytest

from galmerge.analysis import matching


def _selected_sample(seed=0, n_mergers=200, n_non=800):
    """Mergers at higher redshift and fainter than the non-mergers, as a biased selection makes them."""
    rng = np.random.default_rng(seed)
    mergers = pd.DataFrame({"redshift": rng.normal(0.075, 0.015, n_mergers),
                            "log_flux": rng.normal(4.0, 0.3, n_mergers), "label": 1})
    non = pd.DataFrame({"redshift": rng.normal(0.055, 0.02, n_non),
                        "log_flux": rng.normal(4.3, 0.35, n_non), "label": 0})
    return pd.concat([mergers, non], ignore_index=True)


def test_matching_removes_a_selection_difference():
    frame = _selected_sample()
    result = matching.match_controls(frame, ["redshift", "log_flux"])
    balance = result.balance
    assert (balance["smd_before"].abs() > 0.8).all()  # the selection is built in
    assert (balance["smd_after"].abs() < matching.BALANCED_SMD).all()
    matched = result.frame
    assert (matched.groupby("pair")["label"].agg(sorted).map(tuple) == (0, 1)).all()  # one of each per pair
    assert matched.index.is_unique  # controls drawn without replacement
    assert result.n_unmatched == result.n_mergers - (matched.label == 1).sum()
    # every kept pair lies inside the caliper in each covariate
    scale = frame[["redshift", "log_flux"]].std(ddof=1)
    pairs = matched.sort_values("label").groupby("pair")[["redshift", "log_flux"]].agg(lambda v: np.ptp(v.to_numpy()))
    assert (pairs / scale <= matching.CALIPER_SD + 1e-12).all().all()


def test_mergers_without_a_control_inside_the_caliper_are_left_out_and_counted():
    frame = pd.DataFrame({"redshift": [0.02, 0.03, 0.09, 0.021, 0.031, 0.05, 0.06],
                          "label": [1, 1, 1, 0, 0, 0, 0]})
    result = matching.match_controls(frame, ["redshift"], caliper=0.1)
    assert result.n_mergers == 3 and result.n_unmatched == 1  # z = 0.09 has no control within 0.1 sd
    assert set(result.frame.loc[result.frame.label == 0, "redshift"]) == {0.021, 0.031}


def test_matching_is_optimal_not_greedy():
    """A greedy pass would give the first merger its nearest control and the second a far one."""
    frame = pd.DataFrame({"x": [0.0, 1.0, 0.9, 2.0], "label": [1, 1, 0, 0]})
    result = matching.match_controls(frame, ["x"], caliper=10.0)
    pairs = result.frame.groupby("pair")["x"].apply(lambda v: tuple(sorted(v)))
    assert set(pairs) == {(0.0, 0.9), (1.0, 2.0)}  # summed gap 1.9; greedy (1.0 with 0.9 first) gives 2.1


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"redshift": [0.1, 0.2], "label": [1, 1]}), "0 non-mergers"),
    (pd.DataFrame({"label": [1, 0]}), "missing"),
    (pd.DataFrame({"redshift": [np.nan, 0.2], "label": [1, 0]}), "0 mergers"),
])
def test_unmatchable_frames_are_refused_with_the_reason(frame, message):
    with pytest.raises(matching.MatchingError, match=message):
        matching.match_controls(frame, ["redshift"])


def test_primary_log_flux_takes_the_primary_segment_and_leaves_nan_without_one():
    images = pd.DataFrame({"ID": [10, 11, 12], "primary_label": [2, 1, -1]})
    sources = pd.DataFrame({"ID": [10, 10, 11, 12], "label": [1, 2, 1, 1], "flux": [5.0, 1000.0, -3.0, 7.0]})
    flux = matching.primary_log_flux(images, sources)
    assert flux.loc[10] == pytest.approx(3.0)
    assert np.isnan(flux.loc[11]) and np.isnan(flux.loc[12])  # non-positive flux; no primary


def test_standardised_mean_difference_of_shifted_samples():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 1.0, 20000), rng.normal(0.0, 1.0, 20000)
    assert matching.standardised_mean_difference(a, b) == pytest.approx(1.0, abs=0.03)


def test_selection_table_on_an_empty_matching_is_nan_without_warnings():
    import warnings

    frame = pd.DataFrame({"label": [1, 0, 1, 0], "score_raw": [0.9, 0.2, 0.4, 0.6], "pred_raw": [1, 0, 0, 1]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = matching.selection_table(frame, frame.iloc[:0], ["raw"])
    full, matched = table.iloc[0], table.iloc[1]
    assert full["accuracy"] == 50.0 and full["recall"] == 50.0 and full["specificity"] == 50.0
    assert full["auc"] == 75.0
    assert matched["n"] == 0 and np.isnan(matched[["accuracy", "recall", "specificity", "auc"]].astype(float)).all()


def test_selection_table_gives_bootstrap_intervals_resampling_pairs():
    rng = np.random.default_rng(4)
    n = 400
    label = np.repeat([1, 0], n // 2)
    pred = np.where(rng.random(n) < 0.8, label, 1 - label)
    frame = pd.DataFrame({"label": label, "pred_raw": pred, "score_raw": pred * 0.5 + rng.random(n) * 0.5,
                          "pair": np.tile(np.arange(n // 2), 2)})
    table = matching.selection_table(frame.drop(columns="pair"), frame, ["raw"], n_resamples=400, seed=1)
    for _, row in table.iterrows():
        for metric in matching.SELECTION_INTERVALS:
            assert row[f"{metric}_low"] < row[metric] < row[f"{metric}_high"], (row["sample"], metric)
        # about 1.96 binomial SDs of 80 % on 200 (recall, specificity) or 400 (accuracy) galaxies
        assert 4 < row["recall_high"] - row["recall_low"] < 15
    assert list(table["sample"]) == ["all test galaxies", "matched pairs"]
