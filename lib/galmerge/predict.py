"""Score new survey cutouts with the networks of a finished run.

    python -m galmerge.predict --models runs/sdss-sdss_darg2010 --images new_jpegs/ more.fits --out scores.csv

Every file :mod:`galmerge.ingest` reads is read here, by the same rules: FITS (``.fits``, ``.fit``,
``.fts``, ``.fz``, ``.fits.gz``; HDU 0 or 1), PNG, JPEG and TIFF. A colour image becomes the one
channel the run's dataset was ingested with (``--channel``; the default is the run's own, recorded
by 00_data in ``summary.json`` as ``data.input.channel``, else the ingest's default ``r``: the red
channel, the i band of gri composites), and when the run's dataset was resampled by the ingest
(``--target-scale``) the new file is resampled to the same pixel scale from ``--pixel-scale``. When
the run's networks were trained on several bands (products with ``bands``, e.g. gri), all three
channels of the colour image are kept in band order as the ingest keeps them, and the per-band
model and residual are made from the one fit as the run made them
(:func:`galmerge.sersic.products.band_cubes`); a grey or FITS file cannot give them. An
integer PNG/JPEG/TIFF is a display image (non-linear stretch), recorded as ``linear_flux = False``;
networks trained on linear images (the mock) are warned about.

Each image is then fitted exactly as the run's fitting stage did it (cutout mode, fit region and fit
options from the run's ``products/stage.json``): a FITS file that needs no resampling is read by
the stage itself, any other file is read as above and handed to the stage as the float32 FITS image
the ingest would have written, so a JPEG scored here gets the very inputs it would have got in the
run's dataset. The raw / model / residual inputs are built and normalised as in training, and every
trained network of the run scores them. The output has one row per file: the file's format, channel
and linearity, the fit status, the primary source's Sérsic parameters, and per network the score,
the decision threshold chosen on the validation split (``tables/thresholds.csv``) and the
thresholded label.

A file that cannot be read or fitted is reported in the output (status ``bad_input`` or ``error``,
with the reason, which for a file the ingest would refuse is the ingest's own: empty, blank, wrong
dimensions, too small, ...) and on the terminal; the other files carry on.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm  # text bars: they stream through papermill and need no ipywidgets

from galmerge import (
    ingest,
    quiet,  # noqa: F401  (before TensorFlow)
)
from galmerge.data.catalog import MIN_IMAGE_SIDE
from galmerge.runs import Run
from galmerge.vocab import CUTOUT_SIZE, INPUT_CHANNELS, INPUT_KINDS

#: Statuses whose cutouts carry no usable image: no network scores them.
UNSCORABLE = ("bad_input", "error")
#: The columns of the fitting step's per-image row (:data:`galmerge.sersic.stage.FIT_COLUMNS`) copied
#: into the output.
OUTPUT_FIT_COLUMNS = ("status", "message", "image_ny", "image_nx", "n_sources", "n_used",
               "sersic_n", "sersic_rhalf", "sersic_ellip")
#: Columns that say how each file was read, before the fit columns.
OUTPUT_READ_COLUMNS = ("file_format", "channel", "linear_flux")


@dataclass(frozen=True)
class InputRules:
    """How new files are read: the rules the run's dataset was ingested with.

    Attributes
    ----------
    channel : {'r', 'g', 'b', 'luminance'}
        The channel kept from a colour image (:func:`galmerge.ingest.read_image`).
    target_scale : float or None
        Pixel scale (arcsec/px) the run's dataset was resampled to by the ingest; None: pixels kept.
    pixel_scale : float or None
        Pixel scale of the new files (arcsec/px); needed only with ``target_scale``.
    nonfinite : {'reject', 'zero'}
        NaN/inf pixels of a file that the ingest reads (a file read by the stage keeps them masked).
    bands : str or None
        The bands of the run's networks (e.g. 'gri'; :func:`galmerge.ingest.read_image`); None: one.
    source : str
        Where the rules come from, in words (printed and kept in the output's attributes).
    """

    channel: str = ingest.DEFAULT_CHANNEL
    target_scale: float | None = None
    pixel_scale: float | None = None
    nonfinite: str = "reject"
    bands: str | None = None
    source: str = "the ingest's defaults"


def run_input_rules(run: Run | str | Path) -> InputRules:
    """The reading rules a run's dataset was made with (``summary.json``: ``data.input``, written by 00_data).

    A run that recorded none (an older run, or a mock run) gets the ingest's defaults: the red
    channel, no resampling, which is what :mod:`galmerge.datasets.sdss_darg2010` uses.
    """
    run = run if isinstance(run, Run) else Run(run)
    recorded = (run.summary.get("data") or {}).get("input") or {}
    if not recorded:
        return InputRules(source=f"the ingest's defaults ({run.summary_path} records no data.input)")
    known = {k: recorded[k] for k in ("channel", "target_scale", "nonfinite", "bands") if recorded.get(k) is not None}
    return InputRules(**known, source=f"{run.summary_path} (data.input)")


def find_images(paths: Iterable[str | Path]) -> list[Path]:
    """Image files (every format :mod:`galmerge.ingest` reads) named directly or found (recursively,
    sorted) in the given folders; a file named directly is taken whatever its name (a file that is
    not an image becomes a ``bad_input`` row).

    Raises
    ------
    FileNotFoundError
        A path that does not exist, named in the message.
    """
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.is_file() and ingest.file_format(p) is not None)
        elif item.exists():
            found.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return found


def read_for_fit(path: str | Path, rules: InputRules, scratch: str | Path, index: int = 0) -> dict:
    """One new file made ready for the fitting stage, by the ingest's rules.

    Parameters
    ----------
    path : the file.
    rules : :class:`InputRules`
    scratch : a folder where a file that is not read by the stage itself is written as float32 FITS.
    index : number of the file in its batch (names the scratch file).

    Returns
    -------
    dict
        ``fit_path`` (the file the stage reads: ``path`` itself for a FITS file that needs no
        resampling, else the FITS image written under ``scratch``; None when the file cannot be
        used), ``message`` (why not), ``file_format``, ``channel`` ('grey' for a grey image, the
        channel kept for a colour one) and ``linear_flux``.
    """
    path = Path(path)
    kind = ingest.file_format(path)
    out = {"fit_path": None, "message": "", "file_format": kind or "unknown", "channel": "", "linear_flux": None,
           "bands_image": None}
    if kind == "fits" and rules.target_scale is None and rules.bands is None:
        return {**out, "fit_path": str(path), "channel": "grey", "linear_flux": True}
    try:
        loaded = ingest.read_image(path, channel=rules.channel, nonfinite=rules.nonfinite, bands=rules.bands)
    except ingest.ImageProblem as err:
        return {**out, "message": f"{path}: {err.kind}: {err}"}
    except OSError as err:
        return {**out, "message": f"{path}: unreadable ({type(err).__name__}: {err})"}
    out.update(channel=rules.channel if loaded.colour else "grey", linear_flux=bool(loaded.linear_flux))
    image, bands_image = loaded.image, loaded.bands_image
    if rules.target_scale is not None:
        if rules.pixel_scale is None:
            return {**out, "message": f"{path}: the run's images were resampled to {rules.target_scale} "
                                      "arcsec/px; give the new files' pixel scale (--pixel-scale)"}
        image, _ = ingest.resample_to_scale(image, rules.pixel_scale, rules.target_scale)
        if bands_image is not None:
            bands_image = np.stack([ingest.resample_to_scale(plane, rules.pixel_scale, rules.target_scale)[0]
                                    for plane in bands_image])
    if min(image.shape) < MIN_IMAGE_SIDE:
        return {**out, "message": f"{path}: too_small: {image.shape[0]} x {image.shape[1]} px; the network "
                                  f"input is {MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE} px"}
    target = Path(scratch) / f"image_{index:07d}.fits"
    ingest.write_image_file(target, image)
    return {**out, "fit_path": str(target), "bands_image": bands_image}


def prepare_inputs(files: Sequence[Path], psf=None, cutout_mode: str = "crop",
                   fit_options: dict | None = None, progress: bool = True, rules: InputRules | None = None,
                   fit_region: str = "all") -> tuple[pd.DataFrame, dict]:
    """Read every file by ``rules`` (:func:`read_for_fit`) and fit it as the fitting stage does.

    Parameters
    ----------
    files : the image files.
    psf, cutout_mode, fit_options, fit_region
        As the run's fitting stage used them (its ``stage.json``).
    progress : show a progress bar.
    rules : :class:`InputRules`, optional
        How files are read (default: the ingest's defaults).

    Returns
    -------
    table : pandas.DataFrame
        One row per file: ``file``, :data:`OUTPUT_READ_COLUMNS` and :data:`OUTPUT_FIT_COLUMNS`
        (status ``bad_input`` and the reason for a file that cannot be read).
    cubes : dict
        ``raw``, ``model``, ``residual``: (n_files, 128, 128) float32 (zeros for unusable files);
        with ``rules.bands`` also ``raw_bands``, ``model_bands``, ``residual_bands``: (n_files, 128,
        128, bands), made as the run's products made them (:func:`galmerge.sersic.products.band_cubes`).
    """
    from galmerge.sersic.products import BAND_SUFFIX, FITTED_BAND, band_cubes
    from galmerge.sersic.stage import failed_result, fit_catalog_image

    rules = rules or InputRules()
    rows, cubes = [], {"raw": [], "model": [], "residual": []}
    n_bands = len(rules.bands) if rules.bands else 0
    band_lists = {c: [] for c in cubes} if n_bands else {}
    with tempfile.TemporaryDirectory(prefix="galmerge_predict_") as scratch:
        for index, path in enumerate(tqdm(files, desc="Sérsic fits", unit="image", disable=not progress)):
            read = read_for_fit(path, rules, scratch, index)
            if read["fit_path"] is None:
                result = failed_result(index, read["message"])
                result["row"]["status"] = "bad_input"
            else:
                result = fit_catalog_image(index, read["fit_path"], psf=psf, cutout_mode=cutout_mode,
                                           fit_options=fit_options or {}, fit_region=fit_region)
                if read["fit_path"] != str(path):  # the scratch copy: name the user's file, free the disk
                    result["row"]["message"] = str(result["row"].get("message") or "").replace(read["fit_path"],
                                                                                            str(path))
                    Path(read["fit_path"]).unlink()
            rows.append({"file": str(path), **{c: read[c] for c in OUTPUT_READ_COLUMNS},
                         **{c: result["row"].get(c, np.nan) for c in OUTPUT_FIT_COLUMNS}})
            for name in cubes:
                cubes[name].append(result[name])
            if n_bands:
                made = None
                if read["bands_image"] is not None and result["row"]["status"] not in UNSCORABLE:
                    made = band_cubes(read["bands_image"], result["model"], result["residual"], cutout_mode,
                                      FITTED_BAND.get(rules.channel))
                for name in band_lists:
                    band_lists[name].append(made[name] if made is not None else
                                            np.zeros((CUTOUT_SIZE, CUTOUT_SIZE, n_bands), np.float32))
    table = pd.DataFrame(rows, columns=["file", *OUTPUT_READ_COLUMNS, *OUTPUT_FIT_COLUMNS])
    out = {k: np.asarray(v, dtype=np.float32).reshape(-1, CUTOUT_SIZE, CUTOUT_SIZE) for k, v in cubes.items()}
    for name, planes in band_lists.items():
        out[f"{name}{BAND_SUFFIX}"] = np.asarray(planes, dtype=np.float32).reshape(-1, CUTOUT_SIZE, CUTOUT_SIZE,
                                                                                    n_bands)
    return table, out


def score_inputs(table: pd.DataFrame, cubes: dict, networks: dict, thresholds: dict) -> pd.DataFrame:
    """Add ``score_<kind>``, ``threshold_<kind>`` and ``merger_<kind>`` columns (NaN / <NA> for unscorable files).

    The networks read the per-band cubes (``raw_bands``...) when ``cubes`` has them (a run with
    bands), else the single-band ones, channels in the order of :data:`galmerge.vocab.INPUT_CHANNELS`.
    """
    from galmerge.nets.training import predict_images
    from galmerge.sersic.products import BAND_SUFFIX

    out = table.copy()
    scorable = ~out["status"].isin(UNSCORABLE).to_numpy()
    suffix = BAND_SUFFIX if f"raw{BAND_SUFFIX}" in cubes else ""
    for kind, model in networks.items():
        scores = np.full(len(out), np.nan)
        if scorable.any():
            planes = [cubes[f"{c}{suffix}"][scorable] for c in INPUT_CHANNELS[kind]]
            x = np.concatenate([p if p.ndim == 4 else p[..., None] for p in planes], axis=-1)
            scores[scorable] = predict_images(model, x)
        out[f"score_{kind}"] = scores
        out[f"threshold_{kind}"] = thresholds[kind]
        merger = pd.array(np.where(np.isnan(scores), pd.NA, scores >= thresholds[kind]), dtype="boolean")
        out[f"merger_{kind}"] = merger
    return out


def predict(run_dir: str | Path, images: Iterable[str | Path], psf_path: str | Path | None = None,
            kinds: Sequence[str] | None = None, progress: bool = True, channel: str | None = None,
            pixel_scale: float | None = None) -> pd.DataFrame:
    """Score cutouts of any format :mod:`galmerge.ingest` reads with a run's networks (module docstring).

    Parameters
    ----------
    run_dir : a finished run folder (``runs/<run>``).
    images : files and/or folders (searched recursively for FITS, PNG, JPEG and TIFF files).
    psf_path : PSF image (FITS) of the new cutouts, when the run was fitted with one.
    kinds : networks to use (default: every trained one).
    progress : show a progress bar.
    channel : {'r', 'g', 'b', 'luminance'}, optional
        Channel of colour images; default: the run's (:func:`run_input_rules`).
    pixel_scale : float, optional
        Pixel scale of the new files (arcsec/px), needed when the run's dataset was resampled.

    Returns
    -------
    pandas.DataFrame
        One row per file (module docstring); ``attrs["input_rules"]`` holds the rules used.

    Raises
    ------
    FileNotFoundError
        A missing run file (its ``stage.json``, a network) or image path, or no image file at all.
    ValueError
        A channel that is not one of :data:`galmerge.ingest.CHANNELS`.
    """
    from galmerge.analysis.evaluation import load_thresholds
    from galmerge.data.catalog import load_image
    from galmerge.sersic.products import Products

    run = Run(run_dir)
    settings = run.stage  # the fitting options the networks' inputs were made with
    rules = run_input_rules(run)
    with Products(run.products) as products:  # the bands the networks were trained on
        rules = InputRules(**{**asdict(rules), "bands": products.bands})
    if channel is not None:
        if channel not in ingest.CHANNELS:
            raise ValueError(f"channel must be one of {ingest.CHANNELS}, got {channel!r}")
        rules = InputRules(**{**asdict(rules), "channel": channel, "source": f"{rules.source}; channel given"})
    if pixel_scale is not None:
        rules = InputRules(**{**asdict(rules), "pixel_scale": float(pixel_scale)})
    files = find_images(images)
    if not files:
        raise FileNotFoundError(f"no image files (FITS, PNG, JPEG, TIFF) in {list(map(str, images))}")
    psf = None
    if psf_path is not None:
        psf = load_image(psf_path)
        psf = psf / psf.sum()
    if (psf is None) != (settings.get("psf_sha1") is None):
        warnings.warn("the run was fitted " + ("with" if settings.get("psf_sha1") else "without")
                      + " a PSF but these cutouts are fitted " + ("with" if psf is not None else "without")
                      + " one: the model and residual inputs will differ from training", stacklevel=2)
    networks = run.networks(kinds)
    thresholds = load_thresholds(run, list(networks))
    table, cubes = prepare_inputs(files, psf, settings.get("cutout_mode", "crop"),
                                  settings.get("fit_options", {}), progress, rules=rules,
                                  fit_region=settings.get("fit_region", "all"))
    _warn_linearity(run, table)
    out = score_inputs(table, cubes, networks, thresholds)
    out.attrs["input_rules"] = asdict(rules)
    return out


def _warn_linearity(run: Run, table: pd.DataFrame) -> None:
    """Warn when display images (JPEG/PNG, 8/16-bit TIFF) are scored by networks trained on linear
    images, or linear images by networks trained on display images (the run's ``data`` summary)."""
    data = run.summary.get("data") or {}
    if "n_display_images" not in data or "n_objects" not in data:
        return
    trained_display = int(data["n_display_images"]) > 0
    new = table["linear_flux"].dropna().astype(bool)
    if trained_display and new.any():
        warnings.warn(f"{int(new.sum())} of these files are linear in flux (FITS, float TIFF) but the run's "
                      "networks were trained on display images (JPEG/PNG): their scores are not comparable",
                      stacklevel=3)
    if not trained_display and (~new).any():
        warnings.warn(f"{int((~new).sum())} of these files are display images (non-linear stretch) but the "
                      "run's networks were trained on images linear in flux: their scores are not comparable",
                      stacklevel=3)


def main(argv=None) -> int:
    from galmerge.sersic.products import ProductsError

    parser = argparse.ArgumentParser(prog="python -m galmerge.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", required=True, type=Path, help="a finished run folder (runs/<run>)")
    parser.add_argument("--images", required=True, nargs="+",
                        help="image files (FITS, PNG, JPEG, TIFF) and/or folders of them")
    parser.add_argument("--out", required=True, type=Path, help="output CSV")
    parser.add_argument("--psf", type=Path, help="PSF image (FITS) of the new cutouts")
    parser.add_argument("--kinds", nargs="+", choices=list(INPUT_KINDS),
                        help="networks to use (default: all trained)")
    parser.add_argument("--channel", choices=ingest.CHANNELS,
                        help="channel of colour images (default: the run's, else r, the i band of gri composites)")
    parser.add_argument("--pixel-scale", type=float,
                        help="arcsec/px of the new files (needed when the run's dataset was resampled)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        table = predict(args.models, args.images, args.psf, args.kinds, progress=not args.no_progress,
                        channel=args.channel, pixel_scale=args.pixel_scale)
    except (FileNotFoundError, ValueError, ProductsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    broken = table[table["status"].isin(UNSCORABLE)]
    rules = table.attrs.get("input_rules", {})
    print(f"read with channel {rules.get('channel')!r}, bands {rules.get('bands') or 'none (one channel)'}, "
          f"target scale {rules.get('target_scale')} (from {rules.get('source')} and the run's products)")
    print(f"scored {len(table) - len(broken)} of {len(table)} files -> {args.out}")
    if len(broken):
        print(f"{len(broken)} file(s) could not be scored:", file=sys.stderr)
        for file, message in zip(broken["file"], broken["message"]):
            print(f"  {message}" if str(message).startswith(str(file)) else f"  {file}: {message}", file=sys.stderr)
    return 0 if len(broken) < len(table) else 1


if __name__ == "__main__":
    sys.exit(main())
