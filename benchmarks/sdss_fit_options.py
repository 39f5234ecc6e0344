"""CPU time of the Sérsic fitting stage per SDSS JPEG cutout under candidate fit options (issue 22, the sdss profile).

On ``--n`` images of a dataset converted by ``python -m galmerge.datasets.sdss_darg2010`` (half
mergers, half non-mergers, drawn with ``--seed``), runs the stage's own per-image function
(:func:`galmerge.sersic.stage.fit_catalog_image`, BLAS/OpenMP at one thread as in a Dask worker)
under each option set and prints, per set: mean and median CPU seconds per image, median SEP
sources detected and fits used in the model, the images whose status is not ``ok``, and the
primaries (the source at the centre) used in the model. CPU seconds (process time) are used because
the machine is shared: wall time depends on the other jobs, CPU time much less.

Usage::

    nice -n 10 .venv/bin/python benchmarks/sdss_fit_options.py --data data/sdss_darg2010 --n 40
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

#: Option sets compared: name -> (fit_region, fit_image options). The first is the quick profile's.
OPTION_SETS = {
    "quick (thresh 1.5, minarea 5, min_fit_area 25)":
        ("cutout", dict(fitter="lm", background="flat", min_fit_area=25)),
    "min_fit_area 100": ("cutout", dict(fitter="lm", background="flat", min_fit_area=100)),
    "thresh 3, minarea 10, min_fit_area 100":
        ("cutout", dict(fitter="lm", background="flat", min_fit_area=100, thresh=3.0, minarea=10)),
    "thresh 5, minarea 20, min_fit_area 100":
        ("cutout", dict(fitter="lm", background="flat", min_fit_area=100, thresh=5.0, minarea=20)),
}


def sample(catalog: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` objects, half of each class (fewer if a class is short), in catalogue order."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(group.index.to_numpy(), size=min(n // 2, len(group)), replace=False)
             for _, group in catalog.groupby("label")]
    return catalog.loc[np.sort(np.concatenate(picks))]


def measure(images: pd.DataFrame, fit_region: str, options: dict) -> pd.DataFrame:
    from threadpoolctl import threadpool_limits

    from galmerge.sersic.stage import fit_catalog_image

    rows = []
    with threadpool_limits(1):
        for image_id, path in zip(images["ID"], images["image_path"]):
            result = fit_catalog_image(int(image_id), path, fit_options=options, fit_region=fit_region)
            rows.append(result["row"])
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="dataset written by galmerge.datasets.sdss_darg2010")
    parser.add_argument("--n", type=int, default=40, help="images (half of each class)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw")
    parser.add_argument("--sets", nargs="+", choices=list(OPTION_SETS), default=list(OPTION_SETS))
    args = parser.parse_args(argv)

    from galmerge.data.catalog import load_catalog

    images = sample(load_catalog(args.data), args.n, args.seed)
    print(f"{len(images)} images ({int(images['label'].sum())} mergers) of {args.data}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f} (a shared machine: CPU s are the comparable numbers)")
    measure(images.head(2), *OPTION_SETS[args.sets[0]])  # warm-up: imports and caches are not an image's cost
    for name in args.sets:
        t0 = time.perf_counter()
        rows = measure(images, *OPTION_SETS[name])
        wall = time.perf_counter() - t0
        cpu = rows["time_cpu_s"]
        print(f"{name}: CPU s per image mean {cpu.mean():.3f}, median {cpu.median():.3f} (wall {wall:.0f} s); "
              f"sources median {rows['n_sources'].median():.0f}, used {rows['n_used'].median():.0f}; "
              f"status not ok {int((rows['status'] != 'ok').sum())}; "
              f"primary in the model {int(rows['primary_used_in_model'].astype(bool).sum())}/{len(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
