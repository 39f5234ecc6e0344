"""Occlusion heatmaps (paper Sect. 5.2, Figs 14-15) and first-layer feature maps (Fig 16).

The occlusion experiment (Zeiler & Fergus 2014; Pearson et al. 2022, as used by the paper)
slides a ``box x box`` patch over the image with a given stride, replaces the pixels under it
by a *fill*, lets the network score every occluded copy, and gives each pixel the mean score
of all occlusions that covered it. For a merger, the regions that matter have *lower* scores
in the heatmap than the unoccluded image; for a non-merger, *higher*.

Conventions
-----------
- **What is occluded.** The patch is placed on exactly what the network sees: the image
  *after* the input pipeline's per-image linear normalisation to [0, 1]
  (:func:`network_inputs` applies :mod:`galmerge.nets.training`'s normalisation), and the fill
  values are on that normalised scale. Occluding before normalisation would let a patch over
  the brightest pixel rescale the whole image, mixing two effects; the paper describes the
  occluded images as "treated as normal galaxy images by a network", i.e. fed as they are.
- **Fill** (paper): for raw and residual inputs, Gaussian noise with the image background's
  level and spread (sigma-clipped median and standard deviation of the normalised image with
  its sources masked, :func:`background_stats`), drawn afresh for every occluded copy from a
  seeded generator and clipped to the image's range of values (:func:`background_noise_fill`);
  for Sérsic model inputs, zeros, which after normalisation is the model's empty sky. The
  stacked network gets the same per channel (noise in raw and residual, zeros in model); see
  :func:`fill_for_kind`.
- **Positions.** The box's top-left corner takes the values ``0, stride, 2*stride, ...`` up to
  ``size - box`` in each axis. When the stride does not tile the image (e.g. box 8, stride 16,
  or a border left over), some pixels are never covered; they get the *unoccluded* score, so
  that they read as "no effect" rather than as a spurious extreme.
- **Decisions.** A galaxy is predicted a merger when ``score >= threshold``
  (:func:`galmerge.analysis.metrics.predict`).
- **Memory.** Occluded copies are built and scored in streaming batches of ``batch_size``
  (the next batch is built in a helper thread while the network scores the current one), so
  memory is bounded by a few batches whatever the image size and stride.
"""

from __future__ import annotations

import concurrent.futures
import time
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from astropy.stats import sigma_clipped_stats
from tqdm import tqdm

from galmerge.vocab import PAPER_INPUT_KINDS, input_channels, network_name

#: Networks whose right/wrong pattern defines the paper's five categories (CNN1, CNN2, CNN3).
CATEGORY_KINDS = PAPER_INPUT_KINDS
#: Channels whose occluding patch is background noise; the Sérsic model gets zeros (paper).
NOISE_CHANNELS = ("raw", "residual")


# --------------------------------------------------------------------------- occlusion
def occlusion_positions(size: tuple[int, int], box: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of the occluding box along each axis.

    Parameters
    ----------
    size : (int, int)
        Image height and width in pixels.
    box, stride : int
        Side of the square box and step between positions, in pixels.

    Returns
    -------
    ys, xs : numpy.ndarray
        Corner rows and columns: ``0, stride, ...`` up to ``size - box`` inclusive.
    """
    height, width = size
    _check_box(box, stride, height, width)
    return np.arange(0, height - box + 1, stride), np.arange(0, width - box + 1, stride)


def coverage_count(size: tuple[int, int], box: int, stride: int) -> np.ndarray:
    """How many occlusions cover each pixel (2-D int array of ``size``); 0 = never covered."""
    ys, xs = occlusion_positions(size, box, stride)
    rows = np.zeros(size[0], dtype=np.int64)
    cols = np.zeros(size[1], dtype=np.int64)
    for y in ys:
        rows[y:y + box] += 1
    for x in xs:
        cols[x:x + box] += 1
    return np.outer(rows, cols)


def occluded_batches(image: np.ndarray, box: int = 8, stride: int = 1, fill=0.0,
                     batch_size: int = 256) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Generate the occluded copies of ``image`` in batches, row by row.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W, C) float image, as the network sees it.
    box, stride, fill, batch_size
        See :func:`occlusion_map`.

    Yields
    ------
    corners : numpy.ndarray
        (n, 2) int array of the box's top-left (row, column) for each copy.
    batch : numpy.ndarray
        (n, H, W, C) float32 occluded copies, ``n <= batch_size``.
    """
    ys, xs = occlusion_positions(image.shape[:2], box, stride)
    corners = np.stack(np.meshgrid(ys, xs, indexing="ij"), axis=-1).reshape(-1, 2)
    patch_shape = (box, box, image.shape[2])
    for start in range(0, len(corners), batch_size):
        chunk = corners[start:start + batch_size]
        batch = np.repeat(image[None].astype(np.float32, copy=False), len(chunk), axis=0)
        for i, (y, x) in enumerate(chunk):
            batch[i, y:y + box, x:x + box, :] = _fill_patch(fill, patch_shape)
        yield chunk, batch


def occlusion_map(model, image: np.ndarray, box: int = 8, stride: int = 1, fill=0.0,
                  batch_size: int = 256, progress: bool = True) -> np.ndarray:
    """Occlusion heatmap of one image: mean network score over the occlusions covering each pixel.

    Parameters
    ----------
    model : keras.Model
        A trained network taking (N, H, W, C) inputs and returning one score per image
        (shape (N,) or (N, 1)).
    image : numpy.ndarray
        (H, W) or (H, W, C) image exactly as the network sees it (already normalised, see
        :func:`network_inputs`); with several channels (the stacked network) the box occludes
        all channels.
    box : int
        Side of the occluding square in pixels (paper: 8).
    stride : int
        Step of the box in pixels (paper: 1).
    fill : float or callable
        Value of the occluded pixels (on the image's scale), or a callable ``fill(shape)``
        returning a patch of ``shape = (box, box, C)`` (called once per occluded copy, in a
        fixed order, so a seeded callable gives a reproducible map); see
        :func:`background_noise_fill` and :func:`fill_for_kind`. A stateful callable (noise)
        should be built afresh for every map.
    batch_size : int
        Occluded copies built and scored per batch; bounds the memory.
    progress : bool
        Show a tqdm bar over batches.

    Returns
    -------
    numpy.ndarray
        (H, W) float64 heatmap. Pixels never covered by the box (when the stride does not
        tile the image) hold the unoccluded score.
    """
    image = _as_hwc(image)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    size = image.shape[:2]
    ys, xs = occlusion_positions(size, box, stride)
    n_copies = len(ys) * len(xs)
    sums = np.zeros(size, dtype=np.float64)
    batches = occluded_batches(image, box, stride, fill, batch_size)
    n_batches = -(-n_copies // batch_size)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as builder, \
            tqdm(total=n_batches, desc=f"occlusion {box}x{box}/{stride}", unit="batch",
                 disable=not progress, leave=False) as bar:
        # build batch i+1 in a helper thread while the network scores batch i
        pending = builder.submit(next, batches, None)
        while (item := pending.result()) is not None:
            pending = builder.submit(next, batches, None)
            corners, batch = item
            scores = predict_batch(model, batch)
            for (y, x), score in zip(corners, scores):
                sums[y:y + box, x:x + box] += score
            bar.update()
    count = coverage_count(size, box, stride)
    heat = np.divide(sums, count, out=np.zeros_like(sums), where=count > 0)
    if (count == 0).any():
        heat[count == 0] = predict_batch(model, image[None])[0]
    return heat


def predict_batch(model, batch: np.ndarray) -> np.ndarray:
    """Scores of one in-memory batch as a 1-D float64 array.

    Calls the network in inference mode through one compiled function per network whose batch
    dimension is free, so that batches of different sizes (the last, partial batch of a map; the
    single unoccluded image) do not retrace the graph (``model.predict_on_batch`` retraces, and
    warns, when sizes alternate).
    """
    scores = np.asarray(_inference_function(model)(np.asarray(batch, dtype=np.float32)), dtype=np.float64)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.shape != (len(batch),):
        raise ValueError(f"the network must return one score per image; got shape {scores.shape} "
                         f"for a batch of {len(batch)}")
    return scores


_INFERENCE = weakref.WeakKeyDictionary()


def _inference_function(model):
    """``model(x, training=False)`` compiled once per network (TensorFlow backend), else predict_on_batch."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return model.predict_on_batch
    if model not in _INFERENCE:
        import tensorflow as tf

        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        network = weakref.ref(model)  # the cache must not keep the network alive

        def forward(x):
            return network()(x, training=False)

        compiled = tf.function(forward, input_signature=[spec], autograph=False)

        def run(x):
            return compiled(tf.convert_to_tensor(x)).numpy()

        _INFERENCE[model] = run
    return _INFERENCE[model]


# --------------------------------------------------------------------------- fills
@dataclass(frozen=True)
class BackgroundStats:
    """Robust background level and spread of one image channel (image units)."""

    level: float
    spread: float
    low: float
    high: float


def background_stats(plane: np.ndarray, sigma: float = 3.0, maxiters: int = 10,
                     detect_sigma: float = 1.5, mask_radius: int = 5) -> BackgroundStats:
    """Robust background level and spread of a 2-D image, plus its range of values.

    Two passes, the usual photutils recipe: sigma-clipped statistics of all pixels; then the
    sources are detected (``detect_sigma`` x that spread above the level, at least 5 connected
    pixels, as the fitting stage's 1.5 sigma detection), their segments dilated by a disc of
    ``mask_radius`` pixels to cover the faint wings, and the sigma-clipped median and standard
    deviation of the remaining pixels are the background's level and spread. (Clipping alone is
    biased high by extended galaxy wings: +0.2 sigma on a bright exponential disc in the tests.)
    NaNs are ignored; when the sources would mask over 90 % of the image the first pass is kept.
    """
    from photutils.segmentation import detect_sources
    from photutils.utils import circular_footprint
    from photutils.utils.exceptions import NoDetectionsWarning

    plane = np.asarray(plane, dtype=np.float64)
    if plane.ndim != 2:
        raise ValueError(f"background_stats needs a 2-D image, got shape {plane.shape}")
    finite = np.isfinite(plane)
    if not finite.any():
        raise ValueError("background_stats: the image has no finite pixel")
    _, median, std = sigma_clipped_stats(plane, mask=~finite, sigma=sigma, maxiters=maxiters)
    if std > 0:
        with warnings.catch_warnings():  # an empty sky is a valid answer, not a problem
            warnings.simplefilter("ignore", NoDetectionsWarning)
            segments = detect_sources(np.where(finite, plane - median, 0.0), detect_sigma * std, n_pixels=5)
        if segments is not None:
            mask = segments.make_source_mask(footprint=circular_footprint(radius=mask_radius)) | ~finite
            if mask.mean() < 0.9:
                _, median, std = sigma_clipped_stats(plane, mask=mask, sigma=sigma, maxiters=maxiters)
    values = plane[finite]
    return BackgroundStats(float(median), float(std), float(values.min()), float(values.max()))


def background_noise_fill(image: np.ndarray, seed=None, sigma: float = 3.0,
                          zero_channels: Sequence[int] = ()) -> Callable[[tuple[int, ...]], np.ndarray]:
    """A fill that draws Gaussian noise with the image background's level and spread.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) or (H, W, C) image on the network's scale; the background of each channel is
        measured with source-masked sigma-clipped statistics (:func:`background_stats`).
    seed : int, numpy.random.Generator or None
        Seed of the noise; the same seed gives the same sequence of patches.
    sigma : float
        Clipping threshold in standard deviations.
    zero_channels : sequence of int
        Channels filled with zeros instead of noise (the Sérsic model channel of the stack).

    Returns
    -------
    callable
        ``fill(shape)`` with ``shape = (box, box)`` or ``(box, box, C)``: a float32 patch of
        noise, clipped to the channel's range of values in ``image`` so that the network sees
        no value it never saw (a few-sigma tail only).
    """
    image = _as_hwc(image)
    stats = [background_stats(image[..., c], sigma) for c in range(image.shape[2])]
    zero = np.zeros(image.shape[2], dtype=bool)
    zero[list(zero_channels)] = True
    level = np.array([0.0 if z else s.level for s, z in zip(stats, zero)])
    spread = np.array([0.0 if z else s.spread for s, z in zip(stats, zero)])
    low = np.array([0.0 if z else s.low for s, z in zip(stats, zero)])
    high = np.array([0.0 if z else s.high for s, z in zip(stats, zero)])
    rng = np.random.default_rng(seed)

    def fill(shape: tuple[int, ...]) -> np.ndarray:
        squeeze = len(shape) == 2
        shape3 = (*shape, 1) if squeeze else tuple(shape)
        if shape3[-1] != len(level):
            raise ValueError(f"noise fill built for {len(level)} channel(s), asked for a patch {shape}")
        patch = np.clip(level + spread * rng.standard_normal(shape3), low, high).astype(np.float32)
        return patch[..., 0] if squeeze else patch

    fill.stats = stats  # for display and tests
    return fill


def fill_for_kind(kind: str, image: np.ndarray, seed=None):
    """The paper's fill for one network: noise for raw and residual, zeros for the model.

    For ``stack`` (channels raw, model, residual) the fill is channel-wise. Returns ``0.0`` or a
    fresh seeded callable (build one per map).
    """
    channels = input_channels(kind)
    if not any(c in NOISE_CHANNELS for c in channels):
        return 0.0
    per_channel = max(1, np.shape(image)[-1] // len(channels))  # several planes per channel with bands
    planes = [c for c in channels for _ in range(per_channel)]
    zero = [i for i, c in enumerate(planes) if c not in NOISE_CHANNELS]
    return background_noise_fill(image, seed=seed, zero_channels=zero)


# --------------------------------------------------------------------------- run inputs
def network_inputs(products, kind: str, rows) -> np.ndarray:
    """(N, H, W, C) inputs of one network for cube rows ``rows``, normalised as in training.

    Reads the kind's channels from a :class:`galmerge.sersic.products.Products` and applies the
    training pipeline's per-image normalisation (:func:`galmerge.nets.training.normalise_images`),
    so that occlusion acts on exactly what the network saw.
    """
    from galmerge.nets.training import normalise_images  # the training helper owns the normalisation

    images = products.read(list(products.input_channels(kind)), np.atleast_1d(np.asarray(rows, dtype=np.int64)))
    return np.asarray(normalise_images(images), dtype=np.float32)


# --------------------------------------------------------------------------- selection
@dataclass(frozen=True)
class Category:
    """One of the paper's five example categories (a-e)."""

    letter: str
    key: str
    correct: tuple[str, ...]  # networks that classify the galaxy correctly; the others are wrong
    # (for all_correct: every network present in the run)


def categories() -> list[Category]:
    """The paper's categories over the three networks: (a) all correct, (b) all wrong,
    (c)-(e) only CNN1 / CNN2 / CNN3 correct. The letters follow :data:`CATEGORY_KINDS`."""
    cats = [Category("a", "all_correct", tuple(CATEGORY_KINDS)), Category("b", "all_wrong", ())]
    cats += [Category(letter, f"only_{k}_correct", (k,)) for letter, k in zip("cde", CATEGORY_KINDS)]
    return cats


def describe_category(category: Category, label: int, kinds: Sequence[str] = CATEGORY_KINDS) -> str:
    """Readable caption in the paper's words, e.g. 'classified as mergers by CNN1 and as
    non-mergers by CNN2 and CNN3'; ``kinds`` are the networks present (the wording says which
    are missing)."""
    right, wrong = ("mergers", "non-mergers") if label == 1 else ("non-mergers", "mergers")
    present = [k for k in CATEGORY_KINDS if k in kinds]
    absent = [k for k in CATEGORY_KINDS if k not in kinds]
    names = " and ".join
    note = f" ({names(network_name(k) for k in absent)} not trained)" if absent else ""
    if category.key.startswith("only_") and category.correct[0] in absent:
        return f"classified as {right} by {network_name(category.correct[0])} only: unavailable{note}"
    every = "all three CNNs" if not absent else names(network_name(k) for k in present)
    if category.key == "all_correct":
        return f"classified as {right} by {every}{note}"
    if category.key == "all_wrong":
        return f"classified as {wrong} by {every}{note}"
    only = category.correct[0]
    others = [k for k in present if k != only]
    tail = f" and as {wrong} by {names(network_name(k) for k in others)}" if others else ""
    return f"classified as {right} by {network_name(only)}{tail}{note}"


def select_examples(scores: pd.DataFrame, thresholds: dict[str, float], seed: int,
                    kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """The paper's five mergers and five non-mergers, one seeded random pick per category.

    Parameters
    ----------
    scores : pandas.DataFrame
        ID, label and ``score_<kind>`` per network (as from :meth:`galmerge.runs.Run.wide_scores`).
    thresholds : dict
        Decision threshold per network (merger when ``score >= threshold``).
    seed : int
        Seed of the pick within each category (one stream per label and category, so a
        category's pick does not depend on the others).
    kinds : sequence of str, optional
        Networks that define the categories: those of raw, model, residual present in
        ``scores`` by default. A category that involves a missing network is reported as
        unavailable; with fewer than three networks the remaining categories are judged on
        the networks present (state that in the figure).

    Returns
    -------
    pandas.DataFrame
        Ten rows (label 1 then 0, categories a-e): label, letter, category, description,
        n_candidates, ID (``<NA>`` when the category is empty or unavailable), status
        ('ok', 'empty', 'unavailable'), plus score_<kind> and pred_<kind> of the pick.
    """
    from galmerge.analysis.metrics import predict

    if kinds is None:
        kinds = [k for k in CATEGORY_KINDS if f"score_{k}" in scores.columns]
    kinds = list(kinds)
    if not kinds:
        raise ValueError("select_examples: no score_raw/score_model/score_residual column in the scores")
    unknown = set(kinds) - set(CATEGORY_KINDS)
    if unknown:
        raise ValueError(f"categories are defined by {CATEGORY_KINDS} only; got {sorted(unknown)}")
    label = scores["label"].to_numpy()
    correct = {k: predict(scores[f"score_{k}"], thresholds[k]) == label for k in kinds}
    out = []
    for lab in (1, 0):
        for index, cat in enumerate(categories()):
            row = dict(label=lab, letter=cat.letter, category=cat.key,
                       description=describe_category(cat, lab, kinds), n_candidates=0, ID=pd.NA)
            if cat.key.startswith("only_") and cat.correct[0] not in kinds:
                row["status"] = "unavailable"
            else:
                right = set(kinds) if cat.key == "all_correct" else set(cat.correct)
                mask = label == lab
                for k in kinds:
                    mask &= correct[k] if k in right else ~correct[k]
                candidates = np.sort(scores["ID"].to_numpy()[mask])
                row["n_candidates"] = int(len(candidates))
                if len(candidates):
                    rng = np.random.default_rng([int(seed), lab, index])
                    row["ID"] = int(rng.choice(candidates))
                    row["status"] = "ok"
                else:
                    row["status"] = "empty"
            out.append(row)
    table = pd.DataFrame(out)
    table["ID"] = table["ID"].astype("Int64")
    picked = scores.set_index("ID")
    for k in kinds:
        table[f"score_{k}"] = [picked.at[i, f"score_{k}"] if i is not pd.NA else np.nan for i in table["ID"]]
        table[f"pred_{k}"] = [int(s >= thresholds[k]) if np.isfinite(s) else pd.NA for s in table[f"score_{k}"]]
    return table


# --------------------------------------------------------------------------- summaries
def importance_peak(heat: np.ndarray, score: float, label: int) -> dict[str, float]:
    """Where occlusion changes the score most in the direction that matters, and by how much.

    For a merger the important pixels are those whose occlusion *lowers* the score; for a
    non-merger, those that *raise* it (paper Sect. 5.2). Returns the largest such change
    (``drop``, score units, >= 0 when it helps the decision) and its distance from the
    image centre in pixels.
    """
    change = (score - heat) if label == 1 else (heat - score)
    y, x = np.unravel_index(np.argmax(change), change.shape)
    cy, cx = (np.array(heat.shape) - 1) / 2
    return {"max_change": float(change[y, x]), "peak_row": int(y), "peak_col": int(x),
            "peak_distance_px": float(np.hypot(y - cy, x - cx))}


# --------------------------------------------------------------------------- feature maps
def first_conv_layer(model):
    """The first Conv2D layer of a network (raises when there is none)."""
    import keras

    for layer in _flat_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            return layer
    raise ValueError(f"{model.name}: no Conv2D layer")


def first_conv_feature_maps(model, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kernels and feature maps of the first convolutional layer for one image.

    Parameters
    ----------
    model : keras.Model
        A network whose first Conv2D layer is reachable from its input.
    image : numpy.ndarray
        (H, W) or (H, W, C) image as the network sees it.

    Returns
    -------
    kernels : numpy.ndarray
        (filters, k, k, C) learnt weights.
    maps : numpy.ndarray
        (filters, H', W') output of that layer (the layer's own activation included, i.e. the
        convolution plus bias when the layer has no activation).
    """
    import keras

    layer = first_conv_layer(model)
    probe = keras.Model(inputs=model.inputs, outputs=layer.output)
    maps = np.asarray(probe.predict_on_batch(_as_hwc(image)[None].astype(np.float32)))[0]
    kernels = np.moveaxis(np.asarray(layer.get_weights()[0]), -1, 0)
    return kernels, np.moveaxis(maps, -1, 0)


# --------------------------------------------------------------------------- figures
# --------------------------------------------------------------------------- helpers
def _check_box(box: int, stride: int, height: int, width: int) -> None:
    if int(box) != box or box < 1:
        raise ValueError(f"box must be a positive integer, got {box!r}")
    if int(stride) != stride or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    if box > min(height, width):
        raise ValueError(f"box {box} does not fit in an image of {height}x{width} pixels")


def _as_hwc(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError("image has NaN or infinite pixels; the network never sees those")
    return image


def _fill_patch(fill, shape: tuple[int, int, int]):
    if callable(fill):
        patch = np.asarray(fill(shape), dtype=np.float32)
        if patch.shape != shape:
            raise ValueError(f"fill returned a patch of shape {patch.shape}, expected {shape}")
        return patch
    return np.float32(fill)


def _flat_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _flat_layers(layer)
        else:
            yield layer


# --------------------------------------------------------------------------- the study of 07_occlusion
@dataclass
class OcclusionStudy:
    """Occlusion maps of the selected examples (:func:`occlusion_study`).

    ``inputs``, ``heatmaps`` and ``unoccluded`` are keyed by ``(ID, kind)``; ``peaks`` has one row
    per map (``ID, label, kind, score, saved_score, heat_min, heat_max`` and
    :func:`importance_peak`'s columns); ``n_copies`` occluded images were scored in ``seconds``;
    ``mismatch`` is the largest difference between a recomputed unoccluded score and the
    network's saved test score.
    """

    inputs: dict
    heatmaps: dict
    unoccluded: dict
    peaks: pd.DataFrame
    n_copies: int
    seconds: float
    mismatch: float


def occlusion_study(products, networks: dict, examples: pd.DataFrame, saved_scores: dict[str, pd.Series],
                    box: int, stride: int, seed: int, progress: bool = True) -> OcclusionStudy:
    """Occlusion map of every selected example (``status == 'ok'``) for every network.

    Parameters
    ----------
    products : galmerge.sersic.products.Products
    networks : dict
        ``{kind: keras model}``, in the order of the figure's columns.
    examples : pandas.DataFrame
        :func:`select_examples`' table.
    saved_scores : dict
        ``{kind: Series of test scores indexed by ID}`` (the run's ``scores_test.csv``).
    box, stride : int
        Occluding box side and step (pixels).
    seed : int
        Seed of the noise fill; each map's generator is seeded with ``[seed, ID, network index]``.

    Raises
    ------
    RuntimeError
        When a recomputed unoccluded score differs from the saved one by more than 1e-3: the
        inputs built here would not be what the network was scored on.
    """
    picked = examples.loc[examples["status"] == "ok", ["ID", "label"]].astype(int).itertuples(index=False)
    jobs = [(galaxy, label, index, kind) for galaxy, label in picked for index, kind in enumerate(networks)]
    inputs, heatmaps, unoccluded, peaks = {}, {}, {}, []
    n_copies, start = 0, time.perf_counter()
    for galaxy, label, index, kind in tqdm(jobs, desc="occlusion maps", unit="map", disable=not progress):
        image = network_inputs(products, kind, [products.row(galaxy)])[0]
        score = float(predict_batch(networks[kind], image[None])[0])
        fill = fill_for_kind(kind, image, seed=[seed, galaxy, index])
        heat = occlusion_map(networks[kind], image, box=box, stride=stride, fill=fill, progress=False)
        inputs[galaxy, kind], heatmaps[galaxy, kind], unoccluded[galaxy, kind] = image, heat, score
        ys, xs = occlusion_positions(image.shape[:2], box, stride)
        n_copies += len(ys) * len(xs)
        peaks.append({"ID": galaxy, "label": label, "kind": kind, "score": score,
                      "saved_score": float(saved_scores[kind].get(galaxy, np.nan)),
                      "heat_min": float(heat.min()), "heat_max": float(heat.max()),
                      **importance_peak(heat, score, label)})
    seconds = time.perf_counter() - start
    peaks = pd.DataFrame(peaks)
    mismatch = float((peaks["score"] - peaks["saved_score"]).abs().max()) if len(peaks) else 0.0
    if mismatch > 1e-3:
        raise RuntimeError(f"unoccluded scores differ from scores_test.csv by up to {mismatch:.3g}: "
                           "the inputs built here are not what the network was scored on")
    return OcclusionStudy(inputs, heatmaps, unoccluded, peaks, n_copies, seconds, mismatch)


def peak_summary(peaks: pd.DataFrame) -> pd.DataFrame:
    """Per network: maps, median distance of the most important pixel from the centre (px) and
    median largest score change."""
    if not len(peaks):
        return pd.DataFrame(columns=["maps", "median_peak_distance_px", "median_max_change"])
    return peaks.groupby("kind").agg(maps=("ID", "size"), median_peak_distance_px=("peak_distance_px", "median"),
                                     median_max_change=("max_change", "median"))


def feature_map_example(examples: pd.DataFrame, scores: pd.DataFrame) -> int:
    """The galaxy of Fig 16: the category (a) merger when there is one, else the first selected
    merger, else the first test merger, else the first test galaxy."""
    mergers_ok = examples[(examples["label"] == 1) & (examples["status"] == "ok")]
    if len(mergers_ok):
        return int(mergers_ok["ID"].iloc[0])
    test_mergers = scores.loc[scores["label"] == 1, "ID"]
    return int(test_mergers.iloc[0]) if len(test_mergers) else int(scores["ID"].iloc[0])
