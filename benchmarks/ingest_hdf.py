#!/usr/bin/env python
"""Issue 14's acceptance run: ~200 colour JPEG cutouts of ~400 px with a filename,label table go
through ``galmerge.ingest`` and ``run_all.py --profile smoke`` end to end; prints the wall time of
each part, what dominated it, and checks that every image is accounted for.

    python benchmarks/ingest_hdf.py --work /tmp/hdf_bench                # 200 crops of 400 px
    python benchmarks/ingest_hdf.py --work /tmp/hdf_bench -p min_fit_area=200
    python benchmarks/ingest_hdf.py --work /tmp/hdf_bench --transfer smoke-mock_smoke

The cutouts are crops of scikit-image's Hubble Deep Field (galmerge.demo_cutouts): real pixels,
overlapping crops (200 crops of 400 px from an 872 x 1000 px field), made-up labels. Extra
``-p KEY=VALUE`` go to run_all.py. With ``--transfer RUN`` the networks of RUN also score the
ingested test galaxies (08_transfer) and the transfer table is printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (replaced)")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--transfer", help="run name or folder whose networks score the ingested test split")
    parser.add_argument("-p", "--param", action="append", default=[], help="passed on to run_all.py")
    args = parser.parse_args(argv)

    from galmerge.demo_cutouts import write_hdf_cutouts

    if args.work.exists():
        shutil.rmtree(args.work)
    images, dataset, run_dir = args.work / "cutouts", args.work / "hdf_jpeg", args.work / f"{args.profile}-hdf_jpeg"
    t0 = time.perf_counter()
    labels = write_hdf_cutouts(images, n=args.n, size=args.size, formats=("jpeg",), seed=0)
    t_make = time.perf_counter() - t0

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "galmerge.ingest", "--images", str(images), "--labels", str(labels),
                    "--out", str(dataset), "--no-progress"], check=True, cwd=REPO)
    t_ingest = time.perf_counter() - t0

    params = list(args.param)
    if args.transfer:
        source = Path(args.transfer).resolve() if Path(args.transfer).exists() else args.transfer
        params.append(f"transfer_models={source}")
    command = [sys.executable, str(REPO / "run_all.py"), "--profile", args.profile, "--data", str(dataset),
               "--out", str(run_dir)] + [x for p in params for x in ("-p", p)]
    t0 = time.perf_counter()
    result = subprocess.run(command, cwd=REPO)
    t_run = time.perf_counter() - t0

    print("\n=== issue 14 acceptance run ===")
    print("command:", " ".join(command))
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "unknown"
    print(f"load average at the end (1, 5, 15 min): {load}; the wall times below include waiting for the CPU")
    print(f"make {args.n} JPEG crops of {args.size} px: {t_make:.0f} s; ingest: {t_ingest:.0f} s; "
          f"run_all: {t_run:.0f} s; ingest + run_all: {(t_ingest + t_run) / 60:.1f} min (exit {result.returncode})")
    catalog = pd.read_csv(dataset / "catalog_merger_challenge_TNG_train.csv")
    problems = pd.read_csv(dataset / "ingest_problems.csv")
    table = pd.read_csv(labels)
    accounted = set(catalog["filename"]) | set(problems["filename"])
    print(f"table rows {len(table)}, ingested {len(catalog)}, listed problems {len(problems)}, "
          f"unaccounted {len(set(table['filename']) - accounted)}")
    log = run_dir / "run_log.json"
    if log.exists():
        steps = json.loads(log.read_text())
        print("seconds per notebook:", {k: v["seconds"] for k, v in steps.items()})
    images_table = run_dir / "products" / "images.parquet"
    if images_table.exists():
        fitted = pd.read_parquet(images_table)
        print(f"fitting: {len(fitted)} images, status {fitted['status'].value_counts().to_dict()}, "
              f"mean {fitted['n_sources'].mean():.0f} sources/image ({fitted['n_used'].mean():.0f} in the model), "
              f"mean {fitted['time_image_s'].mean():.1f} s/image wall in a worker, "
              f"{fitted['time_cpu_s'].sum():.0f} CPU s in all ({fitted['time_cpu_s'].sum() / 2 / 60:.1f} min "
              "on 2 idle cores)")
    transfer = run_dir / "tables" / "transfer_table1.csv"
    if transfer.exists():
        print("transfer table:\n" + pd.read_csv(transfer).round(3).to_string(index=False))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
