"""A folder of real survey-like cutouts to try :mod:`galmerge.ingest` on, without any download.

    python -m galmerge.demo_cutouts --out demo_cutouts --n 200 --size 400

The pixels are crops of the Hubble Deep Field colour image that ships with scikit-image
(``skimage.data.hubble_deep_field()``, 872 x 1000 px, 8-bit RGB: a display image, as survey
viewers' JPEGs are). Crops of ``size`` px are taken at random positions, so they **overlap**
when many are asked for (200 crops of 400 px from an 872 x 1000 field share most of their
pixels), and each is flipped / rotated by a random multiple of 90 degrees. The labels are
**made up** (random 0/1 with the given seed): they exercise the plumbing and carry no
information, so a network trained on them must score at chance.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

FORMATS = ("jpeg", "png", "fits")
SUFFIX = {"jpeg": ".jpg", "png": ".png", "fits": ".fits"}


def hubble_deep_field() -> np.ndarray:
    """The scikit-image Hubble Deep Field image, (872, 1000, 3) uint8."""
    from skimage import data

    return data.hubble_deep_field()


def write_hdf_cutouts(folder: str | Path, n: int = 200, size: int = 400, formats=("jpeg",), seed: int = 0,
                      labels_name: str = "labels.csv", quality: int = 90) -> Path:
    """Write ``n`` crops of the Hubble Deep Field and a ``filename,label`` table into ``folder``.

    Parameters
    ----------
    folder : str or Path
        Created if needed; the images go to ``folder/images/``, the table to ``folder/labels_name``.
    n : int
        Number of crops.
    size : int
        Side of each crop in pixels (at most 872, the field's shorter side).
    formats : sequence of {'jpeg', 'png', 'fits'}
        Crop ``i`` is written in ``formats[i % len(formats)]``: colour JPEG (quality ``quality``),
        colour PNG, or FITS holding the red channel as float32.
    seed : int
        Seed of the positions, orientations and made-up labels.

    Returns
    -------
    Path
        The labels table (columns ``filename, label``).
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats must be some of {FORMATS}, got {list(formats)}")
    field = hubble_deep_field()
    if not 1 <= size <= min(field.shape[:2]):
        raise ValueError(f"size must be 1-{min(field.shape[:2])} px, got {size}")
    from PIL import Image

    folder = Path(folder)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        y0 = int(rng.integers(0, field.shape[0] - size + 1))
        x0 = int(rng.integers(0, field.shape[1] - size + 1))
        crop = np.rot90(field[y0:y0 + size, x0:x0 + size], k=int(rng.integers(4)))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = np.ascontiguousarray(crop)
        kind = formats[i % len(formats)]
        name = f"images/hdf_{i:04d}{SUFFIX[kind]}"
        if kind == "fits":
            fits.PrimaryHDU(crop[..., 0].astype(np.float32)).writeto(folder / name, overwrite=True)
        elif kind == "jpeg":
            Image.fromarray(crop).save(folder / name, quality=quality)
        else:
            Image.fromarray(crop).save(folder / name)
        rows.append({"filename": name, "label": int(rng.integers(2))})
    table = folder / labels_name
    pd.DataFrame(rows).to_csv(table, index=False)
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m galmerge.demo_cutouts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="folder to write (images/ and labels.csv)")
    parser.add_argument("--n", type=int, default=200, help="number of crops (default 200)")
    parser.add_argument("--size", type=int, default=400, help="side of the crops in px (default 400)")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=["jpeg"], help="file formats, cycled")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    table = write_hdf_cutouts(args.out, args.n, args.size, args.formats, args.seed)
    print(f"wrote {args.n} crops of {args.size} px and {table}; --images {args.out} --labels {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
