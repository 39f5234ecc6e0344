"""Classification metrics of the paper (Sect. 3.2.3, 4): precision = recall threshold,
scikit-learn metrics, bootstrap uncertainties and balanced resampling.

Conventions used throughout
---------------------------
- Labels are 1 for a merger (the positive class) and 0 for a non-merger.
- A galaxy is predicted a merger when ``score >= threshold`` (scikit-learn's convention in
  :func:`sklearn.metrics.precision_recall_curve`).
- A metric that is undefined on a sample (precision with no predicted merger, recall with no
  true merger, AUC with one class only, anything on an empty sample) is ``NaN``, never 0.

Uncertainties: resampling merger sequences
------------------------------------------
The objects of one merger sequence (the same galaxy pair seen at several snapshots), and in the
mock those drawn on one library orbit, look alike and are classified alike, so they are not
independent draws. A bootstrap that resamples
galaxies treats them as independent and gives intervals that are too narrow. Every bootstrap
here therefore takes ``groups`` (from :func:`resampling_units`): whole groups are drawn with
replacement, each bringing all of its objects (the cluster bootstrap; Davison & Hinkley 1997,
Sect. 3.8; Field & Welsh 2007, JRSS B 69, 369), and an object without a sequence is a group of
its own. Without ``groups`` every object is its own group, which is the paper's galaxy
bootstrap (Sect. 4).

Two networks scored on the same galaxies are compared on the *difference* of their metric,
computed on the same resampled galaxies (:func:`paired_bootstrap_difference`), never by
comparing two separately bootstrapped intervals; :func:`mcnemar_exact` is the classical
cross-check on accuracy (it assumes independent galaxies, so it is anti-conservative when
sequences are correlated).

The functions here are pure: arrays in, numbers or arrays out; the random ones take a seed or
a :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm

#: The four threshold metrics of the paper's Table 1 and Figs 6, 7, 10, 11.
METRICS = ("accuracy", "precision", "recall", "f1")
#: Metrics the bootstrap can compute from confusion counts.
BOOTSTRAP_METRICS = (*METRICS, "fraction_correct")
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
    fallback : str
        Empty for a chosen threshold; why :data:`FALLBACK_THRESHOLD` was used otherwise
        (:func:`choose_threshold`).
    """

    threshold: float
    precision: float
    recall: float
    exact: bool
    n_candidates: int
    fallback: str = ""

    @property
    def method(self) -> str:
        """How the threshold was found, in words (for tables and reports)."""
        if self.fallback:
            return f"fallback {FALLBACK_THRESHOLD}: {self.fallback}"
        return "precision = recall" if self.exact else "min |precision - recall|"


def choose_precision_recall_threshold(y_true, scores, balanced: bool = False) -> ThresholdChoice:
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
    balanced : bool
        Apply the rule to the sample with its two classes weighted to equal totals: the threshold the
        paper's rule would choose on a validation set with as many mergers as non-mergers, where
        precision = recall means FP = FN, i.e. recall = specificity. The operating point for a
        class-balanced test set (Pearson et al. 2019's), whatever the share of mergers in the sample.

    Returns
    -------
    ThresholdChoice

    Raises
    ------
    ValueError
        When the sample is empty or lacks mergers (precision and recall are then undefined), or, with
        ``balanced``, lacks non-mergers.
    """
    y = _as_labels(y_true)
    s = _as_scores(scores, len(y))
    if y.size == 0:
        raise ValueError("cannot choose a threshold on an empty sample")
    if y.sum() == 0:
        raise ValueError("cannot choose a precision = recall threshold: the sample has no mergers")
    weight = None
    if balanced:
        if y.all():
            raise ValueError("cannot balance the classes: the sample has no non-mergers")
        weight = np.where(y == 1, 0.5 / y.sum(), 0.5 / (y.size - y.sum()))
    precision, recall, thresholds = skm.precision_recall_curve(y, s, sample_weight=weight)
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


#: The one fallback threshold: used, with a warning, where the precision = recall threshold is
#: undefined (no validation scores, or a validation sample without mergers). 0.5 is the midpoint
#: of a sigmoid score, where Keras' binary accuracy also cuts.
FALLBACK_THRESHOLD = 0.5


def choose_threshold(y_true, scores, where: str = "", balanced: bool = False) -> ThresholdChoice:
    """The decision threshold of one network: the project's one rule.

    The precision = recall threshold on the sample given (the validation split; the paper's
    choice, Sect. 4; :func:`choose_precision_recall_threshold`). Where that is undefined (an
    empty sample, or one without mergers) the threshold is :data:`FALLBACK_THRESHOLD`, and a
    warning says so, naming ``where``; the returned choice's :attr:`ThresholdChoice.method` says so too.

    Parameters
    ----------
    y_true : array of {0, 1}, shape (n,)
    scores : array of float, shape (n,)
    where : str
        What the sample is (e.g. a scores file), for the warning.
    balanced : bool
        The same rule with the classes weighted to equal totals (recall = specificity; see
        :func:`choose_precision_recall_threshold`): the operating point for a class-balanced test set.

    Returns
    -------
    ThresholdChoice
        With ``fallback`` set to the reason when the fallback was used (precision and recall NaN).
    """
    y = _as_labels(y_true)
    s = _as_scores(scores, len(y))  # malformed input is an error, never a fallback
    if y.sum() > 0 and not (balanced and y.all()):
        return choose_precision_recall_threshold(y, s, balanced=balanced)
    why = ("no scores" if y.size == 0 else f"no merger among its {y.size} galaxies" if y.sum() == 0
           else f"no non-merger among its {y.size} galaxies to balance the classes")
    reason = f"{where or 'the sample'}: {why}, so precision = recall is undefined"
    warnings.warn(f"{reason}; using the fallback threshold {FALLBACK_THRESHOLD}", stacklevel=2)
    return ThresholdChoice(threshold=FALLBACK_THRESHOLD, precision=np.nan, recall=np.nan, exact=False,
                           n_candidates=0, fallback=reason)


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
def metrics_from_counts(tp, fp, fn, tn, balanced: bool = False) -> dict[str, np.ndarray]:
    """Accuracy, precision, recall, F1 and the fraction correct from confusion counts (arrays).

    Used for the bootstrap, where scikit-learn's per-sample calls would be a thousand times
    slower; the test suite checks these against scikit-learn. Undefined values are NaN. Counts
    may be weighted (non-integer).

    With ``balanced=True`` the two classes are first reweighted to equal totals (each
    non-merger counts ``(tp + fn) / (fp + tn)``): the metrics then are those a sample with as
    many mergers as non-mergers would give, i.e. what the paper's balanced draws (Fig. 11)
    estimate, without the draw-to-draw noise. Accuracy becomes (TPR + TNR) / 2 and precision
    TPR / (TPR + FPR); undefined when a class is absent.
    """
    tp, fp, fn, tn = (np.asarray(a, dtype=float) for a in (tp, fp, fn, tn))
    if balanced:
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where((fp + tn > 0) & (tp + fn > 0), (tp + fn) / (fp + tn), np.nan)
        fp, tn = fp * scale, tn * scale
    n = tp + fp + fn + tn
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n > 0, (tp + tn) / n, np.nan)
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        # F1 = 2TP / (2TP + FP + FN): defined whenever there is a merger or a predicted merger
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    out = {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1,
           "fraction_correct": accuracy}
    if balanced:  # a class absent: nothing is defined
        out = {k: np.where(np.isfinite(scale), v, np.nan) for k, v in out.items()}
    return out


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
    n_groups : int
        Independent units resampled: merger sequences plus objects without one (equal to ``n``
        for the galaxy bootstrap; -1 when precomputed weights came without their groups).
    """

    value: float
    mean: float
    lower: float
    upper: float
    error: float
    n: int
    n_defined: int
    n_groups: int = -1


def sequence_groups(sequence_ids) -> np.ndarray:
    """Group code (0 .. G-1) of each object for the sequence bootstrap, from its sequence IDs alone.

    Objects sharing a ``sequence_ID`` share a group; an object whose ``sequence_ID`` is
    negative (the catalogue's -1, :data:`galmerge.data.catalog.NO_SEQUENCE`) or missing (NaN, None) is
    a group of its own. The same rule as :func:`resampling_units` (which it calls), for IDs without
    a table.

    Parameters
    ----------
    sequence_ids : array-like, shape (n,)
        Merger-sequence IDs (integers; negative or NaN for "no sequence").

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
    """
    raw = np.asarray(sequence_ids, dtype=object)
    if raw.ndim != 1:
        raise ValueError(f"sequence_ids must be 1-D, got shape {raw.shape}")
    return resampling_units(pd.DataFrame({"sequence_ID": raw}))


#: What a bootstrap resamples: merger sequences (an object without one is its own unit), or galaxies
#: as the paper does (Sect. 4), which treats the correlated objects of one sequence as independent.
RESAMPLING = ("sequence", "galaxy")


def resampling_units(frame: pd.DataFrame, resample: str = "sequence") -> np.ndarray:
    """The resampling unit of each galaxy: the project's one rule, used by every bootstrap.

    ``resample="sequence"`` (the default) puts together the objects that are not independent: those
    of one merger sequence or labelled group (the catalogue turns a labelled dataset's ``group``
    column into ``sequence_ID``), and those sharing a ``split_group`` (the mock's objects on one
    library orbit). The key is the split's own, :func:`galmerge.data.catalog.split_groups`, so the
    units resampled are exactly the groups that never straddle two splits; an object without a
    sequence or group (``sequence_ID`` -1 or missing) is a unit of its own. ``"galaxy"`` makes
    every galaxy its own unit (the paper's bootstrap). A frame with neither ``sequence_ID`` nor
    ``split_group`` falls back to galaxies, *with a warning*: the intervals are then too narrow
    wherever objects share a sequence.

    The verdicts (:mod:`galmerge.analysis.conclusions`), the binned figures and Table 2
    (:mod:`galmerge.analysis.evaluation`) and the baseline's grouped cross-validation
    (:mod:`galmerge.analysis.baseline`) all take their units from here, so that on the same galaxies
    they resample the same units.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per galaxy: ``sequence_ID`` (int, -1 or NaN for none) and/or ``split_group`` (str,
        empty for none) when known; ``ID`` (else the row number names an object of its own).
    resample : {"sequence", "galaxy"}

    Returns
    -------
    numpy.ndarray of int64, shape (len(frame),)
        Unit code of each row (0 .. U-1, in the order of the sorted keys, so independent of row order).
    """
    from galmerge.data.catalog import NO_SEQUENCE, split_groups

    if resample not in RESAMPLING:
        raise ValueError(f"resample must be one of {RESAMPLING}, got {resample!r}")
    if resample == "galaxy":
        return np.arange(len(frame), dtype=np.int64)
    if "sequence_ID" not in frame.columns and "split_group" not in frame.columns:
        warnings.warn("the frame has no sequence_ID column: the bootstrap resamples galaxies, and its "
                      "intervals are too narrow where objects share a merger sequence", stacklevel=2)
        return np.arange(len(frame), dtype=np.int64)
    keyed = pd.DataFrame({"ID": frame["ID"].to_numpy() if "ID" in frame.columns else np.arange(len(frame))})
    sequence = frame["sequence_ID"] if "sequence_ID" in frame.columns else pd.Series(NO_SEQUENCE, frame.index)
    keyed["sequence_ID"] = pd.to_numeric(sequence, errors="coerce").fillna(NO_SEQUENCE).to_numpy()
    if "split_group" in frame.columns:
        keyed["split_group"] = frame["split_group"].to_numpy()
    _, codes = np.unique(split_groups(keyed).to_numpy(), return_inverse=True)
    return codes.astype(np.int64)


def _as_groups(groups, n: int) -> np.ndarray | None:
    if groups is None:
        return None
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups must have shape ({n},) like the labels, got {g.shape}")
    _, codes = np.unique(g, return_inverse=True)
    return codes.astype(np.int64)


def n_groups(groups, n: int | None = None) -> int:
    """Independent units of a sample: distinct groups, or ``n`` when ``groups`` is None."""
    if groups is None:
        return int(n if n is not None else 0)
    return int(len(np.unique(np.asarray(groups))))


def bootstrap_indices(n: int, n_resamples: int, rng) -> np.ndarray:
    """(n_resamples, n) indices drawn with replacement (one resample per row): the galaxy bootstrap."""
    rng = np.random.default_rng(rng)
    return rng.integers(0, n, size=(n_resamples, n)) if n else np.empty((n_resamples, 0), dtype=np.int64)


def bootstrap_weights(groups, n_resamples: int, rng=None, n: int | None = None) -> np.ndarray:
    """How many times each object enters each resample of a (sequence) bootstrap.

    Each resample draws as many groups as the sample has, with replacement and equal
    probability, and takes every object of a drawn group as many times as the group was drawn
    (the cluster bootstrap). The resamples therefore vary in size when groups do.

    Parameters
    ----------
    groups : array-like, shape (n,), or None
        Group of each object (e.g. :func:`sequence_groups`); None makes every object its own
        group (the galaxy bootstrap; then ``n`` is required).
    n_resamples : int
    rng : int, numpy.random.Generator or None
    n : int, optional
        Number of objects when ``groups`` is None.

    Returns
    -------
    numpy.ndarray of int32, shape (n_resamples, n)
        Resample ``r`` holds object ``i`` ``weights[r, i]`` times. Share it between networks
        to score them on the same resampled galaxies (a paired comparison).
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    rng = np.random.default_rng(rng)
    if groups is None:
        if n is None:
            raise ValueError("bootstrap_weights needs groups or n")
        codes = np.arange(int(n))
    else:
        codes = _as_groups(groups, len(np.asarray(groups)))
    if codes.size == 0:
        return np.zeros((n_resamples, 0), dtype=np.int32)
    n_units = int(codes.max()) + 1
    draws = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_resamples)
    return draws[:, codes].astype(np.int32)


def _weighted_counts(y: np.ndarray, p: np.ndarray, weights: np.ndarray):
    """(tp, fp, fn, tn) per resample from object weights (n_resamples, n)."""
    t, q = y.astype(bool), p.astype(bool)
    cells = np.stack([t & q, ~t & q, t & ~q, ~t & ~q], axis=1).astype(np.float64)  # (n, 4)
    counts = weights.astype(np.float64) @ cells if weights.shape[1] else np.zeros((len(weights), 4))
    return counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3]


def _check_metrics(metrics) -> tuple[str, ...]:
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in BOOTSTRAP_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; the bootstrap computes {BOOTSTRAP_METRICS}")
    return metrics


def _resample_weights(n: int, n_resamples: int, rng, groups, indices, weights) -> np.ndarray:
    """Weights (n_resamples, n) from whichever of weights / indices / groups was given."""
    if weights is not None:
        weights = np.asarray(weights)
        if weights.ndim != 2 or weights.shape[1] != n:
            raise ValueError(f"weights must have shape (n_resamples, {n}), got {weights.shape}")
        return weights
    if indices is not None:
        indices = np.asarray(indices)
        if indices.ndim != 2 or indices.shape[1] != n:
            raise ValueError(f"indices resample {indices.shape[-1]} galaxies, the sample has {n}")
        out = np.zeros(indices.shape, dtype=np.int32)
        rows = np.repeat(np.arange(len(indices)), indices.shape[1])
        np.add.at(out, (rows, indices.ravel()), 1)
        return out
    return bootstrap_weights(groups, n_resamples, rng, n=n)


def bootstrap_distribution(y_true, y_pred, metrics=METRICS, n_resamples: int = 1000, rng=None,
                           indices: np.ndarray | None = None, groups=None,
                           weights: np.ndarray | None = None,
                           balanced: bool = False) -> dict[str, np.ndarray]:
    """Each metric on each bootstrap resample (vectorised): ``{metric: array (n_resamples,)}``.

    The resamples come from ``weights`` (:func:`bootstrap_weights`), else ``indices``
    (:func:`bootstrap_indices`, the galaxy bootstrap), else are drawn here from ``groups``
    (None: the galaxy bootstrap). Sharing ``weights`` lets several networks be scored on the
    same resampled galaxies. ``balanced`` reweights the classes to equal totals
    (:func:`metrics_from_counts`).
    """
    y = _as_labels(y_true)
    p = _as_labels(y_pred, "y_pred")
    if p.shape != y.shape:
        raise ValueError(f"y_pred has shape {p.shape}, y_true {y.shape}")
    metrics = _check_metrics(metrics)
    groups = _as_groups(groups, len(y))
    w = _resample_weights(len(y), n_resamples, rng, groups, indices, weights)
    values = metrics_from_counts(*_weighted_counts(y, p, w), balanced=balanced)
    return {m: values[m] for m in metrics}


def summarise_bootstrap(distribution: np.ndarray, value: float, n: int,
                        confidence: float = 0.95, n_groups: int = -1) -> BootstrapSummary:
    """Mean, percentile interval and (upper - mean) of one metric's bootstrap distribution."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    d = np.asarray(distribution, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return BootstrapSummary(float(value), np.nan, np.nan, np.nan, np.nan, int(n), 0, int(n_groups))
    alpha = (1 - confidence) / 2
    lower, upper = np.quantile(d, [alpha, 1 - alpha])
    mean = float(d.mean())
    return BootstrapSummary(float(value), mean, float(lower), float(upper), float(upper - mean),
                            int(n), int(d.size), int(n_groups))


def bootstrap_metrics(y_true, y_pred, metrics=METRICS, n_resamples: int = 1000, rng=None,
                      confidence: float = 0.95, indices: np.ndarray | None = None, groups=None,
                      weights: np.ndarray | None = None,
                      balanced: bool = False) -> dict[str, BootstrapSummary]:
    """Bootstrap uncertainty of each metric, reported as in the paper (Sect. 4): ``n_resamples``
    resamples with replacement, percentile ``confidence`` interval, mean and (upper - mean).

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
        Precomputed galaxy-bootstrap indices; overrides ``n_resamples``/``rng``/``groups``.
    groups : array (n,), optional
        Group of each object (:func:`sequence_groups`): whole groups are resampled (the
        sequence bootstrap). None resamples galaxies, as the paper does.
    weights : array (n_resamples, n), optional
        Precomputed resamples (:func:`bootstrap_weights`), shared between networks; overrides
        everything else.
    balanced : bool
        Reweight the classes to equal totals (the balanced metrics of Fig. 11).

    Returns
    -------
    dict of metric -> BootstrapSummary
        An empty sample gives NaN everywhere with ``n = 0``.
    """
    y = _as_labels(y_true)
    p = _as_labels(y_pred, "y_pred")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    point = metrics_from_counts(*_counts(y, p), balanced=balanced)
    dist = bootstrap_distribution(y, p, metrics, n_resamples, rng, indices, groups, weights, balanced)
    units = len(y) if (groups is None and weights is None) or indices is not None else (
        n_groups(groups, len(y)) if groups is not None else -1)
    return {m: summarise_bootstrap(dist[m], float(point[m]), len(y), confidence, units) for m in dist}


# --------------------------------------------------------------------------- paired comparison
@dataclass(frozen=True)
class PairedDifference:
    """The difference ``a - b`` in one metric between two classifiers scored on the same galaxies.

    Attributes
    ----------
    metric : str
    value_a, value_b : float
        The metric of each classifier on the sample.
    difference : float
        ``value_a - value_b`` on the sample.
    mean : float
        Mean of the difference over the resamples where both are defined.
    lower, upper : float
        Percentile ``confidence`` interval of the difference over the paired resamples.
    p_not_greater : float
        Fraction of resamples with ``a - b <= 0``: the bootstrap's one-sided evidence against
        "a beats b" (small when a clearly beats b).
    p_not_less : float
        Fraction of resamples with ``a - b >= 0``.
    n : int
        Galaxies in the sample.
    n_groups : int
        Independent units resampled (sequences plus objects without one; -1 when unknown).
    n_defined : int
        Resamples on which both metrics were defined.
    confidence : float
    """

    metric: str
    value_a: float
    value_b: float
    difference: float
    mean: float
    lower: float
    upper: float
    p_not_greater: float
    p_not_less: float
    n: int
    n_groups: int
    n_defined: int
    confidence: float

    @property
    def direction(self) -> int:
        """+1 when the interval lies above 0 (a beats b), -1 below 0, 0 when it contains 0 or is undefined."""
        if not (np.isfinite(self.lower) and np.isfinite(self.upper)):
            return 0
        return 1 if self.lower > 0 else (-1 if self.upper < 0 else 0)


def paired_bootstrap_difference(y_true, pred_a, pred_b, metric: str = "accuracy", groups=None,
                                n_resamples: int = 1000, rng=None, confidence: float = 0.95,
                                weights: np.ndarray | None = None) -> PairedDifference:
    """Paired bootstrap of the difference in a metric between two classifiers on the same galaxies.

    Both classifiers are scored on every resample of the same galaxies (or sequences, with
    ``groups``), and the difference is taken resample by resample: what the two share (which
    galaxies are easy) cancels, so the interval is that of the difference itself, not two
    separate intervals compared. A difference whose ``confidence`` interval excludes 0 is
    significant at level ``1 - confidence`` (two-sided).

    Parameters
    ----------
    y_true : array of {0, 1}, shape (n,)
    pred_a, pred_b : array of {0, 1}, shape (n,)
        Predicted labels of classifiers a and b.
    metric : str
        One of :data:`BOOTSTRAP_METRICS`.
    groups : array (n,), optional
        :func:`sequence_groups` codes: resample merger sequences (None: galaxies).
    n_resamples : int
    rng : int, numpy.random.Generator or None
    confidence : float
    weights : array (n_resamples, n), optional
        Precomputed resamples (:func:`bootstrap_weights`); overrides ``groups``/``rng``.

    Returns
    -------
    PairedDifference
    """
    y = _as_labels(y_true)
    a = _as_labels(pred_a, "pred_a")
    b = _as_labels(pred_b, "pred_b")
    if not (a.shape == b.shape == y.shape):
        raise ValueError(f"labels and predictions differ in shape: {y.shape}, {a.shape}, {b.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    (metric,) = _check_metrics((metric,))
    groups = _as_groups(groups, len(y))
    w = _resample_weights(len(y), n_resamples, rng, groups, None, weights)
    value_a = float(metrics_from_counts(*_counts(y, a))[metric])
    value_b = float(metrics_from_counts(*_counts(y, b))[metric])
    da = metrics_from_counts(*_weighted_counts(y, a, w))[metric]
    db = metrics_from_counts(*_weighted_counts(y, b, w))[metric]
    d = (da - db)[np.isfinite(da) & np.isfinite(db)]
    units = n_groups(groups, len(y)) if groups is not None or weights is None else -1
    if d.size == 0:
        return PairedDifference(metric, value_a, value_b, value_a - value_b, np.nan, np.nan, np.nan,
                                np.nan, np.nan, len(y), units, 0, confidence)
    alpha = (1 - confidence) / 2
    lower, upper = np.quantile(d, [alpha, 1 - alpha])
    return PairedDifference(metric, value_a, value_b, value_a - value_b, float(d.mean()), float(lower),
                            float(upper), float(np.mean(d <= 0)), float(np.mean(d >= 0)), len(y), units,
                            int(d.size), confidence)


def _as_seed_predictions(pred, n: int, name: str) -> np.ndarray:
    """``pred`` as an int8 array (k, n) of k seeds' predicted labels (one seed: shape (n,) is accepted)."""
    p = np.asarray(pred)
    p = p[None, :] if p.ndim == 1 else p
    if p.ndim != 2 or p.shape[1] != n or p.shape[0] < 1:
        raise ValueError(f"{name} must have shape (k seeds, {n}), got {np.shape(pred)}")
    return np.stack([_as_labels(row, name) for row in p])


def seed_resampled_metric(y_true, preds, metric: str, weights: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """The seed mean of a metric over bootstrap resamples of galaxies *and* of train seeds.

    A two-stage bootstrap (Davison & Hinkley 1997, *Bootstrap Methods and their Application*, sect. 3.8):
    resample ``r`` (row ``r`` of ``weights``, :func:`bootstrap_weights`) draws k of the k seeds with
    replacement and averages their metric on that resample of galaxies. The spread then holds the
    test-set sampling and the training variance of a mean over k seeds (seed variance / k), matching
    the point estimate, which is the seed mean; with one seed it is the plain bootstrap. Like every
    plug-in bootstrap it takes the seeds' variance with divisor k, not k - 1 (the seed term is
    (k - 1) / k of s**2 / k: 0.8 of it for five seeds).

    Parameters
    ----------
    y_true : array of {0, 1}, shape (n,)
    preds : array of {0, 1}, shape (k, n)
        Predicted labels of the same network trained with k seeds.
    metric : str
        One of :data:`BOOTSTRAP_METRICS`.
    weights : array (n_resamples, n)
    rng : numpy.random.Generator or int
        Draws the seeds.

    Returns
    -------
    resampled : numpy.ndarray, shape (n_resamples,)
        The mean over the drawn seeds of the metric on each resample (NaN where undefined for a drawn seed).
    per_seed : numpy.ndarray, shape (k,)
        The metric of each seed on the whole sample.
    """
    y = _as_labels(y_true)
    p = _as_seed_predictions(preds, len(y), "preds")
    (metric,) = _check_metrics((metric,))
    w = _resample_weights(len(y), 0, None, None, None, weights)
    per_resample = np.stack([metrics_from_counts(*_weighted_counts(y, row, w))[metric] for row in p])
    k, n_resamples = per_resample.shape
    pick = np.random.default_rng(rng).integers(0, k, size=(k, n_resamples))  # k seeds per resample
    per_seed = np.array([float(metrics_from_counts(*_counts(y, row))[metric]) for row in p])
    return per_resample[pick, np.arange(n_resamples)].mean(axis=0), per_seed


@dataclass(frozen=True)
class SeedTerm:
    """The training variance added to a paired difference's interval.

    Attributes
    ----------
    sd : float
        Standard deviation (fraction) of the seed term added to every resample of the difference: that of
        the difference of the k-seed means, ``sqrt(max(0, paired_variance - seed_galaxy_variance) / k)``.
    df : float
        Its degrees of freedom, seeds - 1 (inf when no seed term is added); the term is drawn from
        ``sd * t(df)``, so a seed variance known from five seeds widens the interval as Student's t does.
    paired_sd : float
        Standard deviation over train seeds of the seed-paired difference ``metric(a, s) - metric(b, s)``
        on the whole sample (NaN when fewer than two seeds).
    seed_galaxy_variance : float
        The part of ``paired_sd**2`` that the test-set bootstrap already counts (seed x galaxy disagreement,
        fraction squared), subtracted before the floor at 0.
    seeds : int
        Train seeds behind ``paired_sd``.
    source : str
        'run' (the networks' own seeds), 'benchmark' (another run's seeds, for one-seed networks) or 'none'.
    """

    sd: float = 0.0
    df: float = float("inf")
    paired_sd: float = float("nan")
    seed_galaxy_variance: float = float("nan")
    seeds: int = 1
    source: str = "none"


def seed_galaxy_variance(per_seed_resampled: np.ndarray) -> float:
    """The seed x galaxy variance of one seed's difference, from k >= 2 seeds' bootstrap replicates.

    With ``d[s, r]`` the difference of seed s on resample r, the bootstrap variance of one seed's
    difference holds galaxy-level and seed x galaxy disagreement, ``V_e + V_g``; that of the mean over
    the k seeds holds ``V_e + V_g / k``. So ``V_g = k / (k - 1) * (mean_s var_r d[s] - var_r mean_s d)``
    (floored at 0): the part of the spread between seeds on a fixed test set that the test-set bootstrap
    already counts.

    Parameters
    ----------
    per_seed_resampled : array (k, n_resamples)
        Each seed's paired difference on the same resamples (NaN where undefined).

    Returns
    -------
    float
        ``V_g`` (same units squared; NaN with fewer than two seeds or resamples).
    """
    d = np.asarray(per_seed_resampled, dtype=float)
    d = d[:, np.all(np.isfinite(d), axis=0)]
    k = d.shape[0]
    if k < 2 or d.shape[1] < 2:
        return float("nan")
    one = float(np.mean(d.var(axis=1, ddof=1)))
    mean = float(d.mean(axis=0).var(ddof=1))
    return max(0.0, k / (k - 1) * (one - mean))


def seed_term_from_seeds(per_seed: np.ndarray, per_seed_resampled: np.ndarray) -> SeedTerm:
    """The seed term of a difference of k-seed means from the networks' own seeds (k >= 2, seed-paired).

    Networks trained with one train seed share its initial weights, batch order and augmentation, so
    their seed errors are correlated (either way): the variance that belongs in the comparison is that
    of the seed-paired difference ``per_seed`` (``metric(a, s) - metric(b, s)``), not the sum of each
    network's. Its sample variance over seeds also holds the seed x galaxy disagreement of a fixed test
    set (:func:`seed_galaxy_variance`), which the test-set bootstrap counts already: it is subtracted,
    floored at 0 (the usual method-of-moments estimate of a variance component), and the rest, divided
    by k, is the variance of the seed mean. Degrees of freedom k - 1.
    """
    d = np.asarray(per_seed, dtype=float)
    d = d[np.isfinite(d)]
    k = int(d.size)
    if k < 2:
        return SeedTerm(seeds=k)
    s2 = float(d.var(ddof=1))
    vg = seed_galaxy_variance(per_seed_resampled)
    vg = vg if np.isfinite(vg) else 0.0
    return SeedTerm(float(np.sqrt(max(0.0, s2 - vg) / k)), float(k - 1), float(np.sqrt(s2)), vg, k, "run")


def seed_term_from_benchmark(paired: np.ndarray, n_benchmark: int, test_variance: float, n: int,
                             includes_run: bool = False, seed_galaxy: float | None = None) -> SeedTerm:
    """The seed term of a one-seed difference from a seed-variance benchmark's seed-paired differences.

    ``paired`` holds ``metric(a, s) - metric(b, s)`` for the benchmark's seeds on its ``n_benchmark``
    galaxies. Their sample variance holds the seed variance of the difference and the seed x galaxy
    disagreement of the benchmark's fixed test set; the benchmark table holds no per-galaxy predictions,
    so the second is bounded by the test-set bootstrap variance of a one-seed difference,
    ``test_variance`` measured on this run's ``n`` galaxies and scaled to the benchmark's as 1 / n.
    ``sd = sqrt(max(0, var(paired) - test_variance * n / n_benchmark))`` on seeds - 1 degrees of freedom.
    This subtracts the galaxy-level part of the bootstrap variance as well, so it errs towards a smaller
    seed term. A benchmark that kept its seeds' per-galaxy predictions measures the seed x galaxy part
    itself (``seed_galaxy``, :func:`seed_galaxy_variance` on its own test set, fraction squared); it is then
    subtracted instead of the bound. The term is drawn from Student's t with seeds - 1 degrees of freedom
    when the run's own seed is not among the benchmark's. When it is (``includes_run``: the benchmark was
    measured on this run, its first seed being the run's), the run's difference is one of those that give the SD, so a
    large deviation of the run's seed inflates the SD with it: for a pure seed effect the studentised
    difference is then nearly normal (its 95 % point is 2.02 for five seeds, against 2.78 for t with 4
    degrees of freedom), while the seed x galaxy part it shares with the bootstrap is not. In the
    simulation of ``tests/test_seed_term.py`` (five benchmark seeds, seed effects correlated +0.8 to -0.7
    between the networks) t with seeds - 1 degrees of freedom covered 95.3-98.5 % for a 95 % interval, a
    normal 92.0-95.8 %, and t with 2 (seeds - 1) degrees of freedom 95.7-96.8 %; that is the draw used
    (97.8 % without any seed effect: a zero seed variance estimated from five seeds still adds a little).
    """
    d = np.asarray(paired, dtype=float)
    d = d[np.isfinite(d)]
    k = int(d.size)
    if k < 2 or not (np.isfinite(test_variance) and n > 0 and n_benchmark > 0):
        return SeedTerm(seeds=k)
    s2 = float(d.var(ddof=1))
    measured = seed_galaxy is not None and np.isfinite(seed_galaxy)
    vg = float(seed_galaxy) if measured else float(test_variance) * n / n_benchmark
    df = float(2 * (k - 1)) if includes_run else float(k - 1)
    return SeedTerm(float(np.sqrt(max(0.0, s2 - vg))), df, float(np.sqrt(s2)), vg, k, "benchmark")


def small_sample_factor(n_units: int, confidence: float = 0.95) -> float:
    """How much a cluster bootstrap's percentile interval is widened for its number of units G.

    The bootstrap's variance is the plug-in one, (G - 1) / G of the unbiased variance, and its quantiles
    are normal ones where Student's t with G - 1 degrees of freedom belongs; with few units the interval
    is therefore too narrow (under the null a 95 % cluster bootstrap rejected 8 % of the time at 12
    units, 6 % at 35). The factor ``sqrt(G / (G - 1)) * t_{G-1} / z`` restores the level
    (``tests/test_metrics.py`` checks it by simulation); it is 1.17 at 12 units, 1.05 at 35, 1.01 at 200.
    """
    g = int(n_units)
    if g < 2:
        return float("nan")
    q = (1 + confidence) / 2
    return float(np.sqrt(g / (g - 1)) * stats.t.ppf(q, g - 1) / stats.norm.ppf(q))


def seed_sequence_difference(y_true, preds_a, preds_b, metric: str, weights: np.ndarray, rng=None,
                             benchmark: tuple | None = None, confidence: float = 0.95,
                             groups=None) -> tuple[PairedDifference, np.ndarray, SeedTerm]:
    """Paired bootstrap of ``metric(a) - metric(b)`` over merger sequences, plus the training variance.

    The point estimate is the difference of the two networks' seed means. Its interval is the percentile
    interval of ``D_r + T_r`` over the resamples r (rows of ``weights``): ``D_r`` is the difference of the
    seed means on resample r of the galaxies (sequences), its spread about its mean widened by
    :func:`small_sample_factor` for the number of units; ``T_r`` is a draw of the seed term,
    ``sd * t(df)`` (:class:`SeedTerm`):

    - with k >= 2 seeds of each network (paired by their order), from the seed-paired differences of the
      networks' own seeds (:func:`seed_term_from_seeds`); when only one of them has several seeds, from
      that network's own spread;
    - with one seed each, from a seed-variance benchmark's seed-paired differences
      ``benchmark = (paired differences, galaxies of the benchmark)`` (:func:`seed_term_from_benchmark`);
    - otherwise none: the interval counts test-set sampling only.

    Parameters
    ----------
    y_true : array of {0, 1}, shape (n,)
    preds_a, preds_b : array of {0, 1}, shape (k_a, n) and (k_b, n) (or (n,) for one seed)
    metric : str
        One of :data:`BOOTSTRAP_METRICS`.
    weights : array (n_resamples, n)
        :func:`bootstrap_weights`.
    rng : numpy.random.Generator, int or None
        Draws the seed term.
    benchmark : (array, int, bool[, float]), optional
        For one-seed networks: the benchmark's seed-paired differences, its number of galaxies, whether
        the run's own seed is one of its seeds, and the seed x galaxy variance it measured, if it did
        (:func:`seed_term_from_benchmark`).
    confidence : float
        Two-sided level of the percentile interval.
    groups : array (n,), optional
        Resampling units: their number sets the small-sample factor (default: the galaxies).

    Returns
    -------
    difference : PairedDifference
        ``value_a``, ``value_b``: the seed means of the metric on the whole sample; ``difference``
        their difference (the point estimate); the interval and one-sided fractions over the resamples.
    resampled : numpy.ndarray
        ``D_r + T_r`` on every resample where both metrics are defined (its standard deviation is the
        standard error of the difference).
    seed_term : SeedTerm
    """
    y = _as_labels(y_true)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    (metric,) = _check_metrics((metric,))
    pa = _as_seed_predictions(preds_a, len(y), "preds_a")
    pb = _as_seed_predictions(preds_b, len(y), "preds_b")
    w = _resample_weights(len(y), 0, None, None, None, weights)
    rng = np.random.default_rng(rng)
    ra = np.stack([metrics_from_counts(*_weighted_counts(y, row, w))[metric] for row in pa])  # (k_a, R)
    rb = np.stack([metrics_from_counts(*_weighted_counts(y, row, w))[metric] for row in pb])
    seeds_a = np.array([float(metrics_from_counts(*_counts(y, row))[metric]) for row in pa])
    seeds_b = np.array([float(metrics_from_counts(*_counts(y, row))[metric]) for row in pb])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample where a seed's metric is undefined
        d = ra.mean(axis=0) - rb.mean(axis=0)
    defined = np.isfinite(d)
    units = n_groups(_as_groups(groups, len(y)), len(y)) if groups is not None else len(y)
    value_a, value_b = float(np.mean(seeds_a)), float(np.mean(seeds_b))
    if not defined.any():
        return PairedDifference(metric, value_a, value_b, value_a - value_b, np.nan, np.nan, np.nan,
                                np.nan, np.nan, len(y), units, 0, confidence), d[defined], SeedTerm()
    m = min(len(pa), len(pb))
    if m >= 2:
        term = seed_term_from_seeds(seeds_a[:m] - seeds_b[:m], (ra[:m] - rb[:m])[:, defined])
    elif benchmark is not None and len(pa) == len(pb) == 1:
        test_variance = float(d[defined].var(ddof=1)) if defined.sum() > 1 else float("nan")
        term = seed_term_from_benchmark(benchmark[0], int(benchmark[1]), test_variance, len(y),
                                        bool(benchmark[2]) if len(benchmark) > 2 else False,
                                        benchmark[3] if len(benchmark) > 3 else None)
    elif max(len(pa), len(pb)) >= 2:  # one network with several seeds, the other with one: its own spread
        terms = [seed_term_from_seeds(v, r[:, defined]) for v, r in ((seeds_a, ra), (seeds_b, rb)) if len(v) >= 2]
        term = SeedTerm(float(np.hypot.reduce([t.sd for t in terms])), min(t.df for t in terms),
                        float(np.hypot.reduce([t.paired_sd for t in terms])),
                        float(sum(t.seed_galaxy_variance for t in terms)), min(t.seeds for t in terms), "run")
    else:
        term = SeedTerm(seeds=m)
    d = d[defined]
    factor = small_sample_factor(units, confidence)
    if np.isfinite(factor):
        d = d.mean() + factor * (d - d.mean())
    if term.sd > 0:
        draws = rng.standard_t(term.df, size=d.shape) if np.isfinite(term.df) else rng.standard_normal(d.shape)
        d = d + term.sd * draws
    alpha = (1 - confidence) / 2
    lower, upper = np.quantile(d, [alpha, 1 - alpha])
    return PairedDifference(metric, value_a, value_b, value_a - value_b, float(d.mean()), float(lower),
                            float(upper), float(np.mean(d <= 0)), float(np.mean(d >= 0)), len(y), units,
                            int(d.size), confidence), d, term


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's exact test of equal accuracy of two classifiers on the same galaxies.

    Attributes
    ----------
    only_a : int
        Galaxies classifier a gets right and b wrong.
    only_b : int
        Galaxies b gets right and a wrong.
    p_value : float
        Two-sided exact binomial p-value of ``only_a`` out of ``only_a + only_b`` at 1/2
        (1 when the classifiers never disagree).
    n : int
        Galaxies in the sample.
    """

    only_a: int
    only_b: int
    p_value: float
    n: int


def mcnemar_exact(y_true, pred_a, pred_b) -> McNemarResult:
    """McNemar's exact test (McNemar 1947; exact binomial form, e.g. Dietterich 1998, Neural
    Comput. 10, 1895) of whether two classifiers have the same accuracy on the same galaxies.

    Only the galaxies where exactly one of the two is right carry information; under equal
    accuracy each such galaxy is equally likely to favour either, so ``only_a`` is
    Binomial(only_a + only_b, 1/2). The test assumes independent galaxies: objects of one merger
    sequence are not, so treat it as a cross-check of :func:`paired_bootstrap_difference` with
    sequence groups, not as the verdict.
    """
    y = _as_labels(y_true)
    a = _as_labels(pred_a, "pred_a")
    b = _as_labels(pred_b, "pred_b")
    if not (a.shape == b.shape == y.shape):
        raise ValueError(f"labels and predictions differ in shape: {y.shape}, {a.shape}, {b.shape}")
    right_a, right_b = a == y, b == y
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    p = 1.0 if only_a + only_b == 0 else float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return McNemarResult(only_a, only_b, p, int(y.size))


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


# --------------------------------------------------------------------------- Table 1's balanced metrics
def balanced_accuracy(y_true, y_pred) -> float:
    """(recall + specificity) / 2: the accuracy a test set with as many mergers as non-mergers would give
    (NaN when a class is absent). Comparable across test sets of different class balance, unlike accuracy,
    which at 25 % mergers is already 75 % for a classifier that calls nothing a merger."""
    y = _as_labels(y_true)
    p = _as_labels(y_pred, "y_pred")
    if not (y.any() and (~y.astype(bool)).any()):
        return float("nan")
    return float((np.mean(p[y == 1] == 1) + np.mean(p[y == 0] == 0)) / 2)


def balanced_subsample_accuracy(y_true, y_pred, weights: np.ndarray, rng=None) -> np.ndarray:
    """Accuracy on a class-balanced subsample of every bootstrap resample (Pearson et al. 2019's test set).

    For resample r (row r of ``weights``, :func:`bootstrap_weights`), all its objects of the smaller
    class are kept and as many of the larger class are drawn at random without replacement (from the
    resample, repeated objects counted as copies), and the accuracy of that balanced subsample is taken.
    The draw is inside the bootstrap, so the spread holds both the test-set sampling and the luck of one
    balanced draw. Its expectation on a fixed sample is :func:`balanced_accuracy`.

    Returns
    -------
    numpy.ndarray, shape (n_resamples,)
        NaN where a resample lacks a class.
    """
    y = _as_labels(y_true)
    p = _as_labels(y_pred, "y_pred")
    w = _resample_weights(len(y), 0, None, None, None, weights)
    rng = np.random.default_rng(rng)
    correct = (p == y)
    out = np.full(len(w), np.nan)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for r, row in enumerate(w):
        a = np.repeat(correct[pos], row[pos])
        b = np.repeat(correct[neg], row[neg])
        k = min(a.size, b.size)
        if k == 0:
            continue
        a = a if a.size == k else a[rng.choice(a.size, k, replace=False)]
        b = b if b.size == k else b[rng.choice(b.size, k, replace=False)]
        out[r] = (a.sum() + b.sum()) / (2 * k)
    return out


def balanced_bootstrap(y_true, y_pred, weights: np.ndarray, rng=None) -> np.ndarray:
    """Balanced accuracy ((recall + specificity) / 2) on every resample of ``weights`` (NaN without a class)."""
    y = _as_labels(y_true)
    p = _as_labels(y_pred, "y_pred")
    w = _resample_weights(len(y), 0, None, None, None, weights)
    return metrics_from_counts(*_weighted_counts(y, p, w), balanced=True)["accuracy"]
