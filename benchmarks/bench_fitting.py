"""Benchmark of the Sérsic fitting stage, galmerge.sersic.stage.run_fitting_stage (issues 3 and 11).

On a fixed mock set (``python -m galmerge.mock --n 40 --seed 3``, generated if missing), for each
fitter (``--fitters``, default statmorph and lm, both after the same ``--background``, default
flat) and for a local Dask cluster of 1 and of 2 worker processes (one thread each), prints:

1. images per second of the whole stage (submit, fit, write the parts, consolidate the products),
   with the cluster already started and warm (start-up is not the stage's cost), and the ratio
   2 workers / 1 worker (target >= 1.7 on 2 cores);
2. the share of the workers' time spent inside the fitter: the sum of the fitter's time
   (``time_fitter_s``, statmorph's or LM's) over all images divided by (wall time x workers); one
   minus it is the pipeline's overhead (SEP, model images, cutouts, I/O, Dask, idle workers;
   target <= 20 %). The same share within the per-image task alone is printed too;
3. the peak resident memory of each worker process (maximum RSS, including its imports);
4. the median per-image time per image size (128-320 px);
5. per fitter: mean CPU s per image (the workers' process time: comparable on a loaded machine),
   the ratio statmorph / lm (issue 11's target >= 8), primaries that failed (flag_sersic >= 2 or
   not in the model), and the residual chi inside the primary's segment of isolated mock
   non-mergers (target: mean within 0.1 of 0, rms within 0.15 of 1).

The machine's load average is printed: on a shared machine the numbers are noisy.

Issue 23 (item 4): ``--images-per-task`` (images whose sources the "lm" fitter fits in one batch, the
stage's ``images_per_task``) and ``--malloc`` (the workers' glibc malloc settings: the stage's
``WORKER_MALLOC_ENV``, or Dask's own ``MALLOC_TRIM_THRESHOLD_=65536``) take several values, and every
combination is timed in the same run; ``--malloc dask --images-per-task 1`` is the stage as it ran
before issue 23. Each run prints the CPU s per image in the tasks (``time_cpu_s``, as before) and in
all processes (the workers' and this one's, which holds Dask's scheduler and writes the parts), and
whether the primaries' fits are identical to the first run's.

Measured after issue 23 item 4 (2026-12-03, shared 2-core CPU, load average 3-7 from other jobs; the
quick profile's options; two runs of the final code)::

    $ python benchmarks/bench_fitting.py --data /tmp/e_mock40 --workers 1 --fit-region cutout \
          --min-fit-area 25 --fitters lm --malloc dask stage --images-per-task 1 8
    CPU s per image            in the tasks        in all processes     images/s
    1 per task, Dask's malloc  0.613 / 0.605       0.734 / 0.701        0.92 / 1.29   (the stage before)
    8 per task, Dask's malloc  0.607 / 0.568       0.700 / 0.632        0.87 / 1.57
    1 per task, stage's malloc 0.308 / 0.304       0.390 / 0.380        2.01 / 2.62
    8 per task, stage's malloc 0.195 / 0.215       0.243 / 0.262        4.19 / 3.75   (the stage now)
    primaries' fits identical to the first row's in every run

    The two levers only pay together: under Dask's MALLOC_TRIM_THRESHOLD_=65536 every large
    temporary is mapped and unmapped, and larger batches make more of them. A run one commit
    earlier (before the model image was taken from the Jacobian) gave 0.865 -> 0.316 at load 4-6:
    at this load the CPU seconds vary by about 25 % from run to run; the ratio within a run is
    the measurement. "In all processes" adds this process (Dask's scheduler, writing the parts)
    to the workers.

Measured after issue 21 (2026-12-03, shared 2-core CPU, load average 4-5; one run each)::

    $ python benchmarks/bench_fitting.py --data /tmp/e_mock40 --n 40 --workers 1 --fit-region cutout
    statmorph 17.7 CPU s per image, lm 1.46: 12.2x (target >= 8); primaries flag_sersic >= 2: 13 / 0
    $ python benchmarks/bench_fitting.py --data /tmp/e_mock12 --n 12 --workers 1 --fit-region cutout
    statmorph 11.9 CPU s per image, lm 1.18: 10.1x

Measured before issue 21 (2026-11-26, shared 2-core CPU, load average 5-20 from other jobs)::

    $ python benchmarks/bench_fitting.py --data /tmp/mock12 --n 12 --fit-region cutout
    12 mock images (seed 3; 128-320 px), background flat, fit_region cutout
                                   statmorph     lm
    CPU s per image, 1 worker         14.2      1.51     -> 9.4x
    CPU s per image, 2 workers        14.6      1.54     -> 9.5x
    images/s, 1 -> 2 workers     0.022 -> 0.042  0.523 -> 0.882  (speed-up 1.91, 1.69)
    fitter's share of task time       98.7 %    89.0 %   (outside the fitter: 1.3 %, 11 %)
    images not ok                      0         0
    primaries flag_sersic >= 2         2         0
    isolated non-mergers (4): mean chi_mean 0.110 / 0.043, median chi_rms 1.46 / 1.49

    CPU seconds are inflated by the load (statmorph took 3.3 CPU s per image on 12 of these
    images in one process at a lower load, lm 0.36: 9.2x); the ratios come from one run. The
    chi rms of the isolated non-mergers is the same for both fitters: the mock's discs carry
    spiral arms, bars and clumps a Sérsic profile does not model, and the stage's sigma omits
    the sources' Poisson noise (gain=None); the smoke run's 64 images gave a median chi_rms
    of 1.16 and mean chi of 0.08 with lm. A first 40-image run was killed by the shared machine
    after statmorph's 1-worker pass (11.9 CPU s per image, fit_region all).

Usage::

    .venv/bin/python benchmarks/bench_fitting.py                 # 40 mock images, 1 and 2 workers
    .venv/bin/python benchmarks/bench_fitting.py --n 16 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd


def worker_peak_rss_mib() -> float:
    """Maximum resident set of the calling process, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def warm_up() -> bool:
    """Import what the fits use, so that the first task does not pay for it."""
    import galmerge.data.catalog  # noqa: F401
    import galmerge.sersic.fit  # noqa: F401
    import galmerge.sersic.stage  # noqa: F401
    return True


def ensure_mock(path: Path, n: int, seed: int) -> Path:
    if not path.exists():
        from galmerge.mock import generate_mock

        print(f"generating {n} mock images (seed {seed}) in {path}")
        generate_mock(path, n=n, seed=seed, workers=1, progress=False)
    return path


def run_once(catalog, psf, n_workers: int, scratch: Path, fit_region: str = "all", images_per_task: int = 1,
             malloc: str = "stage", **fit_options) -> dict:
    from distributed import Client, LocalCluster

    from galmerge.sersic.stage import run_fitting_stage, worker_malloc_environ

    single = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    environ = worker_malloc_environ() if malloc == "stage" else contextlib.nullcontext()
    with environ:  # the stage's malloc settings (issue 23), or Dask's own ("dask")
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, memory_limit="2GiB",
                               dashboard_address=None, env=single)
    with cluster, Client(cluster) as client:
        client.run(warm_up)
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        name = "_".join(str(v) for v in fit_options.values())
        cpu0 = _cpu_seconds(client)
        folder = scratch / f"products_{name}_{n_workers}_{images_per_task}_{malloc}"
        products = run_fitting_stage(catalog, folder, psf=psf, scheduler_address=cluster.scheduler_address,
                                     progress=False,
                                     fit_region=fit_region, images_per_task=images_per_task, **fit_options)
        wall = time.perf_counter() - t0
        cpu = _cpu_seconds(client) - cpu0
        rss = client.run(worker_peak_rss_mib)
        images = products.images
        products.close()
    return {"workers": n_workers, "images_per_task": images_per_task, "malloc": malloc, "wall": wall, **fit_options,
            "rate": len(images) / wall, "cpu": cpu,
            "fitter_s": float(images["time_fitter_s"].sum()),
            "task": float(images["time_image_s"].sum()), "rss": sorted(rss.values()),
            "load": (load_before, os.getloadavg()[0]), "images": images}


def _cpu_seconds(client) -> float:
    """CPU seconds used so far by the workers' processes and this one (user + system)."""
    def cpu() -> float:
        return time.process_time()
    return sum(client.run(cpu).values()) + time.process_time()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "galmerge_bench_mock40_seed3"),
                        help="mock dataset folder (generated when missing)")
    parser.add_argument("--n", type=int, default=40, help="mock images when generating")
    parser.add_argument("--seed", type=int, default=3, help="mock seed when generating")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time")
    parser.add_argument("--fit-region", default="all", choices=["all", "cutout"],
                        help="fit every source (all, default) or only those near the 128 px crop")
    parser.add_argument("--fitters", nargs="+", default=["statmorph", "lm"], help="fitters to compare")
    parser.add_argument("--background", default="flat", help="background of every run (default flat)")
    parser.add_argument("--min-fit-area", type=int, default=None,
                        help="fit only segments of at least this many pixels (the quick profile: 25)")
    parser.add_argument("--images-per-task", type=int, nargs="+", default=[1],
                        help="images per task to compare (1: one image per task, as before issue 23)")
    parser.add_argument("--malloc", nargs="+", default=["stage"], choices=["stage", "dask"],
                        help="workers' malloc settings to compare: the stage's (WORKER_MALLOC_ENV, issue 23) "
                             "or Dask's own (MALLOC_TRIM_THRESHOLD_=65536, as before issue 23)")
    args = parser.parse_args(argv)

    from galmerge.data.catalog import load_catalog, load_psf

    data = ensure_mock(Path(args.data), args.n, args.seed)
    catalog, psf = load_catalog(data), load_psf(data)
    sizes = catalog["image_path"].map(lambda p: Path(p).parent.name).value_counts().to_dict()
    print(f"{len(catalog)} images from {data} ({sizes}); {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}; fit_region={args.fit_region}, background={args.background}, "
          f"min_fit_area={args.min_fit_area}")
    extra = {} if args.min_fit_area is None else {"min_fit_area": args.min_fit_area}
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for fitter in args.fitters:
            for n_workers in args.workers:
                for malloc, per_task in itertools.product(args.malloc, args.images_per_task):
                    r = run_once(catalog, psf, n_workers, Path(scratch), args.fit_region, per_task, malloc,
                                 fitter=fitter, background=args.background, **extra)
                    results.append(r)
                    _print_run(r)
    _print_chunking(results)
    for fitter in args.fitters:
        mine = {r["workers"]: r for r in results if r["fitter"] == fitter and r is _first(results, r)}
        if 1 in mine and 2 in mine:
            print(f"{fitter}: speed-up 2 workers / 1 worker: {mine[2]['rate'] / mine[1]['rate']:.2f} (target >= 1.7)")
    print("\nper fitter (same images, same background): CPU s per image, failures, residual chi")
    summary = {}
    for fitter in args.fitters:
        runs = [r for r in results if r["fitter"] == fitter and r is _first(results, r)]
        images = runs[-1]["images"]
        primary_ok = (images["status"] == "ok") & images["primary_used_in_model"].astype(bool)
        isolated = primary_ok & (images["label"] == 0)
        if "true_kind" in images:
            isolated &= images["true_kind"] == "isolated"
        row = {f"CPU s/image, {r['workers']} worker(s)": float(r["images"]["time_cpu_s"].mean()) for r in runs}
        row.update({
            "fitter share of task time": float(images["time_fitter_s"].sum() / images["time_image_s"].sum()),
            "images not ok": int((images["status"] != "ok").sum()),
            "primaries flag_sersic >= 2": int((images["flag_sersic"] >= 2).sum() + (images["flag_sersic"] < 0).sum()),
            "primaries not in model": int((~primary_ok).sum()),
            "isolated non-mergers": int(isolated.sum()),
            "their mean chi_mean": float(images.loc[isolated, "chi_mean"].mean()),
            "their median chi_rms": float(images.loc[isolated, "chi_rms"].median()),
            "their mean chi_rms": float(images.loc[isolated, "chi_rms"].mean()),
        })
        summary[fitter] = row
    summary = pd.DataFrame(summary)
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    if {"statmorph", "lm"} <= set(args.fitters):
        for n_workers in args.workers:
            key = f"CPU s/image, {n_workers} worker(s)"
            print(f"statmorph / lm CPU s per image, {n_workers} worker(s): "
                  f"{summary.loc[key, 'statmorph'] / summary.loc[key, 'lm']:.1f}x (target >= 8)")
    images = results[-1]["images"]
    per_size = images.groupby("image_ny").agg(images=("ID", "size"), median_s=("time_image_s", "median"),
                                              mean_s=("time_image_s", "mean"),
                                              mean_cpu_s=("time_cpu_s", "mean"),
                                              median_sources=("n_sources", "median"))
    per_size["median_fitted"] = (images["n_sources"] - images["n_skipped"]).groupby(images["image_ny"]).median()
    print(f"per-image time by image size (last run: {results[-1]['fitter']}; wall s and CPU s):")
    print(per_size.round(2).to_string())
    return 0


def _print_run(r: dict) -> None:
    """One line per timed stage run."""
    share = r["fitter_s"] / (r["wall"] * r["workers"])
    images = r["images"]
    print(f"{r['fitter']}, {r['workers']} worker(s), {r['images_per_task']} image(s) per task, {r['malloc']}'s "
          f"malloc settings: {r['rate']:.3f} "
          f"images/s ({r['wall']:.1f} s); {images['time_cpu_s'].mean():.3f} CPU s per image in the tasks, "
          f"{r['cpu'] / len(images):.3f} in all processes (workers and client, Dask included); inside the fitter "
          f"{share:.1%} of worker time (overhead {1 - share:.1%}), {r['fitter_s'] / r['task']:.1%} of the per-image "
          f"task time; peak RSS per worker {', '.join(f'{m:.0f}' for m in r['rss'])} MiB; "
          f"load average {r['load'][0]:.1f} -> {r['load'][1]:.1f}")


def _first(results: list, r: dict) -> dict:
    """The first run of ``r``'s fitter and worker count (the one the others are compared with)."""
    return next(b for b in results if b["fitter"] == r["fitter"] and b["workers"] == r["workers"])


def _print_chunking(results: list) -> None:
    """Per fitter and worker count: CPU s per image against images per task, and whether the products agree."""
    import numpy as np

    for r in results:
        base = _first(results, r)
        if r is base:
            continue
        columns = ["sersic_rhalf", "sersic_n", "sersic_ellip", "sersic_amplitude", "status", "flag_sersic"]
        same = base["images"][columns].equals(r["images"][columns])
        diff = np.nanmax(np.abs(base["images"]["sersic_rhalf"] - r["images"]["sersic_rhalf"])
                         / base["images"]["sersic_rhalf"])
        print(f"{r['fitter']}, {r['workers']} worker(s): {base['images_per_task']} -> {r['images_per_task']} images "
              f"per task, {base['malloc']}'s -> {r['malloc']}'s malloc settings: CPU s per image in the tasks "
              f"{base['images']['time_cpu_s'].mean():.3f} -> "
              f"{r['images']['time_cpu_s'].mean():.3f}, in all processes {base['cpu'] / len(base['images']):.3f} -> "
              f"{r['cpu'] / len(r['images']):.3f}; primaries' fits identical: {same} (max |dr_e|/r_e {diff:.1e})")


if __name__ == "__main__":
    raise SystemExit(main())
