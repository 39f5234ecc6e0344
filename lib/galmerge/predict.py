"""Score new survey cutouts with the networks of a finished run.

    python -m galmerge.predict --models runs/quick-mock_quick --images cutouts/ more.fits --out scores.csv

For every FITS cutout (any size; image in HDU 0 or 1), the Sérsic fitting is done exactly as the
run's fitting stage did it (same cutout mode and fit options, read from the run's
``products/stage.json``), the raw / model / residual inputs are built and normalised as in
training, and every trained network of the run scores them. The output has one row per file:
the fit status, the primary source's Sérsic parameters, and per network the score, the decision
threshold chosen on the validation split (``tables/thresholds.csv``) and the thresholded label.

A file that cannot be read or fitted is reported in the output (status ``bad_input`` or ``error``,
with the reason) and on the terminal; the other files carry on.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm  # text bars: they stream through papermill and need no ipywidgets

from galmerge import quiet  # noqa: F401  (before TensorFlow)
from galmerge.runs import Run
from galmerge.vocab import INPUT_CHANNELS, INPUT_KINDS

#: Statuses whose cutouts carry no usable image: no network scores them.
UNSCORABLE = ("bad_input", "error")
#: The columns of the fitting step's per-image row (:data:`galmerge.sersic.stage.FIT_COLUMNS`) copied
#: into the output.
OUTPUT_FIT_COLUMNS = ("status", "message", "image_ny", "image_nx", "n_sources", "n_used",
               "sersic_n", "sersic_rhalf", "sersic_ellip")


def find_fits(paths: Iterable[str | Path]) -> list[Path]:
    """FITS files named directly or found (recursively, sorted) in the given folders."""
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.suffix.lower() in (".fits", ".fit", ".fz")
                            or p.name.lower().endswith(".fits.gz"))
        elif item.exists():
            found.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return found


def prepare_inputs(files: Sequence[Path], psf=None, cutout_mode: str = "crop",
                   fit_options: dict | None = None, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Fit every file as the fitting stage does; returns the per-file table and the cutout cubes.

    Returns
    -------
    table : pandas.DataFrame
        One row per file: ``file`` and :data:`OUTPUT_FIT_COLUMNS`.
    cubes : dict
        ``raw``, ``model``, ``residual``: (n_files, 128, 128) float32 (zeros for unreadable files).
    """
    from galmerge.sersic.stage import fit_catalog_image

    rows, cubes = [], {"raw": [], "model": [], "residual": []}
    for index, path in enumerate(tqdm(files, desc="Sérsic fits", unit="image", disable=not progress)):
        result = fit_catalog_image(index, str(path), psf=psf, cutout_mode=cutout_mode,
                                   fit_options=fit_options or {})
        rows.append({"file": str(path), **{c: result["row"].get(c, np.nan) for c in OUTPUT_FIT_COLUMNS}})
        for name in cubes:
            cubes[name].append(result[name])
    return pd.DataFrame(rows), {k: np.asarray(v, dtype=np.float32).reshape(-1, 128, 128)
                                for k, v in cubes.items()}


def score_inputs(table: pd.DataFrame, cubes: dict, networks: dict, thresholds: dict) -> pd.DataFrame:
    """Add ``score_<kind>``, ``threshold_<kind>`` and ``merger_<kind>`` columns (NaN / <NA> for unscorable files)."""
    from galmerge.nets.training import predict_images

    out = table.copy()
    scorable = ~out["status"].isin(UNSCORABLE).to_numpy()
    for kind, model in networks.items():
        scores = np.full(len(out), np.nan)
        if scorable.any():
            x = np.stack([cubes[c][scorable] for c in INPUT_CHANNELS[kind]], axis=-1)
            scores[scorable] = predict_images(model, x)
        out[f"score_{kind}"] = scores
        out[f"threshold_{kind}"] = thresholds[kind]
        merger = pd.array(np.where(np.isnan(scores), pd.NA, scores >= thresholds[kind]), dtype="boolean")
        out[f"merger_{kind}"] = merger
    return out


def predict(run_dir: str | Path, images: Iterable[str | Path], psf_path: str | Path | None = None,
            kinds: Sequence[str] | None = None, progress: bool = True) -> pd.DataFrame:
    """Score FITS cutouts with a run's networks (see the module docstring); returns the table."""
    from galmerge.analysis.evaluation import load_thresholds
    from galmerge.data.catalog import load_image

    run = Run(run_dir)
    settings = run.stage  # the fitting options the networks' inputs were made with
    files = find_fits(images)
    if not files:
        raise FileNotFoundError(f"no FITS files in {list(map(str, images))}")
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
                                  settings.get("fit_options", {}), progress)
    return score_inputs(table, cubes, networks, thresholds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m galmerge.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", required=True, type=Path, help="a finished run folder (runs/<run>)")
    parser.add_argument("--images", required=True, nargs="+", help="FITS files and/or folders of them")
    parser.add_argument("--out", required=True, type=Path, help="output CSV")
    parser.add_argument("--psf", type=Path, help="PSF image (FITS) of the new cutouts")
    parser.add_argument("--kinds", nargs="+", choices=list(INPUT_KINDS),
                        help="networks to use (default: all trained)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        table = predict(args.models, args.images, args.psf, args.kinds, progress=not args.no_progress)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    broken = table[table["status"].isin(UNSCORABLE)]
    print(f"scored {len(table) - len(broken)} of {len(table)} files -> {args.out}")
    if len(broken):
        print(f"{len(broken)} file(s) could not be scored:", file=sys.stderr)
        for file, message in zip(broken["file"], broken["message"]):
            print(f"  {file}: {message}", file=sys.stderr)
    return 0 if len(broken) < len(table) else 1


if __name__ == "__main__":
    sys.exit(main())
