"""Per-band models and the far-sky probe on SDSS colour JPEGs (issue 32, items 1 and 3).

Reads ``--n`` cutouts per class from a clone of the source repository (the layout
:mod:`galmerge.datasets.sdss_darg2010` converts: ``Cutouts/Color/256/{Mergers,Non_Mergers}/*.jpeg``),
drawn with ``--seed``, with the three bands kept (``galmerge.ingest.read_image(..., bands="gri")``),
and prints:

* **bands**: each image fitted as the sdss profile fits it (the i band, the red channel), the per-band
  cubes made by :func:`galmerge.sersic.products.band_cubes` (through :func:`galmerge.predict.prepare_inputs`,
  the code path of a run with ``bands=gri``); per band the flux scale of the model relative to the
  i-band model and the fraction of the crop's variance the band's model explains (R²), mergers and
  non-mergers apart, with the AUC of the unexplained fraction for the label;
* **far sky**: the probe of :mod:`galmerge.analysis.shortcut` on the red channel of every image,
  the small CNN on the corner patches included, with its CPU time (each image its own group: the
  converter's sky groups are not made here). ``--far-sky-only`` skips the fits.

Usage::

    nice -n 10 .venv/bin/python benchmarks/sdss_bands.py --source /path/to/CS_Project --n 100
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from galmerge.analysis import shortcut
from galmerge.datasets.sdss_darg2010 import CUTOUT_FOLDER
from galmerge.ingest import ImageProblem, read_image
from galmerge.predict import InputRules, prepare_inputs

#: The sdss profile's fitting options (profiles/sdss.yaml).
SDSS_FIT_OPTIONS = dict(min_fit_area=100, fitter="lm", background="flat", thresh=5.0, minarea=20)
SDSS_FIT_REGION = "cutout"


def draw(source: Path, n: int, seed: int) -> tuple[list[Path], np.ndarray]:
    """``n`` non-empty JPEGs per class, drawn without replacement."""
    rng = np.random.default_rng(seed)
    files, labels = [], []
    for folder, label in (("Mergers", 1), ("Non_Mergers", 0)):
        pool = sorted(p for p in (source / CUTOUT_FOLDER / folder).glob("*.jpeg") if p.stat().st_size)
        if len(pool) < n:
            raise SystemExit(f"{source / CUTOUT_FOLDER / folder}: {len(pool)} non-empty JPEGs, fewer than --n {n}")
        files += list(rng.choice(pool, n, replace=False))
        labels += [label] * n
    return files, np.array(labels)


def band_table(files: list[Path], labels: np.ndarray) -> pd.DataFrame:
    """Per band: flux scale and explained variance of the tied model (module docstring)."""
    t0, c0 = time.perf_counter(), time.process_time()
    table, cubes = prepare_inputs(files, fit_options=SDSS_FIT_OPTIONS, fit_region=SDSS_FIT_REGION, progress=False,
                                  rules=InputRules(bands="gri"))
    print(f"{len(files)} JPEGs read with bands and fitted: {time.perf_counter() - t0:.0f} s wall, "
          f"{time.process_time() - c0:.0f} CPU s; status {table['status'].value_counts().to_dict()}")
    for row in table[table["status"] != "ok"].itertuples():
        print(f"  {row.file}: {row.status}: {row.message}")
    ok = (table["status"] == "ok").to_numpy()
    raw, model, residual = (cubes[k][ok] for k in ("raw_bands", "model_bands", "residual_bands"))
    y = labels[ok]
    totals = model.sum(axis=(1, 2))
    scale = totals / np.where(totals[:, 2:3] != 0, totals[:, 2:3], np.nan)
    rows = []
    for b, name in enumerate("gri"):
        explained = 1 - residual[..., b].reshape(len(y), -1).var(axis=1) / raw[..., b].reshape(len(y), -1).var(axis=1)
        rows.append({"band": name, "scale_median": np.nanmedian(scale[:, b]),
                     "scale_p16": np.nanpercentile(scale[:, b], 16), "scale_p84": np.nanpercentile(scale[:, b], 84),
                     "r2_mergers": np.median(explained[y == 1]), "r2_non_mergers": np.median(explained[y == 0]),
                     "auc_unexplained": roc_auc_score(y, 1 - explained)})
    return pd.DataFrame(rows)


def far_sky_table(files: list[Path], labels: np.ndarray) -> pd.DataFrame:
    """:func:`galmerge.analysis.shortcut.shortcut_table` on the red channel of every readable file."""
    rows, kept, patches = [], [], []
    for path, label in zip(files, labels):
        try:
            image = read_image(path).image
        except ImageProblem as err:
            print(f"  far sky: {path}: {err.kind}: {err}")
            continue
        rows.append(shortcut.corner_statistics(image))
        patches.append(shortcut.corner_patches(image))
        kept.append(label)
    kept = np.array(kept)
    c0 = time.process_time()
    table = shortcut.shortcut_table(pd.DataFrame(rows), kept, np.arange(len(kept)), patches=np.stack(patches))
    print(f"far-sky probes on {len(kept)} images: {time.process_time() - c0:.0f} CPU s")
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, type=Path, help="root of the clone of AStemo/CS_Project")
    parser.add_argument("--n", type=int, default=100, help="images per class (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--far-sky-only", action="store_true", help="only the far-sky probes (no fits)")
    args = parser.parse_args(argv)
    files, labels = draw(args.source, args.n, args.seed)
    if not args.far_sky_only:
        print(band_table(files, labels).round(3).to_string(index=False))
    print(far_sky_table(files, labels).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
