"""Which ongoing and post-mergers do the networks miss, and what do they lack?

For a finished run on mock data (the catalogue's truth columns are needed), takes every test merger of
the chosen stages, calls it found or missed by CNN1 at the run's recorded validation precision =
recall threshold, and

* prints, for found and missed galaxies, the median of the truth that could explain the difference:
  redshift, mass ratio, time from coalescence, the primary's apparent magnitude and half-light radius
  in pixels, whether the companion is inside the field, and the fraction carrying each painted
  feature (tidal, double nucleus, ...); and the recall per redshift folder;
* draws a gallery of missed and found galaxies of each stage (the 128 px crop the networks see,
  asinh-stretched), with their truth, to ``<out>_gallery.png``; the table goes to ``<out>_summary.csv``;
* with ``--seeds-from`` (a ``seed_variance.py`` scratch folder holding further train seeds of the same
  network on the same products): the fraction of test mergers found per merger-time bin and redshift
  folder over every seed, each at its own validation precision = recall threshold, beside the fraction
  of non-mergers called mergers per folder (a bin found at that rate carries no signal the network
  uses); to ``<out>_time_redshift.csv``, the galaxies per cell to ``<out>_time_redshift_n.csv``.

Usage::

    .venv/bin/python benchmarks/missed_mergers.py --run runs/quick-mock_quick --data data/mock_quick \\
        --out benchmarks/results/missed_mergers_quick [--seeds-from /tmp/seed_variance/quick-mock_quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from galmerge.analysis import metrics as gm  # noqa: E402
from galmerge.data.catalog import load_catalog, load_image  # noqa: E402
from galmerge.data.cosmology import SNAPNUM_FOLDERS, folder_for_snapnum, snapnum_to_redshift  # noqa: E402
from galmerge.runs import Run  # noqa: E402
from galmerge.sersic.fit import cutout  # noqa: E402
from galmerge.sersic.products import CUTOUT_SIZE  # noqa: E402

TRUTH = ("redshift", "true_mass_ratio", "merger_time", "true_main_mag", "true_main_r_e_px",
         "true_companion_in_field", "true_separation_kpc")
FEATURES = ("tidal", "double_nucleus", "companion", "remnant")
#: Merger-time bins (Gyr from coalescence) of the time x redshift table: the paper's stages, split.
TIME_BINS = (-0.8, -0.5, -0.3, -0.1, 0.0, 0.1, 0.2, 0.3)


def merger_outcomes(run: Run, data: Path, kind: str = "raw", stages=("ongoing", "post")) -> pd.DataFrame:
    """Test mergers of ``stages`` with their truth, score and ``found`` at the run's threshold."""
    catalog = load_catalog(data)
    scores = run.scores(kind, "test")
    threshold = run.recorded_thresholds[kind]
    frame = catalog.merge(scores[["ID", "score"]], on="ID")
    frame = frame[frame["stage"].isin(stages)].copy()
    frame["found"] = frame["score"] >= threshold
    features = frame["true_features"].fillna("").str.split(",")
    for feature in FEATURES:
        frame[f"has_{feature}"] = features.apply(lambda f, feature=feature: feature in f)
    return frame


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in TRUTH if c in frame] + [f"has_{f}" for f in FEATURES]
    summary = frame.groupby(["stage", "found"])[columns].median(numeric_only=True)
    summary[[f"has_{f}" for f in FEATURES]] = frame.groupby(["stage", "found"])[[f"has_{f}" for f in FEATURES]].mean()
    summary["n"] = frame.groupby(["stage", "found"]).size()
    return summary


def gallery(frame: pd.DataFrame, path: Path, per_row: int = 8, seed: int = 0) -> None:
    rows = [(stage, found) for stage in ("ongoing", "post") for found in (False, True)]
    fig, axes = plt.subplots(len(rows), per_row, figsize=(1.6 * per_row, 1.75 * len(rows)))
    for r, (stage, found) in enumerate(rows):
        pick = frame[(frame["stage"] == stage) & (frame["found"] == found)]
        pick = pick.sample(min(per_row, len(pick)), random_state=seed).sort_values("redshift")
        for c in range(per_row):
            ax = axes[r, c]
            ax.axis("off")
            if c >= len(pick):
                continue
            row = pick.iloc[c]
            image = cutout(load_image(row["image_path"]), CUTOUT_SIZE, "crop")
            sky = np.median(image)
            sigma = 1.4826 * np.median(np.abs(image - sky))
            ax.imshow(np.arcsinh((image - sky) / (2 * sigma)), cmap="gray_r", origin="lower", vmin=-1, vmax=7)
            ax.set_title(f"z {row['redshift']:.2f}, t {row['merger_time']:+.2f}\nq {row['true_mass_ratio']:.1f}, "
                         f"s {row['score']:.2f}", fontsize=6)
        axes[r, 0].text(-0.08, 0.5, f"{stage}\n{'found' if found else 'missed'}", transform=axes[r, 0].transAxes,
                        ha="right", va="center", fontsize=8)
    fig.suptitle("CNN1's test ongoing and post-mergers, missed and found (128 px crop, asinh stretch; "
                 "t: Gyr from coalescence, q: mass ratio, s: score)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def seed_calls(runs: list[Run], kind: str, catalog: pd.DataFrame) -> pd.DataFrame:
    """Every test galaxy called by every train seed of ``kind`` found in ``runs`` (the run, then a
    seed-variance scratch), each seed at its own validation precision = recall threshold."""
    frames = []
    for source in runs:
        validation, test = source.seed_scores(kind, "validation"), source.seed_scores(kind, "test")
        for seed, scores in test.items():
            val = validation[seed]
            threshold = gm.choose_threshold(val["label"], val["score"], where=f"{kind} seed {seed}").threshold
            frames.append(scores[["ID", "score"]].assign(seed=seed, found=gm.predict(scores["score"], threshold)))
    calls = pd.concat(frames, ignore_index=True)
    if calls.duplicated(["ID", "seed"]).any():
        raise ValueError("a train seed appears twice among the runs given")
    return catalog[["ID", "label", "stage", "merger_time", "snapnum"]].merge(calls, on="ID", validate="one_to_many")


def found_by_time_and_redshift(calls: pd.DataFrame, count: bool = False) -> pd.DataFrame:
    """Fraction of mergers found per merger-time bin (rows, Gyr from coalescence) and redshift folder
    (columns, and all folders), over all seeds; a last row gives the fraction of non-mergers called
    mergers, the rate a merger without a usable signal is found at. With ``count``, the number of test
    galaxies in each cell instead (each galaxy once, whatever the number of seeds)."""
    if count:
        calls = calls.drop_duplicates("ID")
    # folders named by their redshifts, nearest first
    names = {folder: f"z {snapnum_to_redshift(hi):.2f}-{snapnum_to_redshift(lo):.2f}"
             for folder, (lo, hi, _) in reversed(SNAPNUM_FOLDERS.items())}
    folder = pd.Categorical(calls["snapnum"].map(folder_for_snapnum).map(names), categories=list(names.values()))
    calls = calls.assign(folder=folder, time=pd.cut(calls["merger_time"], TIME_BINS))
    mergers, others = calls[calls["label"] == 1], calls[calls["label"] == 0]
    how = "count" if count else "mean"
    table = mergers.pivot_table(index="time", columns="folder", values="found", aggfunc=how, observed=True)
    table["all folders"] = mergers.groupby("time", observed=True)["found"].agg(how)
    table.index = table.index.astype(str)
    by_folder = others.groupby("folder", observed=True)["found"].agg(how).reindex(table.columns[:-1])
    table.loc["non-mergers" if count else "non-mergers called mergers"] = [*by_folder, others["found"].agg(how)]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished run folder on mock data")
    parser.add_argument("--data", type=Path, required=True, help="its dataset (the mock folder)")
    parser.add_argument("--kind", default="raw", help="the network (default raw: CNN1)")
    parser.add_argument("--out", type=Path, required=True, help="write <out>_summary.csv and <out>_gallery.png")
    parser.add_argument("--seeds-from", type=Path, help="a seed_variance.py scratch folder with further train "
                        "seeds of the network: adds the found fraction per merger time and redshift over all seeds")
    args = parser.parse_args()
    run = Run(args.run)
    frame = merger_outcomes(run, args.data, args.kind)
    summary = summarise(frame)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary.to_csv(f"{args.out}_summary.csv", float_format="%.3f")
    gallery(frame, Path(f"{args.out}_gallery.png"))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.round(3))
        print("recall per redshift folder:")
        folders = frame["snapnum"].map(folder_for_snapnum)
        print(frame.groupby(["stage", folders])["found"].agg(["mean", "size"]).unstack("stage").round(2))
        if args.seeds_from:
            calls = seed_calls([run, Run(args.seeds_from)], args.kind, load_catalog(args.data))
            table = found_by_time_and_redshift(calls)
            table.to_csv(f"{args.out}_time_redshift.csv", float_format="%.3f")
            print(f"fraction found per merger time (Gyr) and redshift folder, {calls['seed'].nunique()} seeds:")
            print(table.round(2))
            counts = found_by_time_and_redshift(calls, count=True)
            counts.to_csv(f"{args.out}_time_redshift_n.csv")
            print("test galaxies per cell (each counted once, not once per seed):")
            print(counts)


if __name__ == "__main__":
    main()
