"""Would stopping on a flat validation curve save time at equal accuracy?

Replays recorded learning curves (``benchmarks/learning_curves.py``'s ``<out>_curves.csv``) under two
rules: ``--on accuracy`` stops once ``p`` epochs in a row have not improved the validation accuracy at
the precision = recall threshold; ``--on loss`` (what ``galmerge.nets.training.train_network(patience=p)``
does) once ``p`` epochs have not lowered the validation loss. Both keep the best-accuracy epoch seen.
For each configuration and patience it prints the epoch it would stop after, the epoch and the
validation accuracy it would keep, against the whole run's best, and the share of the training
time spent.

Measured (2026-12-06) on the 17,000-object mock's curves (binned CNN1, 20 epochs;
``benchmarks/results/learning_curves_mock17000_bin2_curves.csv``)::

    .venv/bin/python benchmarks/early_stopping.py benchmarks/results/learning_curves_mock17000_bin2_curves.csv

    N train  on accuracy, patience 3 / 4 / 6        on loss, patience 4 / 6
    3000     kept 0.573 / 0.591 / 0.591 (best 0.591)  0.515 / 0.515
    6000     kept 0.616 / 0.616 / 0.626 (best 0.626)  0.616 / 0.626
    12000    kept 0.625 / 0.625 / 0.666 (best 0.666)  0.639 / 0.666

The curves still rise at epoch 20 with plateaus of up to 5 epochs, so a short patience stops on a
plateau and loses 1-8 validation points; patience 6 on the accuracy never stopped within 20 epochs
here, but in the quick run of 2026-12-06 (30 epochs) it stopped CNN2 at epoch 10, six epochs after a
lucky spike, while its validation loss still fell; on the loss, patience 6 stops the 3,000-image curve
at epoch 7. No rule saved time at equal accuracy, so the quick profile trains every epoch
(``patience`` stays available, on the loss, for longer trainings).
"""

from __future__ import annotations

import argparse

import pandas as pd

CONFIG = ["n_train", "filters", "augment", "bin", "orbit_fraction"]


def replay(curve: pd.DataFrame, patience: int, on: str = "loss") -> dict:
    """The epoch the patience rule stops after and the epoch it keeps, for one recorded curve."""
    values, seconds = curve["val_accuracy_pr"].to_numpy(), curve["seconds"].to_numpy()
    watched = -curve["val_loss"].to_numpy() if on == "loss" else values
    best, kept, stop, best_watched, since = -1.0, 0, len(values), -float("inf"), 0
    for i, value in enumerate(values):
        if value > best:
            best, kept = value, i
        if watched[i] > best_watched:
            best_watched, since = watched[i], 0
        else:
            since += 1
            if since >= patience:
                stop = i + 1
                break
    return {"rule": on, "patience": patience, "stops_after": stop, "kept_epoch": kept + 1, "kept_val": values[kept],
            "best_epoch": int(values.argmax()) + 1, "best_val": values.max(),
            "time_share": seconds[:stop].sum() / seconds.sum()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("curves", help="a learning_curves.py <out>_curves.csv")
    parser.add_argument("--patience", type=int, nargs="+", default=[3, 4, 6, 8])
    parser.add_argument("--on", choices=("loss", "accuracy"), nargs="+", default=["accuracy", "loss"])
    args = parser.parse_args()
    curves = pd.read_csv(args.curves)
    keys = [c for c in CONFIG if c in curves.columns]
    rows = [{**dict(zip(keys, key if isinstance(key, tuple) else (key,))), **replay(curve, p, on)}
            for key, curve in curves.groupby(keys) for on in args.on for p in args.patience]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
