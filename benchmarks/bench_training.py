#!/usr/bin/env python
"""Training throughput: the streaming tf.data pipeline against the same model fed from memory.

    .venv/bin/python benchmarks/bench_training.py                  # quick width, then paper width (few steps)
    .venv/bin/python benchmarks/bench_training.py --skip-paper --widths 8:32,8 16:64,16 32:128,32
    .venv/bin/python benchmarks/bench_training.py --products runs/quick-mock_quick/products
    .venv/bin/python benchmarks/bench_training.py --skip-paper --input-bin 1 2   # the quick profile's binned input

For each network width it times ``model.fit`` steps on

* ``memory``: pre-normalised images in an in-memory tensor (``Dataset.from_tensor_slices``),
* ``pipeline``: :func:`galmerge.nets.training.make_dataset` streaming from the products' HDF5 cubes
  (shuffled reads, per-image normalisation, prefetch), exactly what training uses,

alternating the two ``--repeats`` times (the machine may be shared, so each pair is measured
back to back) and prints images/s and the ratio pipeline / memory (>= 0.9: the input pipeline
is not the bottleneck). It also prints the pipeline alone (no model), the ceiling it can feed.
With a GPU present it also estimates the paper profile's epoch time (paper width, batch 32,
``--epoch-images`` training images, by default 75 % of the paper profile's 20,000 mock objects).

Without ``--products`` the images come from a small synthetic products folder written to a
temporary directory (blobs and noise; the content does not change the speed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

import galmerge  # noqa: E402,F401  (quiet TensorFlow logs before it loads)
from galmerge.nets import cnn, training  # noqa: E402
from galmerge.sersic.products import Products, write_products  # noqa: E402
from galmerge.vocab import INPUT_KINDS, input_channels  # noqa: E402

QUICK = (32, (128, 32))
PAPER = (cnn.PAPER_FILTERS, cnn.PAPER_DENSE_UNITS)


def synthetic_products(path: Path, n: int, seed: int = 0) -> Path:
    """n images of one or two Gaussian blobs plus noise, all in the train split."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:128, :128].astype(np.float32)
    model = np.empty((n, 128, 128), np.float32)
    for i in range(n):
        x0, y0, s = rng.uniform(40, 88, 2).tolist() + [rng.uniform(3, 10)]
        model[i] = rng.uniform(5, 50) * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * s * s))
    residual = rng.normal(0, 1, model.shape).astype(np.float32)
    images = pd.DataFrame({"ID": np.arange(n), "split": "train", "label": np.arange(n) % 2})
    return write_products(path, images, pd.DataFrame({"ID": images["ID"]}),
                          {"raw": model + residual, "model": model, "residual": residual})


def parse_width(text: str) -> tuple[int, tuple[int, ...]]:
    """'32:128,32' -> (32, (128, 32))."""
    filters, _, dense = text.partition(":")
    return int(filters), tuple(int(u) for u in dense.split(","))


def time_fit(model, dataset, steps: int) -> float:
    """Seconds of ``steps`` training steps (the model's train function is already traced)."""
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    return time.perf_counter() - start


def memory_dataset(products: Products, rows: np.ndarray, kind: str, batch_size: int):
    import tensorflow as tf

    x = training.normalise_images(products.read(list(input_channels(kind)), rows))
    y = products.images["label"].to_numpy()[rows].astype(np.float32)
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(rows), seed=0).batch(batch_size) \
        .repeat().prefetch(tf.data.AUTOTUNE)


def pipeline_dataset(products, rows, kind, batch_size):
    return training.make_dataset(products, rows, kind, batch_size, shuffle=True, seed=0).repeat()


def pipeline_alone(products, rows, kind, batch_size, batches: int = 20) -> float:
    """Images/s the pipeline serves with no model attached."""
    data = iter(pipeline_dataset(products, rows, kind, batch_size))
    next(data)
    start = time.perf_counter()
    n = sum(len(next(data)[0]) for _ in range(batches))
    return n / (time.perf_counter() - start)


def compare(products, rows, kind, filters, dense, batch_size, steps, repeats, seed=0, input_bin=1) -> dict:
    """Alternating memory / pipeline timings of one width; returns images/s and the ratio. ``input_bin``
    2 is the quick profile's network (2 x 2 binning layer, kernels 7, 6, 5)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = cnn.build_model(input_shape=(128, 128, len(input_channels(kind))), filters=filters,
                            dense_units=dense, input_bin=input_bin,
                            kernel_sizes=cnn.scaled_kernels(cnn.PAPER_KERNEL_SIZES, input_bin))
    feeds = {"memory": memory_dataset(products, rows, kind, batch_size),
             "pipeline": pipeline_dataset(products, rows, kind, batch_size)}
    for data in feeds.values():  # trace the train function, fill the prefetch buffers
        time_fit(model, data, 1)
    rates = {name: [] for name in feeds}
    for _ in range(repeats):
        for name, data in feeds.items():
            rates[name].append(steps * batch_size / time_fit(model, data, steps))
    pair_ratios = [p / m for p, m in zip(rates["pipeline"], rates["memory"])]
    return {"filters": filters, "dense": ",".join(map(str, dense)), "input_bin": input_bin,
            "params": cnn.count_trainable_params(model),
            "batch": batch_size, "steps": steps, "memory_img_s": statistics.median(rates["memory"]),
            "pipeline_img_s": statistics.median(rates["pipeline"]), "ratio": statistics.median(pair_ratios),
            "ratio_min": min(pair_ratios), "ratio_max": max(pair_ratios)}


def gpu_epoch_time(products, rows, kind, batch_size, epoch_images, steps) -> dict:
    """Paper width on the GPU: measured images/s, extrapolated to one epoch of ``epoch_images``."""
    filters, dense = PAPER
    result = compare(products, rows, kind, filters, dense, batch_size, steps, repeats=2)
    result["epoch_images"] = epoch_images
    result["epoch_seconds_pipeline"] = epoch_images / result["pipeline_img_s"]
    result["epoch_seconds_memory"] = epoch_images / result["memory_img_s"]
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=Path, help="products folder (default: synthetic, temporary)")
    parser.add_argument("--images", type=int, default=256, help="synthetic images (default 256)")
    parser.add_argument("--kind", default="raw", choices=INPUT_KINDS)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6, help="steps per timing (default 6)")
    parser.add_argument("--repeats", type=int, default=3, help="memory/pipeline pairs (default 3)")
    parser.add_argument("--widths", nargs="*", type=parse_width, default=[QUICK],
                        help="FILTERS:DENSE1,DENSE2 ... (default 32:128,32, the quick profile)")
    parser.add_argument("--skip-paper", action="store_true", help="skip the paper width")
    parser.add_argument("--paper-batch-size", type=int, default=8, help="paper width on CPU (default 8)")
    parser.add_argument("--paper-steps", type=int, default=2, help="paper width steps per timing on CPU")
    parser.add_argument("--epoch-images", type=int, default=15000, help="training images of a paper-profile epoch")
    parser.add_argument("--input-bin", type=int, nargs="+", default=[1],
                        help="input binning of the narrow widths (1: the paper's network; 2: the quick profile's)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    print(f"TensorFlow {tf.__version__}; GPUs: {[g.name for g in gpus] or 'none'}; CPUs: {os.cpu_count()}; "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}; load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.products or synthetic_products(Path(tmp) / "products", args.images)
        with Products(path) as products:
            rows = products.rows("train")
            print(f"{len(rows)} training images from {path}, input kind {args.kind}")
            alone = pipeline_alone(products, rows, args.kind, args.batch_size)
            print(f"pipeline alone (no model): {alone:.0f} images/s")
            results = [compare(products, rows, args.kind, f, d, args.batch_size, args.steps, args.repeats,
                               input_bin=b) for f, d in args.widths for b in args.input_bin]
            if not args.skip_paper and not gpus:
                results.append(compare(products, rows, args.kind, *PAPER, args.paper_batch_size,
                                       args.paper_steps, repeats=1))
            table = pd.DataFrame(results)
            print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
            if gpus:
                gpu = gpu_epoch_time(products, rows, args.kind, 32, args.epoch_images, max(args.steps, 20))
                print(f"GPU, paper width, batch 32: {gpu['pipeline_img_s']:.0f} images/s from the pipeline "
                      f"({gpu['memory_img_s']:.0f} from memory, ratio {gpu['ratio']:.2f}); one paper-profile "
                      f"epoch of {args.epoch_images} images: {gpu['epoch_seconds_pipeline']:.0f} s "
                      f"(x50 epochs: {50 * gpu['epoch_seconds_pipeline'] / 60:.0f} min)")


if __name__ == "__main__":
    main()
