"""The Sérsic fitting stage over a dataset: every image fitted once, in parallel with Dask, resumable.

:func:`run_fitting_stage` turns a catalogue (:func:`galmerge.data.catalog.load_catalog`) into the products
folder that training reads (:mod:`galmerge.sersic.products`): the 128 x 128 ``raw``, ``model`` and
``residual`` cubes in catalogue order, ``images.parquet`` (one row per input image: the catalogue
columns, the fit status and the primary source's Sérsic parameters) and ``sources.parquet`` (one row
per segmentation source of every image).

Parallelism
    A local Dask cluster of ``n_workers`` processes with one thread each (OpenMP/MKL/OpenBLAS
    pinned to one thread, so that two workers use two cores, not four), or an existing cluster
    given by ``scheduler_address`` (e.g. started by dask-jobqueue on Slurm; its workers need the
    dataset on a shared file system). ``n_workers=0`` runs in this process without Dask (tests,
    debugging). Each task loads ``images_per_task`` images (:data:`IMAGES_PER_TASK`), fits them
    (:func:`fit_catalog_images`: each image prepared and finished on its own, the sources of all of
    them in one fitter call, which the "lm" fitter batches; issue 23) and returns the cutouts and
    tables; the client writes one part per image. The local workers start with
    :data:`WORKER_MALLOC_ENV` (Dask's own malloc setting tripled the LM fit's CPU time).

Resuming and atomicity
    Each finished image is written at once as ``<products>/parts/<ID>.npz`` (written to a
    temporary name, then renamed: a part is complete or absent). An interrupted run, run again,
    fits only the images without a part. When every image has a part, the parts are consolidated
    with :func:`galmerge.sersic.products.write_products` (built beside the folder, then renamed in, with
    the ``COMPLETE`` mark last), which also removes the parts. ``stage.json`` records the cache
    key, the full effective configuration (:func:`stage_config`: every fit option with the library's
    defaults filled in, the PSF's hash, a fingerprint of the code of :data:`FITTING_MODULES` and the
    versions of :data:`FITTING_LIBRARIES`); parts or products made with another key are recomputed,
    with a message and a :class:`CacheWarning` naming what changed (``code_fingerprint`` when the
    fitting code changed). Nobody has to remember to bump a number.

Determinism
    The same catalogue, images and options give the same products, resumed or not, with 1 or N
    workers: statmorph's random generator is seeded with the image ID, and the tables are built
    in catalogue order from the parts. The wall-clock columns (``time_*``) are the only exception.

Nothing is dropped
    Every catalogue ID has exactly one row and one cube slot. An image that cannot be read or
    fitted gets ``status='bad_input'`` (unreadable file, not 2-D, no finite pixel, constant) or
    ``'error'`` (an unexpected exception in the pipeline, or a worker that died on the image, e.g.
    by exceeding its memory limit: Dask's ``KilledWorker``; with its message), zero cubes (the raw
    image when it could be read) and NaN parameters; the run goes on.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm  # text bars: they stream through papermill and need no ipywidgets

from galmerge.runs import read_stage_record, source_fingerprint, write_stage_record
from galmerge.sersic.fit import (
    CUTOUT_MODES,
    DETECTION_DEFAULTS,
    FIT_DEFAULTS,
    SERSIC_PARAMS,
    SOURCE_COLUMNS,
    cutout,
    fit_image,
    fit_images,
)
from galmerge.sersic.products import Products, is_complete, write_products
from galmerge.vocab import CHANNELS, CUTOUT_SIZE, FIT_STATUSES

#: Catalogue columns the products must carry (``images.parquet``).
REQUIRED_CATALOG_COLUMNS = ("ID", "split", "label", "stage", "redshift", "merger_time", "snapnum",
                            "sequence_ID", "image_path")
#: Per-image fit columns of ``images.parquet`` (after the catalogue's columns).
FIT_COLUMNS = ("status", "message", "image_ny", "image_nx", "n_bad_pixels", "n_sources", "n_used",
               "n_excluded", "n_failed", "n_skipped", "primary_label", *SERSIC_PARAMS, "sersic_chi2_dof", "flag",
               "flag_sersic", "primary_used_in_model", "chi_mean", "chi_rms", "time_detect_s",
               "time_fitter_s", "time_model_s", "time_fit_s", "time_image_s", "time_cpu_s")
PARTS_DIR = "parts"
#: Seconds between redraws of the fitting progress line: through papermill every redraw is kept in the
#: executed notebook (run_all.py collapses them to the last), so a 30-minute fit leaves about 120, not one
#: per image.
PROGRESS_INTERVAL_S = 15.0
#: The modules whose code makes the parts and products (fit, fitters, loading, the stage, the products'
#: format): their fingerprint (:func:`galmerge.runs.source_fingerprint`) is part of the cache key, so
#: that any change to their code refits, and old parts are never mixed with new ones.
FITTING_MODULES = ("galmerge.sersic.fit", "galmerge.sersic.fitters", "galmerge.sersic.statmorph_fitter",
                   "galmerge.sersic.lm_fitter", "galmerge.sersic.lm", "galmerge.sersic.stage",
                   "galmerge.sersic.products", "galmerge.data.catalog")
#: Images per task of the stage (:func:`run_fitting_stage`'s ``images_per_task``): the "lm" fitter fits the
#: sources of a task's images in one batch (issue 23; measured in benchmarks/bench_fitting.py).
IMAGES_PER_TASK = 8
#: Libraries whose code makes the fits too; their versions are part of the cache key.
FITTING_LIBRARIES = ("statmorph", "sep", "astropy", "scipy", "numpy")


#: glibc malloc settings of the stage's local Dask workers (issue 23). Dask starts its workers with
#: ``MALLOC_TRIM_THRESHOLD_=65536`` (``distributed.nanny.pre-spawn-environ``), which also fixes glibc's
#: mmap threshold at 128 KiB: every large numpy temporary of the LM fit is then mapped, faulted in page by
#: page and unmapped again. Measured on the 40 mock images of benchmarks/bench_fitting.py (quick options,
#: chunks of 8, one process, 2026-12-03, load average 4): 0.67 CPU s per image with Dask's setting
#: (15 s of the 32 s were system time), 0.25 with glibc's defaults, 0.25 with these. A worker keeps at
#: most 256 MiB of freed heap (its limit is ``worker_memory``, 2 GiB by default).
WORKER_MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": str(256 * 2**20), "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20)}


@contextmanager
def worker_malloc_environ():
    """Local Dask workers started inside this context get :data:`WORKER_MALLOC_ENV`.

    Set in Dask's ``pre-spawn-environ`` and, for the spawn, in ``os.environ`` (a variable already
    there, e.g. left by an earlier cluster of this process, would take precedence over the config);
    ``os.environ`` is restored on exit. Workers of an external scheduler keep their own settings.
    """
    import dask

    saved = {key: os.environ.get(key) for key in WORKER_MALLOC_ENV}
    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_MALLOC_ENV}
    os.environ.update(WORKER_MALLOC_ENV)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class StageError(RuntimeError):
    """The stage cannot run or resume as asked (bad catalogue, products of another catalogue)."""


# --------------------------------------------------------------------------- one image


def fit_catalog_image(image_id: int, image_path: str, psf=None, cutout_mode: str = "crop",
                      fit_options: dict | None = None, fit_region: str = "all") -> dict:
    """Load, fit and cut one image; never raises for a bad image (it becomes a status).

    ``fit_region="cutout"`` (crop mode only) fits only the sources whose segment comes within
    :data:`FIT_MARGIN` pixels of the central crop (see :func:`run_fitting_stage`).

    Returns a dict with ``row`` (dict of :data:`FIT_COLUMNS`), ``sources`` (DataFrame, with ``ID``)
    and the float32 (128, 128) cutouts ``raw``, ``model``, ``residual``.
    """
    return fit_catalog_images([(image_id, image_path)], psf, cutout_mode, fit_options, fit_region)[0]


def fit_catalog_images(images, psf=None, cutout_mode: str = "crop", fit_options: dict | None = None,
                       fit_region: str = "all") -> list[dict]:
    """:func:`fit_catalog_image` of several images, their sources fitted in one fitter call.

    Each image is loaded, prepared, finished and cut on its own, and its result is what
    :func:`fit_catalog_image` gives for it alone; the fits of all the images' sources are one call
    of the fitter (:func:`galmerge.sersic.fit.fit_images`: batched for "lm", issue 23). A bad image
    becomes its own status and does not stop the others.

    Parameters
    ----------
    images : sequence of (int, str)
        ``(image_id, image_path)`` of each image.
    psf, cutout_mode, fit_options, fit_region
        As in :func:`fit_catalog_image`, shared by all the images.

    Returns
    -------
    list of dict
        One result per image, in order, as :func:`fit_catalog_image` returns. ``time_image_s`` is
        the image's own wall time plus its share of the fitter call; ``time_cpu_s`` is the call's
        CPU time shared in proportion to ``time_image_s``, so that its sum over the images is the
        CPU the call took.
    """
    cpu0 = time.process_time()
    loaded = [_load_for_fit(image_id, image_path, fit_region) for image_id, image_path in images]
    items = [item for item in loaded if item["image"] is not None]
    fitted = iter(fit_images([dict(image=item["image"], seed=int(item["id"]) % 2**32, fit_box=item["box"])
                              for item in items], psf=psf, errors="return", **(fit_options or {}))
                  if items else [])
    results = []
    for item in loaded:
        t0 = time.perf_counter()
        result = _catalog_result(item, next(fitted) if item["image"] is not None else item["error"], cutout_mode)
        result["row"]["time_image_s"] = item["seconds"] + time.perf_counter() - t0 + (
            result["row"]["time_fit_s"] if np.isfinite(result["row"]["time_fit_s"]) else 0.0)
        results.append(result)
    cpu = time.process_time() - cpu0
    wall = np.array([r["row"]["time_image_s"] for r in results])
    for r, w in zip(results, wall):
        r["row"]["time_cpu_s"] = cpu * w / wall.sum() if wall.sum() > 0 else cpu / len(results)
    return results


def _load_for_fit(image_id: int, image_path: str, fit_region: str) -> dict:
    """One image read for fitting: ``id``, ``image`` (None when it cannot be read), ``error``, its
    ``box`` (:func:`crop_fit_box` with ``fit_region="cutout"``) and the ``seconds`` it took."""
    from galmerge.data.catalog import load_image  # imported here: workers need only what they use

    t0 = time.perf_counter()
    item = dict(id=int(image_id), image=None, raw=None, error=None, box=None)
    try:
        image = load_image(image_path, nonfinite="keep")
        item["raw"] = image
        if image.ndim == 2:
            item["box"] = crop_fit_box(image.shape) if fit_region == "cutout" else None
            item["image"] = image
        else:
            item["error"] = ValueError(f"fit_image needs a 2-D image, got an array of shape {image.shape}")
    except Exception as err:  # a bad image must not stop the dataset; it is recorded instead
        item["error"] = err
    item["seconds"] = time.perf_counter() - t0
    return item


def _catalog_result(item: dict, result, cutout_mode: str) -> dict:
    """The stage's result of one image from its :class:`~galmerge.sersic.fit.FitResult` (or the
    exception that loading or fitting it raised)."""
    blank = failed_result(item["id"], "")
    row, sources, cubes = blank["row"], _empty_sources(), {k: blank[k] for k in CHANNELS}
    image = item["raw"]
    if image is not None:
        row.update(image_ny=image.shape[0], image_nx=image.shape[1] if image.ndim > 1 else -1,
                   n_bad_pixels=int((~np.isfinite(image)).sum()))
    try:
        if isinstance(result, Exception):
            raise result
        _fill_row(row, result)
        sources = result.sources
        cubes = {"raw": cutout(np.where(np.isfinite(image), image, 0.0), CUTOUT_SIZE, cutout_mode),
                 "model": cutout(result.model, CUTOUT_SIZE, cutout_mode),
                 "residual": cutout(result.residual, CUTOUT_SIZE, cutout_mode)}
    except Exception as err:  # a bad image must not stop the dataset; it is recorded instead
        from galmerge.data.catalog import DatasetError

        bad = isinstance(err, (DatasetError, ValueError))
        row.update(status="bad_input" if bad else "error", message=f"{type(err).__name__}: {err}")
        if image is not None and image.ndim == 2 and min(image.shape) >= 1:
            try:
                cubes["raw"] = cutout(np.where(np.isfinite(image), image, 0.0), CUTOUT_SIZE, cutout_mode)
            except ValueError:
                pass  # too small to crop: the raw cube stays zero, the message says why
    sources = sources.copy()
    sources.insert(0, "ID", np.full(len(sources), int(item["id"]), dtype=np.int64))
    return {"row": row, "sources": sources, **cubes}


def _fill_row(row: dict, result) -> None:
    """The per-image columns of ``images.parquet`` from a :class:`~galmerge.sersic.fit.FitResult`."""
    row.update(status=result.status, message=result.message, n_sources=len(result.sources),
               n_used=result.n_used, n_excluded=result.n_excluded, n_failed=result.n_failed,
               n_skipped=result.n_skipped,
               **{k: v for k, v in result.timing.items() if k != "time_total_s"},
               time_fit_s=result.timing["time_total_s"])
    primary = result.primary
    if primary is not None:
        row.update(primary_label=int(primary["label"]), flag=int(primary["flag"]),
                   flag_sersic=int(primary["flag_sersic"]),
                   primary_used_in_model=bool(primary["used_in_model"]),
                   **{k: float(primary[k]) for k in (*SERSIC_PARAMS, "sersic_chi2_dof",
                                                      "chi_mean", "chi_rms")})


#: Margin (pixels) around the 128 x 128 crop within which sources are fitted with
#: ``fit_region="cutout"``: beyond it a source's light (its PSF-convolved wings beyond its
#: 1.5-sigma segment) does not reach the crop measurably (the mock PSF is 41 px wide).
FIT_MARGIN = 24


def crop_fit_box(shape: tuple[int, ...], size: int = CUTOUT_SIZE, margin: int = FIT_MARGIN) -> tuple:
    """(y0, y1, x0, x1) of the central ``size`` crop of ``shape`` grown by ``margin`` pixels."""
    ny, nx = shape[:2]
    y0, x0 = (ny - size) // 2, (nx - size) // 2
    return (y0 - margin, y0 + size + margin, x0 - margin, x0 + size + margin)


def failed_result(image_id: int, message: str) -> dict:
    """The result of an image that could not be fitted at all: status ``error``, zero cubes."""
    row = {c: np.nan for c in FIT_COLUMNS}
    row.update(status="error", message=message, image_ny=-1, image_nx=-1, n_bad_pixels=-1, n_sources=0,
               n_used=0, n_excluded=0, n_failed=0, n_skipped=0, primary_label=-1, flag=-1, flag_sersic=-1,
               primary_used_in_model=False)
    zeros = np.zeros((CUTOUT_SIZE, CUTOUT_SIZE), np.float32)
    sources = _empty_sources()
    sources.insert(0, "ID", pd.Series(dtype="int64"))
    return {"row": row, "sources": sources, "raw": zeros, "model": zeros, "residual": zeros}


def _empty_sources() -> pd.DataFrame:
    """An empty table of :data:`~galmerge.sersic.fit.SOURCE_COLUMNS` with their dtypes (a copy of one
    built once: building it took 11 ms, twice per image; issue 23)."""
    global _EMPTY_SOURCES
    if _EMPTY_SOURCES is None:
        from galmerge.sersic.fit import _SOURCE_DTYPES
        _EMPTY_SOURCES = pd.DataFrame({c: pd.Series(dtype=_SOURCE_DTYPES.get(c, "float64")) for c in SOURCE_COLUMNS})
    return _EMPTY_SOURCES.copy()


_EMPTY_SOURCES = None


def _fit_task(images, psf, cutout_mode, fit_options, fit_region):
    """The Dask task: :func:`fit_catalog_images` of a chunk of ``(image_id, image_path)`` with BLAS/OpenMP
    pools held at one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return fit_catalog_images(images, psf, cutout_mode, fit_options, fit_region)
    with threadpool_limits(1):
        return fit_catalog_images(images, psf, cutout_mode, fit_options, fit_region)


def _chunks(paths: dict, size: int) -> list[list[tuple[int, str]]]:
    """``(image_id, image_path)`` pairs in consecutive chunks of at most ``size``."""
    items = list(paths.items())
    size = max(int(size), 1)
    return [items[first:first + size] for first in range(0, len(items), size)]


# --------------------------------------------------------------------------- parts on disk


def _part_path(parts: Path, image_id: int) -> Path:
    return parts / f"{int(image_id)}.npz"


def write_part(parts: Path, image_id: int, image_path: str, result: dict) -> Path:
    """Write one image's result atomically (temporary file, then ``os.replace``)."""
    path = _part_path(parts, image_id)
    tmp = path.with_name(f".{path.name}.tmp")
    row = pd.DataFrame([result["row"]], columns=list(FIT_COLUMNS))
    with open(tmp, "wb") as handle:
        np.savez(handle, raw=result["raw"], model=result["model"], residual=result["residual"],
                 row=_parquet_bytes(row), sources=_parquet_bytes(result["sources"]),
                 image_path=np.array(str(image_path)))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def read_part(parts: Path, image_id: int) -> dict:
    """Read one part written by :func:`write_part`."""
    with np.load(_part_path(parts, image_id), allow_pickle=False) as npz:
        return {"raw": npz["raw"], "model": npz["model"], "residual": npz["residual"],
                "row": pd.read_parquet(io.BytesIO(npz["row"].tobytes())),
                "sources": pd.read_parquet(io.BytesIO(npz["sources"].tobytes())),
                "image_path": str(npz["image_path"])}


def _parquet_bytes(frame: pd.DataFrame) -> np.ndarray:
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buffer, index=False)
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def _finished_ids(parts: Path, catalog: pd.DataFrame) -> set[int]:
    """IDs whose part exists and was made from the same image path (others are refitted)."""
    done = set()
    for image_id, image_path in zip(catalog["ID"], catalog["image_path"]):
        path = _part_path(parts, image_id)
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as npz:
                    same = str(npz["image_path"]) == str(image_path)
            except Exception:  # an unreadable part is refitted (os.replace makes this unlikely)
                same = False
            if same:
                done.add(int(image_id))
    return done


#: fit_image arguments that are per image (set by the fitting step) or not options at all.
_PER_IMAGE_ARGUMENTS = {"image", "psf", "segmap", "mask", "seed", "fit_box", "keep_undeblended"}


def effective_fit_options(fit_options: dict) -> dict:
    """Every option :func:`galmerge.sersic.fit.fit_image` fits with: its defaults (keyword defaults and
    :data:`~galmerge.sersic.fit.DETECTION_DEFAULTS`) overlaid with ``fit_options``, as JSON values."""
    import inspect

    defaults = {name: parameter.default for name, parameter in inspect.signature(fit_image).parameters.items()
                if parameter.default is not inspect.Parameter.empty and name not in _PER_IMAGE_ARGUMENTS}
    options = {**FIT_DEFAULTS, **defaults, **DETECTION_DEFAULTS, **fit_options}
    return json.loads(json.dumps(options, sort_keys=True, default=str))


def stage_config(psf, cutout_mode: str, fit_options: dict, fit_region: str = "all") -> dict:
    """The cache key of the products (recorded in ``stage.json``): the full effective configuration.

    Every option of :func:`~galmerge.sersic.fit.fit_image` is recorded, the defaults included
    (:func:`effective_fit_options`), with the cutout mode, the fit region, the PSF's hash, the
    fingerprint of the fitting code (``code_fingerprint``: :func:`galmerge.runs.source_fingerprint`
    of :data:`FITTING_MODULES`) and the versions of :data:`FITTING_LIBRARIES`, so that products
    made by other options, other defaults, other code or other libraries are recomputed
    (:func:`config_change` says why).
    """
    from importlib.metadata import version

    psf_hash = None if psf is None else hashlib.sha1(np.ascontiguousarray(psf, np.float32).tobytes()).hexdigest()
    return {"cutout_mode": cutout_mode, "psf_sha1": psf_hash, "fit_region": fit_region,
            "code_fingerprint": source_fingerprint(FITTING_MODULES),
            "libraries": {name: version(name) for name in FITTING_LIBRARIES},
            "fit_options": effective_fit_options(fit_options)}


def _flatten(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_change(old: dict | None, new: dict) -> str | None:
    """Why products made with ``old`` (a stage.json) cannot stand for ``new``, in words; None when
    they can. Names every differing key with its old and new value."""
    if old is None:
        return "no stage.json records how they were made"
    old_flat, new_flat = _flatten(old), _flatten(new)
    absent = "<absent>"
    keys = sorted(k for k in set(old_flat) | set(new_flat) if old_flat.get(k, absent) != new_flat.get(k, absent))
    if not keys:
        return None
    return "; ".join(f"{k}: {old_flat.get(k, absent)!r} -> {new_flat.get(k, absent)!r}" for k in keys)


# --------------------------------------------------------------------------- the stage


def run_fitting_stage(catalog: pd.DataFrame, products_dir: str | Path, psf=None, n_workers: int = 2,
                      scheduler_address: str | None = None, cutout_mode: str = "crop",
                      force: bool = False, progress: bool = True, limit: int | None = None,
                      worker_memory: str = "2GiB", fit_region: str = "all", images_per_task: int | None = None,
                      **fit_options) -> Products | None:
    """Fit every image of ``catalog`` and write the products folder (resumable, see module docstring).

    Parameters
    ----------
    catalog : pandas.DataFrame
        From :func:`galmerge.data.catalog.load_catalog`; needs :data:`REQUIRED_CATALOG_COLUMNS`, unique IDs.
        All its columns are copied into ``images.parquet``; rows keep the catalogue's order.
    products_dir : str or Path
        The products folder (``Run(run_dir).products``).
    psf : numpy.ndarray, optional
        PSF image (:func:`galmerge.data.catalog.load_psf`); None fits without PSF.
    n_workers : int
        Processes of the local Dask cluster (one thread each); 0 runs in this process without Dask.
        Ignored with ``scheduler_address``.
    scheduler_address : str, optional
        Address of a running Dask scheduler (e.g. ``"tcp://10.0.0.5:8786"``).
    cutout_mode : {"crop", "resample"}
        How the full-size raw, model and residual images become 128 x 128
        (:func:`galmerge.sersic.fit.cutout`).
    force : bool
        Refit everything, discarding parts and replacing finished products (replaced only when the
        new ones are complete).
    progress : bool
        Show a tqdm progress bar.
    limit : int, optional
        Fit at most this many not yet finished images, then stop without consolidating (returns
        None): a run in slices; the next call resumes.
    worker_memory : str
        Memory limit of each local worker (Dask's ``memory_limit``).
    fit_region : {"all", "cutout"}
        "all" (default, the paper): fit every source of the full image. "cutout" (crop mode
        only): fit only sources whose segment comes within :data:`FIT_MARGIN` px of the central
        crop; the others cannot change the 128 x 128 cubes beyond their faint outer wings, and
        skipping them saves most of the time on the large (192-320 px) images. Skipped sources
        stay in ``sources.parquet`` with ``flag_sersic`` -2 and are counted in ``n_skipped``.
    images_per_task : int, optional
        Images fitted per task (a Dask task, or a step in process): their sources go to the fitter
        in one call, which the "lm" fitter batches (:func:`fit_catalog_images`; issue 23). The
        products are the same for any value (tested); an image's part is written when its task
        ends, so an interrupted run loses at most the unfinished tasks. A task that fails as a
        whole (a worker killed) is retried one image per task. None (default):
        :data:`IMAGES_PER_TASK`.
    **fit_options
        Options of :func:`galmerge.sersic.fit.fit_image` (``flag_policy``, ``gain``, detection options...).

    Returns
    -------
    galmerge.sersic.products.Products or None
        The finished products; None when ``limit`` stopped the run before the end.

    Raises
    ------
    StageError
        Missing columns or duplicate IDs in the catalogue, or finished products of other IDs
        (without ``force``). Products or parts made with another configuration are not an
        error: they are recomputed (:class:`CacheWarning` says why).
    """
    if cutout_mode not in CUTOUT_MODES:
        raise ValueError(f"cutout_mode must be one of {CUTOUT_MODES}, got {cutout_mode!r}")
    if fit_region not in ("all", "cutout") or (fit_region == "cutout" and cutout_mode != "crop"):
        raise ValueError(f"fit_region must be 'all', or 'cutout' with cutout_mode='crop'; got {fit_region!r} "
                         f"with cutout_mode={cutout_mode!r}")
    _validate_catalog(catalog)
    products_dir = Path(products_dir)
    parts = products_dir / PARTS_DIR
    config = stage_config(psf, cutout_mode, fit_options, fit_region)

    if is_complete(products_dir) and not force:
        finished = _finished_products(products_dir, catalog, config)
        if finished is not None:
            return finished
    if parts.exists() and not force:
        why = config_change(read_stage_record(parts), config)
        if why is not None:
            _say(f"{parts}: parts were made with another configuration; discarding them ({why})")
            force = True
    if force and parts.exists():
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    write_stage_record(parts, config)

    done = _finished_ids(parts, catalog)
    todo = catalog.loc[~catalog["ID"].isin(done), ["ID", "image_path"]]
    if done:
        print(f"resuming: {len(done)} of {len(catalog)} images already fitted; {len(todo)} to go")
    if limit is not None:
        todo = todo.iloc[:max(int(limit), 0)]
    if len(todo):
        _fit_all(todo, parts, psf, cutout_mode, fit_options, n_workers, scheduler_address,
                 progress, worker_memory, fit_region, IMAGES_PER_TASK if images_per_task is None else images_per_task)
    if len(_finished_ids(parts, catalog)) < len(catalog):
        return None  # stopped by ``limit``: the next call resumes
    return consolidate(catalog, products_dir, config)


def _finished_products(products_dir: Path, catalog: pd.DataFrame, config: dict) -> Products | None:
    """The finished products in ``products_dir`` when they were made with ``config``; None, with a
    message saying what changed, when every image must be refitted. Products of other IDs than the
    catalogue's are a :class:`StageError` (``force=True`` refits)."""
    why = config_change(read_stage_record(products_dir), config)
    if why is not None:
        _say(f"{products_dir}: finished products were made with another configuration; refitting "
             f"every image ({why})")
        return None
    finished = Products(products_dir)
    if np.array_equal(finished.images["ID"].to_numpy(), catalog["ID"].to_numpy()):
        print(f"{products_dir}: finished products for all {len(catalog)} images found; reusing them "
              "(force=True refits)")
        return finished
    finished.close()
    raise StageError(f"{products_dir}: finished products hold other IDs than the catalogue "
                     f"({len(finished.images)} vs {len(catalog)} images); pass force=True to refit")


def _say(message: str) -> None:
    """Tell the user why a cache is not reused: printed (notebook and terminal) and warned (tests, logs)."""
    import warnings

    print(message)
    warnings.warn(message, CacheWarning, stacklevel=3)


class CacheWarning(UserWarning):
    """A cached result was not reused because the configuration it was made with changed."""


def _validate_catalog(catalog: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_CATALOG_COLUMNS if c not in catalog.columns]
    if missing:
        raise StageError(f"catalogue lacks column(s) {missing}; load it with galmerge.data.catalog.load_catalog")
    duplicated = catalog["ID"].duplicated()
    if duplicated.any():
        raise StageError(f"catalogue has {int(duplicated.sum())} duplicate IDs, e.g. "
                         f"{catalog.loc[duplicated, 'ID'].head(5).tolist()}")
    clash = sorted(set(catalog.columns) & set(FIT_COLUMNS))
    if clash:
        raise StageError(f"catalogue columns {clash} clash with the fit's columns of images.parquet")


def _fit_all(todo, parts, psf, cutout_mode, fit_options, n_workers, scheduler_address, progress,
             worker_memory, fit_region, images_per_task=1) -> None:
    """Fit the images of ``todo``, ``images_per_task`` per task, and write one part per image as its task
    finishes."""
    # smoothing=0: time left from the mean rate since the start; images finish in bursts across workers
    bar = tqdm(total=len(todo), desc="Sérsic fits", unit="img", disable=not progress, smoothing=0,
               mininterval=PROGRESS_INTERVAL_S)
    paths = dict(zip(todo["ID"].astype(int), todo["image_path"].astype(str)))
    try:
        if scheduler_address is None and n_workers == 0:
            for chunk in _chunks(paths, images_per_task):
                results = fit_catalog_images(chunk, psf, cutout_mode, fit_options, fit_region)
                for (image_id, image_path), result in zip(chunk, results):
                    write_part(parts, image_id, image_path, result)
                bar.update(len(chunk))
            return
        _fit_with_dask(paths, parts, psf, cutout_mode, fit_options, n_workers, scheduler_address,
                       bar, worker_memory, fit_region, images_per_task)
    finally:
        bar.close()


def _fit_with_dask(paths, parts, psf, cutout_mode, fit_options, n_workers, scheduler_address, bar,
                   worker_memory, fit_region, images_per_task=1) -> None:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler_address is None:
        if n_workers < 1:
            raise ValueError(f"n_workers must be >= 0, got {n_workers}")
        single = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        with worker_malloc_environ():
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   memory_limit=worker_memory, dashboard_address=":0", env=single)
        client = Client(cluster)
    else:
        client = Client(scheduler_address)
    try:
        psf_future = client.scatter(psf, broadcast=True) if psf is not None else None
        futures = {client.submit(_fit_task, chunk, psf_future, cutout_mode, fit_options, fit_region,
                                 key=f"sersic-fit-{chunk[0][0]}-{len(chunk)}", pure=False): chunk
                   for chunk in _chunks(paths, images_per_task)}
        running = as_completed(futures)
        for future in running:
            chunk = futures.pop(future)
            try:
                results = future.result()
            except Exception as err:  # e.g. KilledWorker: an image crashed or overflowed its worker
                if len(chunk) > 1:  # one image's crash must not be its chunk's: each is tried alone
                    for image in chunk:
                        retry = client.submit(_fit_task, [image], psf_future, cutout_mode, fit_options, fit_region,
                                              key=f"sersic-fit-{image[0]}-alone", pure=False)
                        futures[retry] = [image]
                        running.add(retry)
                    future.release()
                    continue
                results = [failed_result(image_id, f"{type(err).__name__}: {err}") for image_id, _ in chunk]
            for (image_id, image_path), result in zip(chunk, results):
                write_part(parts, image_id, image_path, result)
            bar.update(len(chunk))
            future.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def consolidate(catalog: pd.DataFrame, products_dir: str | Path, config: dict | None = None) -> Products:
    """Gather every part into the products folder (atomically), in catalogue order; removes the parts."""
    products_dir = Path(products_dir)
    parts = products_dir / PARTS_DIR
    n = len(catalog)
    scratch = parts / "_consolidate"
    scratch.mkdir(exist_ok=True)
    # disk-backed cubes: a survey-sized stage must not need all cubes in memory at once
    cubes = {kind: np.lib.format.open_memmap(scratch / f"{kind}.npy", mode="w+", dtype=np.float32,
                                             shape=(n, CUTOUT_SIZE, CUTOUT_SIZE))
             for kind in CHANNELS}
    rows, sources = [], []
    for i, image_id in enumerate(tqdm(catalog["ID"].to_numpy(), desc="consolidating", unit="img",
                                      disable=n < 1000)):
        part = read_part(parts, image_id)
        for kind in CHANNELS:
            cubes[kind][i] = part[kind]
        rows.append(part["row"])
        if len(part["sources"]):
            sources.append(part["sources"])
    fits = pd.concat(rows, ignore_index=True)
    images = pd.concat([catalog.reset_index(drop=True), fits], axis=1)
    images.attrs = {}
    table = pd.concat(sources, ignore_index=True) if sources else _empty_sources().assign(ID=pd.Series(dtype="int64"))
    counts = images["status"].value_counts().reindex(FIT_STATUSES, fill_value=0)
    print("fit status: " + ", ".join(f"{s} {c}" for s, c in counts.items()) + f" (of {n} images)")
    write_products(products_dir, images, table, cubes)
    del cubes  # closes the memory maps (their files went with the replaced folder)
    if config is not None:
        write_stage_record(products_dir, config)
    return Products(products_dir)
