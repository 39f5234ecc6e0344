"""How well can CNN1 (raw images) learn the mock, as a function of the training-set size?

Calibrates the mock's difficulty (issues 4 and 12: a CNN1 near chance or near 100 % on raw mock
images would mean the mock is wrong, and a CNN no better than simple statistics would mean the
mock has nothing a CNN can learn beyond them) without the slow Sérsic fitting: CNN1 needs only
the raw 128 x 128 centre crops. For each training size N it trains the quick profile's network
(16 kernels, dense 64/16) on the first N training images of a mock dataset (the split of
``galmerge.data.catalog``) and prints the best validation accuracy, the test accuracy at threshold 0.5,
and beside them the non-CNN baseline of :mod:`galmerge.analysis.baseline` trained on the same N images and
scored on the same validation and test images.

Measured on issue 12's mock (4000 objects, seed 11, --epochs 10, shared 2-core machine at load
10-20): N=450, CNN1 best validation 0.544 vs baseline 0.624 (1299 s); N=1500, 0.531 vs 0.633 (456 s,
load ~3); N=3000, CNN1 0.623 (epoch 8) vs baseline 0.634, test 0.618 vs 0.685 (1922 s).

Usage (a 4000-object mock gives about 3000 training images)::

    .venv/bin/python benchmarks/mock_learnability.py --n-objects 4000 --sizes 450 1500 3000 --epochs 15
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import galmerge.quiet  # noqa: F401  (TensorFlow start-up logs)
from galmerge.analysis import baseline
from galmerge.data.catalog import load_catalog, load_image
from galmerge.mock import generate_mock
from galmerge.nets import cnn
from galmerge.nets.training import normalise_images
from galmerge.sersic.fit import cutout
from galmerge.sersic.products import CUTOUT_SIZE


def raw_inputs(catalog) -> np.ndarray:
    """Normalised centre crops (N, 128, 128, 1) of the catalogue's images."""
    crops = np.stack([cutout(load_image(p), CUTOUT_SIZE, "crop") for p in catalog["image_path"]])
    return normalise_images(crops[..., None].astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-objects", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[450, 1500, 3000])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--dense", type=int, nargs=2, default=[64, 16])
    parser.add_argument("--data", type=Path, help="existing mock folder (default: generated in a temporary folder)")
    args = parser.parse_args()

    import keras

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / "mock"
        if not data.exists():
            generate_mock(data, n=args.n_objects, seed=args.seed)
        catalog = load_catalog(data)
        splits = {s: catalog[catalog["split"] == s] for s in ("train", "validation", "test")}
        x = {s: raw_inputs(frame) for s, frame in splits.items()}
        y = {s: frame["label"].to_numpy(np.float32) for s, frame in splits.items()}
        features = {s: baseline.baseline_features(frame, progress=False) for s, frame in splits.items()}
    print(f"mock: {len(catalog)} objects; train {len(y['train'])}, validation {len(y['validation'])}, "
          f"test {len(y['test'])}; merger fraction in train {y['train'].mean():.2f}")
    print(f"CNN1: {args.filters} kernels, dense {args.dense}, {args.epochs} epochs, batch 32; "
          f"baseline: logistic regression on {len(baseline.FEATURES)} statistics")
    started = time.perf_counter()
    for size in args.sizes:
        if size > len(y["train"]):
            print(f"N={size}: only {len(y['train'])} training images, skipped")
            continue
        base = baseline.fit_baseline(features["train"].iloc[:size], y["train"][:size])
        base_val = baseline.evaluate_baseline(base, features["validation"], y["validation"])
        base_test = baseline.evaluate_baseline(base, features["test"], y["test"])
        keras.utils.set_random_seed(1)
        model = cnn.build_model(filters=args.filters, dense_units=args.dense)
        t0 = time.perf_counter()  # training time only (per-epoch lines show the progress)
        print(f"N={size}: baseline validation accuracy {base_val:.3f}, test {base_test:.3f}", flush=True)
        progress = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs, size=size, t0=t0: print(
            f"  N={size} epoch {epoch + 1}: CNN1 validation accuracy {logs['val_accuracy']:.3f} "
            f"(train {logs['accuracy']:.3f}), {time.perf_counter() - t0:.0f} s", flush=True))
        history = model.fit(x["train"][:size], y["train"][:size], batch_size=32, epochs=args.epochs,
                            validation_data=(x["validation"], y["validation"]), verbose=0, callbacks=[progress])
        val = history.history["val_accuracy"]
        test = float(np.mean((model.predict(x["test"], verbose=0)[:, 0] > 0.5) == y["test"]))
        print(f"N={size}: CNN1 best validation accuracy {max(val):.3f} (epoch {int(np.argmax(val)) + 1}), "
              f"last {val[-1]:.3f}; test accuracy (last epoch, threshold 0.5) {test:.3f}; "
              f"{time.perf_counter() - t0:.0f} s | baseline validation {base_val:.3f}, test {base_test:.3f} | "
              f"CNN1 best validation minus baseline validation {max(val) - base_val:+.3f}", flush=True)
    print(f"training wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
