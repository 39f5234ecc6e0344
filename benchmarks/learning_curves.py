"""Learning curves of CNN1 (raw images) on the mock: what training-set size, width, epochs and
augmentation make the quick profile's networks learn (issue 13)?

Calibrates the quick profile (issue 13) without the Sérsic fitting: CNN1 needs only the raw
128 x 128 centre crops, which is also what bounds the other networks (CNN2 and CNN3 see less).
For each configuration (training-set size N, kernels per layer, augmentation on or off) it trains
the quick profile's network on the first N training images of a mock dataset (the split of
``galmerge.data.catalog``), and after every epoch records, as ``galmerge.nets.training`` does, the training
loss and accuracy, the validation loss, the validation accuracy at 0.5 and at that epoch's
validation precision = recall threshold (the paper's epoch choice), and the seconds the epoch
took. At the end it scores the test split with the kept epoch's network at its validation
threshold (the paper's procedure) and fits the non-CNN baseline (``galmerge.analysis.baseline``) on the
same training objects and scores it on the same test galaxies. (``mock_learnability.py`` is the
shorter calibration of the mock itself: best validation accuracy per training size.)

Writes the learning curves (one row per configuration and epoch) and a summary (one row per
configuration) as CSV files, and prints both. Timings depend on the machine's load; the script
prints ``os.getloadavg()`` beside them.

Measured (2026-11-26, shared 2-core machine at load 3-8; ``--data`` a 5000-object mock of seed 11,
3750 training, 750 validation, 500 test galaxies; 16 kernels, dense 64/16, 10 epochs, no baseline;
curves in ``benchmarks/results/learning_curves_mock5000_curves.csv``)::

    augment  kept epoch  val acc (P = R)  test acc  test AUC  CPU
    off      7 / 10      0.613            0.542     0.589     ~18 CPU min (0.027 CPU s per image-epoch)
    on       8 / 10      0.592            0.580     0.598

The two are within the binomial noise of 750 validation galaxies (+-3.5 points); both still
improve slowly at epoch 10 (validation loss falling).

How many training images the networks need (2026-11-26, one NVIDIA H200 lent for the session,
Keras 3.15.1 on torch; a 12,000-object mock of seed 3: 8,998 training, 1,802 validation, 1,200
test galaxies; augmentation on, 15 epochs; the baseline trained on the same N objects; curves in
``benchmarks/results/learning_curves_mock12000_h200_curves.csv``)::

    KERAS_BACKEND=torch python3 benchmarks/learning_curves.py --n-objects 12000 --seed 3 \
        --sizes 8998 3000 --filters 128 16 --augment on --epochs 15 --workers 16

    N train  kernels  kept epoch  val acc (P = R)  test acc  test AUC  baseline test acc  GPU s
    3000     128      13 / 15     0.635            0.653     0.690     0.650              40
    3000      16      14 / 15     0.618            0.614     0.660     0.650              26
    8998     128      15 / 15     0.667            0.671     0.741     0.661             115
    8998      16      15 / 15     0.710            0.701     0.782     0.661              79

With 3,000 training images (the quick profile's size) CNN1 is level with or below the nine-statistic
baseline; with 9,000 it beats it (the quick width by 4.0 points, binomial error of each accuracy
+-1.3 points on 1,200 galaxies), and both widths were still improving at epoch 15. On this
project's 2-core CPU one image-epoch of the quick width costs about 0.014 s of wall time (71
images/s), so 9,000 images x 15 epochs x 3 networks is about 1.6 h of training alone, beyond the
quick profile's budget (README, "What the quick run shows").

On the mock after issue 20 (corrected integrator, TNG's hard non-mergers, test and validation
orbits held out; 2026-12-03, shared 2-core machine at load 2-5; ``--data`` the 4000-object mock of
seed 11 written by ``python -m galmerge.mock --n 4000 --seed 11 --workers 1``: 3009 training, 592
validation, 399 test galaxies; curves in ``benchmarks/results/learning_curves_mock4000_issue20_*.csv``)::

    .venv/bin/python benchmarks/learning_curves.py --data DIR --sizes 3000 --filters 16 --augment on \
        --epochs 20 --workers 1 --out /tmp/lc

    N train  kernels  kept epoch  val acc (P = R)  test acc  test AUC  baseline test acc  wall s
    3000      16      16 / 20     0.628            0.627     0.660     0.684              1753

With 3,000 training images CNN1 stays below the nine-statistic baseline on held-out orbits (by
5.7 points; binomial error of each accuracy +-2.4 points on 399 galaxies), as on the older mock.

On real galaxies (issue 22; 2026-12-03, commit eb37a9f, shared 2-core machine at load 2-3 with another
training beside it, so ~50 images/s; ``--data`` the SDSS set written by ``galmerge.datasets.sdss_darg2010``:
7,118 training, 1,423 validation, 950 test galaxies, 25 % mergers, the sdss run's split; curves in
``benchmarks/results/learning_curves_sdss_darg2010_*.csv``)::

    .venv/bin/python benchmarks/learning_curves.py --data data/sdss_darg2010 --sizes 7118 --filters 16 \
        --augment on --epochs 12 --workers 1 --no-baseline --out /tmp/lc_sdss/lc

    epoch               1      2      3      4      5      6      7      8      9      10     11     12
    val acc (P = R)     0.695  0.764  0.795  0.812  0.802  0.812  0.786  0.829  0.852  0.822  0.848  0.852

kept epoch 9: test accuracy 0.861, AUC 0.911 (the baseline on the same 950 galaxies: 0.833, AUC 0.879).
The sdss profile's first choice, 3 epochs, stopped CNN1 at 0.795 and rising (its run: test 0.797);
the profile now trains 12.

How many training images, on today's mock physics with the binned network
(2026-12-06, shared 2-core machine at load 7-8 with two other sessions' jobs, so the seconds are long;
``--data`` a 17,000-object mock, ``python -m galmerge.mock --out data/mock_lc17000 --n 17000 --seed 5
--test-fraction 0.12``: 12,498 training, 2,477 validation, 2,025 test galaxies, the baseline trained on
the same N objects and called at 0.5; curves in ``benchmarks/results/learning_curves_mock17000_bin2_*``)::

    .venv/bin/python benchmarks/learning_curves.py --data data/mock_lc17000 --sizes 3000 6000 12000 \
        --filters 16 --augment on --bin 2 --epochs 20 --workers 2 \\
        --out benchmarks/results/learning_curves_mock17000_bin2

    N train  kept epoch  val acc (P = R)  test acc  test AUC  baseline test acc
    3000     18 / 20     0.591            0.571     0.595     0.624
    6000     15 / 20     0.626            0.620     0.658     0.616
    12000    19 / 20     0.666            0.640     0.702     0.626

CNN1 gains 7 points of accuracy and 0.11 of AUC from 3,000 to 12,000 training images while the
baseline stays within a point (binomial error of each accuracy +-1.1 points on 2,025 galaxies); it
crosses the baseline near 6,000 and leads it by 1.4 points at 12,000, still learning at its last
epoch. The training time per image is what limits the quick profile, hence its binned network.
The same 6,000 images drawn from half of the training set's independent units (``--orbit-fractions
0.5``: 1,244 orbits and isolated sequences instead of 1,714) gave 63.3 % (AUC 0.675) against 62.0 %
(0.658): fewer orbits did not hurt (``results/learning_curves_mock17000_bin2_orbits_*``). The
unbinned network (``--bin 1 --no-baseline``, the paper's kernels) on the same 3,000 images: 59.2 %
(AUC 0.611), kept epoch 15 of 20, against the binned network's 57.1 % (0.595): within one seed's
spread (2.4 points), at 70 against 243 images/s in these runs (loads 4.5 and 7.6;
``results/learning_curves_mock17000_bin1_*``).

An input that makes rotational asymmetry local (``--inputs raw+asymmetry``: the crop and, as a second
channel, the crop less itself turned by 180 degrees; 2026-12-07, the fresh quick run's mock with
responsive discs, ``--data <clone>/data/mock_quick --sizes 6995 --bin 2 --filters 16 --augment on
--epochs 30 --inputs raw+asymmetry raw --no-baseline``, the run's own splits, one seed, nothing else
running): 65.1 % (AUC 0.721, kept epoch 24) against 63.5 % (0.675, epoch 23) for the raw crop alone, on
1,601 test galaxies where the baseline scores 64.8 % (0.667) and the pipeline's CNN1 63.5 ± 1.6 % over
five seeds (``results/learning_curves_asymmetry_quick_*``). Four more seeds (``--inputs raw+asymmetry
--seeds 2 3 4 5``, the same data and splits, nothing else running, 2026-12-07; 6.5 min per seed;
``results/learning_curves_asymmetry_quick_seeds_*``, with every seed's test scores) gave 63.0, 65.3,
67.0, 64.3 % (AUC 0.686, 0.730, 0.728, 0.711). Five seeds of the asymmetry-channel CNN1: **64.9 ±
1.5 %, AUC 0.715 ± 0.018** (mean ± seed SD), against the pipeline's CNN1 on the raw crop 63.5 ± 1.6 %,
AUC 0.686 ± 0.023 (``seed_variance.py``, five seeds; this script's raw seed 1 gave 63.5 %, AUC 0.675)
and the baseline's 64.8 % (AUC 0.667). Fraction of each stage called a merger (seeds 2-5): pre-mergers
76.6 % (raw, five seeds: 68.8), ongoing 47.6 (49.9), post 38.7 (38.1), non-mergers 34.1. The channel
lifts the ranking (AUC +0.029, about two standard errors of the difference) and the pre-mergers found,
not the post-mergers; it brings CNN1 level with the baseline, not above it.

Usage::

    .venv/bin/python benchmarks/learning_curves.py --n-objects 4000 --sizes 1000 3000 \\
        --filters 16 --augment both --epochs 12 --out benchmarks/results/learning_curves
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import galmerge.quiet  # noqa: F401  (TensorFlow start-up logs)
from galmerge.analysis import baseline
from galmerge.analysis import metrics as gm
from galmerge.data.catalog import load_catalog, load_image, split_groups
from galmerge.mock import generate_mock
from galmerge.nets import cnn
from galmerge.nets.training import augment_batch, normalise_images, validation_scores
from galmerge.sersic.fit import cutout
from galmerge.sersic.products import CUTOUT_SIZE


def in_processes(func, catalog, workers: int) -> list:
    """``func`` of consecutive parts of ``catalog``, computed by ``workers`` processes, in order."""
    if workers <= 1 or len(catalog) <= 100:
        return [func(catalog)]
    parts = [catalog.iloc[rows] for rows in np.array_split(np.arange(len(catalog)), workers)]
    with multiprocessing.Pool(workers) as pool:
        return pool.map(func, parts)


def _crops(frame) -> np.ndarray:
    return np.stack([cutout(load_image(p), CUTOUT_SIZE, "crop") for p in frame["image_path"]])


def raw_inputs(catalog, workers: int = 1) -> np.ndarray:
    """Normalised centre crops (N, 128, 128, 1) of the catalogue's images, read by ``workers`` processes."""
    crops = np.concatenate(in_processes(_crops, catalog, workers))
    return normalise_images(crops[..., None].astype(np.float32))


def _features(frame):
    return baseline.baseline_features(frame, progress=False)


def baseline_inputs(catalog, workers: int = 1):
    """The baseline's nine statistics of every image, computed by ``workers`` processes."""
    return pd.concat(in_processes(_features, catalog, workers))


def training_rows(groups: np.ndarray, size: int, fraction: float, seed: int = 0) -> np.ndarray | None:
    """Rows of ``size`` training images drawn from a random ``fraction`` of the training split's
    independent units (library orbits, isolated sequences: ``galmerge.data.catalog.split_groups``),
    in their catalogue order; None when those units hold fewer than ``size`` images. A fraction of 1
    gives the first ``size`` rows, as before."""
    if fraction >= 1.0:
        return np.arange(size) if size <= len(groups) else None
    units = np.unique(groups)
    rng = np.random.default_rng(seed)
    kept = rng.choice(units, size=max(1, int(round(fraction * len(units)))), replace=False)
    rows = np.flatnonzero(np.isin(groups, kept))
    return rows[:size] if len(rows) >= size else None


def epoch_arrays(x: np.ndarray, y: np.ndarray, augment: bool, rng: np.random.Generator):
    """One epoch's shuffled images and labels, each image turned / flipped when ``augment``
    (``galmerge.nets.training.augment_batch``, as the training pipeline does). Plain numpy arrays, so
    the script runs on any Keras backend (TensorFlow here, PyTorch on a GPU machine without it)."""
    order = rng.permutation(len(x))
    images = augment_batch(x[order], rng) if augment else x[order]
    return images, y[order]


def train_curve(x, y, size: int, filters: int, dense, augment: bool, epochs: int, seed: int = 1,
                train_rows: np.ndarray | None = None, bin_factor: int = 1, asymmetry_channel: bool = False):
    """Train one configuration; returns (per-epoch rows, summary dict, test scores).

    ``asymmetry_channel`` gives the network the crop's 180-degree asymmetry map as a second channel,
    made inside it as the pipeline's networks make it (``galmerge.nets.asymmetry``).

    ``train_rows`` picks the training images (default: the first ``size``); ``bin_factor`` > 1 puts
    the quick profile's b x b binning layer in front of the network, with the kernels scaled to the
    same sky area (``galmerge.nets.cnn.scaled_kernels``)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = cnn.build_model(input_shape=tuple(x["train"].shape[1:]), filters=filters, dense_units=dense,
                            input_bin=bin_factor, asymmetry_channel=asymmetry_channel,
                            kernel_sizes=cnn.scaled_kernels(cnn.PAPER_KERNEL_SIZES, bin_factor))
    train_rows = np.arange(size) if train_rows is None else np.asarray(train_rows)
    best, best_weights, rows = -np.inf, None, []
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        images, labels = epoch_arrays(x["train"][train_rows], y["train"][train_rows], augment, rng)
        fit = model.fit(images, labels, batch_size=32, epochs=1, shuffle=False, verbose=0)
        seconds = time.perf_counter() - t0
        record = validation_scores(y["validation"], model.predict(x["validation"], verbose=0))
        rows.append({"epoch": epoch, "loss": fit.history["loss"][0], "accuracy": fit.history["accuracy"][0],
                     **record, "seconds": seconds})
        print(f"  epoch {epoch}: loss {rows[-1]['loss']:.3f}, accuracy {rows[-1]['accuracy']:.3f}, "
              f"val accuracy {record['val_accuracy']:.3f} (0.5), {record['val_accuracy_pr']:.3f} "
              f"(P=R {record['val_threshold_pr']:.3f}); {seconds:.0f} s", flush=True)
        if record["val_accuracy_pr"] > best:
            best, best_weights = record["val_accuracy_pr"], model.get_weights()
    model.set_weights(best_weights)
    kept = max(rows, key=lambda r: (r["val_accuracy_pr"], -r["epoch"]))
    scores = model.predict(x["test"], verbose=0)[:, 0]
    val_scores = model.predict(x["validation"], verbose=0)[:, 0]
    threshold = gm.precision_recall_threshold(y["validation"].astype(int), val_scores)
    test = gm.classification_metrics(y["test"].astype(int), gm.predict(scores, threshold), scores)
    summary = {"kept_epoch": kept["epoch"], "val_accuracy_pr": kept["val_accuracy_pr"], "threshold": threshold,
               "test_accuracy": test["accuracy"], "test_auc": test["auc"],
               "train_seconds": float(sum(r["seconds"] for r in rows)),
               # the first epoch also builds the graph: the rate is the median of the later ones
               "images_per_second": size / float(np.median([r["seconds"] for r in rows[1:]] or [rows[0]["seconds"]]))}
    return rows, summary, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-objects", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--filters", type=int, nargs="+", default=[16])
    parser.add_argument("--dense", type=int, nargs=2, default=[64, 16],
                        help="dense units of the narrow networks; 128 kernels get the paper's 512, 128")
    parser.add_argument("--augment", choices=("off", "on", "both"), default="both")
    parser.add_argument("--bin", type=int, nargs="+", default=[1],
                        help="input binning of the network (1: the paper's; 2: the quick profile's 2 x 2 binning "
                        "layer, kernels 7, 6, 5)")
    parser.add_argument("--orbit-fractions", type=float, nargs="+", default=[1.0],
                        help="fractions of the training set's independent orbits (and isolated sequences) "
                        "that the N training images are drawn from: a fixed N from fewer orbits")
    parser.add_argument("--inputs", nargs="+", choices=("raw", "raw+asymmetry"), default=["raw"],
                        help="network inputs: the raw crop, or with its 180-degree asymmetry map as a second channel")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1],
                        help="network seeds (weights, augmentation, batch order); one configuration per seed")
    parser.add_argument("--data", type=Path, help="existing mock folder (default: generated in a temporary folder)")
    parser.add_argument("--out", type=Path, help="write <out>_curves.csv and <out>_summary.csv")
    parser.add_argument("--no-baseline", action="store_true", help="skip the non-CNN baseline (its features cost "
                        "a few minutes on thousands of images; 00_data reports it for every run)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes generating the mock, reading images and computing the baseline's statistics")
    args = parser.parse_args()
    import keras

    print(f"Keras {keras.__version__} on {keras.backend.backend()}; {os.cpu_count()} CPUs", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / "mock"
        if not data.exists():
            t0 = time.perf_counter()
            generate_mock(data, n=args.n_objects, seed=args.seed, workers=args.workers)
            print(f"mock of {args.n_objects} objects generated in {time.perf_counter() - t0:.0f} s", flush=True)
        catalog = load_catalog(data)
        splits = {s: catalog[catalog["split"] == s] for s in ("train", "validation", "test")}
        x = {s: raw_inputs(frame, args.workers) for s, frame in splits.items()}
        y = {s: frame["label"].to_numpy(np.float32) for s, frame in splits.items()}
        features = None if args.no_baseline else {s: baseline_inputs(frame, args.workers)
                                                  for s, frame in splits.items()}
    test_frame = splits["test"]
    stages = test_frame["stage"].value_counts().to_dict() if "stage" in test_frame.columns else {}
    print(f"mock: {len(catalog)} objects; train {len(y['train'])}, validation {len(y['validation'])}, "
          f"test {len(y['test'])} (stages {stages}); merger fraction in train {y['train'].mean():.2f}", flush=True)

    augments = {"off": [False], "on": [True], "both": [False, True]}[args.augment]
    curves, summaries = [], []
    test_scores = pd.DataFrame({"ID": test_frame["ID"].to_numpy(), "label": y["test"].astype(int),
                                **({"stage": test_frame["stage"].to_numpy()} if stages else {})})
    groups = split_groups(splits["train"]).to_numpy()
    for size, filters, augment, bin_factor, fraction, kind, seed in itertools.product(
            args.sizes, args.filters, augments, args.bin, args.orbit_fractions, args.inputs, args.seeds):
        rows = training_rows(groups, size, fraction)
        if rows is None:
            print(f"N={size}: fewer than {size} training images in {fraction:.0%} of the orbits, skipped")
            continue
        # the baseline trained on the same N training objects, scored on the same test galaxies
        base_test = np.nan
        if features is not None:
            model = baseline.fit_baseline(features["train"].iloc[rows], y["train"][rows])
            base_test = baseline.evaluate_baseline(model, features["test"], y["test"])
        dense = cnn.PAPER_DENSE_UNITS if filters == cnn.PAPER_FILTERS else args.dense
        epoch_rows, summary, scores = train_curve(x, y, size, filters, dense, augment, args.epochs, seed=seed,
                                                  train_rows=rows, bin_factor=bin_factor,
                                                  asymmetry_channel=kind == "raw+asymmetry")
        if args.out:  # per-galaxy test scores, for paired comparisons between inputs and seeds
            test_scores[f"{kind}_seed{seed}_n{size}_f{filters}_b{bin_factor}"] = scores
        found = gm.predict(scores, summary["threshold"]).astype(bool)
        for stage in stages:  # fraction of each stage's test galaxies called mergers
            summary[f"merger_{stage}"] = float(found[test_frame["stage"].to_numpy() == stage].mean())
        config = {"n_train": size, "filters": filters, "augment": augment, "bin": bin_factor,
                  "orbit_fraction": fraction, "n_orbits": len(set(groups[rows])), "inputs": kind, "seed": seed}
        curves += [{**config, **r} for r in epoch_rows]
        summaries.append({**config, **summary, "baseline_test_accuracy": base_test,
                          "n_test": len(y["test"]), "load_1min": os.getloadavg()[0]})
        if args.out:  # written after every configuration: a long run killed midway keeps what it measured
            args.out.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(curves).to_csv(f"{args.out}_curves.csv", index=False, float_format="%.4f")
            pd.DataFrame(summaries).to_csv(f"{args.out}_summary.csv", index=False, float_format="%.4f")
            test_scores.to_csv(f"{args.out}_test_scores.csv", index=False, float_format="%.5f")
        s = summaries[-1]
        print(f"N={size} filters={filters} augment={augment} bin={bin_factor} orbits={config['n_orbits']} "
              f"inputs={kind} seed={seed}: "
              f"kept epoch {s['kept_epoch']}/{args.epochs}, "
              f"val acc (P=R) {s['val_accuracy_pr']:.3f}, test acc {s['test_accuracy']:.3f} "
              f"(AUC {s['test_auc']:.3f}) vs baseline {s['baseline_test_accuracy']:.3f} on {s['n_test']} test "
              f"galaxies; {s['images_per_second']:.0f} img/s, load {s['load_1min']:.1f}", flush=True)
    curves, summaries = pd.DataFrame(curves), pd.DataFrame(summaries)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(curves.round(3).to_string(index=False))
        print(summaries.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
