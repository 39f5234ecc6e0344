"""Does the nine-statistic baseline beat the networks because it sees more of the sky than they do?

The networks see the central 128 x 128 px of each cutout (``cutout_mode: crop``, DESIGN.md), which is
the whole 160 kpc field only in the highest-redshift folder: at z 0.1-0.31 (320 px cutouts) it is the
central 40 % of the field's width, ~40 kpc, so companions of pre-mergers farther than ~20 kpc lie
outside it. The baseline's statistics (:mod:`galmerge.analysis.baseline`) are measured on the full
cutout: its asymmetry within a radius of N/4 (80 px at low redshift) and its outer asymmetry, source
counts and second-source distance out to N/2 see what the networks never see.

This script measures the baseline three ways on the same objects, splits and decision rule (a finished
run's ``products/images.parquet``; the networks' precision = recall threshold on the validation
split), with its statistics computed on

* ``full``: the whole cutout (what every run's 00_data does),
* ``crop``: the central 128 x 128 px, what the networks see under ``cutout_mode: crop``,
* ``resample``: the whole field rebinned to 128 x 128 px (``cutout_mode: resample``),

and prints test accuracy and ROC AUC per view and per redshift folder, beside the run's CNN1 (at the
threshold 03_evaluate recorded) where the run has its test scores. Results: ``<out>.csv``; the
statistics are kept in ``<out>_features.parquet`` (not committed) and reused by a second call.

Usage::

    .venv/bin/python benchmarks/baseline_view.py --run runs/quick-mock_quick \\
        --out benchmarks/results/baseline_view_quick
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from galmerge.analysis import baseline
from galmerge.data.catalog import load_image
from galmerge.data.cosmology import folder_for_snapnum
from galmerge.runs import Run
from galmerge.sersic.fit import cutout

VIEWS = ("full", "crop", "resample")
SIZE = 128


def features_of(task: tuple[int, str]) -> dict:
    """The baseline statistics of one image under every view."""
    ident, path = task
    image = load_image(path)
    out = {"ID": ident}
    for view in VIEWS:
        seen = image if view == "full" else cutout(image, SIZE, view)
        with np.errstate(all="ignore"):
            stats = baseline.image_features(seen)
        out.update({f"{view}:{name}": stats[name] for name in baseline.FEATURES})
    return out


def folder_rows(view: str, labels, scores, correct, folder: np.ndarray) -> list[dict]:
    """Test accuracy and ROC AUC of one classifier, over all test galaxies and per redshift folder."""
    labels, scores, correct = np.asarray(labels), np.asarray(scores), np.asarray(correct)
    rows = [{"view": view, "folder": "all", "n": len(labels), "accuracy": correct.mean(),
             "auc": roc_auc_score(labels, scores)}]
    for name in sorted(set(folder)):
        keep = folder == name
        rows.append({"view": view, "folder": name, "n": int(keep.sum()), "accuracy": correct[keep].mean(),
                     "auc": roc_auc_score(labels[keep], scores[keep])})
    return rows


def cnn1_rows(run: Run, test_ids, folder: np.ndarray) -> list[dict]:
    """The run's CNN1 on the same test galaxies, at the threshold 03_evaluate recorded for it."""
    threshold = run.recorded_thresholds.get("raw")
    if threshold is None or not run.scores_path("raw", "test").exists():
        return []
    frame = run.scores("raw", "test").set_index("ID").loc[test_ids]
    correct = (frame["score"] >= threshold).astype(int) == frame["label"]
    return folder_rows("CNN1 (crop)", frame["label"], frame["score"], correct, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a run folder with products/images.parquet")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True, help="write <out>.csv")
    args = parser.parse_args()
    catalog = pd.read_parquet(args.run / "products" / "images.parquet").reset_index(drop=True)
    cache = args.out.with_name(args.out.name + "_features.parquet")
    if cache.exists():  # the statistics of an earlier call on the same run
        table = pd.read_parquet(cache)
    else:
        t0 = time.perf_counter()
        tasks = list(zip(catalog["ID"], catalog["image_path"]))
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            rows = pool.map(features_of, tasks, chunksize=32)
        table = pd.DataFrame(rows)
        print(f"statistics of {len(catalog)} images under {len(VIEWS)} views in {time.perf_counter() - t0:.0f} s")
        cache.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(cache)
    table = table.set_index("ID").loc[catalog["ID"]].reset_index()
    test = (catalog["split"] == "test").to_numpy()
    folder = np.array([folder_for_snapnum(s) for s in catalog.loc[test, "snapnum"]])
    results = []
    for view in VIEWS:
        features = table[[f"{view}:{name}" for name in baseline.FEATURES]].copy()
        features.columns = list(baseline.FEATURES)
        features.index = catalog.index
        result = baseline.run_baseline(catalog, features=features, progress=False)
        scored = baseline.baseline_scores(result["model"], features, catalog, "test", result["threshold"])
        results += folder_rows(view, scored["label"], scored["score"], scored["pred"] == scored["label"], folder)
    results += cnn1_rows(Run(args.run), catalog.loc[test, "ID"], folder)
    frame = pd.DataFrame(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out.with_suffix(".csv"), index=False, float_format="%.4f")
    print(frame.pivot(index="folder", columns="view", values=["accuracy", "auc"]).round(3).to_string())
    print(f"wrote {args.out.with_suffix('.csv')}")


if __name__ == "__main__":
    main()
