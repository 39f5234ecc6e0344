"""Would stopping on a flat validation curve save time at equal accuracy?

Replays recorded learning curves (``benchmarks/learning_curves.py``'s ``<out>_curves.csv``) under the
rule ``galmerge.nets.training.train_network(patience=p)`` applies: stop once ``p`` epochs in a row
have not improved the validation accuracy at the precision = recall threshold, keep the best epoch.
For each configuration and patience it prints the epoch it would stop after, the epoch and the
validation accuracy it would keep, against the whole run's best, and the share of the training
time spent.

Measured (2026-12-06) on the 17,000-object mock's curves (binned CNN1, 20 epochs;
``benchmarks/results/learning_curves_mock17000_bin2_curves.csv``)::

    .venv/bin/python benchmarks/early_stopping.py benchmarks/results/learning_curves_mock17000_bin2_curves.csv

    N train  patience 3                 patience 4                 patience 6
    3000     kept 0.573 (best 0.591) 49 %   no stop                   no stop
    6000     kept 0.616 (best 0.626) 66 %   0.616, 69 %               no stop
    12000    kept 0.625 (best 0.666) 50 %   0.625, 55 %               no stop

The curves still rise at epoch 20 with plateaus of up to 5 epochs, so a patience of 3-4 epochs stops
on a plateau and loses 1-4 validation points, and 6 never stops within 20 epochs: early stopping
saves nothing at equal accuracy here. The quick profile trains up to 30 epochs with patience 6, so
it only cuts a network that has truly stopped learning.
"""

from __future__ import annotations

import argparse

import pandas as pd

CONFIG = ["n_train", "filters", "augment", "bin", "orbit_fraction"]


def replay(curve: pd.DataFrame, patience: int) -> dict:
    """The epoch the patience rule stops after and the epoch it keeps, for one recorded curve."""
    values, seconds = curve["val_accuracy_pr"].to_numpy(), curve["seconds"].to_numpy()
    best, since, kept, stop = -1.0, 0, 0, len(values)
    for i, value in enumerate(values):
        if value > best:
            best, since, kept = value, 0, i
        else:
            since += 1
            if since >= patience:
                stop = i + 1
                break
    return {"patience": patience, "stops_after": stop, "kept_epoch": kept + 1, "kept_val": values[kept],
            "best_epoch": int(values.argmax()) + 1, "best_val": values.max(),
            "time_share": seconds[:stop].sum() / seconds.sum()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("curves", help="a learning_curves.py <out>_curves.csv")
    parser.add_argument("--patience", type=int, nargs="+", default=[3, 4, 6, 8])
    args = parser.parse_args()
    curves = pd.read_csv(args.curves)
    keys = [c for c in CONFIG if c in curves.columns]
    rows = [{**dict(zip(keys, key if isinstance(key, tuple) else (key,))), **replay(curve, p)}
            for key, curve in curves.groupby(keys) for p in args.patience]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
