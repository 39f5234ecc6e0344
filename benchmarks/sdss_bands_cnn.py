"""CNN1 on the i band alone against CNN1 on g, r and i, on SDSS colour JPEGs (issue 32, item 1).

Draws ``--n`` cutouts per class from a clone of the source repository (the layout
:mod:`galmerge.datasets.sdss_darg2010` converts), leaves out files identical byte for byte (the
Galaxy Zoo non-mergers were drawn with replacement), splits the objects at random into
``--fractions`` train / validation / test (a class-balanced test set, as Pearson et al. 2019
report), and trains the same network (``--filters``, kernels scaled to ``--bin``, as the sdss and
quick profiles' width) twice per seed on the same split, seeds and augmentation: once on the
central 128 px crop of the red channel (the i band, the sdss profile's input) and once on the crops
of the three bands (``raw_bands``, C = 3, :mod:`galmerge.sersic.products`). Only raw inputs are
compared: the per-band models need the Sérsic fits, whose CPU this machine did not have.

Prints, per seed and network: the kept epoch, accuracy on the balanced test split at the validation
split's precision = recall threshold (as Table 1), ROC AUC, and the paired difference (gri − i) with
a bootstrap interval over test galaxies; results go to ``--out`` as CSV.

Usage::

    nice -n 10 .venv/bin/python benchmarks/sdss_bands_cnn.py --source /path/to/CS_Project --n 1050 \\
        --epochs 8 --out benchmarks/results/sdss_bands_cnn.csv
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from galmerge.analysis import metrics as gm
from galmerge.datasets.sdss_darg2010 import CUTOUT_FOLDER
from galmerge.ingest import ImageProblem, read_image
from galmerge.nets import cnn
from galmerge.sersic.fit import cutout
from galmerge.sersic.products import BAND_CHANNELS, BAND_SCALES, BANDS_ATTRIBUTE, CUBES_FILE, write_products
from galmerge.vocab import CUTOUT_SIZE


def draw(source: Path, n: int, seed: int) -> tuple[list[Path], np.ndarray]:
    """``n`` readable JPEGs per class with distinct bytes, drawn without replacement."""
    rng = np.random.default_rng(seed)
    files, labels, seen = [], [], set()
    for folder, label in (("Mergers", 1), ("Non_Mergers", 0)):
        pool = sorted(p for p in (source / CUTOUT_FOLDER / folder).glob("*.jpeg") if p.stat().st_size)
        taken = 0
        for path in rng.permutation(np.array(pool, dtype=object)):
            digest = hashlib.sha1(Path(path).read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            files.append(Path(path))
            labels.append(label)
            taken += 1
            if taken == n:
                break
    return files, np.array(labels)


def write_raw_products(folder: Path, files: list[Path], labels: np.ndarray, splits: np.ndarray) -> Path:
    """A products folder with the raw crops (red channel) and their three bands; model and residual zero."""
    raw, bands, keep = [], [], []
    for k, path in enumerate(files):
        try:
            loaded = read_image(path, bands="gri")
        except ImageProblem as err:
            print(f"  left out {path}: {err.kind}: {err}")
            continue
        raw.append(cutout(loaded.image, CUTOUT_SIZE))
        bands.append(np.stack([cutout(p, CUTOUT_SIZE) for p in loaded.bands_image], axis=-1))
        keep.append(k)
    keep = np.array(keep)
    raw = np.stack(raw).astype(np.float32)
    images = pd.DataFrame({"ID": keep.astype(np.int64), "split": splits[keep], "label": labels[keep],
                           "status": "ok", "file": [str(files[k]) for k in keep]})
    path = write_products(folder, images, pd.DataFrame({"ID": [0]}),
                          {"raw": raw, "model": np.zeros_like(raw), "residual": np.zeros_like(raw)})
    with h5py.File(path / CUBES_FILE, "a") as h5:
        h5.create_dataset(BAND_CHANNELS[0], data=np.stack(bands).astype(np.float32),
                          chunks=(1, CUTOUT_SIZE, CUTOUT_SIZE, 3))
        for name in BAND_CHANNELS[1:]:
            h5.create_dataset(name, data=np.zeros((len(keep), CUTOUT_SIZE, CUTOUT_SIZE, 3), np.float32),
                              chunks=(1, CUTOUT_SIZE, CUTOUT_SIZE, 3))
        h5.create_dataset(BAND_SCALES, data=np.zeros((len(keep), 3)))
    return path


def set_bands(products: Path, bands: str | None) -> None:
    """Switch the products between one band (the networks read ``raw``) and three (``raw_bands``)."""
    with h5py.File(products / CUBES_FILE, "a") as h5:
        if bands:
            h5.attrs[BANDS_ATTRIBUTE] = bands
        else:
            h5.attrs.pop(BANDS_ATTRIBUTE, None)


def evaluate(out_dir: Path) -> dict:
    """Test accuracy at the validation precision = recall threshold, AUC, and the test predictions."""
    from galmerge.runs import read_scores, scores_file

    validation = read_scores(out_dir / scores_file("validation"))
    test = read_scores(out_dir / scores_file("test"))
    threshold = gm.choose_threshold(validation["label"].to_numpy(int), validation["score"].to_numpy()).threshold
    pred = (test["score"].to_numpy() >= threshold).astype(int)
    y = test["label"].to_numpy(int)
    return {"threshold": threshold, "accuracy": float((pred == y).mean()), "auc": gm.roc_auc(y, test["score"]),
            "pred": pred, "y": y}


def main(argv=None) -> None:
    from galmerge.nets.training import train_network

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, type=Path, help="root of the clone of AStemo/CS_Project")
    parser.add_argument("--n", type=int, default=1050, help="images per class")
    parser.add_argument("--fractions", type=float, nargs=3, default=(0.6, 0.15, 0.25))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--bin", type=int, default=2, help="input binning (nets.cnn input_bin)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="CSV of the results")
    args = parser.parse_args(argv)
    files, labels = draw(args.source, args.n, args.split_seed)
    rng = np.random.default_rng(args.split_seed)
    cut = np.cumsum(np.array(args.fractions) / np.sum(args.fractions))[:2]
    u = rng.random(len(files))
    splits = np.where(u < cut[0], "train", np.where(u < cut[1], "validation", "test"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="sdss_bands_cnn_") as scratch:
        t0 = time.perf_counter()
        products = write_raw_products(Path(scratch) / "products", files, labels, splits)
        print(f"{len(files)} JPEGs read in {time.perf_counter() - t0:.0f} s; split "
              f"{pd.Series(splits).value_counts().to_dict()}")
        for seed in args.seeds:
            results = {}
            for bands in (None, "gri"):
                set_bands(products, bands)
                out = Path(scratch) / f"{bands or 'i'}_{seed}"
                t0 = time.perf_counter()
                result = train_network(products, "raw", out, epochs=args.epochs, batch_size=32, filters=args.filters,
                                       kernel_sizes=cnn.scaled_kernels(cnn.PAPER_KERNEL_SIZES, args.bin),
                                       dense_units=(64, 16), input_bin=args.bin, augment=True, seed=seed,
                                       progress=False, reuse=False)
                scored = evaluate(out)
                results[bands or "i"] = scored
                rows.append({"seed": seed, "bands": bands or "i", "best_epoch": result.best_epoch,
                             "val_accuracy": result.val_accuracy_best, "test_accuracy": scored["accuracy"],
                             "test_auc": scored["auc"], "n_test": len(scored["y"]),
                             "seconds": round(time.perf_counter() - t0, 1)})
                print(rows[-1])
            i_band, gri = results["i"], results["gri"]
            diff = gm.paired_bootstrap_difference(i_band["y"], gri["pred"], i_band["pred"], "accuracy",
                                                  n_resamples=2000, rng=seed)
            print(f"seed {seed}: accuracy gri - i {diff.difference:+.3f} [{diff.lower:+.3f}, {diff.upper:+.3f}]")
            rows[-1].update(accuracy_minus_i=diff.difference, accuracy_minus_i_low=diff.lower,
                            accuracy_minus_i_high=diff.upper)
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
