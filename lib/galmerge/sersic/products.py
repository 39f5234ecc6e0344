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
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from galmerge.vocab import CHANNELS, CUTOUT_SIZE

CUBES_FILE = "cutouts.h5"
IMAGES_FILE = "images.parquet"
SOURCES_FILE = "sources.parquet"
COMPLETE_MARK = "COMPLETE"


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

    def cube(self, channel: str) -> h5py.Dataset:
        """The lazily read (N, 128, 128) cube of ``channel`` (raw, model or residual)."""
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
        if self._h5 is None:
            self._h5 = h5py.File(self.cubes_path, "r")
        return self._h5[channel]

    def read(self, channels: str | Sequence[str], index: int | Sequence[int] | slice) -> np.ndarray:
        """Images of one or more channels (:data:`galmerge.vocab.CHANNELS`), channels last:
        (..., 128, 128, len(channels)) float32.

        ``index`` is a row number, a sequence of rows (any order, repeats allowed), or a slice.
        A sequence is read as one slice per run of consecutive rows: the cubes are chunked one
        image per chunk, and h5py's fancy indexing with a list of rows is several times slower.
        """
        channels = [channels] if isinstance(channels, str) else list(channels)
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
