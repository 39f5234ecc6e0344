"""The non-CNN baseline: image statistics and the logistic regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galmerge import baseline


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


def test_logistic_regression_learns_a_separable_toy():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], 50)
    feats = pd.DataFrame({"n_sources": rng.poisson(3, 100), "log_flux": rng.normal(3, 0.3, 100),
                          "asymmetry": labels * 0.5 + rng.normal(0, 0.05, 100)})
    model = baseline.fit_baseline(feats, labels)
    assert baseline.evaluate_baseline(model, feats, labels) > 0.95
    with pytest.raises(ValueError, match="both classes"):
        baseline.fit_baseline(feats, np.zeros(100))


@pytest.mark.slow
def test_run_baseline_on_a_tiny_mock(tmp_path):
    data = pytest.importorskip("galmerge.data")
    from galmerge.mock import generate_mock

    generate_mock(tmp_path / "mock", n=40, seed=4, workers=2, progress=False)
    catalog = data.load_catalog(tmp_path / "mock")
    result = baseline.run_baseline(catalog, progress=False)
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert result["n_test"] == int((catalog["split"] == "test").sum()) > 0
    assert list(result["features"].columns) == ["ID", *baseline.FEATURES]
    assert (result["features"]["n_sources"] >= 1).all()
    assert set(result["test_accuracy_by_stage"]) <= {"pre", "ongoing", "post", "non"}
    assert all(0.0 <= v <= 1.0 for v in result["test_accuracy_by_stage"].values())


def test_missing_columns_are_named():
    with pytest.raises(KeyError, match="image_path"):
        baseline.baseline_features(pd.DataFrame({"ID": [1]}), progress=False)
