"""Score one run's galaxies with the networks of another run: the shift between two datasets.

The paper's stated future work is to apply networks trained on simulations to observations and
compare them with networks trained on the observations. Given this run (trained on dataset A,
e.g. your labelled cutouts) and a *source* run (trained on dataset B, e.g. the mock), this
module scores A's test galaxies with B's networks and puts three Table 1 rows side by side for
each network, all on **the same test galaxies of A**:

``trained here``
    A's own networks at A's threshold (chosen on A's validation split) - this run's Table 1.
``transfer``
    B's networks at B's threshold (chosen on B's validation split), as they would be deployed.
``transfer, threshold re-chosen``
    B's networks at a threshold chosen on A's validation split (precision = recall): separates a
    shift of the score scale (fixed by re-choosing the threshold; AUC is unchanged) from a loss
    of ranking power (AUC lower).

B's own Table 1 on B's test set (``tables/table1.csv`` of the source run) is given for reference.
The networks of B see A's products (cubes built by A's fitting stage); when the two runs were
fitted with a different cutout mode or PSF, a warning says the inputs differ from B's training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from galmerge.analysis import evaluation as ev
from galmerge.analysis import metrics as gm
from galmerge.runs import Run, as_run

#: Name of the transfer table under the run's ``tables/`` (:meth:`galmerge.runs.Run.table`).
TRANSFER_TABLE = "transfer_table1"
#: Rows of the transfer table, in order.
SETTINGS = ("trained here", "transfer", "transfer, threshold re-chosen")
TABLE_COLUMNS = ("kind", "network", "setting", "trained_on", "threshold", "n", "n_mergers", "accuracy",
                 "precision", "recall", "f1", "auc")


def resolve_run(name: str | Path, runs_root: str | Path) -> Run:
    """A run from a folder path or a run name under ``runs_root`` (``runs/<name>``).

    Raises
    ------
    FileNotFoundError
        Neither exists, or the folder has no trained network.
    """
    candidates = [Path(name), Path(runs_root) / str(name)]
    for path in candidates:
        if path.is_dir():
            run = Run(path.resolve())
            if not run.trained_kinds:
                raise FileNotFoundError(f"{path}: no trained network (train/<kind>/scores_test.csv); "
                                        "finish that run first")
            return run
    raise FileNotFoundError(f"transfer_models={name!r}: neither {candidates[0]} nor {candidates[1]} is a run folder")


def fitting_mismatch(run_dir: Run | str | Path, source_run: Run | str | Path) -> list[str]:
    """Fitting options (``products/stage.json``) in which the two runs differ: cutout mode, PSF, fitter,
    background."""
    def settings(path):
        run = as_run(path)
        return run.stage if run.has_stage else {}

    def flat(values: dict) -> dict:
        options = values.get("fit_options", {})
        return {"cutout_mode": values.get("cutout_mode"), "psf_sha1": values.get("psf_sha1"),
                "fitter": options.get("fitter"), "background": options.get("background")}

    here, there = flat(settings(run_dir)), flat(settings(source_run))
    return [f"{key}: {here[key]!r} here, {there[key]!r} in the source run" for key in here if here[key] != there[key]]


def score_with(run_dir: Run | str | Path, source_run: Run | str | Path, split: str,
               kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """This run's ``split`` galaxies scored by the source run's networks.

    Returns
    -------
    pandas.DataFrame
        The products' image columns (:func:`galmerge.analysis.evaluation.load_images`) of the split, plus
        ``score_<kind>`` per source network; ``attrs["kinds"]`` lists them.
    """
    from galmerge.nets.training import predict_scores
    from galmerge.sersic.products import Products

    source = as_run(source_run)
    kinds = list(kinds) if kinds is not None else source.trained_kinds
    images = ev.load_images(run_dir)
    rows = np.flatnonzero(images["split"].to_numpy() == split)
    frame = images.iloc[rows].drop(columns="split").reset_index(drop=True)
    with Products(as_run(run_dir).products) as products:
        for kind in kinds:
            model = source.network(kind)
            frame[f"score_{kind}"] = predict_scores(model, products, rows, kind)
    frame["label"] = frame["label"].astype(np.int8)
    frame.attrs["kinds"] = kinds
    return frame


def with_thresholds(frame: pd.DataFrame, thresholds: dict[str, float]) -> pd.DataFrame:
    """``frame`` with ``pred_<kind>`` at ``thresholds`` and the attrs :func:`evaluation.overall_table` reads."""
    out = frame.copy()
    kinds = frame.attrs["kinds"]
    for kind in kinds:
        out[f"pred_{kind}"] = gm.predict(out[f"score_{kind}"], thresholds[kind])
    out.attrs.update(kinds=list(kinds), thresholds={k: float(thresholds[k]) for k in kinds})
    return out


def rechosen_thresholds(validation: pd.DataFrame) -> dict[str, float]:
    """Each network's threshold re-chosen on ``validation`` (``label``, ``score_<kind>``) by the project's
    one rule, :func:`galmerge.analysis.metrics.choose_threshold` (its fallback warns)."""
    return {kind: gm.choose_threshold(validation["label"], validation[f"score_{kind}"],
                                      where=f"{kind} scores on this run's validation split").threshold
            for kind in validation.attrs["kinds"]}


def transfer_table(own: pd.DataFrame | None, transfer: pd.DataFrame, rechosen: pd.DataFrame,
                   here: str, source: str) -> pd.DataFrame:
    """Table 1 rows (per cent) of the three settings (module docstring), per network.

    Parameters
    ----------
    own : frame of :func:`galmerge.analysis.evaluation.load_run_scores` (this run's test split), or None
        when this run trained no network.
    transfer, rechosen : :func:`with_thresholds` frames of the source networks on the same split.
    here, source : names of the two runs' datasets (the ``trained_on`` column).

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS`; only galaxies present in every frame are counted.
    """
    common = set(transfer["ID"])
    if own is not None:
        common &= set(own["ID"])
    parts = []
    for setting, frame, trained_on in (("trained here", own, here), ("transfer", transfer, source),
                                       ("transfer, threshold re-chosen", rechosen, source)):
        if frame is None:
            continue
        kept = ev.subset(frame, frame["ID"].isin(common))
        table = ev.overall_table(kept).reset_index()
        table["setting"] = setting
        table["trained_on"] = trained_on
        parts.append(table)
    table = pd.concat(parts, ignore_index=True)
    order = {s: i for i, s in enumerate(SETTINGS)}
    kinds = {k: i for i, k in enumerate(transfer.attrs["kinds"] + [k for k in table["kind"].unique()
                                                                   if k not in transfer.attrs["kinds"]])}
    table = table.sort_values(["kind", "setting"], key=lambda c: c.map(kinds if c.name == "kind" else order))
    return table[list(TABLE_COLUMNS)].reset_index(drop=True)


def source_table1(source_run: Run | str | Path) -> pd.DataFrame | None:
    """The source run's own Table 1 (on its own test set), or None when it has none."""
    source = as_run(source_run)
    return source.table("table1", index_col="kind") if source.has_table("table1") else None
