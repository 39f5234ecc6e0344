"""Far-sky shortcut probe: can the label be told from the corners of the images, far from the galaxy?

A merger sample drawn from two catalogues can differ in ways that are not morphology: Suelves et
al. (2023, A&A 669, A141) separated a similar SDSS merger set at about 92 % from sky-background
errors alone. The corners of a cutout lie far from the central galaxy (in a 256 px SDSS cutout a
32 px corner patch starts 72" from the centre), so what they carry about the label is a property of
the observation (sky level, noise, stretch, compression, quantisation), not of the merger. A network
that sees the whole image can learn it.

:func:`corner_statistics` measures, on the four ``size`` x ``size`` corner patches of one image:

``level``
    the sky level (mean and median of the four corners' pixels, and the spread of the four corner
    medians: a gradient or a neighbour's wing);
``noise``
    the noise (standard deviation, median absolute deviation, their ratio, which a Gaussian sky
    holds at 1.48 and JPEG blocks or clipping change, and the spread of the four corners' standard
    deviations);
``quantisation``
    the number of distinct pixel values, the smallest step between them (a display image's level
    step, a FITS image's float spacing) and the fraction of pixels at the minimum (clipping at
    black).

:func:`shortcut_check` fits a logistic regression on each group of statistics and on all of them,
scored out of fold in cross-validation grouped by merger sequence (the units every bootstrap of
the project resamples, :func:`galmerge.analysis.metrics.resampling_units`, as
:mod:`galmerge.analysis.baseline` groups its folds), and gives the ROC AUC of the out-of-fold scores
with a bootstrap interval over the same units. An AUC above :data:`WARN_AUC` is a warning: the far
sky alone tells the classes apart, and the networks' accuracy may rest on it. Written by notebook
00_data to ``tables/shortcut_check.csv`` (:data:`TABLE`, columns :data:`COLUMNS`).

For a dataset ingested from JPEGs the catalogue also says how each file was encoded (quantisation
tables, chroma subsampling, progressive; :data:`galmerge.ingest.JPEG_COLUMNS`), and with the file
format these make one more probe, ``file_encoding`` (the values one-hot encoded, same
cross-validation): two catalogues cut out with different tools or quality settings differ there,
and the compression artefacts they leave in the pixels are a shortcut a network can learn. A
dataset whose files are all encoded alike gives it an AUC of exactly 0.5.

With ``cnn=True`` a last probe, ``corner_cnn``, lets a small convolutional network look at the four
corner patches themselves (stacked as four channels, standardised with one robust level and scale
for the whole training fold, so that each image keeps its own sky level, noise and texture), in the
same grouped cross-validation: what the statistics above do not summarise (JPEG blocks, correlated
noise, faint wings) it can still find (:func:`corner_cnn_scores`); on at most
:data:`CNN_MAX_IMAGES` images (whole groups at random), which its row's ``n`` gives.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import QuantileTransformer, StandardScaler
from tqdm import tqdm  # text bars: they stream through papermill and need no ipywidgets

from galmerge.analysis import metrics as gm

#: Side of each corner patch (pixels).
CORNER_SIZE = 32
#: An AUC above this is a warning (issue 32).
WARN_AUC = 0.60
#: Folds of the grouped cross-validation (as the baseline's).
CV_FOLDS = 5
#: Name of the table under ``runs/<run>/tables/``.
TABLE = "shortcut_check"
#: Columns of the table, in order.
COLUMNS = ("probe", "auc", "auc_low", "auc_high", "n", "warning")
#: The statistics of each probe; the probe ``all`` uses every one.
PROBES = {
    "level": ("corner_mean", "corner_median", "corner_median_spread"),
    "noise": ("corner_std", "corner_mad", "corner_std_over_mad", "corner_std_spread"),
    "quantisation": ("corner_n_levels", "corner_level_step", "corner_fraction_at_min"),
}
FEATURES = tuple(f for names in PROBES.values() for f in names)
ALL_PROBE = "all"
#: The probe of how the files were encoded, and the catalogue columns it reads (those present).
FILE_PROBE = "file_encoding"
FILE_COLUMNS = ("file_format", "jpeg_qtables", "jpeg_subsampling", "jpeg_progressive")
#: The small CNN's probe, its training epochs and batch size.
CNN_PROBE = "corner_cnn"
CNN_EPOCHS = 5
CNN_BATCH = 64
#: The CNN probe sees at most this many images (whole groups drawn at random beyond it): on 2,000
#: SDSS cutouts all the probes took 31 CPU s, most of it the CNN's, and the run's time is short.
CNN_MAX_IMAGES = 4000


def corner_patches(image: np.ndarray, size: int = CORNER_SIZE) -> np.ndarray:
    """The four ``size`` x ``size`` corner patches (top left, top right, bottom left, bottom right).

    An image smaller than ``4 * size`` on a side gets patches of a quarter of its shorter side, so
    that they stay far from its centre.

    Raises
    ------
    ValueError
        Not a 2-D image, or one under 4 px on a side.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"corner_patches needs a 2-D image, got shape {image.shape}")
    side = min(int(size), min(image.shape) // 4)
    if side < 1:
        raise ValueError(f"image of shape {image.shape} is too small for corner patches")
    return np.stack([image[:side, :side], image[:side, -side:], image[-side:, :side], image[-side:, -side:]])


def corner_statistics(image: np.ndarray, size: int = CORNER_SIZE) -> dict[str, float]:
    """The statistics of :data:`FEATURES` on the corners of one image (module docstring); NaN pixels
    are left out, and a statistic without pixels is NaN."""
    patches = corner_patches(image, size).astype(np.float64)
    pooled = patches[np.isfinite(patches)]
    if pooled.size == 0:
        return dict.fromkeys(FEATURES, np.nan)
    median = float(np.median(pooled))
    mad = float(np.median(np.abs(pooled - median)))
    std = float(pooled.std())
    with warnings.catch_warnings():  # a corner of NaN pixels only gives NaN, which nan-functions skip
        warnings.simplefilter("ignore", RuntimeWarning)
        corner_medians = np.nanmedian(patches.reshape(4, -1), axis=1)
        corner_stds = np.nanstd(patches.reshape(4, -1), axis=1)
    levels = np.unique(pooled)
    steps = np.diff(levels)
    return {
        "corner_mean": float(pooled.mean()),
        "corner_median": median,
        "corner_median_spread": float(np.nanstd(corner_medians)),
        "corner_std": std,
        "corner_mad": mad,
        "corner_std_over_mad": std / mad if mad > 0 else np.nan,
        "corner_std_spread": float(np.nanstd(corner_stds)),
        "corner_n_levels": float(levels.size),
        "corner_level_step": float(steps.min()) if steps.size else 0.0,
        "corner_fraction_at_min": float(np.mean(pooled == levels[0])),
    }


def corner_features(catalog: pd.DataFrame, size: int = CORNER_SIZE, progress: bool = True,
                    patches: list | None = None) -> pd.DataFrame:
    """:func:`corner_statistics` of every image of ``catalog`` (column ``image_path``), with ``ID``.

    ``patches``, a list, receives each image's (4, size, size) float32 corner patches (NaN as 0),
    for :func:`corner_cnn_scores`; images smaller than ``4 * size`` give smaller patches, which are
    padded with zeros to ``size``.

    Raises
    ------
    KeyError
        The catalogue has no ``image_path`` column.
    galmerge.data.catalog.DatasetError
        An image cannot be read (the message names the file).
    """
    from galmerge.data.catalog import load_image

    if "image_path" not in catalog.columns:
        raise KeyError("corner_features needs the catalogue's image_path column (galmerge.data.catalog.load_catalog)")
    rows = []
    for object_id, path in tqdm(zip(catalog["ID"], catalog["image_path"]), total=len(catalog), desc="corners",
                                unit="image", disable=not progress, mininterval=15):
        image = load_image(path, nonfinite="keep")
        rows.append({"ID": object_id, **corner_statistics(image, size)})
        if patches is not None:
            corners = np.nan_to_num(corner_patches(image, size).astype(np.float32))
            padded = np.zeros((4, size, size), np.float32)
            padded[:, :corners.shape[1], :corners.shape[2]] = corners
            patches.append(padded)
    return pd.DataFrame(rows, columns=["ID", *FEATURES])


def _model(train_size: int, ranks: bool = True):
    """Rank-Gaussianised statistics (robust to a bright star in one corner), standardised, then a
    logistic regression; without ``ranks`` (one-hot categories) standardised only."""
    steps = [QuantileTransformer(output_distribution="normal", n_quantiles=min(200, train_size))] if ranks else []
    return make_pipeline(*steps, StandardScaler(), LogisticRegression(max_iter=1000))


def out_of_fold_scores(features: np.ndarray, labels, groups, folds: int = CV_FOLDS, seed: int = 0,
                       ranks: bool = True) -> np.ndarray:
    """Logistic-regression scores of every object from the fold that did not train on it (folds
    stratified by class and grouped by ``groups``: no group on both sides). NaN statistics become
    the training fold's median; ``ranks=False`` for one-hot categories (no rank transform)."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=int)
    scores = np.full(len(y), np.nan)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(x, y, groups):
        fill = np.nanmedian(np.where(np.isfinite(x[train]), x[train], np.nan), axis=0)
        fill = np.where(np.isfinite(fill), fill, 0.0)
        clean = np.where(np.isfinite(x), x, fill)
        model = _model(len(train), ranks)
        with warnings.catch_warnings():  # constant statistics (a quantisation count on float images) are fine
            warnings.simplefilter("ignore", UserWarning)
            model.fit(clean[train], y[train])
        scores[test] = model.predict_proba(clean[test])[:, 1]
    return scores


def corner_cnn_scores(patches: np.ndarray, labels, groups, folds: int = CV_FOLDS, seed: int = 0,
                      epochs: int = CNN_EPOCHS) -> np.ndarray:
    """Out-of-fold scores of a small CNN trained on the corner patches (folds as :func:`out_of_fold_scores`).

    The network: the (size, size, 4) patches, standardised by the training fold's median and MAD
    of all its pixels (clipped to +-10, so a star in a corner does not dominate), two 3x3
    convolutions (8 and 16 filters, ReLU, 2x2 max pooling between), global average pooling, one
    sigmoid unit; Adam (1e-3), binary cross-entropy, ``epochs`` passes, batches of
    :data:`CNN_BATCH`, seeded by ``seed`` and the fold.
    """
    import keras  # TensorFlow's start-up chatter is silenced by galmerge.quiet (imported with galmerge)

    x = np.moveaxis(np.asarray(patches, dtype=np.float32), 1, -1)  # (n, size, size, 4)
    y = np.asarray(labels, dtype=int)
    scores = np.full(len(y), np.nan)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(splitter.split(x[:, 0, 0, 0], y, groups)):
        level = float(np.median(x[train]))
        scale = float(np.median(np.abs(x[train] - level))) * 1.4826 or float(np.std(x[train])) or 1.0
        keras.utils.set_random_seed(int(seed) * 1000 + fold)
        model = keras.Sequential([
            keras.Input(shape=x.shape[1:]),
            keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        standard = np.clip((x - level) / scale, -10, 10)
        model.fit(standard[train], y[train].astype(np.float32), epochs=int(epochs), batch_size=CNN_BATCH,
                  shuffle=True, verbose=0)
        # called directly, not through model.predict, whose per-fold graph TensorFlow warns about as retracing
        scores[test] = np.concatenate([np.asarray(model(standard[test[k:k + 1024]], training=False)).reshape(-1)
                                       for k in range(0, len(test), 1024)])
        keras.backend.clear_session()
    return scores


def bootstrap_auc(labels, scores, groups, n_resamples: int = 1000, seed: int = 0,
                  level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the ROC AUC over resamples of the groups (the cluster bootstrap of
    :func:`galmerge.analysis.metrics.bootstrap_weights`); resamples with one class only are skipped."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    weights = gm.bootstrap_weights(groups, n_resamples, rng=seed)
    values = []
    for w in weights:
        keep = w > 0
        if len(np.unique(y[keep])) == 2:
            values.append(roc_auc_score(y[keep], s[keep], sample_weight=w[keep]))
    if not values:
        return np.nan, np.nan
    alpha = (1 - level) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def file_encoding_features(catalog: pd.DataFrame) -> pd.DataFrame | None:
    """One-hot encoding of the catalogue's :data:`FILE_COLUMNS` (those present; missing values are a
    category of their own); None when it has none of them."""
    present = [c for c in FILE_COLUMNS if c in catalog.columns]
    if not present:
        return None
    values = catalog[present].astype(str).reset_index(drop=True)
    return pd.get_dummies(values, columns=present, dtype=float)


def shortcut_table(features: pd.DataFrame, labels, groups, folds: int = CV_FOLDS, n_resamples: int = 1000,
                   seed: int = 0, file_features: pd.DataFrame | None = None,
                   patches: np.ndarray | None = None) -> pd.DataFrame:
    """One row per probe (:data:`PROBES`, ``all`` and, with ``file_features``, ``file_encoding``):
    out-of-fold AUC, its bootstrap interval, n, warning.

    Parameters
    ----------
    features : DataFrame with the columns of :data:`FEATURES` (one row per object).
    labels : 0/1 per object.
    groups : resampling unit per object (:func:`galmerge.analysis.metrics.resampling_units`).
    folds, n_resamples, seed : cross-validation folds, bootstrap resamples, seed of both.
    file_features : :func:`file_encoding_features` of the objects (same order), optional.
    patches : (n, 4, size, size) corner patches, optional: adds the ``corner_cnn`` probe
        (:func:`corner_cnn_scores`).

    Returns
    -------
    DataFrame with columns :data:`COLUMNS`; ``auc`` is NaN (and ``warning`` False) when there are
    fewer groups or objects of a class than folds.
    """
    y = np.asarray(labels, dtype=int)
    groups = np.asarray(groups)
    enough = len(np.unique(groups)) >= folds and len(y) and min(np.bincount(y, minlength=2)) >= folds
    probes = [(probe, features[list(names)].to_numpy(float), True)
              for probe, names in (*PROBES.items(), (ALL_PROBE, FEATURES))]
    if file_features is not None:
        probes.append((FILE_PROBE, file_features.to_numpy(float), False))
    if patches is not None:
        probes.append((CNN_PROBE, patches, None))
    rows = []
    for probe, x, ranks in probes:
        auc, low, high = np.nan, np.nan, np.nan
        keep = _group_subset(groups, CNN_MAX_IMAGES, seed) if probe == CNN_PROBE else np.arange(len(y))
        if enough:
            yk, gk = y[keep], groups[keep]
            scores = (corner_cnn_scores(x[keep], yk, gk, folds, seed) if probe == CNN_PROBE
                      else out_of_fold_scores(x, y, groups, folds, seed, ranks))
            auc = float(roc_auc_score(yk, scores))
            low, high = bootstrap_auc(yk, scores, gk, n_resamples, seed)
        rows.append({"probe": probe, "auc": auc, "auc_low": low, "auc_high": high, "n": int(len(keep)),
                     "warning": bool(np.isfinite(auc) and auc > WARN_AUC)})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _group_subset(groups: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of all objects, or of whole groups drawn at random until ``limit`` objects (sorted)."""
    if len(groups) <= limit:
        return np.arange(len(groups))
    rng = np.random.default_rng(seed)
    unique, codes = np.unique(groups, return_inverse=True)
    order = rng.permutation(len(unique))
    sizes = np.bincount(codes)[order]
    chosen = order[:int(np.searchsorted(np.cumsum(sizes), limit)) + 1]
    return np.flatnonzero(np.isin(codes, chosen))


def shortcut_check(catalog: pd.DataFrame, features: pd.DataFrame | None = None, size: int = CORNER_SIZE,
                   folds: int = CV_FOLDS, n_resamples: int = 1000, seed: int = 0,
                   progress: bool = True, cnn: bool = False) -> pd.DataFrame:
    """The far-sky probe of a labelled catalogue (module docstring): :func:`shortcut_table` of its
    corner statistics (and of how its files were encoded, when the catalogue says), every object of
    every split, grouped by merger sequence.

    Parameters
    ----------
    catalog : DataFrame with ``ID``, ``label``, ``image_path`` and ``sequence_ID`` (as from
        :func:`galmerge.data.catalog.load_catalog`).
    features : precomputed :func:`corner_features` of ``catalog`` (computed when None).
    size, folds, n_resamples, seed : corner side, folds, bootstrap resamples, seed.
    cnn : also the small CNN on the corner patches (the ``corner_cnn`` probe; reads the images
        again when ``features`` is given).
    """
    if "label" not in catalog.columns:
        raise KeyError("shortcut_check needs the catalogue's label column")
    patches = [] if cnn else None
    if features is None or cnn:
        features = corner_features(catalog, size, progress, patches)
    features = catalog[["ID"]].merge(features, on="ID", how="left", validate="one_to_one")
    return shortcut_table(features, catalog["label"].to_numpy(int), gm.resampling_units(catalog), folds,
                          n_resamples, seed, file_encoding_features(catalog),
                          np.stack(patches) if cnn else None)
