"""Command line: ``python -m galmerge.mock --out DIR --n N --seed S [--workers W] [--test-fraction F]``."""

from __future__ import annotations

import argparse
import sys
import time

from galmerge.mock.generate import generate_mock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m galmerge.mock",
        description="Write a mock HSC i-band dataset of TNG-like galaxy mergers in the merger-challenge "
                    "layout: train/ and test/ snapnum folders of objID_<ID>.fits cutouts, the two "
                    "catalogues (with true_* truth columns) and psf/psf_i.fits.")
    parser.add_argument("--out", required=True, help="dataset folder to write")
    parser.add_argument("--n", type=int, required=True, help="number of objects")
    parser.add_argument("--seed", type=int, default=0, help="seed (same n and seed: byte-identical files)")
    parser.add_argument("--workers", type=int, default=None, help="parallel processes (default: all CPUs)")
    parser.add_argument("--merger-fraction", type=float, default=0.5,
                        help="fraction of major mergers (default 0.5, balanced)")
    parser.add_argument("--test-fraction", type=float, default=0.10,
                        help="fraction of the objects in test/, whole orbits (default 0.10, the paper's 75:15:10)")
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        catalogue = generate_mock(args.out, args.n, args.seed, workers=args.workers,
                                  merger_fraction=args.merger_fraction, test_fraction=args.test_fraction,
                                  overwrite=args.overwrite,
                                  progress=not args.quiet)
    except (ValueError, FileExistsError) as error:
        parser.exit(2, f"galmerge.mock: error: {error}\n")
    elapsed = time.perf_counter() - start
    counts = catalogue.groupby("split").size().to_dict()
    print(f"wrote {len(catalogue)} objects to {args.out} ({counts}) in {elapsed:.1f} s "
          f"({len(catalogue) / elapsed:.1f} objects/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
