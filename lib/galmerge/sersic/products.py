"""On-disk products of the Sérsic fitting stage, read by training, evaluation and occlusion.

Layout of a products folder (``<run>/products/``)::

    cutouts.h5        HDF5; datasets ``raw``, ``model``, ``residual``: (N, 128, 128) float32,
                      one chunk per image, rows in catalogue order; dataset ``ID`` (N,) int64
    images.parquet    one row per input image, same order as the cubes (row i <-> cube index i):
                      ID, status, n_sources, the primary source's Sérsic parameters
                      (``sersic_*``), its flags, timing, plus the catalogue columns
                      (split, label, stage, redshift, merger_time, ...)
    sources.parquet   one row per segmentation source of every image (``ID`` links to images)
    COMPLETE          written last: a folder without it is not a finished product

The cubes hold the images *before* the CNN's per-image [0, 1] normalisation, which belongs to
the input pipeline (:mod:`galmerge.nets.training`).

Several bands (issue 32)
------------------------
A dataset ingested with ``--bands gri`` (:mod:`galmerge.ingest`) keeps each colour image's three
bands beside its primary image (the red channel, i). The fitting stage fits the primary image
only, so every single-band product above is exactly that of a one-band run. :func:`add_band_cubes`
then adds to ``cutouts.h5`` the per-band cubes ``raw_bands``, ``model_bands`` and
``residual_bands`` ((N, 128, 128, bands), bands in order; the file's attribute ``bands``) and
``band_scales`` ((N, bands)), and the networks read them with C = 3 input channels per input kind
(:meth:`Products.input_channels`).

How the model and residual of each band are made, and why: one *structural* Sérsic model, fitted
on the i-band image (the reddest band, closest to the paper's HSC i band, where the old stellar
light that traces the mass is brightest and the fit is best constrained), and per band one flux
scale: ``model_b = a_b * model_i`` with ``a_b`` and a sky level ``c_b`` from linear least squares of
``raw_b ~ a_b * model_i + c_b`` over the 128 px crop (the sky level stays in the residual, as the
paper's residual keeps the background); the fitted band keeps its own model and residual exactly
(``a = 1``). This is what multi-band Sérsic fitting does when the structure is tied across bands
and only the fluxes are free (GALAPAGOS-2 / MegaMorph, Häußler et al. 2013, MNRAS 430, 330, with the
structural parameters held constant over wavelength), in its simplest form: one scale for all the
sources of the image, not one per source. Three independent fits would triple the fitting time,
the stage's largest cost, and on the g band, where these cutouts are faint and the JPEG's
quantisation coarse, would give noisier structure; a tied model makes the residual of each band
what that band's light does *not* share with the i-band structure: a blue tidal feature or
star-forming clump, or a companion of another colour (which a single scale leaves, with its colour
difference, in the residual). Each channel of a network input is normalised to [0, 1] on its own
(:func:`galmerge.nets.training.normalise_images`), so the networks see each band's morphology, not
the absolute colour.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from galmerge.vocab import CHANNELS, CUTOUT_SIZE, INPUT_CHANNELS

CUBES_FILE = "cutouts.h5"
IMAGES_FILE = "images.parquet"
SOURCES_FILE = "sources.parquet"
COMPLETE_MARK = "COMPLETE"
#: Name of a channel's per-band cube: ``raw_bands``, ``model_bands``, ``residual_bands``.
BAND_SUFFIX = "_bands"
BAND_CHANNELS = tuple(f"{c}{BAND_SUFFIX}" for c in CHANNELS)
#: Per-image flux scale of each band's model ((N, bands)); the fitted band's is 1.
BAND_SCALES = "band_scales"
#: Attributes of ``cutouts.h5`` that describe the band cubes.
BANDS_ATTRIBUTE = "bands"
BANDS_CONFIG_ATTRIBUTE = "bands_config"
#: The band of each colour channel the primary image can be (the composite's blue, green and red
#: channels hold the first, second and third band): the band the Sérsic model was fitted on.
FITTED_BAND = {"b": 0, "g": 1, "r": 2}


class ProductsError(RuntimeError):
    """A products folder is missing, incomplete or inconsistent."""


def is_complete(path: str | Path) -> bool:
    """True when ``path`` holds a finished products folder."""
    return (Path(path) / COMPLETE_MARK).exists()


class Products:
    """Read access to a finished products folder.

    Parameters
    ----------
    path : str or Path
        The products folder.

    Attributes
    ----------
    images : pandas.DataFrame
        One row per image, row ``i`` matching cube index ``i``.
    sources : pandas.DataFrame
        One row per fitted source.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise ProductsError(f"{self.path}: no products folder; run the fitting stage (01_sersic_fitting) first")
        if not is_complete(self.path):
            raise ProductsError(f"{self.path}: products are incomplete (no {COMPLETE_MARK} mark); "
                                "re-run the fitting stage")
        self.images = pd.read_parquet(self.path / IMAGES_FILE)
        self.sources = pd.read_parquet(self.path / SOURCES_FILE)
        self._h5 = None
        with h5py.File(self.path / CUBES_FILE, "r") as h5:
            ids = h5["ID"][:]
        if len(ids) != len(self.images) or not np.array_equal(ids, self.images["ID"].to_numpy()):
            raise ProductsError(f"{self.path}: cube IDs and {IMAGES_FILE} rows disagree")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def cubes_path(self) -> Path:
        return self.path / CUBES_FILE

    def _file(self) -> h5py.File:
        if self._h5 is None:
            self._h5 = h5py.File(self.cubes_path, "r")
        return self._h5

    @property
    def bands(self) -> str | None:
        """The bands of the per-band cubes (e.g. 'gri'; :func:`add_band_cubes`), None without them."""
        value = self._file().attrs.get(BANDS_ATTRIBUTE)
        return None if value is None else str(value)

    def band_scales(self) -> np.ndarray:
        """(N, bands) flux scale of each band's model relative to the fitted model (:func:`band_cubes`).

        Raises
        ------
        ProductsError
            The products have one band.
        """
        if not self.bands:
            raise ProductsError(f"{self.path}: no band scales; these products have one band")
        return self._file()[BAND_SCALES][:]

    def input_channels(self, kind: str) -> tuple[str, ...]:
        """The cubes a network of input ``kind`` reads: :data:`galmerge.vocab.INPUT_CHANNELS` (one
        plane each), or their per-band cubes (``raw_bands``...; one plane per band) when the
        products have bands."""
        if kind not in INPUT_CHANNELS:
            raise ValueError(f"input kind must be one of {tuple(INPUT_CHANNELS)}, got {kind!r}")
        channels = INPUT_CHANNELS[kind]
        return tuple(f"{c}{BAND_SUFFIX}" for c in channels) if self.bands else channels

    def cube(self, channel: str) -> h5py.Dataset:
        """The lazily read cube of ``channel``: (N, 128, 128) for raw, model or residual; (N, 128,
        128, bands) for raw_bands, model_bands or residual_bands (products with bands only)."""
        if channel not in CHANNELS + BAND_CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS + BAND_CHANNELS}, got {channel!r}")
        if channel in BAND_CHANNELS and not self.bands:
            raise ProductsError(f"{self.path}: no per-band cube {channel!r}; these products have one band "
                                "(a dataset ingested with --bands, fitted with the bands parameter, has them)")
        return self._file()[channel]

    def read(self, channels: str | Sequence[str], index: int | Sequence[int] | slice) -> np.ndarray:
        """Images of one or more channels (:data:`galmerge.vocab.CHANNELS`), channels last:
        (..., 128, 128, len(channels)) float32.

        ``index`` is a row number, a sequence of rows (any order, repeats allowed), or a slice.
        A sequence is read as one slice per run of consecutive rows: the cubes are chunked one
        image per chunk, and h5py's fancy indexing with a list of rows is several times slower.
        """
        channels = [channels] if isinstance(channels, str) else list(channels)
        if any(c in BAND_CHANNELS for c in channels):
            return self._read_planes(channels, index)
        if isinstance(index, (int, np.integer)):
            return np.stack([self.cube(k)[int(index)] for k in channels], axis=-1)
        if isinstance(index, slice):
            return np.stack([self.cube(k)[index] for k in channels], axis=-1)
        index = np.asarray(index, dtype=np.int64)
        if index.size == 0:
            return np.empty((0, CUTOUT_SIZE, CUTOUT_SIZE, len(channels)), dtype=np.float32)
        unique, inverse = np.unique(index, return_inverse=True)
        runs = np.split(unique, np.flatnonzero(np.diff(unique) != 1) + 1)
        planes = [np.concatenate([self.cube(k)[run[0]:run[-1] + 1] for run in runs]) for k in channels]
        return np.stack(planes, axis=-1)[inverse.reshape(-1)].astype(np.float32, copy=False)

    def _read_planes(self, channels: list[str], index) -> np.ndarray:
        """:meth:`read` when a per-band cube is among ``channels``: each channel gives its planes
        (one, or one per band), concatenated in order along the last axis."""
        def planes(channel, rows):
            data = self.cube(channel)[rows]
            return data if channel in BAND_CHANNELS else data[..., None]

        if isinstance(index, (int, np.integer, slice)):
            rows = int(index) if isinstance(index, (int, np.integer)) else index
            return np.concatenate([planes(k, rows) for k in channels], axis=-1).astype(np.float32, copy=False)
        index = np.asarray(index, dtype=np.int64)
        if index.size == 0:
            depth = sum(self.cube(k).shape[-1] if k in BAND_CHANNELS else 1 for k in channels)
            return np.empty((0, CUTOUT_SIZE, CUTOUT_SIZE, depth), dtype=np.float32)
        unique, inverse = np.unique(index, return_inverse=True)
        runs = np.split(unique, np.flatnonzero(np.diff(unique) != 1) + 1)
        stacked = np.concatenate([np.concatenate([planes(k, slice(run[0], run[-1] + 1)) for run in runs])
                                  for k in channels], axis=-1)
        return stacked[inverse.reshape(-1)].astype(np.float32, copy=False)

    def row(self, image_id: int) -> int:
        """Cube row of the image with catalogue ``ID`` ``image_id`` (a KeyError naming it if absent)."""
        matches = np.flatnonzero(self.images["ID"].to_numpy() == int(image_id))
        if not len(matches):
            raise KeyError(f"{self.path}: no image with ID {image_id}")
        return int(matches[0])

    def rows(self, split: str) -> np.ndarray:
        """Cube indices of the images in one split (train, validation or test)."""
        return np.flatnonzero(self.images["split"].to_numpy() == split)

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_products(
    path: str | Path,
    images: pd.DataFrame,
    sources: pd.DataFrame,
    cubes: Mapping[str, np.ndarray],
) -> Path:
    """Write a complete products folder atomically (built beside ``path``, then renamed into place).

    ``cubes`` maps each of raw/model/residual to an (N, 128, 128) array, rows in the order of
    ``images``. An existing folder at ``path`` is replaced only once the new one is complete.
    """
    path = Path(path)
    n = len(images)
    for channel in CHANNELS:
        if channel not in cubes:
            raise ValueError(f"cubes lacks {channel!r}")
        if cubes[channel].shape != (n, CUTOUT_SIZE, CUTOUT_SIZE):
            raise ValueError(f"cube {channel!r} has shape {cubes[channel].shape}, "
                             f"expected {(n, CUTOUT_SIZE, CUTOUT_SIZE)}")
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    with h5py.File(tmp / CUBES_FILE, "w") as h5:
        h5.create_dataset("ID", data=images["ID"].to_numpy().astype(np.int64))
        for channel in CHANNELS:
            h5.create_dataset(channel, data=np.asarray(cubes[channel], dtype=np.float32),
                              chunks=(1, CUTOUT_SIZE, CUTOUT_SIZE))
    images.reset_index(drop=True).to_parquet(tmp / IMAGES_FILE, index=False)
    sources.reset_index(drop=True).to_parquet(tmp / SOURCES_FILE, index=False)
    (tmp / COMPLETE_MARK).write_text(f"{n} images\n")
    if path.exists():
        old = path.with_name(path.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old)
    else:
        os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- several bands


def band_cubes(bands_image: np.ndarray, model: np.ndarray, residual: np.ndarray | None = None,
               cutout_mode: str = "crop", fitted_band: int | None = None) -> dict[str, np.ndarray]:
    """Raw, model and residual crops of every band from one structural model (module docstring).

    Parameters
    ----------
    bands_image : ndarray, (bands, N, M)
        The image's bands, in order (:func:`galmerge.ingest.read_bands_image`).
    model : ndarray, (128, 128)
        The crop of the Sérsic model fitted on the primary image (the products' ``model`` cube).
    residual : ndarray, (128, 128), optional
        The crop of the primary image's residual; the fitted band's residual is this one exactly.
    cutout_mode : {'crop', 'resample'}
        As the fitting stage made the crops (:func:`galmerge.sersic.fit.cutout`).
    fitted_band : int, optional
        Index of the band the model was fitted on (scale fixed at 1; :data:`FITTED_BAND`).

    Returns
    -------
    dict
        ``raw``, ``model``, ``residual``: float32 (128, 128, bands); ``scales``: float64 (bands,),
        the least-squares flux scale of each band's model (0 for an image without a model).
    """
    from galmerge.sersic.fit import cutout

    bands_image = np.asarray(bands_image)
    if bands_image.ndim != 3:
        raise ValueError(f"bands_image must have shape (bands, N, M), got {bands_image.shape}")
    raw = np.stack([cutout(np.where(np.isfinite(p), p, 0.0), CUTOUT_SIZE, cutout_mode) for p in bands_image],
                   axis=-1)
    m = np.asarray(model, dtype=np.float64).ravel()
    design = np.stack([m, np.ones_like(m)], axis=1)
    n_bands = raw.shape[-1]
    scales = np.zeros(n_bands)
    if np.any(m != 0) and np.ptp(m) > 0:
        solution = np.linalg.lstsq(design, raw.reshape(-1, n_bands).astype(np.float64), rcond=None)[0]
        scales = solution[0]
    if fitted_band is not None:
        scales[fitted_band] = 1.0
    model_bands = (np.asarray(model, dtype=np.float64)[..., None] * scales).astype(np.float32)
    residual_bands = (raw - model_bands).astype(np.float32)
    if fitted_band is not None:
        model_bands[..., fitted_band] = model
        if residual is not None:
            residual_bands[..., fitted_band] = residual
    return {"raw": raw, "model": model_bands, "residual": residual_bands, "scales": scales}


def add_band_cubes(path: str | Path, catalog: pd.DataFrame, bands: str, cutout_mode: str = "crop",
                   progress: bool = True) -> Products:
    """Add the per-band cubes of a dataset ingested with ``--bands`` to a finished products folder.

    Every image's band cube is read from its file (:func:`galmerge.ingest.read_bands_image`) and
    made into raw, model and residual crops per band by :func:`band_cubes`, with the products'
    own model and residual crop of the primary image (module docstring). The cubes are written
    under temporary names and renamed, and the attributes ``bands`` and ``bands_config`` set last,
    so an interrupted call leaves products without bands; a folder that already has them for the
    same bands and configuration is left as it is. An image the fitting stage could not use
    (status ``bad_input`` or ``error``) gets zero cubes.

    Parameters
    ----------
    path : the products folder (finished by the fitting stage).
    catalog : the dataset's catalogue (``ID``, ``image_path``, and ``channel``, the colour channel of
        the primary image: its band is the fitted one, :data:`FITTED_BAND`).
    bands : the bands the dataset was ingested with (e.g. 'gri'); checked against every file.
    cutout_mode : as the fitting stage's.
    progress : show a progress bar.

    Returns
    -------
    Products
        The products folder, reopened.

    Raises
    ------
    ProductsError
        An image the stage used has no bands, or other bands than ``bands`` (the file is named).
    """
    from tqdm import tqdm

    from galmerge.ingest import read_bands_image

    path = Path(path)
    config = f"cutout_mode={cutout_mode}; scale: least squares with a sky level on the crop; fitted band a=1"
    with Products(path) as products:
        if products.bands == bands and products._file().attrs.get(BANDS_CONFIG_ATTRIBUTE) == config:
            return Products(path)
        images = products.images[["ID", "status"]].reset_index(drop=True)
        n = len(products)
    by_id = catalog.set_index("ID")
    n_bands = len(bands)
    with h5py.File(path / CUBES_FILE, "a") as h5:
        for name in (*BAND_CHANNELS, BAND_SCALES, *(f".tmp_{c}" for c in (*BAND_CHANNELS, BAND_SCALES))):
            if name in h5:
                del h5[name]
        for key in (BANDS_ATTRIBUTE, BANDS_CONFIG_ATTRIBUTE):
            h5.attrs.pop(key, None)
        out = {c: h5.create_dataset(f".tmp_{c}{BAND_SUFFIX}", shape=(n, CUTOUT_SIZE, CUTOUT_SIZE, n_bands),
                                    dtype=np.float32, chunks=(1, CUTOUT_SIZE, CUTOUT_SIZE, n_bands))
               for c in CHANNELS}
        scales = np.zeros((n, n_bands))
        for row, (image_id, status) in enumerate(tqdm(zip(images["ID"], images["status"]), total=n,
                                                      desc="band cubes", unit="image", disable=not progress,
                                                      mininterval=15)):
            if status in ("bad_input", "error"):
                continue  # the zeros of the stage's own cubes for that image
            record = by_id.loc[image_id]
            try:
                file_bands, cube = read_bands_image(record["image_path"])
            except (OSError, ValueError) as err:
                raise ProductsError(f"{record['image_path']}: {err}") from None
            if file_bands != bands:
                raise ProductsError(f"{record['image_path']}: bands {file_bands!r}, the run asks for {bands!r}")
            made = band_cubes(cube, h5["model"][row], h5["residual"][row], cutout_mode,
                              FITTED_BAND.get(str(record.get("channel", ""))))
            for c in CHANNELS:
                out[c][row] = made[c]
            scales[row] = made["scales"]
        h5.create_dataset(f".tmp_{BAND_SCALES}", data=scales)
        for name in (*BAND_CHANNELS, BAND_SCALES):
            h5.move(f".tmp_{name}", name)
        h5.attrs[BANDS_CONFIG_ATTRIBUTE] = config
        h5.attrs[BANDS_ATTRIBUTE] = bands
    return Products(path)


def remove_band_cubes(path: str | Path) -> Products:
    """Remove the per-band cubes from a products folder (a run without bands reusing the products of
    one with them: its networks must read the single-band cubes); no write at all when there are none.

    Returns
    -------
    Products
        The products folder, reopened.
    """
    path = Path(path)
    with Products(path) as products:
        has_bands = products.bands is not None or any(c in products._file() for c in (*BAND_CHANNELS, BAND_SCALES))
    if has_bands:
        with h5py.File(path / CUBES_FILE, "a") as h5:
            for key in (BANDS_ATTRIBUTE, BANDS_CONFIG_ATTRIBUTE):
                h5.attrs.pop(key, None)
            for name in (*BAND_CHANNELS, BAND_SCALES):
                if name in h5:
                    del h5[name]
    return Products(path)
