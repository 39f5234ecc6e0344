"""Classification metrics of the paper (Sect. 3.2.3, 4): precision = recall threshold,
scikit-learn metrics, bootstrap uncertainties and balanced resampling.

Conventions used throughout
---------------------------
- Labels are 1 for a merger (the positive class) and 0 for a non-merger.
- A galaxy is predicted a merger when ``score >= threshold`` (scikit-learn's convention in
  :func:`sklearn.metrics.precision_recall_curve`).
- A metric that is undefined on a sample (precision with no predicted merger, recall with no
  true merger, AUC with one class only, anything on an empty sample) is ``NaN``, never 0.

The functions here are pure: arrays in, numbers or arrays out; the random ones take a seed or
a :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import metrics as skm

#: The four threshold metrics of the paper's Table 1 and Figs 6, 7, 10, 11.
METRICS = ("accuracy", "precision", "recall", "f1")
#: Readable names for axis labels and tables.
METRIC_LABELS = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Recall",
                 "f1": "F1", "auc": "ROC AUC", "fraction_correct": "Fraction correctly classified"}


# --------------------------------------------------------------------------- validation
def _as_labels(y_true, name: str = "y_true") -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        bad = np.unique(y[~np.isin(y, (0, 1))])[:5]
        raise ValueError(f"{name} must hold only 0 (non-merger) and 1 (merger); found {bad.tolist()}")
    return y.astype(np.int8)


def _as_scores(scores, n: int) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.shape != (n,):
        raise ValueError(f"scores must have shape ({n},) like the labels, got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError(f"scores hold {int((~np.isfinite(s)).sum())} non-finite values")
    return s


def predict(scores, threshold: float) -> np.ndarray:
    """Predicted labels (1 merger, 0 non-merger): ``score >= threshold``."""
    return (np.asarray(scores, dtype=float) >= float(threshold)).astype(np.int8)


# --------------------------------------------------------------------------- threshold
@dataclass(frozen=True)
class ThresholdChoice:
    """The precision = recall threshold and how it was found.

    Attributes
    ----------
    threshold : float
        Decision threshold on the network's score (merger when ``score >= threshold``).
    precision, recall : float
        Precision and recall at that threshold on the sample it was chosen on.
    exact : bool
        True when precision equals recall exactly there (to 1e-12).
    n_candidates : int
        Distinct scores considered (each is a candidate threshold).
    """

    threshold: float
    precision: float
    recall: float
    exact: bool
    n_candidates: int


def choose_precision_recall_threshold(y_true, scores) -> ThresholdChoice:
    """Find the decision threshold where precision equals recall (the paper's choice, Sect. 4).

    Candidates are the distinct scores, as returned by
    :func:`sklearn.metrics.precision_recall_curve`. Precision equals recall exactly when
    as many galaxies are predicted mergers as there are true mergers (FP = FN); with tied
    scores no candidate may achieve that, so the rule is:

    1. keep the candidates with the smallest ``|precision - recall|``;
    2. among those, keep the ones with the largest ``precision + recall`` (the better balance);
    3. among those, take the lowest threshold (the one that misses fewest mergers).

    Parameters
    ----------
    y_true : array of {0, 1}, shape (n,)
        True labels (1 merger) of the sample the threshold is chosen on (the validation split).
    scores : array of float, shape (n,)
        The network's scores (sigmoid outputs, 0-1) for the same galaxies.

    Returns
    -------
    ThresholdChoice

    Raises
    ------
    ValueError
        When the sample is empty or lacks mergers (precision and recall are then undefined).
    """
    y = _as_labels(y_true)
    s = _as_scores(scores, len(y))
    if y.size == 0:
        raise ValueError("cannot choose a threshold on an empty sample")
    if y.sum() == 0:
        raise ValueError("cannot choose a precision = recall threshold: the sample has no mergers")
    precision, recall, thresholds = skm.precision_recall_curve(y, s)
    # the last (precision, recall) pair is sklearn's sentinel (1, 0) without a threshold
    precision, recall = precision[:-1], recall[:-1]
    gap = np.abs(precision - recall)
    tied = np.flatnonzero(np.isclose(gap, gap.min(), rtol=0, atol=1e-12))
    balance = precision[tied] + recall[tied]
    tied = tied[np.isclose(balance, balance.max(), rtol=0, atol=1e-12)]
    best = tied[np.argmin(thresholds[tied])]
    return ThresholdChoice(threshold=float(thresholds[best]), precision=float(precision[best]),
                           recall=float(recall[best]), exact=bool(gap[best] <= 1e-12),
                           n_candidates=int(len(thresholds)))


def precision_recall_threshold(y_true, scores) -> float:
    """The decision threshold where precision equals recall; see
    :func:`choose_precision_recall_threshold` for the rule when no candidate is exact."""
    return choose_precision_recall_threshold(y_true, scores).threshold


# --------------------------------------------------------------------------- point metrics
def classification_metrics(y_true, y_pred, scores=None) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of predictions (scikit-learn), plus ROC AUC from scores.

    Parameters
    ----------
    y_true, y_pred : array of {0, 1}, shape (n,)
        True and predicted labels (1 merger).
    scores : array of float, shape (n,), optional
        Scores for the ROC AUC; without them (or with a single class) ``auc`` is NaN.

    Returns
    -------
    dict
        ``accuracy, precision, recall, f1, auc`` (fractions, 0-1) and ``n``; undefined values NaN.
    """
    y = _as_labels(y_true)
    p = _as_labels(y_pred, "y_pred")
    if p.shape != y.shape:
        raise ValueError(f"y_pred has shape {p.shape}, y_true {y.shape}")
    out = {"n": int(y.size)}
    if y.size == 0:
        return {**out, **{m: np.nan for m in (*METRICS, "auc")}}
    out["accuracy"] = float(skm.accuracy_score(y, p))
    prec, rec, f1, _ = skm.precision_recall_fscore_support(
        y, p, labels=[1], average="binary", zero_division=np.nan)
    out.update(precision=float(prec), recall=float(rec), f1=float(f1))
    out["auc"] = roc_auc(y, scores) if scores is not None else np.nan
    return out


def roc_auc(y_true, scores) -> float:
    """ROC AUC (scikit-learn); NaN when the sample holds a single class."""
    y = _as_labels(y_true)
    s = _as_scores(scores, len(y))
    if len(np.unique(y)) < 2:
        return np.nan
    return float(skm.roc_auc_score(y, s))


def metrics_vs_threshold(y_true, scores, thresholds=None) -> pd.DataFrame:
    """The four metrics as a function of the decision threshold (the paper's Fig. 6).

    Parameters
    ----------
    y_true : array of {0, 1}
    scores : array of float
    thresholds : array of float, optional
        Default: 0 to 1 in steps of 0.01.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold, accuracy, precision, recall, f1`` (NaN where undefined).
    """
    y = _as_labels(y_true)
    s = _as_scores(scores, len(y))
    thresholds = np.linspace(0, 1, 101) if thresholds is None else np.asarray(thresholds, dtype=float)
    rows = [{"threshold": t, **classification_metrics(y, predict(s, t))} for t in thresholds]
    return pd.DataFrame(rows)[["threshold", *METRICS]]


def confusion_matrix(y_true, y_pred, normalize: str | None = "true") -> np.ndarray:
    """2x2 confusion matrix, rows = true (non-merger, merger), columns = predicted (scikit-learn).

    ``normalize="true"`` divides each row by its count (the paper's Fig. 13); a row with no
    galaxies is NaN rather than scikit-learn's zeros.
    """
    y = _as_labels(y_true)
    p = _as_labels(y_pred, "y_pred")
    counts = skm.confusion_matrix(y, p, labels=[0, 1]).astype(float)
    if normalize is None:
        return counts
    if normalize != "true":
        raise ValueError(f"normalize must be 'true' or None, got {normalize!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts / counts.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- vectorised metrics
def metrics_from_counts(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    """Accuracy, precision, recall, F1 and the fraction correct from confusion counts (arrays).

    Used for the bootstrap, where scikit-learn's per-sample calls would be a thousand times
    slower; the test suite checks these against scikit-learn. Undefined values are NaN.
    """
    tp, fp, fn, tn = (np.asarray(a, dtype=float) for a in (tp, fp, fn, tn))
    n = tp + fp + fn + tn
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n > 0, (tp + tn) / n, np.nan)
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        # F1 = 2TP / (2TP + FP + FN): defined whenever there is a merger or a predicted merger
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1,
            "fraction_correct": accuracy}


def _counts(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1):
    t, p = y_true.astype(bool), y_pred.astype(bool)
    return ((t & p).sum(axis), (~t & p).sum(axis), (t & ~p).sum(axis), (~t & ~p).sum(axis))


# --------------------------------------------------------------------------- bootstrap
@dataclass(frozen=True)
class BootstrapSummary:
    """A bootstrap estimate reported as in the paper: mean and (upper bound - mean).

    Attributes
    ----------
    value : float
        The metric on the original sample.
    mean : float
        Mean of the metric over the resamples (undefined resamples ignored).
    lower, upper : float
        Percentile confidence interval (2.5 and 97.5 percentiles for 95 %).
    error : float
        ``upper - mean``, the paper's quoted uncertainty.
    n : int
        Galaxies in the sample.
    n_defined : int
        Resamples on which the metric was defined.
    """

    value: float
    mean: float
    lower: float
    upper: float
    error: float
    n: int
    n_defined: int


def bootstrap_indices(n: int, n_resamples: int, rng) -> np.ndarray:
    """(n_resamples, n) indices drawn with replacement (one resample per row)."""
    rng = np.random.default_rng(rng)
    return rng.integers(0, n, size=(n_resamples, n)) if n else np.empty((n_resamples, 0), dtype=np.int64)


def bootstrap_distribution(y_true, y_pred, metrics=METRICS, n_resamples: int = 1000, rng=None,
                           indices: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Each metric on each bootstrap resample (vectorised): ``{metric: array (n_resamples,)}``.

    ``indices`` (from :func:`bootstrap_indices`) lets several networks share the same resamples.
    """
    y = _as_labels(y_true)
    p = _as_labels(y_pred, "y_pred")
    if indices is None:
        indices = bootstrap_indices(len(y), n_resamples, rng)
    if indices.shape[1] != len(y):
        raise ValueError(f"indices resample {indices.shape[1]} galaxies, the sample has {len(y)}")
    tp, fp, fn, tn = _counts(y[indices], p[indices], axis=1)
    values = metrics_from_counts(tp, fp, fn, tn)
    return {m: values[m] for m in metrics}


def summarise_bootstrap(distribution: np.ndarray, value: float, n: int,
                        confidence: float = 0.95) -> BootstrapSummary:
    """Mean, percentile interval and (upper - mean) of one metric's bootstrap distribution."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    d = np.asarray(distribution, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return BootstrapSummary(float(value), np.nan, np.nan, np.nan, np.nan, int(n), 0)
    alpha = (1 - confidence) / 2
    lower, upper = np.quantile(d, [alpha, 1 - alpha])
    mean = float(d.mean())
    return BootstrapSummary(float(value), mean, float(lower), float(upper), float(upper - mean),
                            int(n), int(d.size))


def bootstrap_metrics(y_true, y_pred, metrics=METRICS, n_resamples: int = 1000, rng=None,
                      confidence: float = 0.95,
                      indices: np.ndarray | None = None) -> dict[str, BootstrapSummary]:
    """Bootstrap uncertainty of each metric, as in the paper (Sect. 4): ``n_resamples`` resamples
    with replacement, percentile ``confidence`` interval, reported as mean and (upper - mean).

    Parameters
    ----------
    y_true, y_pred : array of {0, 1}, shape (n,)
    metrics : sequence of str
        Among accuracy, precision, recall, f1, fraction_correct (= accuracy; for a sample of
        mergers only it is the fraction of mergers correctly classified).
    n_resamples : int
        Paper: 1000.
    rng : int, numpy.random.Generator or None
        Seed or generator of the resampling.
    confidence : float
        Interval width (paper: 0.95).
    indices : array (n_resamples, n), optional
        Precomputed resample indices (shared between networks); overrides ``n_resamples``/``rng``.

    Returns
    -------
    dict of metric -> BootstrapSummary
        An empty sample gives NaN everywhere with ``n = 0``.
    """
    y = _as_labels(y_true)
    p = _as_labels(y_pred, "y_pred")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    point = metrics_from_counts(*_counts(y, p))
    dist = bootstrap_distribution(y, p, metrics, n_resamples, rng, indices)
    return {m: summarise_bootstrap(dist[m], float(point[m]), len(y), confidence) for m in metrics}


# --------------------------------------------------------------------------- balanced resampling
def balanced_draws(y_true, per_class: int = 500, n_draws: int = 20, rng=None) -> np.ndarray:
    """Indices of balanced random draws: the paper's balanced bins (Sect. 4, Fig. 11).

    Each draw holds ``k = min(per_class, n_mergers, n_non_mergers)`` mergers and ``k``
    non-mergers, picked without replacement (no galaxy twice within a draw); draws are
    independent of one another.

    Parameters
    ----------
    y_true : array of {0, 1}
    per_class : int
        At most this many galaxies per class (paper: 500).
    n_draws : int
        Number of draws (paper: 20).
    rng : int, numpy.random.Generator or None

    Returns
    -------
    numpy.ndarray of int, shape (n_draws, 2k)
        Row ``i`` lists the indices (into ``y_true``) of draw ``i``: its ``k`` mergers first,
        then its ``k`` non-mergers. ``k = 0`` (a class absent) gives shape (n_draws, 0).
    """
    y = _as_labels(y_true)
    if per_class < 1 or n_draws < 1:
        raise ValueError(f"per_class and n_draws must be positive, got {per_class}, {n_draws}")
    rng = np.random.default_rng(rng)
    mergers, non_mergers = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    k = min(per_class, len(mergers), len(non_mergers))
    draws = np.empty((n_draws, 2 * k), dtype=np.int64)
    for i in range(n_draws):
        draws[i, :k] = rng.choice(mergers, size=k, replace=False)
        draws[i, k:] = rng.choice(non_mergers, size=k, replace=False)
    return draws


def balanced_metrics(y_true, y_pred, metrics=METRICS, per_class: int = 500, n_draws: int = 20,
                     rng=None, draws: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each metric over balanced draws (the paper's Fig. 11).

    Returns ``{metric: {"mean", "std", "per_class", "n_draws"}}``; ``std`` is the sample
    standard deviation (ddof = 1; NaN with a single draw). Empty draws (a class absent) give
    NaN. ``draws`` (from :func:`balanced_draws`) lets several networks share the same draws.
    """
    y = _as_labels(y_true)
    p = _as_labels(y_pred, "y_pred")
    if draws is None:
        draws = balanced_draws(y, per_class, n_draws, rng)
    values = metrics_from_counts(*_counts(y[draws], p[draws], axis=1))
    out = {}
    for m in metrics:
        v = values[m][np.isfinite(values[m])]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[m] = {"mean": float(v.mean()) if v.size else np.nan,
                      "std": float(v.std(ddof=1)) if v.size > 1 else np.nan,
                      "per_class": int(draws.shape[1] // 2), "n_draws": int(draws.shape[0])}
    return out
