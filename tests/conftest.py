"""Shared pytest fixtures.

``fake_dataset``       a tiny dataset (24 objects) in the merger-challenge layout, in tmp_path
``make_fake_dataset``  a factory: ``make_fake_dataset(n=..., seed=..., test_fraction=..., ...)``
:func:`load_script`    a script of the repository (``run_all.py``, ``benchmarks/*.py``) imported as a module

Both write with :func:`write_fake_dataset`, which any test may call directly. The images are
noise plus one or two Gaussian blobs, sized as their snapnum folder promises unless
``image_size`` says otherwise; they are for plumbing, not for science.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from galmerge.data.cosmology import SNAPNUM_FOLDERS, folder_for_snapnum, snapnum_to_redshift

REPO = Path(__file__).resolve().parents[1]


def load_script(relative_path: str, name: str):
    """The repository's script ``relative_path`` imported as module ``name`` (registered in
    ``sys.modules``: dataclasses defined in it need that)."""
    spec = importlib.util.spec_from_file_location(name, REPO / relative_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


FAKE_STAGE_WINDOWS = {"pre": (-0.8, -0.1), "ongoing": (-0.1, 0.1), "post": (0.1, 0.3)}


def _fake_rows(n: int, rng: np.random.Generator, merger_fraction: float) -> list[dict]:
    """Catalogue rows in groups: merger sequences of 1-4 snapshots, mostly lone non-mergers."""
    rows, next_sequence, next_id = [], 1000, 1
    while len(rows) < n:
        merger = rng.random() < merger_fraction
        if merger or rng.random() < 0.2:
            size, sequence = int(rng.integers(1, 5)), next_sequence
            next_sequence += 1
        else:
            size, sequence = 1, -1
        start = int(rng.integers(50, 92 - size + 1))
        for k in range(min(size, n - len(rows))):
            row = {"ID": 10_000 + next_id * 7, "snapnum": start + k, "sequence_ID": sequence,
                   "is_major_merger": int(merger), "merger_time": np.nan}
            next_id += 1
            if merger:
                stage = rng.choice(list(FAKE_STAGE_WINDOWS))
                lo, hi = FAKE_STAGE_WINDOWS[stage]
                row["merger_time"] = round(float(rng.uniform(lo + 0.005, hi - 0.005)), 4)
                row["stage"] = stage
            else:
                row["stage"] = "non"
            rows.append(row)
    return rows


def _fake_image(size: int, n_blobs: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    image = rng.normal(0.0, 0.01, (size, size))
    for k in range(n_blobs):
        dx, dy = (0.0, 0.0) if k == 0 else rng.uniform(-size / 5, size / 5, 2)
        sigma = size / 25
        image += np.exp(-((xx - dx) ** 2 + (yy - dy) ** 2) / (2 * sigma ** 2))
    return image.astype(np.float32)


def write_fake_image(path: Path, image: np.ndarray, hdu: int = 0) -> None:
    """Write ``image`` in HDU 0 as (N, N), or in HDU 1 as (1, N, N) (both occur in public copies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if hdu == 0:
        hdus = fits.HDUList([fits.PrimaryHDU(image)])
    else:
        hdus = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(image[None])])
    hdus.writeto(path, overwrite=True)


def write_fake_dataset(root: str | Path, n: int = 24, seed: int = 0, test_fraction: float = 0.0,
                       catalog_format: str = "fits", image_hdu: int = 0, image_size: int | None = None,
                       time_sentinel: float = np.nan, merger_fraction: float = 0.5,
                       psf: bool = True) -> Path:
    """Write a fake dataset in the challenge layout and return its folder.

    Parameters
    ----------
    n : int
        Objects in total (train and test folders together).
    test_fraction : float
        Probability that a group (sequence or lone object) goes to the ``test/`` folder with its
        own catalogue; 0 writes no test folder.
    catalog_format : {'fits', 'csv'}
    image_hdu : {0, 1}
        HDU 0 with shape (N, N) or HDU 1 with shape (1, N, N).
    image_size : int or None
        Side of every image; None gives each its folder's size (128-320 px).
    time_sentinel : float
        Value written for a time that does not apply (NaN, or e.g. -1).
    psf : bool
        Write ``psf/psf_i.fits`` (a Gaussian, deliberately not normalised).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = _fake_rows(n, rng, merger_fraction)
    catalog = pd.DataFrame(rows)
    groups = np.where(catalog["sequence_ID"] >= 0, catalog["sequence_ID"], -catalog["ID"])
    test_groups = {g for g in np.unique(groups) if rng.random() < test_fraction}
    catalog["folder"] = np.where(np.isin(groups, list(test_groups)), "test", "train")
    t = catalog["merger_time"].to_numpy()
    catalog["time_before_merger"] = np.where(t < 0, -t, time_sentinel)
    catalog["time_after_merger"] = np.where(t >= 0, t, time_sentinel)
    for stage in FAKE_STAGE_WINDOWS:
        catalog[f"is_{stage}_merger"] = (catalog["stage"] == stage).astype(int)
    catalog["true_redshift"] = snapnum_to_redshift(catalog["snapnum"].to_numpy())
    catalog["true_mass_ratio"] = np.where(catalog["is_major_merger"] == 1, rng.uniform(1, 4, len(catalog)), np.nan)
    for row in catalog.itertuples():
        size = image_size or SNAPNUM_FOLDERS[folder_for_snapnum(row.snapnum)][2]
        path = root / row.folder / folder_for_snapnum(row.snapnum) / f"objID_{row.ID}.fits"
        write_fake_image(path, _fake_image(size, 1 + int(row.stage in ("pre", "ongoing")), rng), hdu=image_hdu)
    columns = ["ID", "snapnum", "sequence_ID", "is_major_merger", "is_pre_merger", "is_ongoing_merger",
               "is_post_merger", "time_before_merger", "time_after_merger", "true_redshift", "true_mass_ratio"]
    for folder, part in catalog.groupby("folder"):
        stem = root / f"catalog_merger_challenge_TNG_{folder}"
        if catalog_format == "csv":
            part[columns].to_csv(stem.with_suffix(".csv"), index=False)
        else:
            Table.from_pandas(part[columns].reset_index(drop=True)).write(stem.with_suffix(".fits"), overwrite=True)
    if psf:
        write_fake_image(root / "psf" / "psf_i.fits", 5.0 * _fake_image(25, 1, np.random.default_rng(0)).clip(0))
    return root


@pytest.fixture
def fake_dataset(tmp_path) -> Path:
    """A 24-object dataset in the challenge layout (train folder only, FITS catalogue, HDU 0 images)."""
    return write_fake_dataset(tmp_path / "fake_dataset")


@pytest.fixture
def make_fake_dataset(tmp_path):
    """Factory: ``make_fake_dataset(name="ds", **kwargs)`` writes :func:`write_fake_dataset` into tmp_path."""
    def make(name: str = "ds", **kwargs) -> Path:
        return write_fake_dataset(tmp_path / name, **kwargs)
    return make
