"""Audit of the mock (issue 12): what simple statistics give away, ellipticities, separations, speed.

Prints, for a few-thousand-object mock:

1. the ROC AUC for the merger label of each simple statistic (sky noise, noise correlation, sky
   level, image size, header cards and values, sequence_ID, ID, file order, redshift, and the
   baseline's morphology statistics); those TNG would not show must sit at 0.5 +- 0.03;
2. the sequence-grouped 5-fold cross-validated accuracy of the non-CNN baseline
   (:mod:`galmerge.analysis.baseline`) and its train -> test accuracy;
3. the merger-minus-non-merger difference of the primary's ellipticity (mock truth, SEP moments
   of the central segment, and a Sérsic fit of the primary on a subsample; paper Fig 9);
4. the pre-mergers' projected companion separation against merger time, beside Kitzbichler &
   White (2008);
4b. the light in undetected pixels 12-40 kpc from the centre of major encounters per bin of time
   from coalescence (expected: rising toward coalescence, fading after), with its AUC against
   isolated galaxies, and the non-merger class's make-up (issue 20);
5. generation speed (objects/s) of the current mock and of a reference commit's mock, measured
   alternately in the same run (the machine is shared: quote the ratio).

Usage::

    .venv/bin/python benchmarks/mock_audit.py --n-objects 3000 --seed 11 --workers 2
    .venv/bin/python benchmarks/mock_audit.py --data data/mock_quick --skip-speed
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd

from galmerge.analysis import baseline
from galmerge.data.catalog import load_catalog, load_image, load_psf
from galmerge.mock import audit, generate_mock

ROOT = Path(__file__).resolve().parents[1]
#: The last commit on main with the mock before issue 12 (speed reference).
REFERENCE = "c5c001c"

SPEED_SNIPPET = """
import sys, time
from galmerge.mock import generate_mock, orbits
orbits.get_library()  # library build or load is not part of the per-object speed
t = time.perf_counter()
generate_mock(sys.argv[1], n=int(sys.argv[2]), seed=int(sys.argv[3]), workers=int(sys.argv[4]), progress=False)
print(time.perf_counter() - t)
"""


def speed(reference: str, n: int, seed: int, workers: int, rounds: int) -> pd.DataFrame:
    """Objects/s of the reference commit's mock and of this checkout's, alternating ``rounds`` times."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", reference, "lib"], check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp / "reference", filter="data")
        libs = {f"reference {reference}": tmp / "reference" / "lib", "current": ROOT / "lib"}
        rows = []
        for r in range(rounds):
            for name, lib in libs.items():
                env = dict(os.environ, PYTHONPATH=str(lib))
                out = tmp / f"{r}_{name.split()[0]}"
                run = subprocess.run([sys.executable, "-c", SPEED_SNIPPET, str(out), str(n), str(seed),
                                      str(workers)], env=env, check=True, capture_output=True, text=True)
                seconds = float(run.stdout.strip().splitlines()[-1])
                rows.append({"mock": name, "round": r, "seconds": seconds, "objects_per_s": n / seconds})
    frame = pd.DataFrame(rows)
    return frame.groupby("mock")["objects_per_s"].agg(["mean", "min", "max"]).round(2)


def fitted_ellipticity(catalog: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Sérsic ellipticity of the primary (the source under the centre) for ``n`` objects per class."""
    from galmerge.sersic.fit import fit_image

    rng = np.random.default_rng(seed)
    picks = []
    for label in (0, 1):
        index = catalog.index[catalog["label"] == label]
        picks.extend(rng.choice(index, size=min(n, len(index)), replace=False))
    psf = load_psf(Path(catalog.attrs["dataset"]))
    values = {}
    for i in picks:
        image = load_image(catalog.at[i, "image_path"])
        c = image.shape[0] // 2
        result = fit_image(image, psf=psf, fit_box=(c - 2, c + 2, c - 2, c + 2))
        primary = result.primary
        values[i] = float(primary["sersic_ellip"]) if primary is not None else np.nan
    out = catalog.loc[picks, ["ID", "label"]].copy()
    out["sersic_ellip"] = pd.Series(values)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-objects", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, help="existing dataset folder (default: a mock in a temporary folder)")
    parser.add_argument("--n-fit", type=int, default=60, help="objects per class given a Sérsic fit (0: none)")
    parser.add_argument("--speed-n", type=int, default=150, help="objects per speed measurement")
    parser.add_argument("--speed-rounds", type=int, default=2)
    parser.add_argument("--reference", default=REFERENCE, help="git commit of the reference mock for the speed")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    pd.set_option("display.width", 160)
    started = time.perf_counter()

    if not args.skip_speed:
        print(f"== generation speed: {args.speed_n} objects, --workers {args.workers}, "
              f"{args.speed_rounds} alternating rounds (objects/s)")
        table = speed(args.reference, args.speed_n, args.seed, args.workers, args.speed_rounds)
        print(table.to_string())
        cur, ref = table.loc["current", "mean"], table.loc[f"reference {args.reference}", "mean"]
        print(f"current / reference speed: {cur / ref:.2f}\n", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / "mock"
        if not data.exists():
            t = time.perf_counter()
            generate_mock(data, n=args.n_objects, seed=args.seed, workers=args.workers)
            print(f"generated {args.n_objects} objects in {time.perf_counter() - t:.0f} s")
        catalog = load_catalog(data)
        print(f"dataset {data}: {len(catalog)} objects, merger fraction {catalog['label'].mean():.3f}; "
              f"test folder: {int((catalog['source_folder'] == 'test').sum())} objects, merger fraction "
              f"{catalog.loc[catalog['source_folder'] == 'test', 'label'].mean():.3f}")
        stats = audit.image_statistics(catalog)
        fits_table = fitted_ellipticity(catalog, args.n_fit, args.seed) if args.n_fit > 0 else None

    print("\n== AUC of simple statistics for the merger label (not_in_tng: must be 0.5 +- "
          f"{audit.LEAK_TOLERANCE})")
    leaks = audit.leak_table(stats)
    print(leaks.to_string())
    bad = leaks[leaks["not_in_tng"] & ~leaks["ok"]]
    print("statistics TNG would not show, outside tolerance:", list(bad.index) or "none")

    print("\n== non-CNN baseline (logistic regression on", ", ".join(baseline.FEATURES) + ")")
    result = baseline.run_baseline(catalog, features=stats[["ID", *baseline.FEATURES]], progress=False)
    print(f"grouped {result['cv_folds']}-fold CV accuracy {result['cv_accuracy']:.3f} "
          f"+- {result['cv_accuracy_std']:.3f}; "
          f"train -> test {result['test_accuracy']:.3f} ({result['n_test']} test objects)")
    print("coefficients (standardised):", result["coefficients"])

    print("\n== primary ellipticity, mergers minus non-mergers (paper Fig 9: mergers more elliptical)")
    catalog_fit = catalog.copy()
    if fits_table is not None:
        catalog_fit["sersic_ellip"] = fits_table["sersic_ellip"]
    print(audit.ellipticity_difference(catalog_fit, stats).to_string())
    by_stage = stats.assign(true_ellip=catalog.get("true_main_ellip")).groupby("stage")[
        ["central_ellipticity", "true_ellip"]].mean().round(3)
    print(by_stage.to_string())

    if "true_separation_kpc" in catalog:
        print("\n== pre-mergers: projected companion separation (kpc) against merger time; "
              "kw08: Kitzbichler & White (2008) at M* = 4e10 Msun")
        print(audit.separation_against_time(catalog).to_string())
    if "true_encounter_time" in catalog:
        print("\n== diffuse light (undetected pixels 12-40 kpc from the centre, / sky rms) of major encounters "
              "against time from coalescence; expected: rising toward coalescence, fading after")
        print(audit.diffuse_light_by_time(catalog, stats).to_string())
        non = catalog[catalog["label"] == 0]
        major = non["true_kind"] == "major"
        phase = np.select([major & (non["true_encounter_time"] < 0), major],
                          ["major pair > 0.8 Gyr before", "major remnant > 0.3 Gyr after"], non["true_kind"])
        print("\nnon-merger class:", pd.Series(phase).value_counts(normalize=True).round(3).to_dict())
    print(f"\naudit wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
