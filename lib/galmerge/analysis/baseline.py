"""A non-CNN baseline: logistic regression on simple image statistics, scored by grouped CV.

Per image (:func:`image_features`), after SEP's background is removed and sources are detected
at 1.5 sigma of the global background rms with at least 5 pixels, deblended (the paper's
detection settings, Sect. 3.1); the *central* source is the segment under the cutout centre
(else the detection nearest to it):

- ``n_sources``: number of detections;
- ``log_flux``: log10 of their summed flux (counts);
- ``asymmetry``: rotational asymmetry (Conselice et al. 2000) about the cutout centre within a
  circle of radius N/4, ``A = (sum |I - I_180| - B) / sum |I|``, ``B`` the expected sum for pure
  sky noise (``2 sigma / sqrt(pi)`` per pixel for two independent Gaussian pixels);
- ``outer_asymmetry``: the same in the annulus N/4 .. N/2 (tails, companions, neighbours);
- ``concentration``: ``5 log10(r80 / r20)`` of the light within N/4 of the centre (Conselice 2003);
- ``log_flux_ratio``: log10 of the second brightest detection's flux over the brightest's
  (-3 when there is one detection);
- ``second_distance``: distance of the second brightest detection from the centre, in units
  of the cutout side (0.75 when there is none);
- ``central_ellipticity``: ``1 - b/a`` of the central source's SEP second moments;
- ``central_offset``: distance of the central source's centroid from the cutout centre (pixels,
  in units of its semi-major axis ``a``).

These are the statistics a careful reader would try first (a 7-feature
version reached 0.695 on the old mock). A scaled logistic regression (scikit-learn) is scored by
:func:`cross_validate` with folds grouped by merger sequence (so no sequence is both trained and
scored), and :func:`run_baseline` also trains on the ``train`` split and scores the ``test``
split. If it came close to the CNNs, the classes would be separable without morphology.

The baseline calls a merger by the networks' own rule: at the threshold where precision equals recall
on the ``validation`` split (:func:`baseline_threshold`, :func:`galmerge.analysis.metrics.choose_threshold`),
so that it is compared with the networks at the same operating point. A probability of 0.5 would favour a
calibrated classifier whenever the classes are unbalanced (at 25 % mergers by up to a few points at equal
AUC); the 0.5 call is kept beside it (``pred_half``, ``test_accuracy_half``). Grouped cross-validation
(:func:`cross_validate`) scores the 0.5 call: it has no validation split of its own.

Typical use (``catalog`` from :func:`galmerge.data.catalog.load_catalog`)::

    from galmerge.analysis import baseline
    result = baseline.run_baseline(catalog)   # dict: cv_accuracy, test_accuracy, train_accuracy, ...
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sep
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm  # text bars: they stream through papermill and need no ipywidgets

from galmerge.analysis import metrics as gm

FEATURES = ("n_sources", "log_flux", "asymmetry", "outer_asymmetry", "concentration", "log_flux_ratio",
            "second_distance", "central_ellipticity", "central_offset")
DETECT_SIGMA, DETECT_MINAREA = 1.5, 5
#: Folds of the grouped cross-validation.
CV_FOLDS = 5


def detect(image: np.ndarray) -> dict:
    """SEP background subtraction and detection of one cutout (the paper's settings).

    Returns
    -------
    dict with ``sub`` (background-subtracted image), ``rms`` (global background rms), ``objects``
    (SEP catalogue) and ``segmap`` (segmentation map, 0 = background).
    """
    data = np.ascontiguousarray(image, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {data.shape}")
    bkg = sep.Background(data)
    sub = data - bkg.back()
    rms = float(bkg.globalrms)
    # Crowded low-z cutouts can overflow SEP's default pixel stack; enlarge it once if needed.
    sep.set_extract_pixstack(max(300_000, data.size))
    objects, segmap = sep.extract(sub, DETECT_SIGMA, err=rms, minarea=DETECT_MINAREA, segmentation_map=True)
    return {"sub": sub, "rms": rms, "objects": objects, "segmap": segmap}


def image_features(image: np.ndarray, detection: dict | None = None) -> dict:
    """The baseline statistics of one cutout (see the module docstring).

    Parameters
    ----------
    image : 2-D array, sky-subtracted or not (SEP's background is removed first).
    detection : dict, optional
        :func:`detect` of ``image`` when already computed.
    """
    detection = detect(image) if detection is None else detection
    sub, rms, objects, segmap = (detection[k] for k in ("sub", "rms", "objects", "segmap"))
    ny, nx = sub.shape
    cx, cy = (nx - 1) / 2, (ny - 1) / 2
    flux = np.asarray(objects["flux"], float) if len(objects) else np.zeros(0)
    features = {"n_sources": int(len(objects)), "log_flux": float(np.log10(max(flux.sum(), 1e-3))),
                "asymmetry": rotational_asymmetry(sub, rms, 0.0, 0.25),
                "outer_asymmetry": rotational_asymmetry(sub, rms, 0.25, 0.5),
                "concentration": concentration(sub, 0.25),
                "log_flux_ratio": -3.0, "second_distance": 0.75,
                "central_ellipticity": 0.0, "central_offset": 0.0}
    if len(objects) >= 2:
        order = np.argsort(flux)[::-1]
        features["log_flux_ratio"] = float(np.log10(max(flux[order[1]], 1e-3) / max(flux[order[0]], 1e-3)))
        second = objects[order[1]]
        features["second_distance"] = float(np.hypot(second["x"] - cx, second["y"] - cy) / max(nx, ny))
    if len(objects):
        label = int(segmap[int(round(cy)), int(round(cx))])
        index = label - 1 if label > 0 else int(np.argmin(np.hypot(objects["x"] - cx, objects["y"] - cy)))
        central = objects[index]
        a, b = float(central["a"]), float(central["b"])
        features["central_ellipticity"] = float(1.0 - b / a) if a > 0 else 0.0
        features["central_offset"] = float(np.hypot(central["x"] - cx, central["y"] - cy) / max(a, 0.5))
    return features


def rotational_asymmetry(image: np.ndarray, sky_rms: float, inner_fraction: float = 0.0,
                         outer_fraction: float = 0.25) -> float:
    """Noise-corrected rotational asymmetry about the cutout centre in the annulus between
    ``inner_fraction * N`` and ``outer_fraction * N`` (a disc when ``inner_fraction`` is 0)."""
    ny, nx = image.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    r = np.hypot(xx - (nx - 1) / 2, yy - (ny - 1) / 2)
    inside = (r >= inner_fraction * min(nx, ny)) & (r <= outer_fraction * min(nx, ny))
    rotated = image[::-1, ::-1]  # 180 degrees about ((nx-1)/2, (ny-1)/2)
    diff = np.abs(image - rotated)[inside].sum()
    noise = inside.sum() * 2.0 * sky_rms / np.sqrt(np.pi)
    total = np.abs(image[inside]).sum()
    return float((diff - noise) / total) if total > 0 else 0.0


def concentration(image: np.ndarray, radius_fraction: float = 0.25) -> float:
    """``5 log10(r80 / r20)`` of the light within ``radius_fraction * N`` of the cutout centre."""
    ny, nx = image.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    r = np.hypot(xx - (nx - 1) / 2, yy - (ny - 1) / 2).ravel()
    inside = r <= radius_fraction * min(nx, ny)
    order = np.argsort(r[inside])
    radii, light = r[inside][order], np.clip(image.ravel()[inside][order], 0.0, None)
    cumulative = np.cumsum(light)
    if cumulative[-1] <= 0:
        return 0.0
    r20 = radii[np.searchsorted(cumulative, 0.2 * cumulative[-1])]
    r80 = radii[min(np.searchsorted(cumulative, 0.8 * cumulative[-1]), radii.size - 1)]
    return float(5 * np.log10(max(r80, 0.5) / max(r20, 0.5)))


def baseline_features(catalog: pd.DataFrame, progress: bool = True) -> pd.DataFrame:
    """:func:`image_features` of every image of ``catalog`` (needs ``ID`` and ``image_path``).

    Returns
    -------
    DataFrame indexed like ``catalog`` with columns ID and :data:`FEATURES`.
    """
    from galmerge.data.catalog import load_image

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
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return model.fit(features[list(FEATURES)].to_numpy(float), labels)


def evaluate_baseline(model: Pipeline, features: pd.DataFrame, labels) -> float:
    """Accuracy (fraction correct, threshold 0.5) of a fitted baseline on ``features``."""
    labels = np.asarray(labels, dtype=int)
    if labels.size == 0:
        raise ValueError("no objects to evaluate the baseline on")
    return float(model.score(features[list(FEATURES)].to_numpy(float), labels))


def baseline_threshold(model: Pipeline, features: pd.DataFrame, catalog: pd.DataFrame,
                       balanced: bool = False) -> gm.ThresholdChoice:
    """The baseline's decision threshold by the networks' rule: precision = recall on the ``validation``
    split (:func:`galmerge.analysis.metrics.choose_threshold`, ``balanced`` as there: the threshold for a
    class-balanced test set); the fallback 0.5, with its reason, when the catalogue has no validation split
    or no merger in it."""
    rows = (catalog["split"] == "validation").to_numpy()
    if not rows.any():
        return gm.ThresholdChoice(threshold=gm.FALLBACK_THRESHOLD, precision=np.nan, recall=np.nan, exact=False,
                                  n_candidates=0, fallback="no validation split to choose the baseline's threshold")
    score = model.predict_proba(features[rows][list(FEATURES)].to_numpy(float))[:, 1]
    return gm.choose_threshold(catalog["label"][rows].to_numpy(int), score, where="baseline validation scores",
                               balanced=balanced)


def baseline_scores(model: Pipeline, features: pd.DataFrame, catalog: pd.DataFrame,
                    split: str = "test", threshold: float | None = None) -> pd.DataFrame:
    """The fitted baseline's merger probability and 0/1 call per object of one split.

    Parameters
    ----------
    threshold : float, optional
        Default :func:`baseline_threshold` (precision = recall on the validation split).

    Returns
    -------
    DataFrame with ``ID, label, score, pred`` (the call at ``threshold``), ``pred_half`` (the call at
    probability 0.5) and ``threshold``: the networks' score tables' columns plus the calls, so that the
    baseline can stand in any table beside the networks on the same galaxies. Where the validation split
    has both classes, also ``threshold_at_balance`` (:func:`baseline_threshold` with ``balanced=True``,
    the threshold for a class-balanced test set, as Table 1 gives the networks).
    """
    rows = (catalog["split"] == split).to_numpy()
    if not rows.any():
        raise ValueError(f"no {split} objects to score the baseline on")
    if threshold is None:
        threshold = baseline_threshold(model, features, catalog).threshold
    score = model.predict_proba(features[rows][list(FEATURES)].to_numpy(float))[:, 1]
    out = pd.DataFrame({"ID": catalog["ID"][rows].to_numpy(np.int64), "label": catalog["label"][rows].to_numpy(int),
                        "score": score, "pred": (score >= threshold).astype(int),
                        "pred_half": (score >= 0.5).astype(int), "threshold": float(threshold)})
    validation = catalog["label"][(catalog["split"] == "validation").to_numpy()].to_numpy(int)
    if validation.any() and not validation.all():
        out["threshold_at_balance"] = baseline_threshold(model, features, catalog, balanced=True).threshold
    return out


def cross_validate(features: pd.DataFrame, labels, groups, folds: int = CV_FOLDS, seed: int = 0) -> dict:
    """Accuracy of the baseline in ``folds``-fold cross-validation grouped by ``groups``
    (stratified by class; no group is both trained on and scored).

    Returns
    -------
    dict with ``cv_accuracy`` (mean over folds), ``cv_accuracy_std`` and ``cv_folds``.
    """
    labels = np.asarray(labels, dtype=int)
    groups = np.asarray(groups)
    if len(np.unique(groups)) < folds:
        raise ValueError(f"grouped {folds}-fold cross-validation needs at least {folds} groups, "
                         f"got {len(np.unique(groups))}")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = []
    for train, test in splitter.split(features, labels, groups):
        model = fit_baseline(features.iloc[train], labels[train])
        scores.append(evaluate_baseline(model, features.iloc[test], labels[test]))
    return {"cv_accuracy": float(np.mean(scores)), "cv_accuracy_std": float(np.std(scores)),
            "cv_folds": int(folds)}


def run_baseline(catalog: pd.DataFrame, features: pd.DataFrame | None = None, progress: bool = True) -> dict:
    """Grouped cross-validation over all objects, and train-split to test-split accuracy.

    Parameters
    ----------
    catalog : DataFrame with ``ID, image_path, label, split, sequence_ID`` (as from ``load_catalog``).
    features : precomputed :func:`baseline_features` of ``catalog`` (computed when None).

    Returns
    -------
    dict with ``cv_accuracy`` and ``cv_accuracy_std`` (:func:`cross_validate`, folds grouped by
    sequence, 0.5 call; ``nan`` with fewer groups than folds), ``test_accuracy`` (at the validation
    precision = recall threshold, the networks' rule), ``test_accuracy_half`` (at probability 0.5),
    ``threshold`` and ``threshold_method``, ``test_accuracy_by_stage``
    (fraction correct per stage when the catalogue has a ``stage`` column), ``train_accuracy`` (0.5),
    ``n_train``, ``n_test``, ``coefficients`` (per standardised feature), ``features`` (DataFrame)
    and ``model``.
    """
    missing = {"label", "split", "sequence_ID"} - set(catalog.columns)
    if missing:
        raise KeyError(f"catalog lacks column(s) {sorted(missing)} needed by the baseline")
    if features is None:
        features = baseline_features(catalog, progress=progress)
    train, test = (catalog["split"] == "train").to_numpy(), (catalog["split"] == "test").to_numpy()
    if not train.any() or not test.any():
        raise ValueError(f"the baseline needs train and test objects; got {train.sum()} and {test.sum()}")
    model = fit_baseline(features[train], catalog["label"][train])
    coefficients = dict(zip(FEATURES, model[-1].coef_[0].round(4).tolist()))
    choice = baseline_threshold(model, features, catalog)
    scored = baseline_scores(model, features, catalog, "test", choice.threshold)
    correct = (scored["pred"] == scored["label"]).to_numpy()
    stage_accuracy = {}
    if "stage" in catalog.columns:  # fraction correct per merger stage on the test split
        stage_accuracy = pd.Series(correct).groupby(catalog["stage"][test].to_numpy()).mean().round(4).to_dict()
    groups = gm.resampling_units(catalog)  # the bootstraps' units: no sequence on both sides of a fold
    labels = catalog["label"].to_numpy(int)
    enough = len(np.unique(groups)) >= CV_FOLDS and min(np.bincount(labels, minlength=2)) >= CV_FOLDS
    cv = cross_validate(features, labels, groups) if enough else {"cv_accuracy": float("nan"),
                                                                  "cv_accuracy_std": float("nan"),
                                                                  "cv_folds": CV_FOLDS}
    return {**cv, "test_accuracy": float(correct.mean()),
            "test_accuracy_half": float((scored["pred_half"] == scored["label"]).mean()),
            "threshold": float(choice.threshold), "threshold_method": choice.method,
            "test_accuracy_by_stage": stage_accuracy,
            "train_accuracy": evaluate_baseline(model, features[train], catalog["label"][train]),
            "n_train": int(train.sum()), "n_test": int(test.sum()),
            "coefficients": coefficients, "features": features, "model": model}
