#!/usr/bin/env python
"""GPU training and prediction speed of the paper's CNN, Keras 3 on any backend (meant for torch).

    KERAS_BACKEND=torch python3 benchmarks/bench_training_gpu.py --out gpu_training.csv
    KERAS_BACKEND=torch python3 benchmarks/bench_training_gpu.py --widths paper --steps 60
    KERAS_BACKEND=tensorflow .venv/bin/python benchmarks/bench_training_gpu.py --quick-only --steps 2 --warmup 1

Written for a one-off run on a rented GPU machine that has PyTorch but no TensorFlow (hence no
tf.data and no :mod:`galmerge.nets.training`): the network is :func:`galmerge.nets.cnn.build_model`, the only
galmerge code imported (with :mod:`galmerge.config` for the profiles' widths when PyYAML is there),
and the data are random float32 images in [0, 1] with random 0/1 labels held in memory (the content
does not change the speed). For each width it prints and writes (``--out``, CSV):

* ``train_fit_img_s``: images/s of ``model.fit`` on a numpy array of ``--steps`` batches (median of
  ``--repeats`` calls, after ``--warmup`` steps that build the optimizer and warm the kernels),
* ``train_step_img_s``: the same steps through ``model.train_on_batch`` on device tensors (no data
  loader; the difference to ``fit`` is the input feed's cost),
* ``predict_img_s``: images/s of ``model.predict`` on ``--predict-images`` images, batch 64 as in
  :func:`galmerge.nets.training.predict_images`,
* ``epoch_s``: one paper-profile epoch, ``--epoch-train-images`` (15,000: 75 % of the paper
  profile's 20,000 mock objects) / ``train_fit_img_s`` + ``--epoch-val-images`` (3,000, the 15 %
  validation split) / ``predict_img_s``, and ``total_h``: ``--epochs`` (50) epochs of
  ``--networks`` (3: raw, model, residual; the paper profile's stacked fourth network costs about
  the same again) networks, in hours.

Widths (``--widths``): ``paper`` (128 filters of 13/11/9 px, dense 512/128, 7,594,241 trainable
parameters), ``quick`` (the quick profile: 16 filters, dense 64/16) and ``paper-mixed`` (paper width,
``mixed_precision=True``: float16 compute, float32 variables, loss scaling). Input 128x128x1,
batch 32 and Adam at 3e-4 as in the paper profile. A width that fails (e.g. out of memory) is
reported in the ``error`` column and the others still run. With the defaults the whole run takes
well under 3 minutes on one H200 (estimate: about 10 GFLOP per image forward at the paper width).

On a machine without TensorFlow, install the wheels of keras, namex, optree (and typing-extensions)
with ``pip install --no-deps --target DIR`` and put DIR and ``lib/`` on ``PYTHONPATH``.

Measured (2026-11-26, one NVIDIA H200 lent for the session, Keras 3.15.1 on torch 2.11.0+cu130,
cuDNN 9.19, cudnn.benchmark off; the wheels keras, namex, optree and typing_extensions carried;
``KERAS_BACKEND=torch python3 benchmarks/bench_training_gpu.py``, 30 timed steps x 3 repeats)::

    width        params     train img/s (fit)  predict img/s  peak GPU MiB  paper epoch  50 epochs x 3
    paper        7,594,241  1555               8101           2248          10.0 s       25.0 min
    quick          121,377  2576               11023            384          6.1 s       (15.2 min)
    paper-mixed  7,594,241  1606               8583           1722           9.7 s       24.2 min

At batch 32 the GPU is bound by per-step overhead, not arithmetic: the quick network, 63 times
smaller, is only 1.7 times faster, and mixed precision gains 3 %. The paper profile's training
(three networks, 50 epochs, 15,000 training images) thus takes about 25 min on one H200, against
about 0.03 CPU s per image-epoch for the quick width on this project's 2-core CPU.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from galmerge.nets import cnn  # noqa: E402  (stdlib + lazy keras only; galmerge/__init__ imports only galmerge.quiet)

#: Images per batch of ``model.predict`` in galmerge.nets.training (PREDICT_BATCH_SIZE; not imported:
#: galmerge.nets.training needs TensorFlow).
PREDICT_BATCH_SIZE = 64
WIDTHS = ("paper", "quick", "paper-mixed")
#: The quick profile's widths, used when galmerge.config (PyYAML) cannot be imported.
QUICK_FALLBACK = {"cnn_filters": 16, "cnn_dense_units": [64, 16]}


def profile(name: str) -> dict:
    """The CNN parameters of a profile (galmerge.config; its fallback constants without PyYAML)."""
    keys = ("cnn_filters", "cnn_kernel_sizes", "cnn_dense_units", "batch_size", "learning_rate")
    try:
        from galmerge import config
    except ImportError:
        values = {"cnn_filters": cnn.PAPER_FILTERS, "cnn_kernel_sizes": list(cnn.PAPER_KERNEL_SIZES),
                  "cnn_dense_units": list(cnn.PAPER_DENSE_UNITS), "batch_size": 32,
                  "learning_rate": cnn.PAPER_LEARNING_RATE}
        return {**values, **(QUICK_FALLBACK if name == "quick" else {})}
    values = config.load_profile(name)
    return {k: values[k] for k in keys}


def width_spec(width: str) -> dict:
    """build_model keyword arguments and the batch size of one row."""
    p = profile("quick" if width == "quick" else "paper")
    return {"filters": int(p["cnn_filters"]), "kernel_sizes": tuple(p["cnn_kernel_sizes"]),
            "dense_units": tuple(p["cnn_dense_units"]), "learning_rate": float(p["learning_rate"]),
            "mixed_precision": width.endswith("-mixed"), "batch_size": int(p["batch_size"])}


def torch_module():
    """torch if the Keras backend is torch, else None."""
    import keras

    if keras.backend.backend() != "torch":
        return None
    import torch

    return torch


def synchronize() -> None:
    """Wait for queued GPU work (torch backend; the other backends' results are already synced)."""
    torch = torch_module()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize()


def environment() -> dict:
    """Backend, versions and device, as printed at the start and stored in every CSV row."""
    import keras

    info = {"backend": keras.backend.backend(), "keras": keras.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "device": "cpu", "framework": ""}
    torch = torch_module()
    if torch is not None:
        info["framework"] = f"torch {torch.__version__}"
        if torch.cuda.is_available():
            info["device"] = torch.cuda.get_device_name(0)
            info["framework"] += (f", CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
                                  f"TF32 matmul/cudnn {torch.backends.cuda.matmul.allow_tf32}/"
                                  f"{torch.backends.cudnn.allow_tf32}, cudnn.benchmark "
                                  f"{torch.backends.cudnn.benchmark}")
    elif info["backend"] == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        info["framework"] = f"tensorflow {tf.__version__}"
        if gpus:
            info["device"] = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    if info["device"] == "cpu":
        info["device"] = f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
    return info


def timed(function) -> float:
    """Seconds of ``function()``, GPU work included."""
    synchronize()
    start = time.perf_counter()
    function()
    synchronize()
    return time.perf_counter() - start


def reset_memory_stats() -> None:
    torch = torch_module()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mib() -> float:
    torch = torch_module()
    if torch is not None and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return float("nan")


def bench_width(width: str, args, rng: np.random.Generator) -> dict:
    """Train and predict speeds of one width (see the module docstring)."""
    import keras

    spec = width_spec(width)
    profile_batch = spec.pop("batch_size")
    batch = args.batch_size or profile_batch
    row = {"width": width, "filters": spec["filters"], "kernels": "/".join(map(str, spec["kernel_sizes"])),
           "dense": "/".join(map(str, spec["dense_units"])), "mixed_precision": spec["mixed_precision"],
           "batch": batch, "steps": args.steps, "repeats": args.repeats}
    keras.utils.set_random_seed(args.seed)
    reset_memory_stats()
    model = cnn.build_model(input_shape=(128, 128, 1), **spec)
    row["params"] = cnn.count_trainable_params(model)

    n_train = max(args.steps, args.warmup) * batch
    x = rng.random((n_train, 128, 128, 1), dtype=np.float32)
    y = rng.integers(0, 2, (n_train, 1)).astype(np.float32)

    def fit(steps):
        model.fit(x[:steps * batch], y[:steps * batch], batch_size=batch, epochs=1, shuffle=False, verbose=0)

    fit(args.warmup)  # builds the optimizer state, picks the kernels
    row["train_fit_img_s"] = statistics.median(args.steps * batch / timed(lambda: fit(args.steps))
                                               for _ in range(args.repeats))

    batches = [(keras.ops.convert_to_tensor(x[i * batch:(i + 1) * batch]),
                keras.ops.convert_to_tensor(y[i * batch:(i + 1) * batch])) for i in range(args.steps)]

    def steps():
        for xb, yb in batches:
            model.train_on_batch(xb, yb)

    model.train_on_batch(*batches[0])
    row["train_step_img_s"] = statistics.median(args.steps * batch / timed(steps) for _ in range(args.repeats))

    x_pred = rng.random((args.predict_images, 128, 128, 1), dtype=np.float32)
    model.predict(x_pred[:2 * args.predict_batch_size], batch_size=args.predict_batch_size, verbose=0)
    row["predict_batch"] = args.predict_batch_size
    row["predict_img_s"] = statistics.median(
        args.predict_images / timed(lambda: model.predict(x_pred, batch_size=args.predict_batch_size, verbose=0))
        for _ in range(args.repeats))
    row["peak_gpu_mib"] = peak_memory_mib()

    row["epoch_s"] = args.epoch_train_images / row["train_fit_img_s"] + args.epoch_val_images / row["predict_img_s"]
    row["total_h"] = args.epochs * args.networks * row["epoch_s"] / 3600
    return row


def release() -> None:
    """Free the last width's network and GPU memory before the next one."""
    import keras

    keras.backend.clear_session()
    gc.collect()
    torch = torch_module()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", nargs="+", choices=WIDTHS, default=list(WIDTHS),
                        help="rows to measure (default: paper quick paper-mixed)")
    parser.add_argument("--quick-only", action="store_true", help="only the quick width (CPU smoke test)")
    parser.add_argument("--no-mixed", action="store_true", help="skip paper-mixed")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per repeat (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed training steps first (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measurement, median kept (default 3)")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch (default: the profile's, 32)")
    parser.add_argument("--predict-images", type=int, default=2048, help="images per predict timing (default 2048)")
    parser.add_argument("--predict-batch-size", type=int, default=PREDICT_BATCH_SIZE)
    parser.add_argument("--epoch-train-images", type=int, default=15000, help="75 %% of 20,000 mock objects")
    parser.add_argument("--epoch-val-images", type=int, default=3000, help="15 %% of 20,000 mock objects")
    parser.add_argument("--epochs", type=int, default=50, help="epochs per network (paper: 50)")
    parser.add_argument("--networks", type=int, default=3, help="networks trained (paper: 3)")
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="torch.backends.cudnn.benchmark = True (autotuned convolutions; off by default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the table as CSV here too")
    args = parser.parse_args(argv)
    widths = ["quick"] if args.quick_only else [w for w in args.widths if not (args.no_mixed and w.endswith("-mixed"))]
    if min(args.steps, args.warmup, args.repeats, args.predict_images) < 1:
        parser.error("--steps, --warmup, --repeats and --predict-images must be positive")

    torch = torch_module()
    if torch is not None and args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    info = environment()
    print(f"Keras {info['keras']} on {info['backend']} ({info['framework'] or 'no GPU framework info'}); "
          f"numpy {info['numpy']}; Python {info['python']}", flush=True)
    print(f"device: {info['device']}", flush=True)
    if info["device"].startswith("cpu"):
        print("warning: no GPU found; the numbers below are CPU numbers", flush=True)

    rng = np.random.default_rng(args.seed)
    rows = []
    for width in widths:
        start = time.perf_counter()
        try:
            row = bench_width(width, args, rng)
        except Exception as error:  # noqa: BLE001  (one failing row, e.g. out of memory, must not lose the others)
            row = {"width": width, "error": f"{type(error).__name__}: {error}"[:300]}
        release()
        row["wall_s"] = time.perf_counter() - start
        row.update(backend=info["backend"], device=info["device"])
        rows.append(row)
        print(f"{width}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in row.items() if k not in ("backend", "device")), flush=True)

    columns = ["width", "filters", "kernels", "dense", "mixed_precision", "params", "batch", "steps", "repeats",
               "train_fit_img_s", "train_step_img_s", "predict_batch", "predict_img_s", "epoch_s", "total_h",
               "peak_gpu_mib", "wall_s", "backend", "device", "error"]
    print()
    shown = ["width", "params", "train_fit_img_s", "train_step_img_s", "predict_img_s", "epoch_s", "total_h",
             "peak_gpu_mib"]
    print("  ".join(f"{c:>16}" for c in shown))
    for row in rows:
        print("  ".join(f"{row[c]:>16.1f}" if isinstance(row.get(c), float) else f"{row.get(c, '-')!s:>16}"
                        for c in shown))
    for row in rows:
        if row["width"].startswith("paper") and "epoch_s" in row:
            print(f"{row['width']}: one paper-profile epoch ({args.epoch_train_images} training images at "
                  f"{row['train_fit_img_s']:.4g} images/s + {args.epoch_val_images} validation images at "
                  f"{row['predict_img_s']:.4g} images/s) = {row['epoch_s']:.1f} s; {args.epochs} epochs x "
                  f"{args.networks} networks = {row['total_h'] * 60:.1f} min ({row['total_h']:.2f} h)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        print(f"written {args.out}")


if __name__ == "__main__":
    main()
