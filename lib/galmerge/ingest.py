"""Turn a folder of survey cutouts and a ``filename,label`` table into a dataset the pipeline reads.

    python -m galmerge.ingest --images cutouts/ --labels labels.csv --out data/my_cutouts
    python -m galmerge.ingest --images cutouts/ --labels labels.csv --out data/my_gri --bands gri
    python run_all.py --profile smoke --data data/my_cutouts

The output is a *labelled dataset* in the on-disk layout :func:`galmerge.data.catalog.load_catalog`
reads (see that module's docstring)::

    <out>/train/images/objID_<ID>.fits              one 2-D float32 image per object (with --bands,
                                                     also the (bands, N, M) cube in HDU 'BANDS')
    <out>/catalog_merger_challenge_TNG_train.csv     ID, label, the optional columns, provenance
    <out>/ingest_problems.csv                        every file or row left out, with the reason
    <out>/ingest.json                                settings, counts and the policies below

The labels table (CSV) needs ``filename`` (relative to ``--images``) and ``label`` (1 merger,
0 non-merger). Optional columns, used when present: ``stage`` (pre/ongoing/post/non),
``merger_time`` (Gyr, negative before coalescence), ``redshift``, ``group`` (objects that must
stay in one split, like the challenge's ``sequence_ID``), ``pixel_scale`` (arcsec per pixel of
the file). Every other column is kept in the catalogue (a column named like one the catalogue
writes itself is kept as ``user_<name>``).

Policies
--------
Formats
    FITS (``.fits``, ``.fit``, ``.fts``, ``.fits.gz``; the first HDU with data, shape (N, M) or
    (1, N, M)), PNG, JPEG and TIFF (read with Pillow). FITS and floating-point TIFF pixels are
    taken as linear in flux. Integer PNG/JPEG/TIFF pixels (8 or 16 bit) are *display* images:
    the survey viewer applied a non-linear stretch (asinh for SDSS and Legacy Survey colour
    images, Lupton et al. 2004, PASP 116, 133) and clipped to 0-255, so they are recorded with
    ``linear_flux = False`` and Sérsic parameters fitted on them are not physical (the report
    says so); the network inputs are still normalised per image as in training. How each JPEG
    was encoded is kept in the catalogue (``jpeg_qtables``, a hash of its quantisation tables;
    ``jpeg_subsampling``; ``jpeg_progressive``): the shortcut check of 00_data asks whether it
    tells the classes apart (:mod:`galmerge.analysis.shortcut`).
Colour
    A colour image becomes one channel (``--channel``): ``r``, ``g`` or ``b`` (the file's red,
    green or blue channel) or ``luminance`` (ITU-R BT.601 weights 0.299, 0.587, 0.114, as
    Pillow's 'L' mode). The default is ``r``, the red channel: in SDSS and HSC gri composites the
    red channel holds the **i** band (Lupton et al. 2004 map i, r, g to R, G, B), in Legacy
    Survey grz composites the z band; the longest band is the one closest to the HSC i-band
    images the paper's networks (and this repository's mock) are trained on. Note that the red
    channel is *not* the r band. An alpha channel is ignored; a grey image is used as it is.
Bands (``--bands``)
    Without it (the default, the paper's single band) only that one channel is kept. ``--bands
    gri`` (``grz`` for Legacy Survey composites) keeps all three channels of a colour image as
    well, in band order: the letters name the composite's bands from its blue channel to its red
    one (Lupton et al. 2004 map g, r, i to B, G, R), and the cube is written as the image file's
    HDU ``BANDS`` (shape (3, N, M), header ``BANDS = 'gri'``), resampled like the image. The
    primary image (``--channel``, the red channel: i) is unchanged, so the Sérsic fit, the audit and
    every single-band product are exactly those of an ingest without ``--bands``; the fitting
    step makes the per-band inputs from the cube (:func:`galmerge.sersic.products.add_band_cubes`).
    A grey image or a FITS file cannot give three bands: with ``--bands`` it is a problem
    (``wrong_dimensions``).
Pixel scale and resampling
    ``--target-scale S`` (arcsec/px, e.g. 0.168 for HSC) resamples every image from its pixel
    scale (the table's ``pixel_scale`` column, else ``--pixel-scale``) to S by exact pixel-area
    overlap, which conserves the total flux: the new side is ``round(n * scale / S)`` and the
    scale actually reached (``pixel_scale_out``) differs from S by less than half a pixel over
    the image. Without ``--target-scale`` the pixels are kept as they are.
Size (the 128 px network input)
    Images are stored whole; the fitting stage fits the whole image and the network sees its
    central 128 x 128 pixels (``cutout_mode = crop``, every profile's default) or the whole
    field rebinned to 128 x 128 (``cutout_mode = resample``). An image (after resampling)
    smaller than 128 px on a side cannot give the crop and is left out with the reason
    "too small". Non-square images are kept (the crop is central).
Problems
    Unreadable file, empty file (0 bytes or no image data), blank image (every pixel equal),
    non-finite pixels (unless ``--nonfinite zero``), wrong dimensions (not 2-D, not a colour
    image, a multi-page TIFF), too small, a label that is not 0/1, a filename repeated in the
    table, a table row without its file, an image file without a row: each is written to
    ``ingest_problems.csv`` with its reason and printed. By default (``--on-missing raise``) any
    problem stops the ingest and writes no catalogue; ``--on-missing drop`` leaves those objects
    out and writes the rest (the problems file and ``ingest.json`` count them). Files in the
    folder that are not images (other extensions) are listed as ``ignored``, never ingested.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from tqdm import tqdm

from galmerge.data.catalog import CATALOG_STEM, LABELLED_IMAGE_FOLDER, LABELLED_OPTIONAL_COLUMNS, MIN_IMAGE_SIDE
from galmerge.runs import write_json

#: File extensions read, by format.
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fz")
RASTER_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}
CHANNELS = ("r", "g", "b", "luminance")
DEFAULT_CHANNEL = "r"
#: ITU-R BT.601 luma weights (the ones Pillow's 'L' conversion uses).
LUMINANCE_WEIGHTS = (0.299, 0.587, 0.114)
#: HSC pixel scale (arcsec), the paper's data and the mock's.
HSC_PIXEL_SCALE = 0.168
#: Problem kinds of ingest_problems.csv.
PROBLEMS = ("unreadable", "empty", "blank", "non_finite", "wrong_dimensions", "too_small", "bad_label",
            "duplicate_row", "row_without_file", "file_without_row", "bad_pixel_scale", "ignored")
#: Problems that are not objects left out (files that are not images).
NOT_OBJECTS = ("ignored",)
#: Columns the catalogue writes itself; a labels-table column of the same name becomes user_<name>.
#: How each JPEG was encoded (catalogue columns; the shortcut check reads them).
JPEG_COLUMNS = ("jpeg_qtables", "jpeg_subsampling", "jpeg_progressive")
#: Seed of the order in which IDs are dealt to the ingested rows (:func:`_load_rows`).
ID_ORDER_SEED = 20261207
WRITTEN_COLUMNS = ("ID", "label", "filename", "file_format", "channel", "bands", "linear_flux", *JPEG_COLUMNS,
                   "input_ny", "input_nx",
                   "ny", "nx", "pixel_scale", "pixel_scale_out", "split", "snapnum", "sequence_ID",
                   "image_path", "source_folder")
INGEST_FILE = "ingest.json"
PROBLEMS_FILE = "ingest_problems.csv"
SIZE_POLICY = (f"the network sees the central {MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE} px of each image after the "
               "Sérsic fit of the whole image (cutout_mode crop; cutout_mode resample rebins the whole field "
               f"to {MIN_IMAGE_SIDE} px instead); images under {MIN_IMAGE_SIDE} px on a side are left out")
BANDS_HDU = "BANDS"
#: Characters a band name may be (SDSS ugriz, HSC/Legacy y, Legacy z).
BAND_LETTERS = "ugrizy"
BANDS_POLICY = ("bands: the three channels of a colour image in band order, blue channel first (gri: g = blue, "
                "r = green, i = red; Lupton et al. 2004), written as HDU 'BANDS' beside the primary image")
CHANNEL_POLICY = ("colour images: the red channel by default, which holds the i band in SDSS/HSC gri composites "
                  "(Lupton et al. 2004) and z in Legacy Survey grz ones, the band closest to the HSC i band the "
                  "networks are trained on")


class IngestError(ValueError):
    """The ingest cannot go on (bad arguments, bad labels table, problems with --on-missing raise)."""


@dataclass
class Loaded:
    """One image as read: the 2-D float32 array and what was learnt about the file."""

    image: np.ndarray
    file_format: str
    linear_flux: bool
    input_shape: tuple[int, int]
    colour: bool
    bands_image: np.ndarray | None = None
    file_info: dict = field(default_factory=dict)


class ImageProblem(Exception):
    """An image file that cannot be ingested; ``kind`` is one of :data:`PROBLEMS`."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


# --------------------------------------------------------------------------- reading one image


def file_format(path: Path) -> str | None:
    """'fits', 'png', 'jpeg' or 'tiff' from the file name; None for anything else."""
    name = path.name.lower()
    if name.endswith(FITS_SUFFIXES):
        return "fits"
    return RASTER_SUFFIXES.get(path.suffix.lower())


def check_bands(bands: str | None) -> str | None:
    """``bands`` as given when it names three distinct bands (e.g. 'gri', 'grz'); None for None or ''.

    Raises
    ------
    ValueError
        Not three distinct letters of :data:`BAND_LETTERS`.
    """
    if bands is None or bands == "":
        return None
    if not (isinstance(bands, str) and len(bands) == 3 and len(set(bands)) == 3
            and all(b in BAND_LETTERS for b in bands)):
        raise ValueError(f"bands must name the three bands of a colour composite from its blue to its red "
                         f"channel, three distinct letters of {BAND_LETTERS!r} (e.g. 'gri'), got {bands!r}")
    return bands


def read_image(path: str | Path, channel: str = DEFAULT_CHANNEL, nonfinite: str = "reject",
               bands: str | None = None) -> Loaded:
    """Read one cutout (FITS, PNG, JPEG or TIFF) as a 2-D float32 image.

    Parameters
    ----------
    path : str or Path
    channel : {'r', 'g', 'b', 'luminance'}
        Which channel of a colour image to keep (module docstring); ignored for grey images.
    nonfinite : {'reject', 'zero'}
        NaN/inf pixels: an :class:`ImageProblem`, or replaced by 0.
    bands : str, optional
        Also keep the three channels of a colour image as ``bands_image`` (3, N, M), in the band
        order of ``bands`` (blue channel first; module docstring); None (default): one channel.

    Returns
    -------
    Loaded
        The image in the file's units (FITS, float TIFF) or display levels (0-255 for 8 bit).

    Raises
    ------
    ImageProblem
        With ``kind`` 'empty', 'unreadable', 'wrong_dimensions', 'non_finite' or 'blank'.
    """
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
    if nonfinite not in ("reject", "zero"):
        raise ValueError(f"nonfinite must be 'reject' or 'zero', got {nonfinite!r}")
    bands = check_bands(bands)
    path = Path(path)
    kind = file_format(path)
    if kind is None:
        raise ImageProblem("unreadable", f"not an image file name (FITS, PNG, JPEG or TIFF): {path.suffix}")
    if path.stat().st_size == 0:
        raise ImageProblem("empty", "empty file (0 bytes)")
    file_info: dict = {}
    if kind == "fits":
        data, linear = _read_fits(path), True
    else:
        data, linear, file_info = _read_raster(path)
    input_shape, colour = data.shape[:2], data.ndim == 3
    bands_image = None
    if bands is not None:
        if not colour:
            raise ImageProblem("wrong_dimensions", f"{'FITS' if kind == 'fits' else 'grey'} image of shape "
                                                   f"{data.shape}: bands {bands!r} need a colour (RGB) image")
        bands_image = _nonfinite(np.ascontiguousarray(np.moveaxis(data[..., ::-1], -1, 0), dtype=np.float32),
                                 nonfinite)
    if colour:
        data = _one_channel(data, channel)
    image = _nonfinite(np.asarray(data, dtype=np.float32), nonfinite)
    if float(image.max()) == float(image.min()):
        raise ImageProblem("blank", f"blank image: every pixel is {float(image.min())}")
    return Loaded(image=image, file_format=kind, linear_flux=linear, input_shape=tuple(int(n) for n in input_shape),
                  colour=colour, bands_image=bands_image, file_info=file_info)


def _nonfinite(image: np.ndarray, nonfinite: str) -> np.ndarray:
    """``image`` with the NaN/inf rule applied (:func:`read_image`)."""
    bad = ~np.isfinite(image)
    if bad.all():
        raise ImageProblem("non_finite", f"every one of the {image.size} pixels is NaN or inf")
    if bad.any():
        if nonfinite == "reject":
            raise ImageProblem("non_finite", f"{int(bad.sum())} of {image.size} pixels are NaN or inf "
                                             "(--nonfinite zero sets them to 0)")
        image = np.where(bad, np.float32(0), image)
    return image


def _read_fits(path: Path) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*truncated.*")  # a truncated file is a corrupt one
            with fits.open(path, memmap=False) as hdus:
                data = next((hdu.data for hdu in hdus if hdu.data is not None and hdu.data.size), None)
    except Exception as err:  # astropy raises OSError, ValueError, TypeError... on bad files
        raise ImageProblem("unreadable", f"unreadable FITS file ({type(err).__name__}: {err})") from None
    if data is None:
        raise ImageProblem("empty", "no HDU holds image data")
    if data.dtype.fields is not None:
        raise ImageProblem("wrong_dimensions", "the first HDU with data is a table, not an image")
    data = np.asarray(data)
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise ImageProblem("wrong_dimensions", f"FITS image of shape {data.shape}; expected (N, M) or (1, N, M)")
    return data


def _jpeg_info(img) -> dict:
    """How a JPEG was encoded (:data:`JPEG_COLUMNS`): a hash of its quantisation tables (the quality
    setting), its chroma subsampling and whether it is progressive. Two catalogues cut out at different
    times or by different tools can differ in these, which a network can read from the pixels."""
    import hashlib

    from PIL import JpegImagePlugin

    tables = getattr(img, "quantization", None) or {}
    digest = hashlib.sha1(repr(sorted((k, list(v)) for k, v in tables.items())).encode()).hexdigest()[:12]
    return {"jpeg_qtables": digest, "jpeg_subsampling": int(JpegImagePlugin.get_sampling(img)),
            "jpeg_progressive": bool(img.info.get("progressive") or img.info.get("progression"))}


def _read_raster(path: Path) -> tuple[np.ndarray, bool, dict]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            n_frames = getattr(img, "n_frames", 1)
            if n_frames > 1:
                raise ImageProblem("wrong_dimensions", f"{n_frames} frames/pages; expected one image")
            info = _jpeg_info(img) if img.format == "JPEG" else {}
            if img.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
                img = img.convert("RGBA" if "transparency" in img.info or img.mode == "PA" else "RGB")
            img.load()
            data = np.asarray(img)
    except ImageProblem:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise ImageProblem("unreadable", f"unreadable image ({type(err).__name__}: {err})") from None
    if data.ndim == 3 and data.shape[2] in (2, 4):  # grey+alpha or RGB+alpha: drop the alpha
        data = data[..., :-1]
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[..., 0]
    if not (data.ndim == 2 or (data.ndim == 3 and data.shape[2] == 3)):
        raise ImageProblem("wrong_dimensions", f"image of shape {data.shape}; expected grey (N, M) or colour (N, M, 3)")
    return data, bool(np.issubdtype(data.dtype, np.floating)), info


def _one_channel(data: np.ndarray, channel: str) -> np.ndarray:
    data = data.astype(np.float32)
    if channel == "luminance":
        return np.tensordot(data, np.asarray(LUMINANCE_WEIGHTS, np.float32), axes=([2], [0]))
    return data[..., "rgb".index(channel)]


# --------------------------------------------------------------------------- resampling


def resample_to_scale(image: np.ndarray, scale: float, target: float) -> tuple[np.ndarray, float]:
    """Resample ``image`` from ``scale`` to about ``target`` arcsec/px, conserving the total flux.

    Exact pixel-area overlap (:func:`galmerge.sersic.fit.cutout` 'resample', generalised to two
    sides): each input pixel's value is shared among the output pixels it overlaps in proportion
    to the overlap area, so the sum over the image is unchanged. The output side along each axis
    is ``max(1, round(n * scale / target))``.

    Returns
    -------
    (image, scale_out)
        The resampled float32 image and the pixel scale actually reached (arcsec/px, along y).
    """
    from galmerge.sersic.fit import _overlap_matrix

    if not (np.isfinite(scale) and scale > 0 and np.isfinite(target) and target > 0):
        raise ValueError(f"pixel scales must be positive numbers, got {scale} -> {target}")
    ny, nx = image.shape
    my, mx = (max(1, int(round(n * scale / target))) for n in (ny, nx))
    rows, cols = _overlap_matrix(ny, my), _overlap_matrix(nx, mx)
    out = (rows @ image.astype(np.float64) @ cols.T).astype(np.float32)
    return out, scale * ny / my


# --------------------------------------------------------------------------- the labels table


def read_labels(path: str | Path) -> pd.DataFrame:
    """The labels table as written (every column as text first, then the known ones parsed).

    Raises
    ------
    IngestError
        Unreadable table or no ``filename`` / ``label`` column.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as err:
        raise IngestError(f"{path}: cannot read the labels table ({type(err).__name__}: {err})") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in ("filename", "label") if c not in table.columns]
    if missing:
        raise IngestError(f"{path}: the labels table needs columns 'filename' and 'label'; "
                          f"missing {missing}, it has {list(table.columns)}")
    if table["filename"].isna().any():
        rows = np.flatnonzero(table["filename"].isna()) + 2  # 1-based, after the header line
        raise IngestError(f"{path}: {len(rows)} rows without a filename (lines {rows[:5].tolist()})")
    table["filename"] = table["filename"].str.strip().map(_normalise_name)
    return table


def _normalise_name(name: str) -> str:
    """'./a//b.jpg' -> 'a/b.jpg' (POSIX separators), so table names match the folder's."""
    return Path(name.replace("\\", "/")).as_posix()


def _parse_label(value) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number in (0.0, 1.0) else None


def scan_folder(folder: Path) -> list[str]:
    """Every file under ``folder`` (recursive), as POSIX paths relative to it, sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- the whole ingest


@dataclass
class _Settings:
    """What :func:`ingest` was asked to do, passed to its steps."""

    images: Path
    labels: Path
    out: Path
    channel: str
    pixel_scale: float | None
    target_scale: float | None
    on_missing: str
    nonfinite: str
    bands: str | None = None


class _Problems(list):
    """The rows of ``ingest_problems.csv``, in the order they are found."""

    def add(self, filename: str, kind: str, reason: str) -> None:
        self.append({"filename": filename, "problem": kind, "reason": reason})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self, columns=["filename", "problem", "reason"])


def ingest(images: str | Path, labels: str | Path, out: str | Path, channel: str = DEFAULT_CHANNEL,
           pixel_scale: float | None = None, target_scale: float | None = None, on_missing: str = "raise",
           nonfinite: str = "reject", overwrite: bool = False, progress: bool = True,
           bands: str | None = None) -> dict:
    """Ingest a folder of cutouts and a labels table into a labelled dataset (module docstring).

    Parameters
    ----------
    images : folder of image files (searched recursively; ``filename`` is relative to it).
    labels : CSV with ``filename``, ``label`` and optional columns.
    out : the dataset folder to write (must not exist, be empty, or, with ``overwrite``, be an
        earlier ingest's output).
    channel : {'r', 'g', 'b', 'luminance'}
        Channel of colour images (default 'r', the red channel: the i band of gri composites).
    pixel_scale : float, optional
        Pixel scale of the files (arcsec/px) where the table has no ``pixel_scale`` column/value.
    target_scale : float, optional
        Resample every image to this pixel scale (arcsec/px; flux-conserving); needs a pixel scale.
    on_missing : {'raise', 'drop'}
        Any problem (see module docstring) raises :class:`IngestError` (default; no catalogue is
        written) or leaves the object out; either way each is listed in ``ingest_problems.csv``.
    nonfinite : {'reject', 'zero'}
        Images with NaN/inf pixels are a problem, or those pixels become 0.
    overwrite : bool
        Replace an earlier ingest's output folder.
    bands : str, optional
        Keep the three channels of colour images in this band order too (e.g. 'gri'; module
        docstring); None (default): the single channel only.

    Returns
    -------
    dict
        The content of ``ingest.json``: settings, counts, the policies, the output paths.
    """
    settings = _Settings(Path(images), Path(labels), Path(out), channel, pixel_scale, target_scale, on_missing,
                         nonfinite, bands)
    _check_arguments(settings)
    _prepare_out(settings.out, overwrite)
    table = read_labels(settings.labels)
    problems = _Problems()
    image_files = _image_files(settings, set(table["filename"]), problems)
    n_rows = len(table)
    table = _without_duplicate_rows(table, settings.labels.name, problems)
    if target_scale is not None and pixel_scale is None and "pixel_scale" not in table.columns:
        raise IngestError("--target-scale needs the files' pixel scale: a 'pixel_scale' column in the labels "
                          "table or --pixel-scale")
    out_folder = settings.out / "train" / LABELLED_IMAGE_FOLDER
    out_folder.mkdir(parents=True, exist_ok=True)
    rows = _load_rows(table, settings, set(image_files), problems, progress)
    summary = _summary(settings.images, settings.labels, settings.out, channel, pixel_scale, target_scale,
                       on_missing, nonfinite, n_rows, len(image_files), rows, _write_problems(settings.out, problems))
    summary["bands"] = settings.bands
    if settings.bands is not None:
        summary["bands_policy"] = BANDS_POLICY
    _stop_on_problems(settings, rows, problems.frame(), summary)
    _write_dataset(settings.out, out_folder, rows, channel, settings.bands)
    summary["status"] = "ok"
    write_json(settings.out / INGEST_FILE, summary)
    return summary


def _check_arguments(settings: _Settings) -> None:
    """Arguments that make the ingest impossible, before anything is written."""
    if settings.channel not in CHANNELS:
        raise IngestError(f"--channel must be one of {CHANNELS}, got {settings.channel!r}")
    try:
        settings.bands = check_bands(settings.bands)
    except ValueError as err:
        raise IngestError(f"--bands: {err}") from None
    if settings.on_missing not in ("raise", "drop"):
        raise IngestError(f"--on-missing must be 'raise' or 'drop', got {settings.on_missing!r}")
    if not settings.images.is_dir():
        raise IngestError(f"--images {settings.images}: no such folder")
    if not settings.labels.is_file():
        raise IngestError(f"--labels {settings.labels}: no such file")
    for name, value in (("--pixel-scale", settings.pixel_scale), ("--target-scale", settings.target_scale)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise IngestError(f"{name} must be a positive number (arcsec/px), got {value}")


def _image_files(settings: _Settings, listed: set[str], problems: _Problems) -> list[str]:
    """The image files of the folder; files that are not images (but the labels table itself) and
    images without a row of the table are listed as problems."""
    labels_resolved = settings.labels.resolve()
    image_files = []
    for name in scan_folder(settings.images):
        if file_format(Path(name)) is not None:
            image_files.append(name)
        elif (settings.images / name).resolve() != labels_resolved:
            problems.add(name, "ignored", "not an image file (FITS, PNG, JPEG, TIFF); not ingested")
    for name in image_files:
        if name not in listed:
            problems.add(name, "file_without_row", f"image file has no row in {settings.labels.name}")
    return image_files


def _without_duplicate_rows(table: pd.DataFrame, labels_name: str, problems: _Problems) -> pd.DataFrame:
    """The table without the rows whose filename repeats (none of them is used; each listed), with
    ``_line``, each row's line in the CSV."""
    duplicated = table["filename"].duplicated(keep=False)
    for name, count in table.loc[duplicated, "filename"].value_counts().sort_index().items():
        problems.add(name, "duplicate_row", f"filename appears {count} times in {labels_name}; none is used")
    table = table[~duplicated].copy()
    table["_line"] = table.index + 2  # line in the CSV (header is line 1)
    return table


def _load_rows(table: pd.DataFrame, settings: _Settings, present: set[str], problems: _Problems,
               progress: bool) -> list[dict]:
    """Every usable row of the table with its image read; each other row is listed as a problem.

    IDs are 1..N in an order drawn with a fixed seed, not the table's: label files are often sorted
    by class, and IDs in table order would carry the label (the leak audit flagged ID AUC 0.00 on
    a class-sorted SDSS set). Rows stay in table order.
    """
    rows = []
    for record in tqdm(table.to_dict("records"), desc="ingesting", unit="image", disable=not progress):
        row = _load_row(record, settings, present, problems)
        if row is not None:
            rows.append(row)
    ids = np.random.default_rng(ID_ORDER_SEED).permutation(len(rows)) + 1
    return [{**row, "ID": int(i)} for row, i in zip(rows, ids, strict=True)]


def _load_row(record: dict, settings: _Settings, present: set[str], problems: _Problems) -> dict | None:
    """One row of the table, checked and its image read and resampled; None (and a problem) when unusable."""
    name = record["filename"]
    label = _parse_label(record["label"])
    if label is None:
        problems.add(name, "bad_label", f"label {record['label']!r} (line {record['_line']}) is not 0 or 1")
        return None
    if name not in present:
        reason = "no such file" if not (settings.images / name).exists() else "not an image file name"
        problems.add(name, "row_without_file",
                     f"{reason} in {settings.images} (line {record['_line']} of {settings.labels.name})")
        return None
    try:
        scale = _row_pixel_scale(record, settings)
        loaded = read_image(settings.images / name, channel=settings.channel, nonfinite=settings.nonfinite,
                            bands=settings.bands)
    except ImageProblem as err:
        problems.add(name, err.kind, str(err))
        return None
    image, scale_out, bands_image = loaded.image, scale, loaded.bands_image
    if settings.target_scale is not None:
        image, scale_out = resample_to_scale(image, scale, settings.target_scale)
        if bands_image is not None:
            bands_image = np.stack([resample_to_scale(plane, scale, settings.target_scale)[0] for plane in bands_image])
    if min(image.shape) < MIN_IMAGE_SIDE:
        after = f" after resampling to {settings.target_scale} arcsec/px" if settings.target_scale is not None else ""
        problems.add(name, "too_small", f"{image.shape[0]} x {image.shape[1]} px{after}; the network input is "
                                        f"{MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE} px")
        return None
    return {"record": record, "label": label, "loaded": loaded, "image": image, "scale": scale,
            "scale_out": scale_out, "bands_image": bands_image}


def _row_pixel_scale(record: dict, settings: _Settings) -> float | None:
    """The row's pixel scale (arcsec/px): its ``pixel_scale`` value, else ``--pixel-scale``, else None.

    Raises
    ------
    ImageProblem
        ``bad_pixel_scale``: the value is not a positive number, or resampling needs one and there is none.
    """
    scale = settings.pixel_scale
    if pd.notna(record.get("pixel_scale")):
        try:
            scale = float(record["pixel_scale"])
        except ValueError:
            scale = float("nan")
        if not (np.isfinite(scale) and scale > 0):
            raise ImageProblem("bad_pixel_scale", f"pixel_scale {record['pixel_scale']!r} is not a positive number")
    if settings.target_scale is not None and scale is None:
        raise ImageProblem("bad_pixel_scale", "no pixel_scale for this file (empty in the table, no --pixel-scale)")
    return scale


def _write_problems(out: Path, problems: _Problems) -> pd.DataFrame:
    """Write ``ingest_problems.csv`` (every problem, even with none); returns the table."""
    frame = problems.frame()
    frame.to_csv(out / PROBLEMS_FILE, index=False)
    return frame


def _stop_on_problems(settings: _Settings, rows: list[dict], problems: pd.DataFrame, summary: dict) -> None:
    """Raise :class:`IngestError` (recording the failure in ``ingest.json``) when an object was left out
    under ``on_missing='raise'`` (the images written so far are removed), or when nothing was ingested."""
    out = settings.out
    left_out = problems[~problems["problem"].isin(NOT_OBJECTS)]
    if len(left_out) and settings.on_missing == "raise":
        summary["status"] = "failed"
        write_json(out / INGEST_FILE, summary)
        shutil.rmtree(out / "train", ignore_errors=True)
        raise IngestError(f"{len(left_out)} problem(s) with the images or the labels table:\n"
                          + _problem_lines(left_out)
                          + f"\nall listed in {out / PROBLEMS_FILE}; fix them, or rerun with --on-missing drop "
                          "to leave these objects out (they stay listed there)")
    if not rows:
        summary["status"] = "failed"
        write_json(out / INGEST_FILE, summary)
        raise IngestError(f"no image could be ingested (problems in {out / PROBLEMS_FILE})")


def _write_dataset(out: Path, out_folder: Path, rows: list[dict], channel: str, bands: str | None = None) -> None:
    """Write each image as ``objID_<ID>.fits`` and the catalogue of them."""
    catalog_rows = []
    for row in rows:
        _write_image(out_folder / f"objID_{row['ID']}.fits", row, bands)
        catalog_rows.append(_catalog_row(row, channel, bands))
    pd.DataFrame(catalog_rows).to_csv(out / (CATALOG_STEM.format(folder="train") + ".csv"), index=False)


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / INGEST_FILE).exists():
            raise IngestError(f"--out {out} exists, is not empty and is not an ingest output; choose another folder")
        failed = json.loads((out / INGEST_FILE).read_text()).get("status") == "failed"
        if not (overwrite or failed):  # a failed ingest wrote only its problem list: replace it
            raise IngestError(f"--out {out} holds an earlier ingest; pass --overwrite to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _catalog_row(row: dict, channel: str, bands: str | None = None) -> dict:
    record, loaded = row["record"], row["loaded"]
    out = {"ID": row["ID"], "label": row["label"]}
    for column in LABELLED_OPTIONAL_COLUMNS:
        if column in record:
            out[column] = record[column]
    out.update(filename=record["filename"], file_format=loaded.file_format,
               channel=channel if loaded.colour else "grey",
               linear_flux=bool(loaded.linear_flux), input_ny=loaded.input_shape[0], input_nx=loaded.input_shape[1],
               ny=row["image"].shape[0], nx=row["image"].shape[1],
               pixel_scale=np.nan if row["scale"] is None else row["scale"],
               pixel_scale_out=np.nan if row["scale_out"] is None else row["scale_out"])
    if bands is not None:
        out["bands"] = bands
    out.update(loaded.file_info)
    for column, value in record.items():
        if column in ("_line", "filename", "label", "pixel_scale", *LABELLED_OPTIONAL_COLUMNS):
            continue  # already written above
        out[f"user_{column}" if column in WRITTEN_COLUMNS else column] = value
    return out


def write_image_file(path: Path, image: np.ndarray, header=None, bands: str | None = None,
                     bands_image: np.ndarray | None = None) -> None:
    """Write ``image`` (float32) as the primary HDU of ``path``, and ``bands_image`` (float32, (bands, N, M))
    as HDU :data:`BANDS_HDU` with header ``BANDS``; atomically (a temporary file renamed into place)."""
    hdus = [fits.PrimaryHDU(np.asarray(image, dtype=np.float32), header=header)]
    if bands_image is not None:
        extension = fits.ImageHDU(np.asarray(bands_image, dtype=np.float32), name=BANDS_HDU)
        extension.header["BANDS"] = (bands, "bands of the planes, in order")
        hdus.append(extension)
    tmp = path.with_name(f".{path.name}.tmp")
    fits.HDUList(hdus).writeto(tmp, overwrite=True)
    tmp.replace(path)


def read_bands_image(path: str | Path) -> tuple[str, np.ndarray]:
    """The bands and the (bands, N, M) float32 cube of an ingested image file (HDU :data:`BANDS_HDU`).

    Raises
    ------
    ValueError
        The file has no such HDU (it was ingested without ``--bands``), naming the file.
    """
    with fits.open(path, memmap=False) as hdus:
        if BANDS_HDU not in hdus:
            raise ValueError(f"{path}: no {BANDS_HDU} HDU; ingest the dataset with --bands (e.g. "
                             "python -m galmerge.ingest ... --bands gri) to train on several bands")
        return str(hdus[BANDS_HDU].header["BANDS"]), np.asarray(hdus[BANDS_HDU].data, dtype=np.float32)


def _write_image(path: Path, row: dict, bands: str | None = None) -> None:
    loaded = row["loaded"]
    header = fits.Header()
    header["ORIGFILE"] = (str(row["record"]["filename"])[-68:], "file ingested")
    header["ORIGFMT"] = (loaded.file_format, "format of the file ingested")
    header["LINFLUX"] = (bool(loaded.linear_flux), "pixels linear in flux (F: display image)")
    header["LABEL"] = (int(row["label"]), "1 merger, 0 non-merger")
    if row["scale_out"] is not None and np.isfinite(row["scale_out"]):
        header["PIXSCALE"] = (float(row["scale_out"]), "arcsec per pixel")
    if bands is not None:
        header["BANDS"] = (bands, f"bands of HDU {BANDS_HDU}")
    write_image_file(path, row["image"], header, bands, row.get("bands_image") if bands is not None else None)


def _summary(images, labels, out, channel, pixel_scale, target_scale, on_missing, nonfinite, n_rows, n_files,
             rows, problems: pd.DataFrame) -> dict:
    counts = problems["problem"].value_counts().reindex(PROBLEMS, fill_value=0)
    linear = [bool(r["loaded"].linear_flux) for r in rows]
    return {
        "images": str(Path(images).resolve()), "labels": str(Path(labels).resolve()), "out": str(Path(out).resolve()),
        "channel": channel, "pixel_scale": pixel_scale, "target_scale": target_scale, "on_missing": on_missing,
        "nonfinite": nonfinite,
        "n_table_rows": int(n_rows), "n_image_files": int(n_files), "n_ingested": len(rows),
        "n_mergers": int(sum(r["label"] for r in rows)), "n_nonlinear": int(len(linear) - sum(linear)),
        "problems": {k: int(v) for k, v in counts.items() if v},
        "n_left_out": int(problems["problem"].isin([p for p in PROBLEMS if p not in NOT_OBJECTS]).sum()),
        "size_policy": SIZE_POLICY, "channel_policy": CHANNEL_POLICY,
        "linear_policy": "FITS and float TIFF are linear in flux; integer PNG/JPEG/TIFF are display images "
                         "(non-linear stretch, clipped): Sérsic parameters fitted on them are not physical",
        "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _problem_lines(problems: pd.DataFrame, n: int = 20) -> str:
    lines = [f"  {r.filename}: {r.problem}: {r.reason}" for r in problems.head(n).itertuples()]
    if len(problems) > n:
        lines.append(f"  ... and {len(problems) - n} more")
    return "\n".join(lines)


def read_ingest_info(dataset: str | Path) -> dict | None:
    """``ingest.json`` of a dataset written by :func:`ingest`, or None for any other dataset."""
    path = Path(dataset) / INGEST_FILE
    return json.loads(path.read_text()) if path.exists() else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m galmerge.ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", required=True, type=Path, help="folder of cutouts (searched recursively)")
    parser.add_argument("--labels", required=True, type=Path, help="CSV with filename,label (+ optional columns)")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    parser.add_argument("--channel", choices=CHANNELS, default=DEFAULT_CHANNEL,
                        help="channel of colour images (default r: the red channel, i band of gri composites)")
    parser.add_argument("--bands", help="also keep the three channels of colour images, named from the blue "
                        "channel to the red one (gri for SDSS/HSC composites, grz for Legacy Survey); default: one")
    parser.add_argument("--pixel-scale", type=float, help="arcsec/px of the files (when the table has none)")
    parser.add_argument("--target-scale", type=float,
                        help=f"resample to this arcsec/px, flux-conserving (e.g. {HSC_PIXEL_SCALE} for HSC)")
    parser.add_argument("--on-missing", choices=("raise", "drop"), default="raise",
                        help="any problem stops the ingest (raise, default) or leaves that object out (drop)")
    parser.add_argument("--nonfinite", choices=("reject", "zero"), default="reject",
                        help="images with NaN/inf pixels: a problem (default) or those pixels set to 0")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier ingest in --out")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        summary = ingest(args.images, args.labels, args.out, channel=args.channel, pixel_scale=args.pixel_scale,
                         target_scale=args.target_scale, on_missing=args.on_missing, nonfinite=args.nonfinite,
                         overwrite=args.overwrite, progress=not args.no_progress, bands=args.bands)
    except IngestError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"ingested {summary['n_ingested']} of {summary['n_table_rows']} table rows "
          f"({summary['n_mergers']} mergers) into {summary['out']}")
    if summary["n_nonlinear"]:
        print(f"{summary['n_nonlinear']} display images (8/16-bit PNG/JPEG/TIFF): not linear in flux; "
              "Sérsic parameters fitted on them are not physical")
    problems = pd.read_csv(Path(args.out) / PROBLEMS_FILE)
    if len(problems):
        where = Path(args.out) / PROBLEMS_FILE
        print(f"{len(problems)} file(s)/row(s) not ingested (all in {where}):", file=sys.stderr)
        print(_problem_lines(problems), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
