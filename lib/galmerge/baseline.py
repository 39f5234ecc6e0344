"""A non-CNN baseline: logistic regression on three image statistics.

Per image (:func:`image_features`):

- ``n_sources``: sources SEP detects at 1.5 sigma of the global background rms with at least
  5 pixels (the paper's detection settings, Sect. 3.1), deblended;
- ``log_flux``: log10 of the summed flux of those sources (counts);
- ``asymmetry``: rotational asymmetry (Conselice et al. 2000) about the cutout centre within
  a circle of radius N/4, ``A = (sum |I - I_180| - B) / sum |I|`` where ``B`` is the
  expected contribution of pure sky noise (``2 sigma / sqrt(pi)`` per pixel for the
  difference of two independent Gaussian pixels).

A scaled logistic regression (scikit-learn) is trained on the ``train`` split and scored
on the ``test`` split (:func:`run_baseline`). If it came close to the CNNs, the classes
would be separable without morphology; on the mock it should stay well below 75 %.

Typical use (``catalog`` from :func:`galmerge.data.load_catalog`)::

    from galmerge import baseline
    result = baseline.run_baseline(catalog)      # dict: test_accuracy, train_accuracy, ...
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sep
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm  # text bars: they stream through papermill and need no ipywidgets

FEATURES = ("n_sources", "log_flux", "asymmetry")
DETECT_SIGMA, DETECT_MINAREA = 1.5, 5


def image_features(image: np.ndarray) -> dict:
    """The three baseline statistics of one cutout (see the module docstring).

    Parameters
    ----------
    image : 2-D array, sky-subtracted or not (SEP's background is removed first).
    """
    data = np.ascontiguousarray(image, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {data.shape}")
    bkg = sep.Background(data)
    sub = data - bkg.back()
    rms = float(bkg.globalrms)
    # Crowded low-z cutouts can overflow SEP's default pixel stack; enlarge it once if needed.
    sep.set_extract_pixstack(max(300_000, data.size))
    objects = sep.extract(sub, DETECT_SIGMA, err=rms, minarea=DETECT_MINAREA)
    flux = float(np.sum(objects["flux"])) if len(objects) else 0.0
    return {"n_sources": int(len(objects)), "log_flux": float(np.log10(max(flux, 1e-3))),
            "asymmetry": rotational_asymmetry(sub, rms)}


def rotational_asymmetry(image: np.ndarray, sky_rms: float, radius_fraction: float = 0.25) -> float:
    """Noise-corrected rotational asymmetry about the cutout centre within ``radius_fraction * N``."""
    ny, nx = image.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    inside = np.hypot(xx - (nx - 1) / 2, yy - (ny - 1) / 2) <= radius_fraction * min(nx, ny)
    rotated = image[::-1, ::-1]  # 180 degrees about ((nx-1)/2, (ny-1)/2)
    diff = np.abs(image - rotated)[inside].sum()
    noise = inside.sum() * 2.0 * sky_rms / np.sqrt(np.pi)
    total = np.abs(image[inside]).sum()
    return float((diff - noise) / total) if total > 0 else 0.0


def baseline_features(catalog: pd.DataFrame, progress: bool = True) -> pd.DataFrame:
    """:func:`image_features` of every image of ``catalog`` (needs ``ID`` and ``image_path``).

    Returns
    -------
    DataFrame indexed like ``catalog`` with columns ID, n_sources, log_flux, asymmetry.
    """
    from galmerge.data import load_image

    missing = {"ID", "image_path"} - set(catalog.columns)
    if missing:
        raise KeyError(f"catalog lacks column(s) {sorted(missing)} needed by the baseline")
    rows = [{"ID": ident, **image_features(load_image(path))}
            for ident, path in tqdm(zip(catalog["ID"], catalog["image_path"]), total=len(catalog),
                                    desc="baseline features", disable=not progress)]
    return pd.DataFrame(rows, index=catalog.index, columns=["ID", *FEATURES])


def fit_baseline(features: pd.DataFrame, labels) -> Pipeline:
    """Scaled logistic regression of ``labels`` (1 merger / 0 non-merger) on the baseline features."""
    labels = np.asarray(labels, dtype=int)
    if len(np.unique(labels)) < 2:
        raise ValueError("the baseline needs both classes in its training labels")
    model = make_pipeline(StandardScaler(), LogisticRegression())
    return model.fit(features[list(FEATURES)].to_numpy(float), labels)


def evaluate_baseline(model: Pipeline, features: pd.DataFrame, labels) -> float:
    """Accuracy (fraction correct, threshold 0.5) of a fitted baseline on ``features``."""
    labels = np.asarray(labels, dtype=int)
    if labels.size == 0:
        raise ValueError("no objects to evaluate the baseline on")
    return float(model.score(features[list(FEATURES)].to_numpy(float), labels))


def run_baseline(catalog: pd.DataFrame, features: pd.DataFrame | None = None, progress: bool = True) -> dict:
    """Train on the ``train`` split, score on the ``test`` split.

    Parameters
    ----------
    catalog : DataFrame with ``ID, image_path, label, split`` (as from ``load_catalog``).
    features : precomputed :func:`baseline_features` of ``catalog`` (computed when None).

    Returns
    -------
    dict with ``test_accuracy``, ``test_accuracy_by_stage`` (fraction correct per stage when the
    catalogue has a ``stage`` column), ``train_accuracy``, ``n_train``, ``n_test``,
    ``coefficients`` (per standardised feature), ``features`` (DataFrame) and ``model``.
    """
    missing = {"label", "split"} - set(catalog.columns)
    if missing:
        raise KeyError(f"catalog lacks column(s) {sorted(missing)} needed by the baseline")
    if features is None:
        features = baseline_features(catalog, progress=progress)
    train, test = (catalog["split"] == "train").to_numpy(), (catalog["split"] == "test").to_numpy()
    if not train.any() or not test.any():
        raise ValueError(f"the baseline needs train and test objects; got {train.sum()} and {test.sum()}")
    model = fit_baseline(features[train], catalog["label"][train])
    coefficients = dict(zip(FEATURES, model[-1].coef_[0].round(4).tolist()))
    stage_accuracy = {}
    if "stage" in catalog.columns:  # fraction correct per merger stage on the test split
        correct = model.predict(features[test][list(FEATURES)].to_numpy(float)) == catalog["label"][test].to_numpy()
        stage_accuracy = pd.Series(correct).groupby(catalog["stage"][test].to_numpy()).mean().round(4).to_dict()
    return {"test_accuracy": evaluate_baseline(model, features[test], catalog["label"][test]),
            "test_accuracy_by_stage": stage_accuracy,
            "train_accuracy": evaluate_baseline(model, features[train], catalog["label"][train]),
            "n_train": int(train.sum()), "n_test": int(test.sum()),
            "coefficients": coefficients, "features": features, "model": model}
