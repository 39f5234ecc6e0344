"""Does more tidally responsive light make the mock's mergers as asymmetric as simulated ones?

An exploration for the mock's next physics change (``benchmarks/README.md``, "What the networks lack
on the mock"): every mock galaxy is a rigid Sérsic profile plus test particles holding ``f_outer`` of
its light (discs 20-35 % until 2026-12-07, 55-70 % since, :data:`galmerge.mock.scene.DISC_OUTER_SHARE`;
spheroids 8-15 %), and only the particles respond to tides. An exponential disc holds ~80 % of its
light beyond the 0.8 scale lengths where the particles start, so a disc's responsive share is nearer
0.5-0.7 for typical bulge fractions.
This script writes a small mock with the discs' ``f_outer`` drawn from ``--disc-outer LO HI`` (the
rest of the physics unchanged; the override lives only in this process) and measures it with
``merger_signal.py`` at z <= 0.31, so the two can be compared on the same seed.

Usage::

    .venv/bin/python benchmarks/mock_tidal_response.py --n 2500 --disc-outer 0.20 0.35 --out /tmp/tr/base
    .venv/bin/python benchmarks/mock_tidal_response.py --n 2500 --disc-outer 0.55 0.70 --out /tmp/tr/disc
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np


def patch_disc_outer(lo: float, hi: float) -> None:
    """Draw the discs' particle light fraction from U(lo, hi) in this process (spheroids unchanged):
    :func:`galmerge.mock.scene.draw_galaxy` reads its range from ``DISC_OUTER_SHARE`` at each call,
    with the same draws whatever the range, so every other property keeps its value."""
    from galmerge.mock import scene

    scene.DISC_OUTER_SHARE = (float(lo), float(hi))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--disc-outer", type=float, nargs=2, default=[0.20, 0.35])
    parser.add_argument("--per-group", type=int, default=80)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True, help="folder for the mock and <out>/signal_*.csv")
    args = parser.parse_args()
    patch_disc_outer(*args.disc_outer)
    from galmerge.mock import generate_mock

    data = args.out / "mock"
    if not (data / "catalog_merger_challenge_TNG_train.fits").exists():
        generate_mock(data, n=args.n, seed=args.seed, workers=args.workers, progress=False, overwrite=True)
    np.seterr(all="ignore")
    subprocess.run([sys.executable, str(Path(__file__).with_name("merger_signal.py")), "--data", str(data),
                    "--per-group", str(args.per_group), "--max-redshift", "0.31", "--workers", str(args.workers),
                    "--out", str(args.out / "signal")], check=True)


if __name__ == "__main__":
    main()
