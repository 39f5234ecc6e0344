"""The analysis of a trained run (paper Sects. 4-5.1): scores joined with the products' images
table, decision thresholds, Tables 1 and 2, metrics per bin of redshift, merger time and
Sérsic ellipticity with bootstrap and balanced resampling, and the figures drawn from them.

Inputs of a run folder (see :mod:`galmerge.runs`, :mod:`galmerge.sersic.products`):

- ``train/<kind>/scores_validation.csv`` and ``scores_test.csv`` (``ID, label, score``) for
  whichever of raw / model / residual / stack were trained;
- ``products/images.parquet`` (one row per image: ``ID, split, label, stage, redshift,
  snapnum, merger_time, sersic_ellip, status, ...``).

Outputs: ``tables/thresholds.csv`` (``kind, threshold, ...``, written by 03_evaluate and read by
:func:`load_thresholds`, the one threshold rule) and the other tables under ``tables/``.

Tables 1 and 2 are in per cent, like the paper's; every other table holds fractions (0-1).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from galmerge.analysis import metrics as gm
from galmerge.data.cosmology import SNAPNUM_FOLDERS, snapnum_to_redshift
from galmerge.runs import THRESHOLDS_TABLE, Run, as_run
from galmerge.sersic.products import IMAGES_FILE, Products
from galmerge.vocab import (  # noqa: F401 (re-exported: the notebooks read them as ev.*)
    ELLIPTICITY_EDGES,
    MERGER_STAGES,
    MERGER_TIME_EDGES,
    PAPER_CONFUSION,
    PAPER_TABLE1,
    PAPER_TABLE2,
    PAPER_THRESHOLDS,
    REDSHIFT_EDGES,
    STAGES,
    network_label,
)

#: Columns of the products' images table carried into :func:`load_run_scores`.
IMAGE_COLUMNS = ("ID", "split", "label", "stage", "redshift", "snapnum", "merger_time",
                 "sequence_ID", "split_group", "sersic_ellip", "status", "flag_sersic", "primary_used_in_model")
REQUIRED_IMAGE_COLUMNS = ("ID", "split", "label", "stage", "redshift", "merger_time", "sersic_ellip")


# --------------------------------------------------------------------------- loading
def load_images(run: Run | str | Path) -> pd.DataFrame:
    """The products' images table of a run (a :class:`galmerge.runs.Run` or its folder), restricted to
    the columns the analysis uses."""
    with Products(as_run(run).products) as products:
        images = products.images
        where = products.path / IMAGES_FILE
    missing = [c for c in REQUIRED_IMAGE_COLUMNS if c not in images.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}")
    images = images[[c for c in IMAGE_COLUMNS if c in images.columns]].copy()
    images["ID"] = images["ID"].astype(np.int64)
    return images


def load_run_scores(run: Run | str | Path, split: str, thresholds: dict[str, float] | None = None,
                    kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """Every trained network's scores on one split, joined with the products' images table.

    Parameters
    ----------
    run : galmerge.runs.Run, str or Path
        The run (or its folder).
    split : {"validation", "test"}
    thresholds : dict kind -> float, optional
        Decision thresholds; default :func:`load_thresholds` (the run's table, written by
        03_evaluate, with the one fallback rule).
    kinds : sequence of str, optional
        Networks to load; default all trained ones.

    Returns
    -------
    pandas.DataFrame
        One row per galaxy of the split scored by every network: ``ID, label, stage, redshift,
        snapnum, merger_time, sequence_ID, split_group, sersic_ellip, status, flag_sersic,
        primary_used_in_model`` (those the products have; ``sequence_ID`` and ``split_group`` give
        the bootstraps' units, :func:`galmerge.analysis.metrics.resampling_units`),
        then ``score_<kind>`` and ``pred_<kind>`` (0/1, ``score >= threshold``) per network.
        ``frame.attrs["kinds"]`` lists the networks, ``frame.attrs["thresholds"]`` their
        thresholds, ``frame.attrs["balanced_thresholds"]`` each seed's threshold for a class-balanced
        test set (:func:`balanced_seed_thresholds`) and ``frame.attrs["dropped"]`` how many galaxies were
        dropped because a network lacked their score (a warning says so when it is not zero).

    Raises
    ------
    ValueError
        When a scored ID is absent from the products, or a label disagrees with the products'.
    """
    run = as_run(run)
    kinds = list(kinds) if kinds is not None else run.require_trained_kinds()
    if thresholds is None:
        thresholds = load_thresholds(run, kinds)
    lacking = [k for k in kinds if k not in thresholds]
    if lacking:
        raise KeyError(f"no decision threshold for {lacking}; run 03_evaluate to choose them")
    images = load_images(run)
    images = images[images["split"] == split].drop(columns="split")
    frame = images
    n_split = len(images)
    for kind in kinds:
        scores = run.scores(kind, split)
        unknown = np.setdiff1d(scores["ID"], images["ID"])
        if unknown.size:
            raise ValueError(f"{kind} {split} scores hold {unknown.size} IDs that are not {split} images of "
                             f"the products (first: {unknown[:5].tolist()}); the run folder mixes datasets")
        scores = scores.rename(columns={"label": f"label_{kind}", "score": f"score_{kind}"})
        frame = frame.merge(scores, on="ID", how="inner", validate="one_to_one")
        disagree = frame[f"label_{kind}"].to_numpy() != frame["label"].to_numpy()
        if disagree.any():
            raise ValueError(f"{kind} {split} scores: {int(disagree.sum())} labels disagree with the products "
                             f"(first ID {int(frame.loc[disagree, 'ID'].iloc[0])})")
        frame = frame.drop(columns=f"label_{kind}")
        frame[f"pred_{kind}"] = gm.predict(frame[f"score_{kind}"], thresholds[kind])
    seeds, seed_thr = {}, {}
    for kind in kinds:
        seeds[kind], seed_thr[kind] = _add_seed_columns(frame, run, kind, split, thresholds[kind])
    dropped = n_split - len(frame)
    if dropped:
        warnings.warn(f"{dropped} of {n_split} {split} images lack a score from at least one of {kinds}; "
                      "they are left out of the comparison", stacklevel=2)
    frame = frame.reset_index(drop=True)
    frame["label"] = frame["label"].astype(np.int8)
    frame.attrs.update(kinds=kinds, thresholds={k: float(thresholds[k]) for k in kinds},
                       dropped=int(dropped), split=split, seeds=seeds, seed_thresholds=seed_thr,
                       balanced_thresholds={k: balanced_seed_thresholds(run, k) for k in kinds})
    return frame


# --------------------------------------------------------------------------- train seeds
def seed_column(kind: str, seed: int, what: str = "pred") -> str:
    """Column of one train seed's ``pred`` (0/1) or ``score`` in a :func:`load_run_scores` frame:
    ``pred_<kind>@<seed>``. Present only for networks trained with two seeds or more; ``pred_<kind>`` is
    always the first seed's."""
    if what not in ("pred", "score"):
        raise ValueError(f"what must be 'pred' or 'score', got {what!r}")
    return f"{what}_{kind}@{int(seed)}"


def seed_thresholds(run: Run | str | Path, kind: str, first: float) -> dict[int, float]:
    """``{seed: threshold}`` of one network's train seeds: ``first`` (the run's recorded threshold,
    :func:`threshold_table`) for the first seed, and for every further seed the same rule on that seed's
    own validation scores (:func:`galmerge.analysis.metrics.choose_threshold`)."""
    run = as_run(run)
    seeds = run.train_seeds(kind)
    out = {seeds[0]: float(first)}
    for seed, val in run.seed_scores(kind, "validation").items():
        if seed != seeds[0]:
            where = f"{run.seed_dirs(kind, seeds)[seed]} (validation)"
            out[seed] = float(gm.choose_threshold(val["label"], val["score"], where=where).threshold)
    return out


def balanced_seed_thresholds(run: Run | str | Path, kind: str) -> dict[int, float]:
    """``{seed: threshold}`` of one network's train seeds for a class-balanced test set: the precision =
    recall rule on each seed's validation scores with the classes weighted to equal totals, i.e. recall =
    specificity (:func:`galmerge.analysis.metrics.choose_threshold` with ``balanced=True``).

    The run's own threshold is chosen for the validation split's share of mergers (25 % in the sdss
    profile), where it trades recall for specificity; a balanced test set (Pearson et al. 2019's)
    calls for this one. Empty when a seed lacks validation scores or a class in them (the run's own
    rule has then warned already)."""
    run = as_run(run)
    try:
        validation = run.seed_scores(kind, "validation")
    except FileNotFoundError:  # galmerge.runs.RunError included
        return {}
    if any(val["label"].nunique() < 2 for val in validation.values()):
        return {}
    return {seed: float(gm.choose_threshold(val["label"], val["score"], balanced=True,
                                            where=f"{kind} seed {seed} validation").threshold)
            for seed, val in validation.items()}


def _add_seed_columns(frame: pd.DataFrame, run: Run, kind: str, split: str,
                      first: float) -> tuple[list[int], dict[int, float]]:
    """Add every seed's ``score`` and ``pred`` columns (:func:`seed_column`) of a network trained with two
    seeds or more to ``frame`` (in place); returns its seeds and their thresholds."""
    seeds = run.train_seeds(kind)
    if len(seeds) < 2:
        return seeds, {seeds[0]: float(first)}
    thresholds = seed_thresholds(run, kind, first)
    for seed, scores in run.seed_scores(kind, split).items():
        score = frame["ID"].map(scores.set_index("ID")["score"])
        if score.isna().any():
            raise ValueError(f"{kind} seed {seed}: {int(score.isna().sum())} {split} galaxies lack a score "
                             f"({run.seed_dirs(kind, seeds)[seed]})")
        frame[seed_column(kind, seed, "score")] = score.to_numpy(float)
        frame[seed_column(kind, seed)] = gm.predict(score.to_numpy(float), thresholds[seed])
    return seeds, thresholds


def frame_seeds(frame: pd.DataFrame, kind: str) -> list[int]:
    """The train seeds of one network in a :func:`load_run_scores` frame (one entry for a one-seed run)."""
    seeds = frame.attrs.get("seeds", {}).get(kind)
    return list(seeds) if seeds else [0]


def seed_predictions(frame: pd.DataFrame, kind: str, what: str = "pred") -> np.ndarray:
    """Every train seed's ``pred`` (or ``score``) of one network, array (k seeds, n galaxies); a one-seed
    network gives its ``pred_<kind>`` as one row."""
    seeds = frame_seeds(frame, kind)
    if len(seeds) < 2:
        return frame[f"{what}_{kind}"].to_numpy()[None, :]
    return np.stack([frame[seed_column(kind, s, what)].to_numpy() for s in seeds])


def subset(frame: pd.DataFrame, mask) -> pd.DataFrame:
    """Rows of a :func:`load_run_scores` frame where ``mask`` holds, keeping its ``attrs``
    (networks, thresholds) whatever pandas does with attrs on indexing."""
    out = frame.loc[np.asarray(mask, dtype=bool)].reset_index(drop=True)
    out.attrs.update(frame.attrs)
    return out


# --------------------------------------------------------------------------- thresholds
def choose_thresholds(run: Run | str | Path, kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """Each network's threshold chosen on its validation scores (what 03_evaluate records), by the
    one rule :func:`galmerge.analysis.metrics.choose_threshold`.

    Returns
    -------
    pandas.DataFrame
        ``kind, threshold, method, val_precision, val_recall, exact, n_validation, n_val_mergers``.
    """
    run = as_run(run)
    kinds = list(kinds) if kinds is not None else run.require_trained_kinds()
    rows = []
    for kind in kinds:
        val = run.scores(kind, "validation")
        choice = gm.choose_threshold(val["label"], val["score"], where=str(run.scores_path(kind, "validation")))
        rows.append({"kind": kind, "threshold": choice.threshold, "method": choice.method,
                     "val_precision": choice.precision, "val_recall": choice.recall, "exact": choice.exact,
                     "n_validation": len(val), "n_val_mergers": int(val["label"].sum())})
    columns = ["kind", "threshold", "method", "val_precision", "val_recall", "exact", "n_validation",
               "n_val_mergers"]
    return pd.DataFrame(rows, columns=columns)


def write_thresholds(run: Run | str | Path, table: pd.DataFrame) -> Path:
    """Record the thresholds (:func:`choose_thresholds`) in the run's ``tables/thresholds.csv``."""
    missing = {"kind", "threshold"} - set(table.columns)
    if missing:
        raise ValueError(f"thresholds table lacks column(s) {sorted(missing)}")
    return as_run(run).write_table(THRESHOLDS_TABLE, table, index=False)


def threshold_table(run: Run | str | Path, kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """Each network's decision threshold and where it came from: the project's one rule.

    The threshold 03_evaluate recorded (:attr:`galmerge.runs.Run.recorded_thresholds`); for a network
    it did not record, the same choice made now on the network's validation scores
    (:func:`galmerge.analysis.metrics.choose_threshold`, a warning says so), whose one fallback,
    :data:`galmerge.analysis.metrics.FALLBACK_THRESHOLD` with a warning, also covers a network
    without validation scores.

    Parameters
    ----------
    run : galmerge.runs.Run, str or Path
    kinds : sequence of str, optional
        Networks; default every trained one.

    Returns
    -------
    pandas.DataFrame
        ``kind, threshold, source``; one row per kind, in the order given.
    """
    run = as_run(run)
    kinds = list(kinds) if kinds is not None else run.require_trained_kinds()
    recorded = run.recorded_thresholds
    rows = []
    for kind in kinds:
        if kind in recorded:
            rows.append((kind, recorded[kind], str(run.table_path(THRESHOLDS_TABLE))))
            continue
        validation = run.scores_path(kind, "validation")
        scores = run.scores(kind, "validation") if validation.exists() else pd.DataFrame({"label": [], "score": []})
        warnings.warn(f"no threshold for {kind!r} in {run.table_path(THRESHOLDS_TABLE)}: choosing it on "
                      f"{validation}", stacklevel=2)
        choice = gm.choose_threshold(scores["label"].to_numpy(int), scores["score"].to_numpy(float),
                                     where=str(validation))
        rows.append((kind, float(choice.threshold), f"{choice.method} on {validation}"))
    return pd.DataFrame(rows, columns=["kind", "threshold", "source"])


def load_thresholds(run: Run | str | Path, kinds: Sequence[str] | None = None) -> dict[str, float]:
    """``{kind: threshold}`` by the rule of :func:`threshold_table`."""
    table = threshold_table(run, kinds)
    return dict(zip(table["kind"], table["threshold"].astype(float)))


# --------------------------------------------------------------------------- Table 1, Figs 6, 12, 13
#: Table 1's columns with a 95 % sequence-bootstrap interval (``<metric>_low``, ``<metric>_high``).
TABLE1_INTERVALS = ("accuracy", "balanced_accuracy", "balanced_subsample_accuracy")
#: The row of the non-CNN baseline in Table 1 (index ``kind``).
BASELINE_KIND = "baseline"


#: Suffix of Table 1's columns at the threshold for a class-balanced test set (:func:`balanced_seed_thresholds`).
AT_BALANCE = "_at_balance"


def _interval_columns(y: np.ndarray, preds: np.ndarray, weights: np.ndarray, rng,
                      names: Sequence[str] = TABLE1_INTERVALS, suffix: str = "") -> dict[str, float]:
    """95 % percentile intervals (per cent) of the seed mean of Table 1's interval metrics over the
    resamples ``weights`` (the same for every network): test-set sampling only. Columns
    ``<name><suffix>_low`` and ``_high``."""
    out = {}
    curves = {"accuracy": lambda p: gm.bootstrap_distribution(y, p, ("accuracy",), weights=weights)["accuracy"],
              "balanced_accuracy": lambda p: gm.balanced_bootstrap(y, p, weights),
              "balanced_subsample_accuracy": lambda p: gm.balanced_subsample_accuracy(y, p, weights, rng)}
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            values = np.nanmean(np.stack([curves[name](p) for p in preds]), axis=0)
        values = values[np.isfinite(values)]
        low, high = np.quantile(values, [0.025, 0.975]) if values.size else (np.nan, np.nan)
        out[f"{name}{suffix}_low"], out[f"{name}{suffix}_high"] = 100 * float(low), 100 * float(high)
    return out


def _at_balance_columns(y: np.ndarray, scores: np.ndarray, thresholds: Sequence[float], weights: np.ndarray,
                        rng) -> dict[str, float]:
    """Table 1's columns at each seed's threshold for a class-balanced test set (``thresholds``, one per
    row of ``scores``): the threshold (seed mean), recall, specificity and balanced accuracy (per cent,
    seed mean and seed SD), with the intervals of the balanced and balanced-subsample accuracies."""
    preds = np.stack([gm.predict(q, t) for q, t in zip(scores, thresholds)])
    per_seed = pd.DataFrame({"recall": [np.mean(p[y == 1] == 1) for p in preds],
                             "specificity": [np.mean(p[y == 0] == 0) for p in preds],
                             "balanced_accuracy": [gm.balanced_accuracy(y, p) for p in preds]})
    row = {f"threshold{AT_BALANCE}": float(np.mean(thresholds))}
    for k in per_seed.columns:
        row[f"{k}{AT_BALANCE}"] = 100 * per_seed[k].mean()
        row[f"{k}{AT_BALANCE}_seed_sd"] = 100 * per_seed[k].std(ddof=1) if len(preds) > 1 else np.nan
    row.update(_interval_columns(y, preds, weights, rng, ("balanced_accuracy", "balanced_subsample_accuracy"),
                                 AT_BALANCE))
    return row


def _table1_row(y: np.ndarray, preds: np.ndarray, scores: np.ndarray, weights: np.ndarray, rng) -> dict:
    per_seed = pd.DataFrame([gm.classification_metrics(y, p, q) for p, q in zip(preds, scores)])
    per_seed["specificity"] = [float(np.mean(p[y == 0] == 0)) if (y == 0).any() else np.nan for p in preds]
    per_seed["balanced_accuracy"] = [gm.balanced_accuracy(y, p) for p in preds]
    row = {"n": int(per_seed["n"].iloc[0]), "n_mergers": int(y.sum()), "seeds": len(preds)}
    for k in (*gm.METRICS, "auc", "specificity", "balanced_accuracy"):
        row[k] = 100 * per_seed[k].mean()
        row[f"{k}_seed_sd"] = 100 * per_seed[k].std(ddof=1) if len(preds) > 1 else np.nan
    # the expectation of the accuracy on a class-balanced subsample is the balanced accuracy; its
    # interval also holds the luck of one balanced draw
    row["balanced_subsample_accuracy"] = row["balanced_accuracy"]
    row.update(_interval_columns(y, preds, weights, rng))
    return row


def overall_table(frame: pd.DataFrame, baseline: pd.DataFrame | None = None, n_resamples: int = 1000,
                  seed: int = 0) -> pd.DataFrame:
    """Table 1: accuracy, precision, recall, F1 and ROC AUC per network (per cent), beside the paper's,
    with the class-balance-free metrics beside accuracy.

    Parameters
    ----------
    frame : DataFrame from :func:`load_run_scores` (usually the test split).
    baseline : DataFrame, optional
        The non-CNN baseline's scores (``tables/baseline_scores.csv`` of 00_data: ``ID, score, pred``
        and ``threshold``, the call at its validation precision = recall threshold, the networks' rule,
        :mod:`galmerge.analysis.baseline`): a row ``baseline`` when it scored every galaxy of ``frame``.
    n_resamples, seed : int
        Sequence-bootstrap resamples of the intervals, and their seed.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``kind``: ``network, threshold, n, n_mergers, seeds, accuracy, precision, recall,
        f1, auc, specificity, balanced_accuracy`` ((recall + specificity) / 2) and
        ``balanced_subsample_accuracy`` (accuracy on a class-balanced subsample: all test mergers and as
        many non-mergers drawn at random, Pearson et al. 2019's test set; its expectation is the balanced
        accuracy), each of :data:`TABLE1_INTERVALS` with ``_low`` and ``_high`` (95 % interval over
        resamples of merger sequences, the balanced draw inside each resample; test-set sampling only),
        ``<metric>_seed_sd`` (per cent) and ``<metric> (paper)`` where the paper has a value; all per cent.
        A network trained with k >= 2 train seeds gets the mean over its seeds of each metric (each seed at
        its own validation threshold; ``threshold`` is their mean) and the sample standard deviation over
        seeds in ``<metric>_seed_sd``; with one seed that column is NaN.
        Where the frame has them (``attrs["balanced_thresholds"]``; the baseline's
        ``threshold_at_balance`` column), the same at the threshold for a class-balanced test set
        (recall = specificity on the validation split, :func:`balanced_seed_thresholds`), the operating
        point that the literature's balanced test sets imply: ``threshold_at_balance``,
        ``recall_at_balance``, ``specificity_at_balance``, ``balanced_accuracy_at_balance`` (with
        ``_seed_sd``, ``_low``, ``_high``) and ``balanced_subsample_accuracy_at_balance_low`` / ``_high``.
    """
    y = frame["label"].to_numpy()
    rng = np.random.default_rng(seed)
    # a frame without sequences (another run's scores joined to this run's IDs only) resamples galaxies
    has_units = "sequence_ID" in frame.columns or "split_group" in frame.columns
    units = gm.resampling_units(frame) if has_units else np.arange(len(frame))
    weights = gm.bootstrap_weights(units, n_resamples, rng, n=len(frame))
    balance_rng = np.random.default_rng([seed, 1])  # its own draws: the columns above do not move with it
    both_classes = bool((y == 0).any() and (y == 1).any())  # recall and specificity both defined
    rows = []
    for kind in frame.attrs["kinds"]:
        preds, scores = seed_predictions(frame, kind), seed_predictions(frame, kind, "score")
        thresholds = frame.attrs.get("seed_thresholds", {}).get(kind) or {0: frame.attrs["thresholds"][kind]}
        row = {"kind": kind, "network": network_label(kind), "threshold": float(np.mean(list(thresholds.values()))),
               **_table1_row(y, preds, scores, weights, rng)}
        at_balance = frame.attrs.get("balanced_thresholds", {}).get(kind)
        if at_balance and len(at_balance) == len(scores) and both_classes:
            row.update(_at_balance_columns(y, scores, list(at_balance.values()), weights, balance_rng))
        paper = PAPER_TABLE1.get(kind, {})
        row.update({f"{k} (paper)": paper.get(k, np.nan) for k in gm.METRICS})
        row["threshold (paper)"] = PAPER_THRESHOLDS.get(kind, np.nan)
        rows.append(row)
    if baseline is not None and len(baseline):
        base = baseline.drop_duplicates("ID").set_index("ID")
        ids = frame["ID"].to_numpy()
        if np.isin(ids, base.index).all():
            score = base.loc[ids, "score"].to_numpy(float)
            pred = base.loc[ids, "pred"].to_numpy(int)
            threshold = float(base["threshold"].iloc[0]) if "threshold" in base.columns else 0.5
            row = {"kind": BASELINE_KIND, "network": "non-CNN baseline", "threshold": threshold,
                   **_table1_row(y, pred[None, :], score[None, :], weights, rng)}
            if f"threshold{AT_BALANCE}" in base.columns and both_classes:
                row.update(_at_balance_columns(y, score[None, :], [float(base[f"threshold{AT_BALANCE}"].iloc[0])],
                                               weights, balance_rng))
            rows.append(row)
    return pd.DataFrame(rows).set_index("kind")


def seed_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Table 1 per train seed: ``kind, network, seed, threshold, n, accuracy, precision, recall,
    f1, auc`` (per cent), each seed at its own validation threshold; one row per seed of every network
    (a one-seed network's row has its first seed)."""
    rows = []
    for kind in frame.attrs["kinds"]:
        thresholds = frame.attrs.get("seed_thresholds", {}).get(kind) or {0: frame.attrs["thresholds"][kind]}
        for seed, p, q in zip(frame_seeds(frame, kind), seed_predictions(frame, kind),
                              seed_predictions(frame, kind, "score")):
            m = gm.classification_metrics(frame["label"], p, q)
            rows.append({"kind": kind, "network": network_label(kind), "seed": seed,
                         "threshold": thresholds.get(seed, np.nan), "n": m["n"],
                         **{k: 100 * m[k] for k in (*gm.METRICS, "auc")}})
    return pd.DataFrame(rows)


def threshold_curves(frame: pd.DataFrame, thresholds=None) -> pd.DataFrame:
    """Fig. 6 data: the four metrics against the threshold, per network (``kind`` column)."""
    parts = [gm.metrics_vs_threshold(frame["label"], frame[f"score_{k}"], thresholds).assign(kind=k)
             for k in frame.attrs["kinds"]]
    return pd.concat(parts, ignore_index=True)


def roc_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Fig. 12 data: ``kind, fpr, tpr, threshold`` from :func:`sklearn.metrics.roc_curve`
    (empty for a network when the split has one class only)."""
    from sklearn.metrics import roc_curve

    parts = []
    for kind in frame.attrs["kinds"]:
        if frame["label"].nunique() < 2:
            continue
        fpr, tpr, thr = roc_curve(frame["label"], frame[f"score_{kind}"])
        parts.append(pd.DataFrame({"kind": kind, "fpr": fpr, "tpr": tpr, "threshold": thr}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["kind", "fpr", "tpr", "threshold"])


def confusion_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Fig. 13 data: row-normalised confusion matrices (fractions) in long form:
    ``kind, true, predicted, fraction, count`` with classes 'non-merger' and 'merger'."""
    names = ("non-merger", "merger")
    rows = []
    for kind in frame.attrs["kinds"]:
        counts = gm.confusion_matrix(frame["label"], frame[f"pred_{kind}"], normalize=None)
        fractions = gm.confusion_matrix(frame["label"], frame[f"pred_{kind}"], normalize="true")
        for i in range(2):
            for j in range(2):
                rows.append({"kind": kind, "true": names[i], "predicted": names[j],
                             "fraction": fractions[i, j], "count": int(counts[i, j])})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- bins
def interval_labels(edges: np.ndarray, digits: int = 2) -> list[str]:
    """Readable right-closed bin names, e.g. '(0.65, 0.70]'."""
    return [f"({lo:.{digits}f}, {hi:.{digits}f}]" for lo, hi in zip(edges[:-1], edges[1:])]


def cut(values, edges: np.ndarray, digits: int = 2) -> pd.Categorical:
    """Right-closed bins of ``values`` (the first includes its lower edge); values outside the
    edges or NaN get no bin (NaN). Every bin is a category, empty or not."""
    edges = np.asarray(edges, dtype=float)
    return pd.cut(pd.Series(values, dtype=float), bins=edges, labels=interval_labels(edges, digits),
                  include_lowest=True, right=True).array


def redshift_folder_bins(snapnum) -> pd.Categorical:
    """The challenge's four snapnum folders as redshift bins, ordered by increasing redshift,
    named by their redshift range, e.g. 'z 0.10-0.31 (snapnum_78_91)'."""
    names, by_snap = [], {}
    for folder, (lo, hi, _) in sorted(SNAPNUM_FOLDERS.items(), key=lambda kv: -kv[1][0]):
        name = f"z {snapnum_to_redshift(hi):.2f}-{snapnum_to_redshift(lo):.2f} ({folder})"
        names.append(name)
        by_snap.update({s: name for s in range(lo, hi + 1)})
    values = [by_snap.get(int(s)) if pd.notna(s) else None for s in np.asarray(snapnum, dtype=float)]
    return pd.Categorical(values, categories=names, ordered=True)


def bin_positions(categories: pd.Index) -> np.ndarray:
    """Mid-points of bins named '(lo, hi]' or 'z lo-hi (...)', for the x axis."""
    mids = []
    for name in categories:
        text = str(name)
        if text.startswith("("):
            lo, hi = (float(v) for v in text.strip("(]").split(","))
        else:
            lo, hi = (float(v) for v in text.split()[1].split("-"))
        mids.append((lo + hi) / 2)
    return np.array(mids)


def outside_bins(groups: pd.Categorical, frame: pd.DataFrame, reason: str) -> dict[str, int]:
    """Count galaxies that got no bin, by class: ``{"reason", "mergers", "non_mergers"}``."""
    none = np.asarray(pd.isna(groups))
    labels = frame["label"].to_numpy()
    return {"reason": reason, "mergers": int((none & (labels == 1)).sum()),
            "non_mergers": int((none & (labels == 0)).sum())}


# --------------------------------------------------------------------------- binned metrics
def _bins_of(frame: pd.DataFrame, groups) -> pd.Categorical:
    """``groups`` (one bin per row of ``frame``) as a Categorical; a length mismatch is an error."""
    groups = pd.Categorical(groups)
    if len(groups) != len(frame):
        raise ValueError(f"groups has {len(groups)} entries, the frame {len(frame)} rows")
    return groups


def _members_per_bin(groups: pd.Categorical):
    """``(bin name, row indices)`` of every bin, in the categories' order (empty bins included)."""
    codes = np.asarray(groups.codes)
    for code, name in enumerate(groups.categories):
        yield name, np.flatnonzero(codes == code)


def binned_bootstrap(frame: pd.DataFrame, groups, metrics: Sequence[str] = gm.METRICS,
                     n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
                     resample: str = "sequence") -> pd.DataFrame:
    """Each metric per bin and per network with bootstrap uncertainty (Figs. 7, 8, 10; Table 2).

    The bootstrap resamples merger sequences within each bin (``resample="sequence"``; see
    :func:`galmerge.analysis.metrics.resampling_units`), not galaxies as the paper does: objects of one sequence are
    classified alike, so a galaxy bootstrap gives intervals that are too narrow. Within a bin
    every network sees the same resamples, so their differences are not blurred by resampling
    noise. Galaxies whose group is NaN are left out (count them with :func:`outside_bins`); an
    empty bin gives NaN.

    Parameters
    ----------
    frame : DataFrame from :func:`load_run_scores`
    groups : categorical-like of the same length, the bin of each galaxy
    metrics : metrics of :func:`galmerge.analysis.metrics.bootstrap_metrics`
    n_resamples : int
        Bootstrap resamples per bin (paper: 1000).
    seed : int
        Seed of the resampling.
    confidence : float
        Width of the percentile interval (paper: 0.95).
    resample : {"sequence", "galaxy"}
        What is resampled.

    Returns
    -------
    pandas.DataFrame
        Long form: ``kind, network, bin, n, n_sequences, n_mergers, metric, value, mean, lower,
        upper, error, n_defined`` with ``bin`` categorical in the groups' order; ``n_sequences``
        counts the units resampled in the bin.
    """
    groups = _bins_of(frame, groups)
    rng = np.random.default_rng(seed)
    labels = frame["label"].to_numpy()
    units = gm.resampling_units(frame, resample)
    rows = []
    for name, members in _members_per_bin(groups):
        weights = gm.bootstrap_weights(units[members], n_resamples, rng)
        for kind in frame.attrs["kinds"]:
            result = gm.bootstrap_metrics(labels[members], frame[f"pred_{kind}"].to_numpy()[members],
                                          metrics, n_resamples, confidence=confidence, groups=units[members],
                                          weights=weights)
            for metric, s in result.items():
                rows.append({"kind": kind, "network": network_label(kind), "bin": name, "n": s.n,
                             "n_sequences": s.n_groups, "n_mergers": int(labels[members].sum()), "metric": metric,
                             "value": s.value, "mean": s.mean, "lower": s.lower, "upper": s.upper,
                             "error": s.error, "n_defined": s.n_defined})
    out = pd.DataFrame(rows)
    out["bin"] = pd.Categorical(out["bin"], categories=groups.categories, ordered=True)
    return out


def binned_balanced(frame: pd.DataFrame, groups, metrics: Sequence[str] = ("accuracy", "precision"),
                    per_class: int = 500, n_draws: int = 20, seed: int = 0, n_resamples: int = 1000,
                    confidence: float = 0.95, resample: str = "sequence") -> pd.DataFrame:
    """Metrics per bin on balanced draws (the paper's Fig. 11), with a sequence-bootstrap interval.

    As the paper: per bin ``min(per_class, mergers, non-mergers)`` galaxies of each class, drawn
    without replacement, ``n_draws`` draws; ``mean`` and ``std`` over the draws. The draws' spread
    only says which galaxies happened to be drawn, not how well the bin's galaxies pin the metric
    down, so each bin also gets the ``confidence`` percentile interval (``lower``, ``upper``) of
    the class-balanced metric (classes reweighted to equal totals, which is what the draws
    estimate; :func:`galmerge.analysis.metrics.metrics_from_counts`) over ``n_resamples`` sequence-bootstrap
    resamples (:func:`galmerge.analysis.metrics.resampling_units`).

    Every network sees the same draws and resamples. Returns long form: ``kind, network, bin, n,
    n_sequences, n_mergers, per_class, n_draws, metric, mean, std, balanced, lower, upper``
    (``balanced``: the class-balanced metric on the bin); a bin lacking a class gives NaN.
    """
    groups = _bins_of(frame, groups)
    rng = np.random.default_rng(seed)
    labels = frame["label"].to_numpy()
    units = gm.resampling_units(frame, resample)
    rows = []
    for name, members in _members_per_bin(groups):
        draws = gm.balanced_draws(labels[members], per_class, n_draws, rng)
        weights = gm.bootstrap_weights(units[members], n_resamples, rng)
        for kind in frame.attrs["kinds"]:
            predicted = frame[f"pred_{kind}"].to_numpy()[members]
            result = gm.balanced_metrics(labels[members], predicted, metrics, draws=draws)
            interval = gm.bootstrap_metrics(labels[members], predicted, metrics, n_resamples, confidence=confidence,
                                            groups=units[members], weights=weights, balanced=True)
            for metric, r in result.items():
                s = interval[metric]
                rows.append({"kind": kind, "network": network_label(kind), "bin": name, "n": len(members),
                             "n_sequences": s.n_groups, "n_mergers": int(labels[members].sum()),
                             "per_class": r["per_class"], "n_draws": r["n_draws"], "metric": metric,
                             "mean": r["mean"], "std": r["std"], "balanced": s.value, "lower": s.lower,
                             "upper": s.upper})
    out = pd.DataFrame(rows)
    out["bin"] = pd.Categorical(out["bin"], categories=groups.categories, ordered=True)
    return out


def class_counts(frame: pd.DataFrame, groups) -> pd.DataFrame:
    """Mergers and non-mergers per bin (Fig. 9): ``bin, mergers, non_mergers`` (empty bins kept)."""
    groups = pd.Categorical(groups)
    table = pd.crosstab(groups, frame["label"].to_numpy(), dropna=False)
    table = table.reindex(index=groups.categories, columns=[1, 0], fill_value=0)
    table.columns = ["mergers", "non_mergers"]
    table.index.name = "bin"
    return table.reset_index()


# --------------------------------------------------------------------------- Table 2
def stage_table(frame: pd.DataFrame, n_resamples: int = 1000, seed: int = 0,
                resample: str = "sequence") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2: per cent of pre-, ongoing and post-mergers (and non-mergers) correctly classified,
    bootstrap mean and (upper - mean), beside the paper's. The bootstrap resamples merger
    sequences (:func:`binned_bootstrap`); the paper's resamples galaxies. A network trained with k >= 2
    train seeds gets the mean and (upper - mean) of the fraction correct over a bootstrap
    over sequences and seeds together (each resample scored by one seed drawn at random); ``long`` keeps
    the first seed's sequence bootstrap.

    Returns
    -------
    wide : pandas.DataFrame
        Indexed by ``kind``: ``network``, ``seeds``, ``<stage>``, ``<stage>_err``, ``n_<stage>`` (galaxies),
        ``n_seq_<stage>`` (independent sequences resampled), ``<stage>_seed_sd`` (SD over train seeds) for
        stages pre, ongoing, post and non (per cent), then the paper's ``pre (paper)``,
        ``pre_err (paper)``, ``post (paper)``, ``post_err (paper)``.
    long : pandas.DataFrame
        The :func:`binned_bootstrap` rows behind it (fractions).
    """
    order = STAGES
    groups = pd.Categorical(frame["stage"], categories=order, ordered=True)
    long = binned_bootstrap(frame, groups, ("fraction_correct",), n_resamples, seed, resample=resample)
    units = gm.resampling_units(frame, resample)
    rows = []
    for k_index, kind in enumerate(frame.attrs["kinds"]):
        row = {"kind": kind, "network": network_label(kind), "seeds": len(frame_seeds(frame, kind))}
        sub = long[long["kind"] == kind].set_index("bin")
        for s_index, (stage, members) in enumerate(_members_per_bin(groups)):
            row[stage] = 100 * sub.at[stage, "mean"]
            row[f"{stage}_err"] = 100 * sub.at[stage, "error"]
            row[f"n_{stage}"] = int(sub.at[stage, "n"])
            row[f"n_seq_{stage}"] = int(sub.at[stage, "n_sequences"])
            rng = np.random.default_rng([int(seed), 1, k_index, s_index])
            row.update({f"{stage}{k}": v for k, v in _seed_stage(frame, kind, members, units[members],
                                                                 n_resamples, rng).items()})
        paper = PAPER_TABLE2.get(kind, {})
        for key in ("pre", "pre_err", "post", "post_err"):
            row[f"{key} (paper)"] = paper.get(key, np.nan)
        rows.append(row)
    return pd.DataFrame(rows).set_index("kind"), long


def _seed_stage(frame: pd.DataFrame, kind: str, members: np.ndarray, units: np.ndarray, n_resamples: int,
                rng) -> dict[str, float]:
    """Table 2 entries of one network and stage over its train seeds (per cent): ``_seed_sd`` (sample SD
    over seeds, NaN with one seed) and, with two seeds or more, the mean of the fraction correct (``""``)
    and ``_err``, the (95 % upper - mean), over the bootstrap over sequences and seeds together
    (:func:`galmerge.analysis.metrics.seed_resampled_metric`)."""
    preds = seed_predictions(frame, kind)[:, members]
    if len(preds) < 2:
        return {"_seed_sd": np.nan}
    if not len(members):
        return {"": np.nan, "_err": np.nan, "_seed_sd": np.nan}
    labels = frame["label"].to_numpy()[members]
    weights = gm.bootstrap_weights(units, n_resamples, rng)
    resampled, per_seed = gm.seed_resampled_metric(labels, preds, "fraction_correct", weights, rng)
    summary = gm.summarise_bootstrap(resampled, float(per_seed.mean()), len(members))
    return {"": 100 * summary.mean, "_err": 100 * summary.error, "_seed_sd": 100 * float(per_seed.std(ddof=1))}


# --------------------------------------------------------------------------- fit failures
def ellipticity_problem(frame: pd.DataFrame) -> pd.Series:
    """Why a galaxy's primary Sérsic ellipticity is not used, or ``""`` when it is usable.

    Usable means: a finite ``sersic_ellip`` from a primary whose fit entered the Sérsic model
    (``primary_used_in_model``, when the products have that column), i.e. the fit the model image
    shows. Otherwise the reason names the image ``status`` when it is not ``ok``, then
    ``primary fit not in model (flag_sersic N)``, then ``no ellipticity``.
    """
    ellip = frame["sersic_ellip"].to_numpy(dtype=float)
    status = frame["status"].astype(str).to_numpy() if "status" in frame.columns else np.full(len(frame), "ok")
    used = (frame["primary_used_in_model"].fillna(False).astype(bool).to_numpy()
            if "primary_used_in_model" in frame.columns else np.ones(len(frame), bool))
    flags = frame["flag_sersic"].to_numpy() if "flag_sersic" in frame.columns else np.full(len(frame), -1)
    reasons = []
    for e, s, u, f in zip(ellip, status, used, flags):
        if s != "ok":
            reasons.append(f"status {s}")
        elif not u:
            reasons.append(f"primary fit not in model (flag_sersic {int(f) if pd.notna(f) else -1})")
        elif not np.isfinite(e):
            reasons.append("no ellipticity")
        else:
            reasons.append("")
    return pd.Series(reasons, index=frame.index, dtype=object)


def usable_ellipticity(frame: pd.DataFrame) -> pd.Series:
    """The primary's Sérsic ellipticity (1 - b/a), NaN where :func:`ellipticity_problem` gives a reason."""
    ellip = frame["sersic_ellip"].astype(float)
    return ellip.where(ellipticity_problem(frame) == "")


def fit_failures(frame: pd.DataFrame) -> pd.DataFrame:
    """Galaxies without a usable Sérsic ellipticity, by reason (:func:`ellipticity_problem`) and class.

    Returns ``reason, mergers, non_mergers, total``; no rows when every galaxy has one.
    """
    reason = ellipticity_problem(frame)
    failed = (reason != "").to_numpy()
    table = pd.crosstab(reason[failed], frame.loc[failed, "label"]).reindex(columns=[1, 0], fill_value=0)
    table.columns = ["mergers", "non_mergers"]
    table["total"] = table.sum(axis=1)
    table.index.name = "reason"
    return table.reset_index()
