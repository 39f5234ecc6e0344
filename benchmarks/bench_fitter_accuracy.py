"""Accuracy of the Sérsic fitters against GalSim truth, and how much light each background keeps (issue 11).

Renders GalSim galaxies (:mod:`galmerge.sersic.truth`: exact Sérsic profiles, Moffat PSF with
the pixel response; 128 px images):

- ``isolated``: one galaxy, S/N 50-300, Gaussian sky noise;
- ``neighbours`` (HSC-like): the same with 1-4 fainter neighbours 12-50 px away, S/N 30-300;
- ``bright`` (issue 21): one galaxy of 3e4-2e5 e-, n 0.8-4, r_e 4-12 px, its own Poisson noise,
  gain 1, sky sigma 1 (fitted with ``gain=1``);
- ``bright_neighbours``: the bright primary with neighbours as above;

fits each with ``fit_image`` for every (fitter, background) pair asked, and prints for the
primary: median and 90th percentile of |dr_e|/r_e, |dn|/n, |de| over the usable fits (the
spread), their signed medians (the bias), the number of failures (no usable fit of the primary
within 3 px of the true centre) and the mean CPU s per image. Then the fraction of the primary's
light that each background leaves, on the isolated and bright sets (inside an ellipse of 4 r_e,
and over the whole image).

``--kernel`` instead times one model-plus-Jacobian evaluation of a batch of stamps (profile and
7 derivative images at pixel centres, 8 FFT convolutions with the PSF) in numpy/scipy.fft and
in TensorFlow on the CPU, the measurement behind :mod:`galmerge.sersic.lm`'s choice of numpy.

Measured after issue 21 (2026-12-03, shared 2-core CPU, load average 4-5; CPU seconds)::

    $ python benchmarks/bench_fitter_accuracy.py --n 40 --pairs lm/flat statmorph/flat
                              isolated          neighbours        bright            bright_neighbours
                              lm     statmorph  lm     statmorph  lm     statmorph  lm     statmorph
    failures                  0      0          0      2          0      0          0      0
    median |dr_e|/r_e         0.023  0.026      0.041  0.054      0.003  0.004      0.017  0.021
    p90 |dr_e|/r_e            0.143  0.153      0.334  0.376      0.011  0.015      0.067  0.066
    median |dn|/n             0.034  0.044      0.084  0.124      0.009  0.011      0.020  0.030
    p90 |dn|/n                0.119  0.241      0.403  0.425      0.017  0.030      0.069  0.091
    median |de|               0.007  0.007      0.021  0.022      0.002  0.002      0.006  0.006
    median signed dr_e/r_e   -0.003 -0.012      0.027  0.038      0.000 -0.000      0.017  0.015
    median signed dn/n        0.003  0.025      0.026  0.062      0.000  0.001      0.015  0.020
    median signed de          0.002  0.002      0.008  0.010     -0.001 -0.001     -0.001 -0.000
    mean CPU s per image      0.084  0.458      0.144  1.539      0.134  0.629      0.295  1.723

    fraction of the primary's light kept (flat)  median  10th pct  min
    isolated, inside 4 r_e                        0.999   0.981     0.965
    bright, inside 4 r_e                          1.000   0.999     0.998

Issue 21's targets on the bright set (median |dr_e|/r_e <= 0.02, |dn|/n <= 0.03, |de| <= 0.01)
are met by both fitters, without bias. Before it (measured at the start of the work, seed 1)
``lm`` gave median dr_e/r_e -7.2 % and dn/n -14.5 % on the first 12 of these galaxies (weights
from ``|data|``, a flat sky taken from the galaxy's wings; the issue measured 0.121 / 0.194 on
its own set) and statmorph, with its own ``|image|``-based weights, -6.7 % / -13.5 % on all 40.
With neighbours ``lm`` is at least as accurate as statmorph on r_e and n (medians; the 90th
percentile of r_e on bright_neighbours is equal), at 5-11x less CPU per image here.

Measured before issue 21 (2026-11-26; same machine)::

    $ python benchmarks/bench_fitter_accuracy.py --n 100 --kinds isolated
    isolated: 100 GalSim galaxies      lm/flat  statmorph/flat  statmorph/sep  lm/sep
    median |dr_e|/r_e                    0.023    0.025           0.033          0.030
    median |dn|/n                        0.038    0.043           0.054          0.041
    median |de|                          0.008    0.008           0.008          0.008

    $ python benchmarks/bench_fitter_accuracy.py --kernel     # 64 stamps of 64 px, one thread
    numpy + scipy.fft, float64:  1.22 ms per stamp
    numpy + scipy.fft, float32:  0.70 ms per stamp
    TensorFlow CPU, float32:     0.52 ms per stamp
    sersic_lm's full evaluation (windows, cusp, chain rule), float64: 2.32 ms per stamp

SEP's 64 px boxes take a median 15 % of an isolated galaxy's light over the image, and 1 % (up
to 9 %) inside 4 r_e (the "sep" rows). No GPU was used: the fitter is numpy (see sersic.lm).

Usage::

    .venv/bin/python benchmarks/bench_fitter_accuracy.py            # 100 galaxies per set, four sets
    .venv/bin/python benchmarks/bench_fitter_accuracy.py --n 20     # quicker
    .venv/bin/python benchmarks/bench_fitter_accuracy.py --kernel   # numpy vs TensorFlow kernel
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

PAIRS = ("lm/flat", "statmorph/flat", "statmorph/sep", "lm/sep")


def accuracy(n: int, seed: int, pairs, kinds=None) -> None:
    from galmerge.sersic import truth as sersic_truth

    for kind in kinds or sersic_truth.KINDS:
        t0 = time.perf_counter()
        galaxies = sersic_truth.render_truth_set(n, kind, seed=seed)
        print(f"\n{kind}: {n} GalSim galaxies (rendered in {time.perf_counter() - t0:.0f} s); "
              f"load average {os.getloadavg()[0]:.1f}")
        columns = {}
        for pair in pairs:
            fitter, background = pair.split("/")
            table = sersic_truth.fit_truth_set(galaxies, fitter, background)
            columns[pair] = sersic_truth.summarise(table)
        summary = pd.DataFrame(columns)
        print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
        if kind in ("isolated", "bright"):
            print(f"\nfraction of the primary's light kept by the background ({kind} galaxies):")
            rows = {}
            for background in ("flat", "sep"):
                for region in ("aperture", "image"):
                    kept = sersic_truth.flux_kept(galaxies, background, region=region)
                    rows[(background, region)] = {"median": np.median(kept), "10th pct": np.percentile(kept, 10),
                                                  "min": kept.min()}
            print(pd.DataFrame(rows).T.to_string(float_format=lambda v: f"{v:.3f}"))


def kernel(batch: int = 64, size: int = 64, repeats: int = 5) -> None:
    """numpy vs TensorFlow (CPU, one thread each) on the fitter's inner evaluation."""
    import galsim

    from galmerge.sersic import lm as sersic_lm

    psf = galsim.Moffat(beta=3.5, fwhm=3.6).drawImage(nx=41, ny=41, scale=1.0).array
    psf /= psf.sum()
    rng = np.random.default_rng(0)
    u = sersic_lm.unconstrained(np.full(batch, 100.0), rng.uniform(30, 34, batch), rng.uniform(30, 34, batch),
                                rng.uniform(2, 8, batch), rng.uniform(0.6, 4, batch), rng.uniform(0.3, 1, batch),
                                rng.uniform(0, np.pi, batch), size)
    renderer = sersic_lm.Renderer(size, psf)
    p = sersic_lm.with_constants(sersic_lm.natural(u, size))
    dx = renderer.x[None] - p["xc"][:, None, None]
    dy = renderer.y[None] - p["yc"][:, None, None]
    renderer32 = sersic_lm.Renderer(size, psf, np.float32)
    p32 = sersic_lm.with_constants(sersic_lm.natural(u, size), np.float32)
    dx32, dy32 = dx.astype(np.float32), dy.astype(np.float32)

    def numpy_eval():
        _, jac = renderer._profile(p, dx, dy, True)
        return renderer.convolve(jac)

    def numpy_eval32():
        _, jac = renderer32._profile(p32, dx32, dy32, True)
        return renderer32.convolve(jac)

    def full_eval():
        return renderer.render(u)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tp = {k: tf.constant(v.reshape(-1, 1, 1), tf.float32) for k, v in p.items()}
    tdx, tdy = tf.constant(dx, tf.float32), tf.constant(dy, tf.float32)
    kernel_ft = tf.constant(renderer.kernel_ft)
    shape = renderer.fft_shape

    @tf.function
    def tf_eval():
        n, re, q, th, b = tp["n"], tp["re"], tp["q"], tp["theta"], tp["b"]
        c, s = tf.cos(th), tf.sin(th)
        inv_re2, iq2 = 1 / re ** 2, 1 / q ** 2
        xp, yp = c * tdx + s * tdy, c * tdy - s * tdx
        z2 = tf.maximum((xp * xp + yp * yp * iq2) * inv_re2, 1e-24)
        logz = 0.5 * tf.math.log(z2)
        sz = tf.exp(logz / n)
        intensity = tf.exp(tf.maximum(tp["lnf"] - tp["lnorm"] - b * (sz - 1), -700.0))
        bsz_n = b * sz / n
        g = -bsz_n * intensity * inv_re2 / z2
        jac = tf.stack([intensity, -g * (xp * c - yp * s * iq2), -g * (xp * s + yp * c * iq2),
                        intensity * (bsz_n - 2),
                        intensity * (-tp["dbdn"] * (sz - 1) + bsz_n * logz / n - tp["dlnorm_dn"]),
                        -g * yp * yp * iq2 / q - intensity / q, g * xp * yp * (1 - iq2)], axis=1)
        ft = tf.signal.rfft2d(jac, fft_length=shape)
        out = tf.signal.irfft2d(ft * tf.cast(kernel_ft, tf.complex64), fft_length=shape)
        return out[..., :size, :size]

    tf_eval()  # trace
    for name, fn in (("numpy + scipy.fft, float64", numpy_eval), ("numpy + scipy.fft, float32", numpy_eval32),
                     ("TensorFlow CPU, float32", tf_eval),
                     ("sersic_lm's full evaluation (windows, cusp, chain rule), float64", full_eval)):
        fn()
        t0 = time.process_time()
        for _ in range(repeats):
            fn()
        seconds = (time.process_time() - t0) / repeats
        print(f"{name}: {seconds:.4f} CPU s per evaluation of {batch} stamps of {size} px "
              f"({1e3 * seconds / batch:.2f} ms per stamp)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="galaxies per set (default 100)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), help="fitter/background pairs")
    parser.add_argument("--kinds", nargs="+", default=None,
                        help="sets to run (isolated, neighbours, bright, bright_neighbours; default all)")
    parser.add_argument("--kernel", action="store_true", help="time numpy vs TensorFlow instead")
    args = parser.parse_args(argv)
    if args.kernel:
        kernel()
    else:
        accuracy(args.n, args.seed, args.pairs, args.kinds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
