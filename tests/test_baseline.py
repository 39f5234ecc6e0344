"""The non-CNN baseline: image statistics and the logistic regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galmerge.analysis import baseline


def _blob(size, x, y, flux, sigma):
    yy, xx = np.mgrid[0:size, 0:size]
    return flux / (2 * np.pi * sigma**2) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))


def test_symmetric_galaxy_has_low_asymmetry_and_one_source():
    rng = np.random.default_rng(0)
    image = _blob(128, 63.5, 63.5, 2e4, 4.0) + rng.normal(0, 1.0, (128, 128))
    features = baseline.image_features(image)
    assert features["n_sources"] == 1
    assert abs(features["asymmetry"]) < 0.05
    assert features["log_flux"] == pytest.approx(np.log10(2e4), abs=0.1)


def test_pair_is_asymmetric_and_counted_twice():
    rng = np.random.default_rng(1)
    image = (_blob(128, 63.5, 63.5, 2e4, 4.0) + _blob(128, 80, 70, 1e4, 3.0)
             + rng.normal(0, 1.0, (128, 128)))
    features = baseline.image_features(image)
    assert features["n_sources"] == 2
    assert features["asymmetry"] > 0.3
    assert features["log_flux_ratio"] == pytest.approx(np.log10(0.5), abs=0.1)
    assert features["second_distance"] == pytest.approx(np.hypot(80 - 63.5, 70 - 63.5) / 128, abs=0.01)


def test_elongated_central_source_has_its_ellipticity():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:128, 0:128]
    image = 2e4 / (2 * np.pi * 6 * 3) * np.exp(-((xx - 63.5) ** 2 / 72 + (yy - 63.5) ** 2 / 18))
    image = image + rng.normal(0, 1.0, (128, 128))
    features = baseline.image_features(image)
    assert features["central_ellipticity"] == pytest.approx(0.5, abs=0.05)
    assert features["central_offset"] < 0.2
    round_blob = baseline.image_features(_blob(128, 63.5, 63.5, 2e4, 4.0) + rng.normal(0, 1.0, (128, 128)))
    assert round_blob["central_ellipticity"] < 0.1
    assert baseline.concentration(image) > 0


def test_grouped_cross_validation_keeps_groups_apart():
    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1], 60)
    feats = pd.DataFrame({name: rng.normal(size=120) for name in baseline.FEATURES})
    feats["asymmetry"] += labels * 3
    groups = np.arange(120) // 3
    result = baseline.cross_validate(feats, labels, groups)
    assert result["cv_accuracy"] > 0.9 and result["cv_folds"] == baseline.CV_FOLDS
    # pure noise with group-level label copies: grouped CV stays near chance
    noise = pd.DataFrame({name: np.repeat(rng.normal(size=40), 3) for name in baseline.FEATURES})
    assert baseline.cross_validate(noise, labels, groups)["cv_accuracy"] < 0.75
    with pytest.raises(ValueError, match="groups"):
        baseline.cross_validate(feats, labels, np.zeros(120))


def test_logistic_regression_learns_a_separable_toy():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], 50)
    feats = pd.DataFrame({name: rng.normal(size=100) for name in baseline.FEATURES})
    feats["asymmetry"] = labels * 0.5 + rng.normal(0, 0.05, 100)
    model = baseline.fit_baseline(feats, labels)
    assert baseline.evaluate_baseline(model, feats, labels) > 0.95
    with pytest.raises(ValueError, match="both classes"):
        baseline.fit_baseline(feats, np.zeros(100))


@pytest.mark.slow
def test_run_baseline_on_a_tiny_mock(tmp_path):
    data = pytest.importorskip("galmerge.data.catalog")
    from galmerge.mock import generate_mock

    generate_mock(tmp_path / "mock", n=40, seed=4, workers=2, progress=False)
    catalog = data.load_catalog(tmp_path / "mock")
    result = baseline.run_baseline(catalog, progress=False)
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert 0.0 <= result["cv_accuracy"] <= 1.0
    assert result["n_test"] == int((catalog["split"] == "test").sum()) > 0
    assert list(result["features"].columns) == ["ID", *baseline.FEATURES]
    assert (result["features"]["n_sources"] >= 1).all()
    assert set(result["test_accuracy_by_stage"]) <= {"pre", "ongoing", "post", "non"}
    assert all(0.0 <= v <= 1.0 for v in result["test_accuracy_by_stage"].values())
    scores = baseline.baseline_scores(result["model"], result["features"], catalog)
    test = catalog[catalog["split"] == "test"]
    assert scores["ID"].tolist() == test["ID"].tolist() and scores["label"].tolist() == test["label"].tolist()
    assert ((scores["score"] >= 0) & (scores["score"] <= 1)).all()
    assert (scores["pred"] == (scores["score"] >= result["threshold"])).all()
    assert (scores["pred_half"] == (scores["score"] >= 0.5)).all()
    assert (scores["pred"] == scores["label"]).mean() == pytest.approx(result["test_accuracy"])  # the same calls
    assert (scores["pred_half"] == scores["label"]).mean() == pytest.approx(result["test_accuracy_half"])


def test_the_baseline_calls_at_the_networks_rule_precision_equals_recall_on_validation():
    """At 25 % mergers a calibrated classifier's 0.5 call predicts too few mergers; the networks' rule (as
    many predicted as true mergers on the validation split) is what the comparisons use."""
    rng = np.random.default_rng(5)
    n = 800
    labels = (rng.random(n) < 0.25).astype(int)
    feats = pd.DataFrame({name: rng.normal(size=n) for name in baseline.FEATURES})
    feats["asymmetry"] = labels * 0.8 + rng.normal(0, 1, n)
    feats.insert(0, "ID", np.arange(n))
    catalog = pd.DataFrame({"ID": np.arange(n), "label": labels,
                            "split": np.array(["train", "validation", "test", "test"])[np.arange(n) % 4]})
    model = baseline.fit_baseline(feats[catalog["split"] == "train"], labels[catalog["split"] == "train"])
    choice = baseline.baseline_threshold(model, feats, catalog)
    assert choice.method != "" and not choice.fallback and choice.threshold < 0.5
    val = (catalog["split"] == "validation").to_numpy()
    score = model.predict_proba(feats[val][list(baseline.FEATURES)].to_numpy(float))[:, 1]
    predicted = (score >= choice.threshold).sum()
    assert abs(predicted - labels[val].sum()) <= 2  # precision = recall: as many called as there are
    scores = baseline.baseline_scores(model, feats, catalog)
    assert (scores["threshold"] == choice.threshold).all() and (scores["pred"] >= scores["pred_half"]).all()
    # for a class-balanced test set: recall = specificity on validation, a lower threshold at 25 % mergers
    at_balance = scores["threshold_at_balance"].iloc[0]
    called, val_labels = score >= at_balance, labels[val].astype(bool)
    assert at_balance < choice.threshold
    assert abs(called[val_labels].mean() - (~called[~val_labels]).mean()) < 0.02
    # without a validation split: the fallback 0.5, with its reason
    no_val = catalog.assign(split=catalog["split"].replace("validation", "train"))
    fallback = baseline.baseline_threshold(model, feats, no_val)
    assert fallback.threshold == 0.5 and "no validation split" in fallback.method


def test_missing_columns_are_named():
    with pytest.raises(KeyError, match="image_path"):
        baseline.baseline_features(pd.DataFrame({"ID": [1]}), progress=False)
