"""Input pipeline, training loop and prediction for the paper's CNNs (Chudy et al. 2025, Sect. 3.2.2).

The images come from the fitting stage's products (:mod:`galmerge.sersic.products`), streamed from the
HDF5 cubes batch by batch, so a dataset larger than memory trains. Every image is normalised on
the fly, channel by channel, linearly to [0, 1] (:func:`normalise_images`, the paper's
preprocessing); everything that feeds a trained network (evaluation, occlusion, prediction on new
cutouts) must go through the same function, which is why it is public.

A trained network lives in one folder (``<run>/train/<kind>/``, see :mod:`galmerge.runs`)::

    model.keras             the weights of the kept epoch: the highest validation accuracy at the
                            validation precision = recall threshold (the paper's choice, Sect. 3.2)
    history.csv             every epoch: loss, accuracy, val_loss, val_accuracy (at 0.5),
                            val_threshold_pr, val_accuracy_pr, seconds, best
    config.json             the run's parameters, library versions, devices, parameter count, results
    scores_validation.csv   ID, label, score (sigmoid output, P(merger)) of the validation split
    scores_test.csv         the same for the test split; written last: it marks a finished run

Public API: :func:`normalise_images`, :func:`make_dataset`, :func:`train_network`,
:func:`predict_scores`, :func:`predict_images`. Its outputs are read with :mod:`galmerge.runs`
(:func:`galmerge.runs.read_network`, :func:`~galmerge.runs.read_config`,
:func:`~galmerge.runs.read_scores`, :func:`~galmerge.runs.read_history`,
:func:`~galmerge.runs.is_finished`).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import platform
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from galmerge.analysis import metrics as gm
from galmerge.nets import batchnorm, cnn
from galmerge.runs import (
    CONFIG_FILE,
    MODEL_FILE,
    TRAINING_FILES,
    is_finished,
    read_config,
    read_history,
    read_network,
    scores_file,
    source_fingerprint,
    write_history,
    write_json,
    write_scores,
)
from galmerge.sersic.products import Products
from galmerge.vocab import NETWORK_LABELS, SCORED_SPLITS, SPLITS, input_channels

log = logging.getLogger(__name__)

#: Images per forward pass when scoring (64 keeps the paper network's first feature maps,
#: 64 x 116 x 116 x 128 float32, near 440 MB).
PREDICT_BATCH_SIZE = 64
#: How the kept epoch is chosen (recorded in config.json; a run chosen otherwise is not reused).
EPOCH_SELECTION = "highest validation accuracy at the validation precision = recall threshold"
#: Seconds between redraws of the training progress line: through papermill every redraw is kept in
#: the executed notebook's stream (run_all.py collapses them to the last), so a 7-minute network
#: leaves about 30, not one per batch.
PROGRESS_INTERVAL_S = 15.0


class TrainingError(RuntimeError):
    """Training cannot start or its outputs are missing or inconsistent."""


# --------------------------------------------------------------------------------------------
# normalisation and augmentation


def normalise_images(images: np.ndarray) -> np.ndarray:
    """Linear min-max normalisation of each image and channel to [0, 1] (the paper's preprocessing).

    Parameters
    ----------
    images : ndarray, shape (..., height, width, channels)
        One image (H, W, C) or a batch (N, H, W, C), any float unit (counts, flux).

    Returns
    -------
    ndarray, float32, same shape
        ``(x - min) / (max - min)`` per image and channel. A constant channel becomes 0.
        Non-finite pixels (NaN, inf) are ignored when finding min and max and set to 0; the
        products of the fitting stage are finite, so this only guards against a bad cutout.
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim < 3:
        raise ValueError(f"images must have shape (..., height, width, channels), got {x.shape}")
    out = np.empty_like(x)
    # one channel at a time on a contiguous copy: numpy reduces a trailing axis of 3 very slowly
    for c in range(x.shape[-1]):
        out[..., c] = _normalise_planes(np.ascontiguousarray(x[..., c]))
    return out


def _normalise_planes(planes: np.ndarray) -> np.ndarray:
    """Min-max normalise (..., H, W) planes in place; see :func:`normalise_images`."""
    lo = planes.min(axis=(-2, -1), keepdims=True)
    hi = planes.max(axis=(-2, -1), keepdims=True)
    finite = bool(np.isfinite(lo).all() and np.isfinite(hi).all())
    if not finite:  # rare path: min and max of the finite pixels only
        masked = np.where(np.isfinite(planes), planes, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN planes
            lo = np.nan_to_num(np.nanmin(masked, axis=(-2, -1), keepdims=True))
            hi = np.nan_to_num(np.nanmax(masked, axis=(-2, -1), keepdims=True))
    span = hi - lo
    with np.errstate(invalid="ignore"):
        planes -= lo  # a constant plane is now all 0 and stays so (divided by 1)
        planes /= np.where(span > 0, span, 1)  # division, not a reciprocal: the maximum is exactly 1
    if not finite:
        np.nan_to_num(planes, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        np.clip(planes, 0.0, 1.0, out=planes)
    return planes


def augment_batch(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random element of the square's symmetry group per image: rot90 by k*90 deg, then maybe a flip.

    A galaxy's merger state does not depend on orientation, so these 8 transformations keep
    the label. (The paper does not say it augments; training has this off by default.)
    """
    out = np.empty_like(images)
    turns = rng.integers(0, 4, size=len(images))
    flips = rng.integers(0, 2, size=len(images)).astype(bool)
    for i, (k, flip) in enumerate(zip(turns, flips)):
        img = np.rot90(images[i], k=int(k), axes=(0, 1))
        out[i] = img[:, ::-1] if flip else img
    return out


# --------------------------------------------------------------------------------------------
# input pipeline


def _open_products(products: Products | str | Path) -> tuple[Products, bool]:
    """A Products object and whether this call opened it (and so must close it)."""
    if isinstance(products, Products):
        return products, False
    return Products(products), True


def make_dataset(products: Products, rows: Sequence[int], kind: str, batch_size: int = 32,
                 shuffle: bool = False, seed: int = 0, augment: bool = False,
                 with_labels: bool = True):
    """A ``tf.data.Dataset`` of normalised image batches streamed from the products cubes.

    Parameters
    ----------
    products : Products
        An open products folder (:class:`galmerge.sersic.products.Products`).
    rows : sequence of int
        Cube indices to serve (e.g. ``products.rows("train")``).
    kind : str
        Input kind: raw, model, residual (one channel) or stack (the three as channels).
    batch_size : int
        Images per batch (the last batch may be smaller).
    shuffle : bool
        Serve the rows in a new random order every pass (epoch). The order of pass ``e`` comes
        from ``numpy.random.default_rng([seed, e])``, so it repeats exactly for the same seed.
    seed : int
        Seed of the shuffling and of the augmentation.
    augment : bool
        Random 90-degree rotations and flips (:func:`augment_batch`).
    with_labels : bool
        Yield ``(images, labels)`` (float32 0/1) rather than images alone.

    Returns
    -------
    tf.data.Dataset
        Batches of shape (n, 128, 128, channels) float32 in [0, 1], prefetched. Only one batch
        at a time is read from disk (:meth:`galmerge.sersic.products.Products.read`), so memory does not grow with the
        dataset.
    """
    import tensorflow as tf

    channels = products.input_channels(kind)  # one plane per channel, or one per band (products with bands)
    rows = np.asarray(rows, dtype=np.int64)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(rows) == 0:
        raise ValueError(f"{products.path}: no rows to serve for {kind!r}")
    if rows.min() < 0 or rows.max() >= len(products):
        raise ValueError(f"{products.path}: rows outside 0..{len(products) - 1}")
    labels = products.images["label"].to_numpy()[rows].astype(np.float32)
    passes = itertools.count()  # tf.data calls the generator afresh for every pass

    def batches():
        rng = np.random.default_rng([int(seed), next(passes)])
        order = rng.permutation(len(rows)) if shuffle else np.arange(len(rows))
        for start in range(0, len(rows), batch_size):
            pick = order[start:start + batch_size]
            x = normalise_images(products.read(channels, rows[pick]))
            if augment:
                x = augment_batch(x, rng)
            yield (x, labels[pick]) if with_labels else x

    size = products.read(channels, 0).shape  # (128, 128, c)
    image_spec = tf.TensorSpec(shape=(None, *size), dtype=tf.float32)
    signature = (image_spec, tf.TensorSpec(shape=(None,), dtype=tf.float32)) if with_labels else image_spec
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    n_batches = -(-len(rows) // batch_size)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(n_batches))
    return dataset.prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------------------------
# prediction


def _check_channels(model, kind: str, expected: int | None = None) -> None:
    """The model takes ``expected`` channels (default: one per channel of ``kind``)."""
    expected = len(input_channels(kind)) if expected is None else int(expected)
    got = model.input_shape[-1]
    if got != expected:
        raise ValueError(f"model {model.name!r} takes {got} channel(s) but input kind {kind!r} has {expected}")


def predict_scores(model, products: Products | str | Path, rows: Sequence[int], kind: str,
                   batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
    """Network output P(merger) for products rows, through the training pipeline's normalisation.

    Parameters
    ----------
    model : keras.Model
        A trained network (:func:`galmerge.runs.read_network`).
    products : Products, str or Path
        The products folder (or an open :class:`Products`).
    rows : sequence of int
        Cube indices.
    kind : str
        The input kind the network was trained on (raw, model, residual, stack).
    batch_size : int
        Images per forward pass.

    Returns
    -------
    ndarray, float64, shape (len(rows),)
        Sigmoid outputs in [0, 1].
    """
    rows = np.asarray(rows, dtype=np.int64)
    products, opened = _open_products(products)
    try:
        _check_channels(model, kind, products.read(products.input_channels(kind), 0).shape[-1])
        if len(rows) == 0:
            return np.zeros(0)
        dataset = make_dataset(products, rows, kind, batch_size=batch_size, with_labels=False)
        scores = model.predict(dataset, verbose=0)
    finally:
        if opened:
            products.close()
    return np.asarray(scores, dtype=np.float64).reshape(-1)


def predict_images(model, images: np.ndarray, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
    """Network output for in-memory cutouts (e.g. new 128x128 images), normalised as in training.

    Parameters
    ----------
    images : ndarray, shape (n, 128, 128, channels) or (128, 128, channels)
        Un-normalised cutouts, channels in the order of :data:`galmerge.vocab.INPUT_CHANNELS`.

    Returns
    -------
    ndarray, float64, shape (n,)
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.shape[1:] != tuple(model.input_shape[1:]):
        raise ValueError(f"images have shape {x.shape[1:]}, the model takes {tuple(model.input_shape[1:])}")
    scores = model.predict(normalise_images(x), batch_size=batch_size, verbose=0)
    return np.asarray(scores, dtype=np.float64).reshape(-1)


# --------------------------------------------------------------------------------------------
# reading a training folder


# --------------------------------------------------------------------------------------------
# training


@dataclass
class TrainingResult:
    """Outcome of :func:`train_network` (or of a finished run it reused).

    ``best_epoch`` counts from 1; accuracies are fractions. ``val_accuracy_best`` is the kept
    epoch's validation accuracy at its validation precision = recall threshold
    ``val_threshold_best`` (what the epoch choice maximises); ``test_accuracy`` uses a 0.5
    threshold (the analysis notebooks choose the precision = recall threshold on the validation
    split of the kept network and apply it to the test split).
    """

    out_dir: Path
    kind: str
    best_epoch: int
    val_accuracy_best: float
    test_accuracy: float
    n_params: int
    seconds: float
    history: pd.DataFrame
    reused: bool = False
    config: dict = field(default_factory=dict, repr=False)
    val_threshold_best: float = float("nan")

    def summary(self) -> dict:
        """Headline numbers for ``summary.json``."""
        return {"val_accuracy_best": self.val_accuracy_best, "val_threshold_best": self.val_threshold_best,
                "test_accuracy_at_0.5": self.test_accuracy,
                "best_epoch": self.best_epoch, "n_params": self.n_params, "seconds": round(self.seconds, 1)}


def products_fingerprint(products: Products) -> str:
    """Short hash of the products' identity (IDs, splits, labels, cube file size and mark time).

    A training folder made from other products (re-fitted, other data) is not reused.
    """
    digest = hashlib.sha1()
    for column in ("ID", "split", "label"):
        digest.update(products.images[column].astype(str).str.cat(sep=",").encode())
    stat = products.cubes_path.stat()
    digest.update(f"{stat.st_size}:{(products.path / 'COMPLETE').stat().st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def library_versions() -> dict:
    import h5py
    import keras
    import tensorflow as tf

    import galmerge

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "h5py": h5py.__version__, "pandas": pd.__version__,
            "galmerge": galmerge.__version__}


def _setup_devices(seed: int, deterministic: bool | None, mixed_precision: bool):
    """Seeds, determinism and the distribution strategy; returns (strategy, device facts)."""
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:  # take GPU memory as needed, not all of it at start
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised in this process
            pass
    keras.utils.set_random_seed(int(seed))
    if deterministic is None:
        deterministic = not gpus  # deterministic GPU kernels cost speed; on CPU they are free
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    use_mixed = bool(mixed_precision and gpus)
    if mixed_precision and not gpus:
        log.warning("mixed_precision requested but no GPU is visible: training in float32")
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    facts = {"gpus": [g.name for g in gpus], "n_replicas": int(strategy.num_replicas_in_sync),
             "strategy": type(strategy).__name__, "deterministic_ops": bool(deterministic),
             "mixed_precision_applied": use_mixed, "cpu_count": os.cpu_count()}
    return strategy, facts


def _split_rows(products: Products) -> dict[str, np.ndarray]:
    rows = {split: products.rows(split) for split in SPLITS}
    empty = [s for s, r in rows.items() if len(r) == 0]
    if empty:
        raise TrainingError(f"{products.path}: no images in split(s) {empty}; "
                            f"counts {({s: len(r) for s, r in rows.items()})}")
    labels = products.images["label"].to_numpy()
    bad = ~np.isin(labels, (0, 1))
    if bad.any():
        raise TrainingError(f"{products.path}: {int(bad.sum())} images have a label other than 0/1")
    if len(np.unique(labels[rows["train"]])) < 2:
        raise TrainingError(f"{products.path}: the training split holds only one class")
    return rows


class _EpochTimer:
    """Keras callback factory recording the wall-clock seconds of every epoch."""

    @staticmethod
    def make():
        import keras

        class EpochTimer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._start)

        return EpochTimer()


class _ProgressLine:
    """Keras callback factory: one tqdm line for a whole training, counting epochs in fractions of an
    epoch (batch by batch), with the time left estimated from the mean rate since the start (tqdm's
    ``smoothing=0``: the validation pass after every epoch is in the rate, so the estimate holds across
    epochs), the last epoch's loss and validation accuracy beside it, redrawn at most every
    :data:`PROGRESS_INTERVAL_S` seconds."""

    @staticmethod
    def make(epochs: int, steps_per_epoch: int, description: str, interval: float = PROGRESS_INTERVAL_S):
        import keras
        from tqdm import tqdm  # text bars: they stream through papermill and need no ipywidgets

        class ProgressLine(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.bar = tqdm(total=epochs, desc=description, unit="epoch", smoothing=0, mininterval=interval,
                                bar_format="{desc}: {n:.1f}/{total} epochs |{bar:20}| [{elapsed}<{remaining}]"
                                           "{postfix}")

            def on_train_batch_end(self, batch, logs=None):
                self.bar.update(1 / steps_per_epoch)

            def on_epoch_end(self, epoch, logs=None):
                self.bar.n = epoch + 1  # whole epochs exactly, whatever the rounding of the fractions
                logs = logs or {}
                shown = {"loss": logs.get("loss"), "val acc": logs.get("val_accuracy_pr")}
                self.bar.set_postfix_str(", ".join(f"{k} {v:.3f}" for k, v in shown.items() if v is not None),
                                         refresh=False)

            def on_train_end(self, logs=None):
                self.bar.close()

        return ProgressLine()


def validation_scores(labels, scores) -> dict[str, float]:
    """What the epoch choice looks at, from one epoch's validation scores.

    The paper keeps the epoch "with the highest validation accuracy at the threshold where
    precision equals recall" (Sect. 3.2): the threshold is chosen on the validation scores of
    that epoch by the project's one rule (:func:`galmerge.analysis.metrics.choose_threshold`) and the
    accuracy is measured there. A validation split without mergers has no such threshold: the rule's
    fallback (:data:`galmerge.analysis.metrics.FALLBACK_THRESHOLD`) is used, with a warning.

    Parameters
    ----------
    labels : array of {0, 1}, shape (n,)
    scores : array of float, shape (n,)
        Sigmoid outputs on the validation split.

    Returns
    -------
    dict
        ``val_loss`` (binary cross-entropy, scores clipped to [1e-7, 1 - 1e-7] as Keras does),
        ``val_accuracy`` (threshold 0.5, ``score > 0.5`` as Keras' binary accuracy),
        ``val_threshold_pr`` and ``val_accuracy_pr`` (accuracy with ``score >= threshold``).
    """
    y = np.asarray(labels, dtype=float).reshape(-1)
    s = np.asarray(scores, dtype=float).reshape(-1)
    if y.shape != s.shape or y.size == 0:
        raise ValueError(f"validation labels {y.shape} and scores {s.shape} must be equal, non-empty")
    clipped = np.clip(s, 1e-7, 1 - 1e-7)
    loss = float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
    threshold = gm.choose_threshold(y.astype(int), s, where="the validation split").threshold
    return {"val_loss": loss, "val_accuracy": float(np.mean((s > 0.5) == y)),
            "val_threshold_pr": float(threshold),
            "val_accuracy_pr": float(np.mean(gm.predict(s, threshold) == y))}


class _ValidationMonitor:
    """Keras callback factory: scores the validation split after every epoch, records
    :func:`validation_scores` (also into the epoch's logs, so Keras prints them) and saves the
    network whenever ``val_accuracy_pr`` strictly improves (so the first best epoch is kept).
    With ``patience`` it stops the training once that many epochs in a row have not lowered the
    validation loss (a flat validation curve; None: every epoch is trained). The loss, not the
    kept epoch's accuracy, decides when to stop: the accuracy at the precision = recall threshold
    jumps by a few points from epoch to epoch, and a lucky early epoch stopped a network that was
    still learning (the quick run of 2026-12-06: CNN2 stopped at epoch 10 of 30, six epochs after
    a spike, with its validation loss at its lowest)."""

    @staticmethod
    def make(val_data, labels: np.ndarray, path: Path, patience: int | None = None):
        import keras

        class ValidationMonitor(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.records: list[dict[str, float]] = []
                self.best = -np.inf
                self.best_loss = np.inf
                self.since_best_loss = 0

            def on_epoch_end(self, epoch, logs=None):
                scores = self.model.predict(val_data, verbose=0)
                record = validation_scores(labels, scores)
                self.records.append(record)
                if logs is not None:
                    logs.update(record)
                if record["val_accuracy_pr"] > self.best:
                    self.best = record["val_accuracy_pr"]
                    self.model.save(path)
                if record["val_loss"] < self.best_loss:
                    self.best_loss, self.since_best_loss = record["val_loss"], 0
                else:
                    self.since_best_loss += 1
                    if patience is not None and self.since_best_loss >= patience:
                        self.model.stop_training = True

        return ValidationMonitor()


def _recalibration_batches(products: Products, train_rows: np.ndarray, kind: str, batch_size: int, seed: int):
    """A function returning, on each call, the same :data:`~galmerge.nets.batchnorm.RECALIBRATION_IMAGES`
    training images (drawn once with ``seed``; all of them if fewer) in normalised batches, as trained."""
    pick = np.random.default_rng([int(seed), 7]).permutation(len(train_rows))[:batchnorm.RECALIBRATION_IMAGES]
    rows = np.sort(np.asarray(train_rows)[pick])
    channels = products.input_channels(kind)
    batches = np.array_split(rows, max(1, len(rows) // int(batch_size)))  # none smaller than batch_size

    def read_batches():
        for batch in batches:
            yield normalise_images(products.read(channels, batch))

    return read_batches


def history_table(history: dict, seconds: Sequence[float], validation: Sequence[dict] | None = None) -> pd.DataFrame:
    """Keras' history dict as a table with 1-based ``epoch``, ``seconds`` and a ``best`` flag.

    ``validation`` (one :func:`validation_scores` dict per epoch) adds or replaces the
    validation columns. The best epoch is the first one with the highest ``val_accuracy_pr``
    (accuracy at the validation precision = recall threshold, the paper's choice) when that
    column exists, else the first with the highest ``val_accuracy``; it is the epoch whose
    weights the validation monitor saved (it saves only on a strict improvement).
    """
    table = pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in history.items()})
    if validation is not None:
        extra = pd.DataFrame(list(validation))
        if len(extra) != len(table):
            raise ValueError(f"{len(extra)} validation records for {len(table)} epochs")
        for column in extra.columns:
            table[column] = extra[column].to_numpy(dtype=float)
    table.insert(0, "epoch", np.arange(1, len(table) + 1))
    table["seconds"] = np.asarray(seconds, dtype=float)[:len(table)]
    table["best"] = False
    key = "val_accuracy_pr" if "val_accuracy_pr" in table.columns else "val_accuracy"
    table.loc[int(np.argmax(table[key].to_numpy())), "best"] = True
    return table


def _accuracy(table: pd.DataFrame, threshold: float = 0.5) -> float:
    return float(((table["score"] > threshold).astype(int) == table["label"]).mean())


#: The modules whose code makes a trained network (the network, the training loop, the threshold rule
#: that picks the kept epoch): their fingerprint is part of the reuse key, so that a change retrains.
TRAINING_CODE = ("galmerge.nets.training", "galmerge.nets.cnn", "galmerge.nets.batchnorm", "galmerge.analysis.metrics")


def _reusable(out_dir: Path, parameters: dict) -> dict | None:
    """The saved config when ``out_dir`` holds a finished run with these exact parameters."""
    if not is_finished(out_dir):
        return None
    try:
        saved = read_config(out_dir)
    except (FileNotFoundError, ValueError):
        return None
    return saved if saved.get("parameters") == parameters else None


def _changed(out_dir: Path, parameters: dict) -> str:
    """Which parameters differ from the finished run in ``out_dir``, in words."""
    try:
        saved = read_config(out_dir).get("parameters", {})
    except (FileNotFoundError, ValueError):
        return "its config.json is unreadable"
    keys = sorted(k for k in set(saved) | set(parameters) if saved.get(k) != parameters.get(k))
    return f"parameters changed: {', '.join(keys)}" if keys else "retraining was asked for (reuse=False)"


def _result_from_folder(out_dir: Path, config: dict, reused: bool) -> TrainingResult:
    results = config["results"]
    return TrainingResult(out_dir=out_dir, kind=config["parameters"]["kind"],
                          best_epoch=int(results["best_epoch"]),
                          val_accuracy_best=float(results["val_accuracy_best"]),
                          val_threshold_best=float(results.get("val_threshold_best", np.nan)),
                          test_accuracy=float(results["test_accuracy_at_0.5"]),
                          n_params=int(results["n_params"]), seconds=float(results["seconds"]),
                          history=read_history(out_dir), reused=reused, config=config)


def train_network(products: Products | str | Path, kind: str, out_dir: str | Path, *,
                  epochs: int = 50, batch_size: int = 32,
                  filters: int | Sequence[int] = cnn.PAPER_FILTERS,
                  kernel_sizes: Sequence[int] = cnn.PAPER_KERNEL_SIZES,
                  dense_units: Sequence[int] = cnn.PAPER_DENSE_UNITS,
                  learning_rate: float = cnn.PAPER_LEARNING_RATE,
                  dropout: float = cnn.PAPER_DROPOUT, padding: str = cnn.DEFAULT_PADDING,
                  batch_norm_momentum: float = cnn.BATCH_NORM_MOMENTUM, augment: bool = False,
                  input_bin: int = 1, asymmetry_channel: bool = False, batch_norm_recalibration: bool = False,
                  patience: int | None = None,
                  mixed_precision: bool = False, seed: int = 1, deterministic: bool | None = None,
                  reuse: bool = True, predict_batch_size: int = PREDICT_BATCH_SIZE,
                  progress: bool = True, verbose: int = 0) -> TrainingResult:
    """Train one CNN on one input kind and save everything the analysis needs in ``out_dir``.

    Parameters
    ----------
    products : Products, str or Path
        The fitting stage's products folder (splits and labels from its ``images`` table).
    kind : {'raw', 'model', 'residual', 'stack'}
        The network's input: CNN1 raw, CNN2 Sérsic model, CNN3 residual, or the three stacked.
    out_dir : str or Path
        Training folder, e.g. ``Run(run_dir).train_dir(kind)``; its previous outputs are
        removed before training starts, so an interrupted run never looks finished.
    epochs, batch_size : int
        Passes over the training split (paper: 50) and images per gradient step (global batch,
        split across GPUs under MirroredStrategy).
    filters, kernel_sizes, dense_units, learning_rate, dropout, padding, batch_norm_momentum
        The network (:func:`galmerge.nets.cnn.build_model`); defaults are the paper's.
    augment : bool
        Random flips and 90-degree rotations of training images (the paper does not augment).
    input_bin : int
        Binning of the 128 px input inside the network (:func:`galmerge.nets.cnn.build_model`; 1, the
        paper's network, by default; give kernels scaled with :func:`galmerge.nets.cnn.scaled_kernels`).
    asymmetry_channel : bool
        Each input channel's 180-degree asymmetry map as an extra channel, inside the network
        (:mod:`galmerge.nets.asymmetry`; False, the paper's inputs, by default).
    batch_norm_recalibration : bool
        After every epoch, before the validation pass, re-estimate the batch-normalisation statistics on
        :data:`galmerge.nets.batchnorm.RECALIBRATION_IMAGES` training images with dropout off
        (:mod:`galmerge.nets.batchnorm`: the moving statistics Keras keeps carry dropout's variance, which
        inference does not have); False, the paper's (Keras') statistics, by default.
    patience : int or None
        Stop once this many epochs in a row have not lowered the validation loss (the kept epoch is
        still the one with the best validation accuracy at the precision = recall threshold; see
        :class:`_ValidationMonitor`); None (default, the paper's) trains every one of ``epochs``.
    mixed_precision : bool
        float16 compute when a GPU is present (ignored, with a warning, on CPU).
    seed : int
        Seed of the weights, dropout, shuffling and augmentation (``keras.utils.set_random_seed``
        seeds Python's, NumPy's and TensorFlow's global generators).
    deterministic : bool or None
        Deterministic TensorFlow ops (``enable_op_determinism``; process-wide, irreversible).
        None: on when no GPU is visible (free on CPU), off on GPUs (it slows cuDNN).
    reuse : bool
        When ``out_dir`` already holds a finished run with the same parameters and the same
        products (:func:`products_fingerprint`), return it instead of training again.
    predict_batch_size : int
        Batch size of the final scoring of the validation and test splits.
    progress : bool
        Print one progress line (tqdm) with the epochs done and the time left (:class:`_ProgressLine`).
    verbose : int
        Keras' own ``fit`` verbosity (0: silent, the progress line instead; 2: one line per epoch).

    Returns
    -------
    TrainingResult
        Kept epoch (:data:`EPOCH_SELECTION`: after every epoch the validation split is scored,
        its precision = recall threshold chosen, and the accuracy there compared; the first
        epoch with the highest is kept), its validation accuracy and threshold, the test
        accuracy at threshold 0.5 of the saved network, parameter count, training seconds,
        history.
    """
    if int(epochs) < 1 or int(batch_size) < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    out_dir = Path(out_dir)
    products, opened = _open_products(products)
    try:
        kind_channels = products.input_channels(kind)  # C input channels: one per band with bands
        rows = _split_rows(products)
        parameters = {
            "kind": kind, "channels": list(kind_channels), "epochs": int(epochs), "batch_size": int(batch_size),
            "filters": int(filters) if np.ndim(filters) == 0 else [int(f) for f in filters],
            "kernel_sizes": [int(k) for k in kernel_sizes], "dense_units": [int(u) for u in dense_units],
            "learning_rate": float(learning_rate), "dropout": float(dropout), "padding": padding,
            "batch_norm_momentum": float(batch_norm_momentum), "input_bin": int(input_bin),
            "asymmetry_channel": bool(asymmetry_channel), "batch_norm_recalibration": bool(batch_norm_recalibration),
            "patience": None if patience is None else int(patience),
            "augment": bool(augment), "mixed_precision": bool(mixed_precision), "seed": int(seed),
            "epoch_selection": EPOCH_SELECTION, "code_fingerprint": source_fingerprint(TRAINING_CODE),
            "products": str(products.path.resolve()), "products_fingerprint": products_fingerprint(products),
        }
        if reuse:
            saved = _reusable(out_dir, parameters)
            if saved is not None:
                log.info("%s: finished run with the same parameters found; reusing it", out_dir)
                return _result_from_folder(out_dir, saved, reused=True)
        if is_finished(out_dir):
            warnings.warn(f"{out_dir}: replacing a finished run ({_changed(out_dir, parameters)})", stacklevel=2)

        out_dir.mkdir(parents=True, exist_ok=True)
        for name in TRAINING_FILES:  # stale outputs must not pass for this run's
            (out_dir / name).unlink(missing_ok=True)

        strategy, devices = _setup_devices(seed, deterministic, mixed_precision)
        with strategy.scope():
            model = cnn.build_model(input_shape=products.read(kind_channels, 0).shape,
                                    filters=filters, kernel_sizes=kernel_sizes, dense_units=dense_units,
                                    input_bin=input_bin, asymmetry_channel=asymmetry_channel,
                                    dropout=dropout, padding=padding, learning_rate=learning_rate,
                                    batch_norm_momentum=batch_norm_momentum,
                                    mixed_precision=devices["mixed_precision_applied"], name=f"cnn_{kind}")
        n_params = cnn.count_trainable_params(model)
        train_data = make_dataset(products, rows["train"], kind, batch_size, shuffle=True, seed=seed,
                                  augment=augment)
        val_data = make_dataset(products, rows["validation"], kind, predict_batch_size, with_labels=False)
        val_labels = products.images["label"].to_numpy()[rows["validation"]].astype(int)
        timer = _EpochTimer.make()
        # the validation monitor replaces Keras' validation pass (one scoring per epoch, not two)
        monitor = _ValidationMonitor.make(val_data, val_labels, out_dir / MODEL_FILE, patience)
        callbacks = [monitor, timer]  # the progress line last: its epoch ends after the validation pass
        if batch_norm_recalibration:  # before the monitor: the validation pass sees the corrected statistics
            callbacks.insert(0, batchnorm.Recalibration.make(
                _recalibration_batches(products, rows["train"], kind, batch_size, seed)))
        if progress:
            callbacks.append(_ProgressLine.make(int(epochs), -(-len(rows["train"]) // int(batch_size)),
                                                f"training {NETWORK_LABELS.get(kind, kind)}"))
        start = time.perf_counter()
        fit = model.fit(train_data, epochs=int(epochs), callbacks=callbacks, shuffle=False, verbose=verbose)
        seconds = time.perf_counter() - start
        history = history_table(fit.history, timer.seconds, monitor.records)
        write_history(out_dir, history)
        best = history.loc[history["best"]].iloc[0]

        # score with the network as saved, so that what others reload is exactly what is scored
        best_model = read_network(out_dir)
        images = products.images
        tables = {split: write_scores(out_dir / f"{scores_file(split)}.tmp", images["ID"].to_numpy()[rows[split]],
                                      images["label"].to_numpy()[rows[split]],
                                      predict_scores(best_model, products, rows[split], kind, predict_batch_size))
                  for split in SCORED_SPLITS}
        rescored = validation_scores(tables["validation"]["label"], tables["validation"]["score"])
        results = {"best_epoch": int(best["epoch"]), "epoch_selection": EPOCH_SELECTION,
                   "val_accuracy_best": float(best["val_accuracy_pr"]),
                   "val_threshold_best": float(best["val_threshold_pr"]),
                   "val_accuracy_at_0.5_best": float(best["val_accuracy"]),
                   "val_accuracy_rescored": rescored["val_accuracy_pr"],
                   "test_accuracy_at_0.5": _accuracy(tables["test"]), "n_params": n_params,
                   "epochs_trained": len(history),
                   "seconds": seconds, "images_per_second": len(rows["train"]) * len(history) / seconds,
                   "n_images": {s: int(len(r)) for s, r in rows.items()}}
        if abs(results["val_accuracy_rescored"] - results["val_accuracy_best"]) > 1.5 / len(rows["validation"]):
            warnings.warn(f"{out_dir}: the saved network scores validation accuracy (at its precision = recall "
                          f"threshold) {results['val_accuracy_rescored']:.4f} but the kept epoch logged "
                          f"{results['val_accuracy_best']:.4f}", stacklevel=2)
        config = {"parameters": parameters, "results": results, "devices": devices,
                  "versions": library_versions(), "paper_quoted_trainable_params": cnn.PAPER_QUOTED_TRAINABLE_PARAMS,
                  "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        write_json(out_dir / CONFIG_FILE, config)
        for split in SCORED_SPLITS:  # scores_test.csv last: it marks a finished run
            os.replace(out_dir / f"{scores_file(split)}.tmp", out_dir / scores_file(split))
        return TrainingResult(out_dir=out_dir, kind=kind, best_epoch=results["best_epoch"],
                              val_accuracy_best=results["val_accuracy_best"],
                              test_accuracy=results["test_accuracy_at_0.5"], n_params=n_params,
                              seconds=seconds, history=history, reused=False, config=config,
                              val_threshold_best=results["val_threshold_best"])
    finally:
        if opened:
            products.close()


def train_seeds(products: Products | str | Path, kind: str, seed_dirs: dict[int, str | Path],
                **kwargs) -> dict[int, TrainingResult]:
    """Train one network once per train seed (issue 23: training variance), each into its own folder.

    Parameters
    ----------
    products : Products, str or Path
        The fitting stage's products (opened once for all seeds).
    kind : str
        Input kind (:func:`train_network`).
    seed_dirs : dict of int -> str or Path
        ``{train seed: training folder}``, from :meth:`galmerge.runs.Run.seed_dirs` (the one rule of
        where a seed's training goes); trained in this order.
    **kwargs
        Every other argument of :func:`train_network` but ``seed`` (``reuse`` applies per seed: a seed's
        finished training with the same parameters is reused, the others are trained).

    Returns
    -------
    dict of int -> TrainingResult
        One result per seed, in the order of ``seed_dirs``.
    """
    if "seed" in kwargs:
        raise TypeError("train_seeds takes the seeds from seed_dirs, not from seed=")
    if not seed_dirs:
        raise ValueError("train_seeds: no seed given")
    products, opened = _open_products(products)
    try:
        return {int(seed): train_network(products, kind, folder, seed=int(seed), **kwargs)
                for seed, folder in seed_dirs.items()}
    finally:
        if opened:
            products.close()


def seed_summary(results: dict[int, TrainingResult]) -> pd.DataFrame:
    """One row per train seed of :func:`train_seeds`: ``seed, best_epoch, val_accuracy_best,
    val_threshold_best, test_accuracy_at_0.5, seconds, reused`` (accuracies as fractions, seconds of
    training), with the mean and the sample standard deviation over seeds as two last rows."""
    table = pd.DataFrame([{"seed": str(seed), **{k: v for k, v in r.summary().items() if k != "n_params"},
                           "reused": r.reused} for seed, r in results.items()])
    numeric = table.drop(columns=["seed", "reused"]).astype(float)
    spread = pd.DataFrame([{"seed": "mean", **numeric.mean().to_dict()},
                           {"seed": "SD", **numeric.std(ddof=1).to_dict()}])
    return pd.concat([table, spread], ignore_index=True).set_index("seed")
