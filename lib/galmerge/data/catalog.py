"""Read a dataset in the merger-challenge layout and assign train/validation/test splits.

Layout (Margalef-Bentabol et al. 2024; the mock generator writes the same)::

    <dataset>/train/snapnum_<lo>_<hi>/objID_<ID>.fits
    <dataset>/test/snapnum_<lo>_<hi>/objID_<ID>.fits              (optional)
    <dataset>/catalog_merger_challenge_TNG_train.fits  (or .csv)
    <dataset>/catalog_merger_challenge_TNG_test.fits   (or .csv; with test/)
    <dataset>/psf/psf_i.fits                                      (optional)

Catalogue columns read: ``ID, snapnum, sequence_ID, is_major_merger, is_pre_merger,
is_ongoing_merger, is_post_merger, time_before_merger, time_after_merger``; every other column
is kept as it is (the mock's truth columns start with ``true_``).

**Labelled datasets** (written by :mod:`galmerge.ingest` from a folder of survey cutouts and a
``filename,label`` table) use the same file names with a shorter catalogue and one image folder::

    <dataset>/train/images/objID_<ID>.fits
    <dataset>/catalog_merger_challenge_TNG_train.csv     (or .fits)

Their catalogue needs only ``ID`` and ``label`` (1 merger, 0 non-merger); ``stage``
('pre'|'ongoing'|'post'|'non', empty when unknown), ``merger_time`` (Gyr, negative before
coalescence), ``redshift`` and ``group`` (objects that must share a split: the role of
``sequence_ID``) are used when present, and every other column is kept. What a labelled
catalogue does not give stays unknown: ``snapnum`` -1, ``redshift`` and ``merger_time`` NaN,
``stage`` :data:`STAGE_UNKNOWN` for a merger without a stage. :func:`available_information`
says which of stages, merger times, redshifts and mock truth a catalogue (or a products table)
actually holds, so that the analyses that need them can say "not available for this dataset".

Conventions and policies (documented here once, applied by :func:`load_catalog`):

* **Times.** ``time_before_merger`` / ``time_after_merger`` are in Gyr and >= 0. NaN *or any
  negative value* (sentinels such as -1 or -99) means "not applicable". For a merger exactly one
  of the two is given; ``merger_time = -time_before_merger`` or ``+time_after_merger``. When both
  are given, the stage flag decides (pre -> before, post -> after); an ongoing merger with both
  given, or a merger with neither, is an error.
* **Classes.** ``label = is_major_merger`` (1/0). Minor mergers are non-mergers (paper, Sect. 2.1):
  a row with ``is_major_merger = 0`` gets ``stage = 'non'`` and ``merger_time = NaN`` whatever its
  stage flags or times say; such rows are counted, warned about and listed in
  ``catalog.attrs["nonmergers_with_merger_info"]``.
* **Stages.** A merger needs exactly one of the three stage flags; its time must lie in the
  stage's window (:data:`STAGE_WINDOWS_GYR`, within :data:`STAGE_TOLERANCE_GYR`); otherwise error.
* **Sequences.** ``sequence_ID`` NaN or negative becomes -1 ("no sequence"); each such object is a
  group of its own for the split.
* **Splits.** 75:15:10 of the objects, whole sequences at a time, each class cut separately so
  every split keeps the class balance; a dataset's own ``test/`` stays the test set and
  validation is 15/90 of ``train/`` (:func:`assign_splits`).
* **Missing files.** Catalogue rows without an image and images without a catalogue row raise
  :class:`DatasetError` with counts and examples; ``on_missing='drop'`` drops them instead, warns
  with the counts and records them in ``catalog.attrs["dropped"]``.
* **Non-finite pixels.** :func:`load_image` raises on NaN/inf by default (``nonfinite='raise'``);
  ``'zero'`` replaces them with 0 (sky level of the background-subtracted cutouts) and warns with
  the count; ``'keep'`` returns them untouched. :func:`validate_images` counts them per image.
* **Name clashes.** A catalogue column named like a normalised output column (``split``,
  ``redshift``, ``label``, ``stage``, ``merger_time``, ``image_path``, ``source_folder``) is kept
  as ``catalog_<name>`` with a warning.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table
from tqdm import tqdm  # text bars: they stream through papermill and need no ipywidgets

from galmerge.data.cosmology import SNAPNUM_FOLDERS, SNAPSHOT_REDSHIFTS, folder_for_snapnum, snapnum_to_redshift
from galmerge.vocab import CUTOUT_SIZE, SPLITS, STAGE_UNKNOWN, STAGE_WINDOWS_GYR, STAGES  # noqa: F401 (re-exported)

#: Columns every challenge-layout catalogue must have.
REQUIRED_COLUMNS = ("ID", "snapnum", "sequence_ID", "is_major_merger", "is_pre_merger",
                    "is_ongoing_merger", "is_post_merger", "time_before_merger", "time_after_merger")
#: The normalised columns :func:`load_catalog` puts first, in this order.
NORMALISED_COLUMNS = ("ID", "split", "snapnum", "redshift", "sequence_ID", "label", "stage",
                      "merger_time", "image_path", "source_folder")
#: Merger stages (paper, Sect. 2.1) and the catalogue flag of each.
STAGE_FLAGS = {"pre": "is_pre_merger", "ongoing": "is_ongoing_merger", "post": "is_post_merger"}
#: Columns a labelled catalogue (:mod:`galmerge.ingest`) must have, and those it may have.
LABELLED_REQUIRED_COLUMNS = ("ID", "label")
LABELLED_OPTIONAL_COLUMNS = ("stage", "merger_time", "redshift", "group")
#: Image folder of a labelled dataset (no redshift folders: ``<folder>/images/objID_<ID>.fits``).
LABELLED_IMAGE_FOLDER = "images"
#: Smallest image side accepted: the network input (:data:`galmerge.vocab.CUTOUT_SIZE`).
MIN_IMAGE_SIDE = CUTOUT_SIZE
#: Slack allowed at the window edges (Gyr), for times rounded in the catalogue.
STAGE_TOLERANCE_GYR = 0.01
#: Train : validation : test fractions of the paper (Sect. 2.2).
DEFAULT_FRACTIONS = (0.75, 0.15, 0.10)
#: Folders of the challenge layout that hold images, with their catalogue.
SOURCE_FOLDERS = ("train", "test")
CATALOG_STEM = "catalog_merger_challenge_TNG_{folder}"
PSF_FILE = Path("psf") / "psf_i.fits"
NO_SEQUENCE = -1
#: How many examples an error message lists.
N_EXAMPLES = 5

_IMAGE_NAME = re.compile(r"^objID_(-?\d+)\.fits$")
_FOLDER_NAME = re.compile(r"^snapnum_\d+_\d+$")


class DatasetError(ValueError):
    """The dataset on disk is missing, unreadable or inconsistent; the message names the file."""


class DatasetWarning(UserWarning):
    """Something in the dataset was resolved by a documented policy (dropped, replaced, renamed)."""


def _examples(values, n: int = N_EXAMPLES) -> str:
    values = list(values)
    shown = ", ".join(str(v) for v in values[:n])
    return shown + (f", ... ({len(values) - n} more)" if len(values) > n else "")


# --------------------------------------------------------------------------------------------
# Images


def load_image(path: str | Path, nonfinite: str = "raise") -> np.ndarray:
    """Read one cutout as a 2-D float32 array (flux units of the file, usually nanomaggies).

    The image is the data of the first HDU that has any (HDU 0 or HDU 1 in public copies of the
    challenge data); shape (N, M) or (1, N, M).

    Parameters
    ----------
    path : str or Path
        The FITS file.
    nonfinite : {'raise', 'zero', 'keep'}
        What to do with NaN/inf pixels: raise :class:`DatasetError` (default), replace them by 0
        with a :class:`DatasetWarning` that gives the count, or return them untouched.

    Raises
    ------
    DatasetError
        The file is missing, not readable as FITS (corrupt or truncated), has no image data, has
        the wrong number of dimensions, or (``nonfinite='raise'``) holds NaN/inf pixels.
    """
    if nonfinite not in ("raise", "zero", "keep"):
        raise ValueError(f"nonfinite must be 'raise', 'zero' or 'keep', got {nonfinite!r}")
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: image file does not exist")
    try:
        with warnings.catch_warnings():
            # astropy only warns on a truncated file; a truncated image is a corrupt image.
            warnings.filterwarnings("error", message=".*truncated.*")
            with fits.open(path, memmap=False) as hdus:
                data = next((hdu.data for hdu in hdus if hdu.data is not None and hdu.data.size), None)
    except Exception as err:  # astropy raises OSError, ValueError, TypeError... on bad files
        raise DatasetError(f"{path}: unreadable or corrupt FITS file ({type(err).__name__}: {err})") from err
    if data is None:
        raise DatasetError(f"{path}: no HDU holds image data")
    if data.dtype.fields is not None:
        raise DatasetError(f"{path}: first HDU with data is a table, not an image")
    image = np.asarray(data, dtype=np.float32)
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 2:
        raise DatasetError(f"{path}: image has shape {data.shape}; expected (N, M) or (1, N, M)")
    bad = ~np.isfinite(image)
    n_bad = int(bad.sum())
    if n_bad and nonfinite == "raise":
        raise DatasetError(f"{path}: {n_bad} of {image.size} pixels are NaN or inf "
                           "(load with nonfinite='zero' or 'keep' to accept them)")
    if n_bad and nonfinite == "zero":
        warnings.warn(f"{path}: {n_bad} NaN/inf pixels set to 0", DatasetWarning, stacklevel=2)
        image = np.where(bad, np.float32(0), image)
    return image


def load_psf(dataset_dir: str | Path) -> np.ndarray | None:
    """The dataset's i-band PSF (``<dataset>/psf/psf_i.fits``) normalised to sum 1, or None if absent.

    Raises
    ------
    DatasetError
        The PSF file exists but is unreadable, has NaN/inf pixels or a non-positive sum.
    """
    path = Path(dataset_dir) / PSF_FILE
    if not path.exists():
        return None
    psf = load_image(path, nonfinite="raise")
    total = float(psf.sum(dtype=np.float64))
    if not total > 0:
        raise DatasetError(f"{path}: PSF sums to {total}; cannot normalise it")
    return (psf / total).astype(np.float32)


def expected_image_size(snapnum: int) -> int:
    """Side in pixels that the challenge's folder for ``snapnum`` promises (160 kpc across);
    -1 for a labelled dataset's image (``snapnum`` < 0), whose size is free (at least 128 px)."""
    if int(snapnum) < 0:
        return -1
    return SNAPNUM_FOLDERS[folder_for_snapnum(snapnum)][2]


def validate_images(catalog: pd.DataFrame, progress: bool = True) -> pd.DataFrame:
    """Open every image of ``catalog`` and check its shape and pixels.

    Parameters
    ----------
    catalog : pandas.DataFrame
        Output of :func:`load_catalog` (needs ``ID``, ``snapnum``, ``image_path``).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per image: ``ID, image_path, ny, nx, expected_size, shape_ok, n_nonfinite, error``
        (``error`` is '' for a readable image, else the reader's message). An image of a labelled
        dataset (``expected_size`` -1) is ``shape_ok`` when both sides are at least
        :data:`MIN_IMAGE_SIDE` (the network input is cropped from it). A
        :class:`DatasetWarning` gives the counts of problems, if any.
    """
    rows = []
    for ident, snapnum, path in tqdm(catalog[["ID", "snapnum", "image_path"]].itertuples(index=False),
                                     total=len(catalog), desc="checking images", disable=not progress):
        expected = expected_image_size(int(snapnum))
        row = {"ID": ident, "image_path": path, "ny": -1, "nx": -1, "expected_size": expected,
               "shape_ok": False, "n_nonfinite": 0, "error": ""}
        try:
            image = load_image(path, nonfinite="keep")
        except DatasetError as err:
            row["error"] = str(err)
        else:
            shape_ok = (image.shape == (expected, expected) if expected > 0
                        else min(image.shape) >= MIN_IMAGE_SIDE)
            row.update(ny=image.shape[0], nx=image.shape[1], shape_ok=shape_ok,
                       n_nonfinite=int((~np.isfinite(image)).sum()))
        rows.append(row)
    report = pd.DataFrame(rows, columns=["ID", "image_path", "ny", "nx", "expected_size", "shape_ok",
                                         "n_nonfinite", "error"])
    n_err = int((report["error"] != "").sum())
    n_shape = int((~report["shape_ok"] & (report["error"] == "")).sum())
    n_nonfinite = int((report["n_nonfinite"] > 0).sum())
    if n_err or n_shape or n_nonfinite:
        warnings.warn(f"validate_images: {n_err} unreadable images, {n_shape} with a size other than "
                      f"their folder's, {n_nonfinite} with NaN/inf pixels (of {len(report)})",
                      DatasetWarning, stacklevel=2)
    return report


# --------------------------------------------------------------------------------------------
# Catalogue


def find_catalog_file(dataset_dir: str | Path, folder: str) -> Path | None:
    """The catalogue of ``folder`` ('train' or 'test'): FITS preferred over CSV; None if neither."""
    dataset_dir = Path(dataset_dir)
    candidates = [dataset_dir / (CATALOG_STEM.format(folder=folder) + ext) for ext in (".fits", ".csv")]
    present = [p for p in candidates if p.is_file()]
    if len(present) == 2:
        warnings.warn(f"{dataset_dir}: both {present[0].name} and {present[1].name} exist; reading the FITS one",
                      DatasetWarning, stacklevel=2)
    return present[0] if present else None


def is_labelled_catalog(columns) -> bool:
    """True for a labelled catalogue (``ID, label``, see the module docstring), False for the challenge's."""
    columns = set(columns)
    return not set(REQUIRED_COLUMNS) <= columns and set(LABELLED_REQUIRED_COLUMNS) <= columns


def read_catalog_file(path: str | Path) -> pd.DataFrame:
    """Read a catalogue (FITS table or CSV) as it is, checking that the required columns exist
    (the challenge's :data:`REQUIRED_COLUMNS`, or a labelled dataset's ``ID`` and ``label``)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path)
        else:
            table = Table.read(path)
            table.convert_bytestring_to_unicode()  # FITS text columns as str, not bytes
            table = table.to_pandas()
    except Exception as err:
        raise DatasetError(f"{path}: cannot read catalogue ({type(err).__name__}: {err})") from err
    if is_labelled_catalog(table.columns):
        return table
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(f"{path}: catalogue lacks required column(s) {missing} (a labelled dataset "
                           f"needs {list(LABELLED_REQUIRED_COLUMNS)} instead); it has {list(table.columns)}")
    return table


def _as_int(values: pd.Series, name: str, file: Path, allow_nan: bool = False) -> np.ndarray:
    """Integer column (int64); NaN becomes NO_SEQUENCE when ``allow_nan``; else an error."""
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(numeric) & ~(allow_nan & values.isna().to_numpy())
    fractional = np.isfinite(numeric) & (numeric != np.round(numeric))
    if bad.any() or fractional.any():
        rows = np.flatnonzero(bad | fractional)
        raise DatasetError(f"{file}: column {name} must hold integers; {len(rows)} rows do not "
                           f"(rows {_examples(rows)}: {_examples(values.iloc[rows])})")
    return np.where(np.isfinite(numeric), numeric, NO_SEQUENCE).astype(np.int64)


def _as_flag(values: pd.Series, name: str, file: Path) -> np.ndarray:
    """0/1 (or boolean) column as bool; anything else is an error."""
    if pd.api.types.is_bool_dtype(values):
        values = values.astype("Int64")
    numeric = pd.to_numeric(values, errors="coerce")
    ok = numeric.isin([0, 1]).to_numpy()
    if not ok.all():
        rows = np.flatnonzero(~ok)
        raise DatasetError(f"{file}: column {name} must be 0/1; {len(rows)} rows are not "
                           f"(rows {_examples(rows)}: {_examples(values.iloc[rows])})")
    return numeric.to_numpy(dtype=int) == 1


def _as_time(values: pd.Series, name: str, file: Path) -> np.ndarray:
    """Time column in Gyr; NaN and negative sentinels (-1, -99, ...) become NaN ("not applicable")."""
    times = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    not_numbers = np.isnan(times) & values.notna().to_numpy()
    if not_numbers.any():
        rows = np.flatnonzero(not_numbers)
        raise DatasetError(f"{file}: column {name} must hold numbers (Gyr); {len(rows)} rows do not "
                           f"(rows {_examples(rows)}: {_examples(values.iloc[rows])})")
    return np.where(np.isfinite(times) & (times >= 0), times, np.nan)


def normalise_catalog(raw: pd.DataFrame, file: str | Path, source_folder: str) -> pd.DataFrame:
    """Turn one raw catalogue into the normalised columns (without ``split`` and ``image_path``).

    Applies the policies of the module docstring; raises :class:`DatasetError` naming ``file``
    for inconsistent rows. Informational counts go to ``attrs["nonmergers_with_merger_info"]``.
    """
    file = Path(file)
    ids = _as_int(raw["ID"], "ID", file)
    snapnum = _as_int(raw["snapnum"], "snapnum", file)
    unknown = sorted(set(snapnum.tolist()) - set(SNAPSHOT_REDSHIFTS))
    if unknown:
        rows = np.flatnonzero(~np.isin(snapnum, list(SNAPSHOT_REDSHIFTS)))
        raise DatasetError(f"{file}: {len(rows)} rows have a snapnum outside the challenge's 50-91: "
                           f"{_examples(unknown)} (IDs {_examples(ids[rows])})")
    sequence = _as_int(raw["sequence_ID"], "sequence_ID", file, allow_nan=True)
    sequence = np.where(sequence < 0, NO_SEQUENCE, sequence)
    label = _as_flag(raw["is_major_merger"], "is_major_merger", file)
    flags = np.column_stack([_as_flag(raw[c], c, file) for c in STAGE_FLAGS.values()])
    before = _as_time(raw["time_before_merger"], "time_before_merger", file)
    after = _as_time(raw["time_after_merger"], "time_after_merger", file)

    n_flags = flags.sum(axis=1)
    _check(label & (n_flags == 0), ids, file, "mergers (is_major_merger=1) without any stage flag")
    _check(label & (n_flags > 1), ids, file, "mergers with more than one stage flag")
    stage = np.array(["non"] * len(raw), dtype=object)
    for i, name in enumerate(STAGE_FLAGS):
        stage[label & flags[:, i]] = name

    has_before, has_after = np.isfinite(before), np.isfinite(after)
    _check(label & ~has_before & ~has_after, ids, file,
           "mergers with neither time_before_merger nor time_after_merger (both NaN or negative)")
    _check(label & has_before & has_after & (stage == "ongoing"), ids, file,
           "ongoing mergers with both time_before_merger and time_after_merger given (ambiguous sign)")
    use_before = has_before & ~(has_after & (stage == "post"))
    merger_time = np.where(use_before, -before, after)
    merger_time = np.where(label, merger_time, np.nan)
    for name, (lo, hi) in STAGE_WINDOWS_GYR.items():
        outside = (stage == name) & ~((merger_time >= lo - STAGE_TOLERANCE_GYR)
                                      & (merger_time <= hi + STAGE_TOLERANCE_GYR))
        _check(outside, ids, file, f"{name}-mergers whose merger time is outside the stage's "
               f"window [{lo}, {hi}] Gyr", values=merger_time)

    out = pd.DataFrame({
        "ID": ids,
        "snapnum": snapnum,
        "redshift": np.atleast_1d(snapnum_to_redshift(snapnum)).astype(float),
        "sequence_ID": sequence,
        "label": label.astype(np.int64),
        "stage": stage,
        "merger_time": merger_time.astype(float),
        "source_folder": source_folder,
    })
    extras = raw.drop(columns=["ID", "snapnum", "sequence_ID"]).reset_index(drop=True)
    out = _append_extra_columns(out, extras, file)
    info = ~label & ((n_flags > 0) | has_before | has_after)
    out.attrs["nonmergers_with_merger_info"] = ids[info].tolist()
    if info.any():
        warnings.warn(f"{file}: {int(info.sum())} non-mergers (is_major_merger=0, e.g. minor mergers) carry "
                      f"stage flags or merger times; they count as non-mergers (IDs {_examples(ids[info])})",
                      DatasetWarning, stacklevel=3)
    return out


def normalise_labelled_catalog(raw: pd.DataFrame, file: str | Path, source_folder: str) -> pd.DataFrame:
    """Normalise a labelled catalogue (``ID, label`` and optional columns; see the module docstring).

    ``label`` must be 0/1. ``stage``, when given, must be one of ``pre, ongoing, post, non`` or
    empty (unknown); a non-merger's stage is 'non' whatever it says, a stage of 'non' on a merger is
    an error. Without a stage, a merger whose ``merger_time`` lies in one stage's window gets that
    stage, otherwise :data:`STAGE_UNKNOWN`. ``merger_time`` is NaN for non-mergers. ``group``
    (any values; empty = no group) becomes ``sequence_ID`` (0..K-1 in order of first appearance,
    -1 for none) and is kept as it is in ``group``.
    """
    file = Path(file)
    ids = _as_int(raw["ID"], "ID", file)
    label = _as_flag(raw["label"], "label", file)
    n = len(raw)
    if "merger_time" in raw:
        merger_time = pd.to_numeric(raw["merger_time"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        not_numbers = np.isnan(merger_time) & raw["merger_time"].notna().to_numpy()
        _check(not_numbers, ids, file, "rows whose merger_time is not a number (Gyr)")
        merger_time = np.where(label, merger_time, np.nan)
    else:
        merger_time = np.full(n, np.nan)
    stage = np.where(label, STAGE_UNKNOWN, "non").astype(object)
    if "stage" in raw:
        given = raw["stage"].astype("string").str.strip().str.lower().fillna("").to_numpy(dtype=object)
        bad = ~np.isin(given, list(STAGES) + [""])
        _check(bad, ids, file, f"rows whose stage is not one of {list(STAGES)} or empty", values=None)
        _check(label & (given == "non"), ids, file, "mergers (label 1) with stage 'non'")
        known = label & (given != "")
        stage[known] = given[known]
    for name, (lo, hi) in STAGE_WINDOWS_GYR.items():
        inside = (merger_time >= lo - STAGE_TOLERANCE_GYR) & (merger_time <= hi + STAGE_TOLERANCE_GYR)
        stage[label & (stage == STAGE_UNKNOWN) & inside] = name
        if "stage" in raw:
            _check((stage == name) & np.isfinite(merger_time) & ~inside, ids, file,
                   f"{name}-mergers whose merger time is outside the stage's window [{lo}, {hi}] Gyr",
                   values=merger_time)
    if "redshift" in raw:
        redshift = pd.to_numeric(raw["redshift"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        _check(np.isnan(redshift) & raw["redshift"].notna().to_numpy(), ids, file,
               "rows whose redshift is not a number")
    else:
        redshift = np.full(n, np.nan)
    sequence = np.full(n, NO_SEQUENCE, dtype=np.int64)
    if "group" in raw:
        codes, _ = pd.factorize(raw["group"], sort=False)  # NaN -> -1
        sequence = codes.astype(np.int64)
    out = pd.DataFrame({
        "ID": ids,
        "snapnum": np.full(n, -1, dtype=np.int64),
        "redshift": redshift,
        "sequence_ID": sequence,
        "label": label.astype(np.int64),
        "stage": stage,
        "merger_time": merger_time.astype(float),
        "source_folder": source_folder,
    })
    consumed = ["ID", "label", "stage", "merger_time", "redshift"]
    extras = raw.drop(columns=[c for c in consumed if c in raw]).reset_index(drop=True)
    out = _append_extra_columns(out, extras, file)
    out.attrs["nonmergers_with_merger_info"] = []
    return out


def available_information(frame: pd.DataFrame) -> dict[str, bool]:
    """Which optional information a catalogue or products images table holds.

    Returns
    -------
    dict
        ``stage``: some merger has a stage (pre/ongoing/post); ``merger_time``: some merger time
        is finite; ``redshift``: some redshift is finite; ``snapnum``: some object lies in a
        challenge redshift folder; ``truth``: mock truth columns (``true_*``) are present. A
        challenge or mock dataset has all but (for the challenge) truth; a labelled dataset only
        what its table gave.
    """
    def finite(column: str) -> bool:
        return column in frame and bool(np.isfinite(pd.to_numeric(frame[column], errors="coerce")
                                                    .to_numpy(dtype=float, na_value=np.nan)).any())

    return {"stage": "stage" in frame and bool(frame["stage"].isin(STAGE_FLAGS).any()),
            "merger_time": finite("merger_time"),
            "redshift": finite("redshift"),
            "snapnum": "snapnum" in frame and bool((pd.to_numeric(frame["snapnum"], errors="coerce") >= 0).any()),
            "truth": any(str(c).startswith("true_") for c in frame.columns)}


def not_available(what: str, dataset: str | Path | None = None) -> str:
    """The one-line note an analysis prints when this dataset lacks ``what`` (e.g. 'merger times')."""
    where = f" ({Path(dataset).name})" if dataset else ""
    return f"not available for this dataset{where}: it has no {what}"


def _check(bad: np.ndarray, ids: np.ndarray, file: Path, problem: str, values=None) -> None:
    if bad.any():
        detail = "" if values is None else f"; values {_examples(np.round(values[bad], 4))}"
        raise DatasetError(f"{file}: {int(bad.sum())} {problem} (IDs {_examples(ids[bad])}{detail})")


def index_images(dataset_dir: str | Path, folder: str) -> pd.DataFrame:
    """Every ``<folder>/snapnum_*/objID_<ID>.fits`` of a dataset: columns ID, image_path, image_folder.

    Raises
    ------
    DatasetError
        For a snapnum folder the challenge does not define or an ID present in two folders.
    """
    root = (Path(dataset_dir) / folder).resolve()
    rows, unexpected = [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if sub.name == LABELLED_IMAGE_FOLDER:
            pass  # a labelled dataset's one image folder (galmerge.ingest)
        elif not _FOLDER_NAME.match(sub.name):
            continue
        elif sub.name not in SNAPNUM_FOLDERS:
            raise DatasetError(f"{sub}: unknown redshift folder; the challenge has {list(SNAPNUM_FOLDERS)}")
        with os.scandir(sub) as entries:
            for entry in entries:
                match = _IMAGE_NAME.match(entry.name)
                if match:
                    rows.append((int(match.group(1)), str(sub / entry.name), sub.name))
                elif entry.name.lower().endswith((".fits", ".fits.gz", ".fit")):
                    unexpected.append(str(sub / entry.name))
    if unexpected:
        warnings.warn(f"{root}: ignored {len(unexpected)} FITS files not named objID_<ID>.fits "
                      f"({_examples(sorted(unexpected))})", DatasetWarning, stacklevel=2)
    index = pd.DataFrame(rows, columns=["ID", "image_path", "image_folder"]).astype({"ID": np.int64})
    twice = index["ID"].duplicated(keep=False)
    if twice.any():
        raise DatasetError(f"{root}: {int(index.loc[twice, 'ID'].nunique())} IDs have images in more than one "
                           f"folder: {_examples(sorted(index.loc[twice, 'image_path']))}")
    return index.sort_values("ID", kind="stable").reset_index(drop=True)


def _attach_images(catalog: pd.DataFrame, images: pd.DataFrame, catalog_file: Path, folder_dir: Path,
                   on_missing: str, dropped: dict) -> pd.DataFrame:
    """Join image paths onto the catalogue rows of one source folder; orphans raise or are dropped."""
    no_image = catalog.loc[~catalog["ID"].isin(images["ID"]), "ID"].tolist()
    no_row = sorted(images.loc[~images["ID"].isin(catalog["ID"]), "image_path"])
    if (no_image or no_row) and on_missing == "raise":
        parts = []
        if no_image:
            parts.append(f"{len(no_image)} catalogue rows of {catalog_file} have no image in {folder_dir} "
                         f"(IDs {_examples(no_image)})")
        if no_row:
            parts.append(f"{len(no_row)} images in {folder_dir} have no row in {catalog_file} "
                         f"({_examples(no_row)})")
        raise DatasetError("; ".join(parts) + " (load_catalog(..., on_missing='drop') drops them with a warning)")
    if no_image or no_row:
        warnings.warn(f"{folder_dir}: dropped {len(no_image)} catalogue rows without an image and ignored "
                      f"{len(no_row)} images without a catalogue row (see catalog.attrs['dropped'])",
                      DatasetWarning, stacklevel=3)
        dropped["rows_without_image"] += no_image
        dropped["images_without_row"] += no_row
    merged = catalog.merge(images, on="ID", how="inner", validate="one_to_one")  # keeps the dtypes
    expected = merged["snapnum"].astype(int).map(
        lambda s: LABELLED_IMAGE_FOLDER if s < 0 else folder_for_snapnum(s))
    wrong = expected != merged["image_folder"]
    if wrong.any():
        raise DatasetError(f"{folder_dir}: {int(wrong.sum())} images lie in a folder that does not match their "
                           f"catalogue snapnum ({_examples(merged.loc[wrong, 'image_path'])})")
    return merged.drop(columns="image_folder")


def load_catalog(path: str | Path, split_seed: int = 42, on_missing: str = "raise",
                 fractions: Sequence[float] = DEFAULT_FRACTIONS) -> pd.DataFrame:
    """Read a dataset folder in the challenge layout into one normalised, split catalogue.

    Parameters
    ----------
    path : str or Path
        Dataset folder (see the module docstring for the layout and the policies).
    split_seed : int
        Seed of the grouped train/validation/test split (:func:`assign_splits`).
    on_missing : {'raise', 'drop'}
        Catalogue rows without images and images without rows: raise (default), or drop them
        with a warning and record them in ``attrs["dropped"]``.
    fractions : (float, float, float)
        Target train, validation and test fractions of objects.

    Returns
    -------
    pandas.DataFrame
        Sorted by ID, index 0..N-1. Columns :data:`NORMALISED_COLUMNS` first: ``ID`` (int64),
        ``split`` ('train'|'validation'|'test'), ``snapnum`` (int), ``redshift`` (TNG snapshot
        redshift), ``sequence_ID`` (int64, -1 for none), ``label`` (1 major merger, 0 otherwise),
        ``stage`` ('pre'|'ongoing'|'post'|'non'; 'unknown' for a labelled dataset's merger of
        unknown stage; a labelled dataset's ``snapnum`` is -1 and its redshift NaN unless given),
        ``merger_time`` (Gyr, negative before coalescence, NaN for non-mergers), ``image_path``
        (absolute), ``source_folder`` ('train'|'test'); then every other catalogue column. ``attrs`` holds ``dataset``,
        ``split_seed``, ``dropped`` (dict of lists), ``nonmergers_with_merger_info`` (IDs) and
        ``moved_to_test`` (IDs, see :func:`assign_splits`).

    Raises
    ------
    DatasetError
        Missing folder or catalogue, unreadable catalogue, missing columns, duplicate IDs,
        unknown snapnum, inconsistent stage flags or times, orphan rows or images.
    """
    if on_missing not in ("raise", "drop"):
        raise ValueError(f"on_missing must be 'raise' or 'drop', got {on_missing!r}")
    dataset = Path(path).resolve()
    if not dataset.is_dir():
        raise DatasetError(f"{dataset}: dataset folder does not exist")
    dropped: dict[str, list] = {"rows_without_image": [], "images_without_row": []}
    parts, info = [], []
    for folder in SOURCE_FOLDERS:
        catalog_file = find_catalog_file(dataset, folder)
        folder_dir = dataset / folder
        if catalog_file is None:
            if folder == "train":
                raise DatasetError(f"{dataset}: no catalogue {CATALOG_STEM.format(folder=folder)}.fits or .csv")
            if folder_dir.is_dir() and any(folder_dir.iterdir()):
                raise DatasetError(f"{folder_dir} exists but {dataset} has no catalogue "
                                   f"{CATALOG_STEM.format(folder=folder)}.fits or .csv for it")
            continue
        raw = read_catalog_file(catalog_file)
        duplicated = raw["ID"].duplicated(keep=False)
        if duplicated.any():
            raise DatasetError(f"{catalog_file}: {int(raw.loc[duplicated, 'ID'].nunique())} IDs occur more than "
                               f"once ({_examples(sorted(raw.loc[duplicated, 'ID'].unique()))})")
        normalise = normalise_labelled_catalog if is_labelled_catalog(raw.columns) else normalise_catalog
        catalog = normalise(raw, catalog_file, folder)
        info += catalog.attrs.get("nonmergers_with_merger_info", [])
        parts.append(_attach_images(catalog, index_images(dataset, folder), catalog_file, folder_dir,
                                    on_missing, dropped))
    catalog = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    across = catalog["ID"].duplicated(keep=False)
    if across.any():
        raise DatasetError(f"{dataset}: {int(catalog.loc[across, 'ID'].nunique())} IDs occur in both the train "
                           f"and the test catalogue ({_examples(sorted(catalog.loc[across, 'ID'].unique()))})")
    catalog = catalog.sort_values("ID", kind="stable").reset_index(drop=True)
    catalog["split"] = assign_splits(catalog, split_seed, fractions)
    extras = [c for c in catalog.columns if c not in NORMALISED_COLUMNS]
    moved = catalog.attrs.get("moved_to_test", [])
    catalog = catalog[list(NORMALISED_COLUMNS) + extras]
    catalog.attrs.update(dataset=str(dataset), split_seed=split_seed, dropped=dropped,
                         nonmergers_with_merger_info=sorted(info), moved_to_test=moved)
    return catalog


# --------------------------------------------------------------------------------------------
# Splits


def split_groups(catalog: pd.DataFrame) -> pd.Series:
    """Group key of each row: its sequence_ID, or a key of its own when it has none (-1).

    A ``split_group`` column (the mock writes one: ``major:17`` for every object on library orbit
    17, ``seq:42`` for an isolated galaxy's sequence) overrides it where not empty, so that all
    objects sharing an orbit land in one split (issue 20: validation and test hold out orbits).
    """
    sequence = catalog["sequence_ID"].astype(np.int64)
    own = "id:" + catalog["ID"].astype(np.int64).astype(str)
    keys = np.where(sequence >= 0, "seq:" + sequence.astype(str), own)
    if "split_group" in catalog:
        given = catalog["split_group"].fillna("").astype(str).str.strip().to_numpy()
        keys = np.where(given != "", "grp:" + given, keys)
    return pd.Series(keys, index=catalog.index)


def _cut_groups(groups: pd.Series, fractions: Sequence[float], names: Sequence[str],
                rng: np.random.Generator, labels: pd.Series | None = None) -> pd.Series:
    """Shuffle the groups and cut the shuffled list at the target fractions of *objects*.

    A group goes to the split in which the middle of its run of objects falls, so each split's
    object count is within half a group of its target. With ``labels``, groups are cut separately
    per class (a group's class is its majority label), so every split keeps the class balance.
    """
    sizes = groups.value_counts().sort_index()  # sorted keys: independent of row order
    if labels is None:
        strata = pd.Series(0, index=sizes.index)
    else:
        strata = labels.groupby(groups).mean().ge(0.5).astype(int).reindex(sizes.index)
    edges = np.cumsum(fractions) / np.sum(fractions)
    assignment = {}
    for stratum in sorted(strata.unique()):
        stratum_sizes = sizes[strata == stratum]
        order = stratum_sizes.index[rng.permutation(len(stratum_sizes))]
        counts = stratum_sizes.loc[order].to_numpy()
        middles = (np.cumsum(counts) - counts / 2) / counts.sum()
        choice = np.minimum(np.searchsorted(edges, middles, side="right"), len(names) - 1)
        assignment.update(zip(order, np.asarray(names, dtype=object)[choice]))
    return groups.map(assignment)


def assign_splits(catalog: pd.DataFrame, seed: int = 42,
                  fractions: Sequence[float] = DEFAULT_FRACTIONS, stratify: bool = True) -> pd.Series:
    """Train/validation/test split of ``catalog``, grouped by ``sequence_ID``, deterministic from ``seed``.

    No merger sequence crosses splits; an object without a sequence (-1) is a group of its own.
    Without a ``test`` source folder the groups are shuffled and cut at ``fractions`` of the
    objects (75:15:10). With ``stratify`` (default) and a ``label`` column, mergers' and
    non-mergers' groups are cut separately, so each split has the dataset's class balance (long
    merger sequences would otherwise make small validation sets lopsided). When
    ``catalog['source_folder']`` has 'test' rows (the dataset's own ``test/``), those stay the
    test set and validation is carved out of the train folder with fraction
    ``f_val / (f_train + f_val)`` (15/90), grouped. A sequence present in both folders would cross
    splits: its train-folder rows also go to 'test', with a :class:`DatasetWarning`; their IDs
    are listed in ``catalog.attrs['moved_to_test']``.

    Parameters
    ----------
    catalog : pandas.DataFrame
        Needs ``ID`` and ``sequence_ID``; ``source_folder`` optional.
    seed : int
        Seed of the shuffle of groups.
    fractions : (float, float, float)
        Train, validation, test fractions (normalised to sum 1).
    stratify : bool
        Cut each class's groups separately (needs ``label``; ignored without it).

    Returns
    -------
    pandas.Series
        'train', 'validation' or 'test' for each row, aligned with ``catalog.index``.
    """
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or (fractions < 0).any() or fractions.sum() <= 0:
        raise ValueError(f"fractions must be three non-negative numbers, got {fractions.tolist()}")
    rng = np.random.default_rng(seed)
    groups = split_groups(catalog)
    labels = catalog["label"] if stratify and "label" in catalog else None
    in_test_folder = (catalog["source_folder"] == "test") if "source_folder" in catalog else \
        pd.Series(False, index=catalog.index)
    if not in_test_folder.any():
        return _cut_groups(groups, fractions, SPLITS, rng, labels).rename("split")
    split = pd.Series("test", index=catalog.index, dtype=object, name="split")
    crossing = groups.isin(set(groups[in_test_folder])) & ~in_test_folder
    if crossing.any():
        moved = catalog.loc[crossing, "ID"].astype(np.int64).tolist()
        catalog.attrs["moved_to_test"] = moved
        warnings.warn(f"{int(crossing.sum())} train-folder objects share a sequence with test-folder objects; "
                      f"they join the test split so no sequence crosses splits (IDs {_examples(moved)})",
                      DatasetWarning, stacklevel=2)
    in_train = ~in_test_folder & ~crossing
    split[in_train] = _cut_groups(groups[in_train], fractions[:2], SPLITS[:2], rng,
                                  None if labels is None else labels[in_train])
    return split


def _append_extra_columns(out: pd.DataFrame, extras: pd.DataFrame, file) -> pd.DataFrame:
    """Keep the catalogue's other columns beside the normalised ones; a clashing name gets ``catalog_``."""
    clashes = [c for c in extras.columns if c in NORMALISED_COLUMNS]
    if clashes:
        warnings.warn(f"{file}: catalogue column(s) {clashes} clash with normalised columns; "
                      f"kept as {['catalog_' + c for c in clashes]}", DatasetWarning, stacklevel=4)
        extras = extras.rename(columns={c: f"catalog_{c}" for c in clashes})
    return pd.concat([out, extras], axis=1)
