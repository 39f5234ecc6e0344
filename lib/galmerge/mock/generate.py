"""Write a mock dataset in the merger-challenge layout (see :mod:`galmerge.mock`)."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table
from tqdm import tqdm  # text bars: they stream through papermill and need no ipywidgets

from galmerge.data.cosmology import HSC_PIXEL_SCALE, folder_for_snapnum
from galmerge.mock import observe, orbits, plan, scene

CATALOGUE_NAMES = {"train": "catalog_merger_challenge_TNG_train.fits",
                   "test": "catalog_merger_challenge_TNG_test.fits"}
PSF_PATH = Path("psf") / "psf_i.fits"
#: Present in the dataset folder while generate_mock writes it (an interrupted run leaves it).
INCOMPLETE_MARKER = ".galmerge_mock_incomplete"
#: The challenge's own catalogue columns, in order (the ``true_*`` truth columns follow).
CHALLENGE_COLUMNS = ["ID", "snapnum", "sequence_ID", "is_major_merger", "is_pre_merger",
                     "is_ongoing_merger", "is_post_merger", "time_before_merger", "time_after_merger"]


def generate_mock(out_dir, n: int, seed: int, workers: int | None = None, merger_fraction: float = 0.5,
                  overwrite: bool = False, progress: bool = True,
                  test_fraction: float = plan.TEST_FRACTION) -> pd.DataFrame:
    """Generate ``n`` mock HSC i-band cutouts of TNG-like mergers and non-mergers.

    Parameters
    ----------
    out_dir : str or Path
        Dataset folder to create: ``train/`` and ``test/`` (``snapnum_<lo>_<hi>/objID_<ID>.fits``),
        the two catalogues and ``psf/psf_i.fits``.
    n : int
        Number of objects (>= 1).
    seed : int
        Seed (>= 0); the same (n, seed) gives byte-identical files whatever ``workers`` is.
    workers : int or None
        Processes rendering objects in parallel (default: all CPUs; 1 renders in-process).
    merger_fraction : float
        Fraction of major mergers (default 0.5: balanced classes).
    overwrite : bool
        Replace an existing dataset in ``out_dir`` (otherwise an existing catalogue is an error).
    progress : bool
        Show tqdm progress bars.
    test_fraction : float
        Fraction of the objects in the ``test/`` folder, whole orbits and sequences (default 0.10,
        the paper's; the quick profile's 0.28 gives a test set large enough to judge the paper's
        3-6 point differences).

    Returns
    -------
    pandas.DataFrame
        The catalogue (train and test rows, a ``split`` column added), challenge columns first,
        then the ``true_*`` truth columns.
    """
    out = Path(out_dir)
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    planned = plan.plan_catalogue(int(n), int(seed), merger_fraction, float(test_fraction))  # validates first
    _prepare_folder(out, overwrite)
    orbits.get_library(progress=progress)  # build or load once, before the workers fork
    _write_psf(out / PSF_PATH)
    tasks = [(row, int(seed), str(out)) for row in planned.to_dict("records")]
    bar = tqdm(total=len(tasks), desc="mock objects", unit="obj", disable=not progress)
    truths = []
    if workers == 1:
        for task in tasks:
            truths.append(_render_and_write(task))
            bar.update()
    else:
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods()
                                              else None)
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for truth in pool.map(_render_and_write, tasks, chunksize=8):
                truths.append(truth)
                bar.update()
    bar.close()
    catalogue = _catalogue(planned, truths)
    # Catalogues last: their presence marks a complete dataset (run_all.py checks it).
    for split in ("test", "train"):
        _write_table(catalogue[catalogue["split"] == split].drop(columns="split"), out / CATALOGUE_NAMES[split])
    (out / INCOMPLETE_MARKER).unlink()
    return catalogue


def _prepare_folder(out: Path, overwrite: bool) -> None:
    """Empty the dataset parts of ``out``: only with ``overwrite`` or for our own unfinished run."""
    existing = [out / name for name in CATALOGUE_NAMES.values() if (out / name).exists()]
    folders = [out / name for name in ("train", "test", "psf") if (out / name).exists()]
    unfinished = (out / INCOMPLETE_MARKER).exists()  # left by an interrupted generate_mock
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds a dataset ({existing[0].name}); "
                              "pass overwrite=True (--overwrite) to replace it")
    if folders and not (overwrite or unfinished):
        raise FileExistsError(f"{out} has {', '.join(f.name + '/' for f in folders)} but no catalogue and "
                              "was not written by an unfinished generate_mock; pass overwrite=True "
                              "(--overwrite) to replace them")
    for folder in folders:
        shutil.rmtree(folder)
    for path in existing:
        path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / INCOMPLETE_MARKER).write_text("galmerge.mock is writing this dataset; removed when it is complete\n")


def _write_psf(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu = fits.PrimaryHDU(observe.nominal_psf())
    hdu.header["PIXSCALE"] = (HSC_PIXEL_SCALE, "arcsec per pixel")
    hdu.header["PSFMODEL"] = ("Moffat", "pixel-integrated Moffat profile")
    hdu.header["PSFFWHM"] = (observe.PSF_FWHM_MEAN, "FWHM (arcsec)")
    hdu.header["PSFBETA"] = (observe.PSF_BETA_NOMINAL, "Moffat beta")
    hdu.header["COMMENT"] = "Nominal HSC-Wide i-band PSF of the galaxy-merger mock, normalised to sum 1."
    hdu.writeto(path, overwrite=True)


def _render_and_write(task):
    """Worker: render one object from its seeds, write its FITS file, return its truth row."""
    row, seed, out = task
    try:
        return _render_and_write_one(row, seed, out)
    except Exception as error:  # name the object: a bare traceback from a worker says little
        raise RuntimeError(f"mock object ID {row['ID']} ({row['kind']}, snapnum {row['snapnum']}, "
                           f"merger time {row['merger_time']}): {type(error).__name__}: {error}") from error


def _render_and_write_one(row, seed, out):
    sequence = scene.draw_sequence(np.random.default_rng(np.random.SeedSequence([seed, 1, row["group"]])),
                                   row["kind"], row["orbit"])
    image, truth, cond = scene.render_object(row, sequence, np.random.SeedSequence([seed, 2, row["ID"]]))
    path = Path(out) / row["split"] / folder_for_snapnum(row["snapnum"]) / f"objID_{row['ID']}.fits"
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu = fits.PrimaryHDU(image)
    header = hdu.header
    header["OBJID"] = (int(row["ID"]), "object ID (catalogue column ID)")
    header["SNAPNUM"] = (int(row["snapnum"]), "TNG snapshot")
    header["BUNIT"] = ("counts", "AB mag = ZEROPT - 2.5 log10(counts)")
    header["PIXSCALE"] = (HSC_PIXEL_SCALE, "arcsec per pixel")
    header["ZEROPT"] = (observe.ZERO_POINT, "AB zero point (i band)")
    header["GAIN"] = (round(cond["gain"], 3), "effective gain (e-/count)")
    header["SKYRMS"] = (round(cond["sky_rms"], 6), "sky rms per pixel (counts)")
    header["PSFFWHM"] = (round(cond["psf_fwhm"], 4), "PSF FWHM (arcsec, Moffat)")
    header["PSFBETA"] = (round(cond["psf_beta"], 4), "PSF Moffat beta")
    header["FILTER"] = ("HSC-i", "mock HSC-Wide i band")
    hdu.writeto(path, overwrite=True)
    # Gyr from coalescence (or a flyby's pericentre) for every encounter, mergers and non-mergers alike.
    truth["true_encounter_time"] = float(row["merger_time"])
    return truth


def _catalogue(planned: pd.DataFrame, truths: list[dict]) -> pd.DataFrame:
    truth = pd.DataFrame(truths)
    major = planned["stage"] != "non"  # the paper's label: major, within -0.8..+0.3 Gyr (plan.is_merger)
    t = planned["merger_time"].where(major)
    cat = pd.DataFrame({
        "ID": planned["ID"].astype(np.int64),
        "snapnum": planned["snapnum"].astype(np.int64),
        "sequence_ID": planned["sequence_ID"].astype(np.int64),
        "is_major_merger": major.astype(np.int64),
        "is_pre_merger": (planned["stage"] == "pre").astype(np.int64),
        "is_ongoing_merger": (planned["stage"] == "ongoing").astype(np.int64),
        "is_post_merger": (planned["stage"] == "post").astype(np.int64),
        # Exactly one of the two is finite for a merger; both NaN for a non-merger.
        "time_before_merger": (-t).where(t < 0),
        "time_after_merger": t.where(t >= 0),
    })
    cat = pd.concat([cat, truth[sorted(truth.columns)]], axis=1)
    # Objects that must share a split (one library orbit, or one isolated galaxy's sequence), so
    # that validation, like the test folder, holds out whole orbits (galmerge.data.catalog).
    cat["split_group"] = planned["split_group"].to_numpy()
    cat["split"] = planned["split"].to_numpy()
    return cat


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    table = Table.from_pandas(frame.reset_index(drop=True))
    tmp = path.with_name(path.name + ".tmp")
    table.write(tmp, format="fits", overwrite=True)
    os.replace(tmp, path)
