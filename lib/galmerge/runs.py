"""Where a run keeps its files. One run folder per (profile, dataset), ``runs/<profile>-<dataset>/``::

    notebooks/            executed notebooks (.ipynb) and their HTML renders
    products/             the fitting stage's cubes and tables (see galmerge.products)
    train/<kind>/         per network: model.keras, history.csv, config.json,
                          scores_validation.csv and scores_test.csv (columns ID, label, score)
    tables/               every table of the analysis as CSV
    summary.json          headline numbers, one section per notebook

Figures go to ``figures/<run>/`` (see :func:`galmerge.plotting.save_figure`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: The inputs of the networks: CNN1 raw, CNN2 model, CNN3 residual, and the three stacked.
INPUT_KINDS = ("raw", "model", "residual", "stack")
#: Channels each input kind reads from the products cubes.
KIND_CHANNELS = {"raw": ("raw",), "model": ("model",), "residual": ("residual",),
                 "stack": ("raw", "model", "residual")}


class RunPaths:
    """Paths inside one run folder; creates nothing until asked."""

    def __init__(self, run_dir: str | Path):
        self.root = Path(run_dir)

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def products(self) -> Path:
        return self.root / "products"

    def train(self, kind: str) -> Path:
        if kind not in INPUT_KINDS:
            raise ValueError(f"input kind must be one of {INPUT_KINDS}, got {kind!r}")
        return self.root / "train" / kind

    def trained_kinds(self) -> list[str]:
        """Input kinds that have a finished training folder (scores_test.csv present), in INPUT_KINDS order."""
        return [k for k in INPUT_KINDS if (self.root / "train" / k / "scores_test.csv").exists()]

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    def table(self, name: str) -> Path:
        """Path of ``tables/<name>.csv``, creating the folder."""
        self.tables.mkdir(parents=True, exist_ok=True)
        return self.tables / f"{name}.csv"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"


def update_summary(run_dir: str | Path, section: str, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into ``summary.json[section]`` (written atomically); returns the whole summary."""
    path = RunPaths(run_dir).summary
    summary = json.loads(path.read_text()) if path.exists() else {}
    summary[section] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, default=_jsonable))
    os.replace(tmp, path)
    return summary


def _jsonable(value):
    """numpy scalars and arrays to plain Python for json."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to summary.json")
