"""Benchmark of galmerge.nets.occlusion.occlusion_map (issue 6).

Prints
1. occluded images scored per second by ``occlusion_map`` (copies built on the fly in streaming
   batches) against ``model.predict`` on a pre-built array of the same number of copies, and
   their ratio (target >= 0.9: building the copies is not the bottleneck);
2. peak memory of a stride-1 map of a 128x128 image: Python/numpy allocations traced by
   tracemalloc, and the growth of the process's maximum resident set (which includes
   TensorFlow's own buffers), beside the size of all occluded copies held at once.

The network is the quick profile's width (32 filters of 13/11/9 px, dense 128/32) built by
``galmerge.nets.cnn.build_model`` with random weights (speed does not depend on training).

Usage::

    .venv/bin/python benchmarks/bench_occlusion.py                    # both parts, stride 1 in full
    .venv/bin/python benchmarks/bench_occlusion.py --skip-memory      # throughput only (~1 min)
    .venv/bin/python benchmarks/bench_occlusion.py --filters 128 --dense 512 128   # paper width
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np

import galmerge  # noqa: F401  (quiet TensorFlow start-up)
from galmerge.nets.occlusion import background_noise_fill, occluded_batches, occlusion_map, occlusion_positions


def build_network(filters: int, kernels, dense, channels: int = 1):
    from galmerge.nets.cnn import build_model

    return build_model((128, 128, channels), filters=filters, kernel_sizes=kernels, dense_units=dense)


def test_image(seed: int = 0) -> np.ndarray:
    """A normalised 128x128 image: a Sérsic-like blob on sky noise, scaled to [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:128, :128]
    image = np.exp(-np.hypot(yy - 64, xx - 60) / 6.0) + 0.02 * rng.standard_normal((128, 128))
    return ((image - image.min()) / (image.max() - image.min())).astype(np.float32)[..., None]


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def throughput(model, image, box, stride, batch_size, repeats):
    ys, xs = occlusion_positions(image.shape[:2], box, stride)
    n = len(ys) * len(xs)
    prebuilt = np.concatenate([b for _, b in occluded_batches(image, box, stride, 0.0, batch_size)])
    # warm both paths (graph tracing of full and last partial batch)
    model.predict(prebuilt, batch_size=batch_size, verbose=0)
    occlusion_map(model, image, box, stride, fill=0.0, batch_size=batch_size, progress=False)
    rates = {"occlusion_map": [], "occlusion_map (noise fill)": [], "model.predict (pre-built)": [],
             "predict_on_batch (pre-built)": []}
    for _ in range(repeats):
        t = time.perf_counter()
        model.predict(prebuilt, batch_size=batch_size, verbose=0)
        rates["model.predict (pre-built)"].append(n / (time.perf_counter() - t))
        t = time.perf_counter()
        for start in range(0, n, batch_size):
            model.predict_on_batch(prebuilt[start:start + batch_size])
        rates["predict_on_batch (pre-built)"].append(n / (time.perf_counter() - t))
        t = time.perf_counter()
        occlusion_map(model, image, box, stride, fill=0.0, batch_size=batch_size, progress=False)
        rates["occlusion_map"].append(n / (time.perf_counter() - t))
        fill = background_noise_fill(image, seed=1)
        t = time.perf_counter()
        occlusion_map(model, image, box, stride, fill=fill, batch_size=batch_size, progress=False)
        rates["occlusion_map (noise fill)"].append(n / (time.perf_counter() - t))
    return n, {k: float(np.median(v)) for k, v in rates.items()}


def memory(model, image, box, batch_size):
    # warm up on one full batch: the activations of a batch are needed by any prediction
    model.predict_on_batch(np.repeat(image[None], batch_size, axis=0))
    ys, xs = occlusion_positions(image.shape[:2], box, 1)
    n1 = len(ys) * len(xs)
    all_at_once = n1 * image.nbytes / 2**20
    rss_before = max_rss_mib()
    tracemalloc.start()
    t = time.perf_counter()
    heat = occlusion_map(model, image, box, 1, fill=background_noise_fill(image, seed=1),
                         batch_size=batch_size, progress=True)
    seconds = time.perf_counter() - t
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = max_rss_mib()
    print(f"\nstride 1 on 128x128: {n1} occluded copies in {seconds:.1f} s ({n1 / seconds:.1f} images/s); "
          f"heatmap range {heat.min():.3f}..{heat.max():.3f}")
    print(f"  peak traced numpy/Python allocations  {traced_peak / 2**20:8.1f} MiB")
    print(f"  max resident set before / after       {rss_before:8.1f} / {rss_after:.1f} MiB "
          f"(growth {rss_after - rss_before:.1f} MiB)")
    print(f"  all {n1} copies held at once would be  {all_at_once:8.1f} MiB")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--kernels", type=int, nargs=3, default=[13, 11, 9])
    parser.add_argument("--dense", type=int, nargs=2, default=[128, 32])
    parser.add_argument("--box", type=int, default=8)
    parser.add_argument("--stride", type=int, default=4, help="stride of the throughput part (default 4: 961 copies)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true", help="skip the stride-1 memory part")
    args = parser.parse_args(argv)

    model = build_network(args.filters, args.kernels, args.dense)
    image = test_image()
    print(f"network: filters {args.filters}, kernels {args.kernels}, dense {args.dense}, "
          f"{model.count_params():,} parameters; batch {args.batch_size}; box {args.box}")

    if not args.skip_memory:
        memory(model, image, args.box, args.batch_size)

    n, rates = throughput(model, image, args.box, args.stride, args.batch_size, args.repeats)
    print(f"\nthroughput, stride {args.stride} ({n} occluded copies), median of {args.repeats} "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for name, rate in rates.items():
        print(f"  {name:30s} {rate:8.1f} images/s")
    for base in ("model.predict (pre-built)", "predict_on_batch (pre-built)"):
        print(f"  ratio occlusion_map / {base:30s} {rates['occlusion_map'] / rates[base]:5.2f}")


if __name__ == "__main__":
    main()
