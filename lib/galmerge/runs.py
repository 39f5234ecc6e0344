"""A run's outputs: where each file lives, and the one reader and writer of each.

One run folder per (profile, dataset), ``runs/<profile>-<dataset>/``::

    notebooks/            executed notebooks (.ipynb) and their HTML renders
    products/             the fitting step's cubes and tables (see galmerge.sersic.products)
    train/<kind>/         per network: model.keras, history.csv, config.json,
                          scores_validation.csv and scores_test.csv (columns ID, label, score)
    tables/               every table of the analysis as CSV (thresholds.csv among them)
    summary.json          headline numbers, one section per notebook

Figures go to ``figures/<run>/`` (see :func:`galmerge.report.plotting.save_figure`).

A *training folder* (``train/<kind>/``, or any folder :func:`galmerge.nets.training.train_network`
wrote) is read with the ``read_*`` functions; the ``load_*`` functions take a run folder and an
input kind and read that run's training folder.

Decision thresholds follow one rule, :func:`threshold_table`: the value in
``tables/thresholds.csv`` (written by 03_evaluate); for a network missing from it, the same
choice 03_evaluate makes (precision = recall on the validation scores, :func:`choose_threshold`);
for a network without validation scores either, :data:`DEFAULT_THRESHOLD`. Every fallback warns,
and the table's ``source`` column says where each threshold came from.

Every JSON file of a run is written by :func:`write_json` (atomic, sorted keys), which turns
numpy values into Python ones and NaN or infinities into ``null`` (:func:`to_jsonable`).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galmerge.vocab import INPUT_KINDS, SCORED_SPLITS, check_input_kind

#: Files of a training folder.
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
CONFIG_FILE = "config.json"
#: Columns of ``scores_<split>.csv``, in order.
SCORE_COLUMNS = ("ID", "label", "score")
#: Every file of a finished training folder; ``scores_test.csv`` is written last.
TRAINING_FILES = (MODEL_FILE, HISTORY_FILE, CONFIG_FILE, *(f"scores_{s}.csv" for s in SCORED_SPLITS))
#: Name of the thresholds table under ``tables/``.
THRESHOLDS_TABLE = "thresholds"
#: Threshold of a network with neither a thresholds-table row nor validation scores, or whose
#: validation split has no merger (precision = recall is then undefined).
DEFAULT_THRESHOLD = 0.5


class RunError(FileNotFoundError):
    """A run folder lacks an output that an earlier notebook should have written."""


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
        return self.root / "train" / check_input_kind(kind)

    def scores(self, kind: str, split: str) -> Path:
        return self.train(kind) / scores_file(split)

    def trained_kinds(self) -> list[str]:
        """Input kinds that have a finished training folder (scores_test.csv present), in INPUT_KINDS order."""
        return [k for k in INPUT_KINDS if (self.root / "train" / k / scores_file("test")).exists()]

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


def scores_file(split: str) -> str:
    """``scores_<split>.csv`` for a scored split (validation or test)."""
    if split not in SCORED_SPLITS:
        raise ValueError(f"split must be one of {SCORED_SPLITS}, got {split!r}")
    return f"scores_{split}.csv"


def trained_kinds(run_dir: str | Path) -> list[str]:
    """Networks with test scores in the run, in INPUT_KINDS order; a :class:`RunError` when there are none."""
    kinds = RunPaths(run_dir).trained_kinds()
    if not kinds:
        raise RunError(f"{RunPaths(run_dir).root / 'train'}: no trained network "
                       f"(no train/<kind>/scores_test.csv for any of {INPUT_KINDS}); run 02_train first")
    return kinds


# --------------------------------------------------------------------------- JSON
def to_jsonable(value: Any) -> Any:
    """Plain Python for JSON, recursively: numpy scalars and arrays to numbers and lists, NaN and
    infinities to None, paths to strings. Anything else that JSON cannot hold is a TypeError."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray, pd.Series, pd.Index)):
        return [to_jsonable(v) for v in list(value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot write a {type(value).__name__} to JSON: {value!r}")


def write_json(path: str | Path, values: dict) -> Path:
    """Write ``values`` (through :func:`to_jsonable`) to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(to_jsonable(values), indent=2, sort_keys=True, allow_nan=False))
    os.replace(tmp, path)
    return path


def read_json(path: str | Path, what: str = "") -> dict:
    """A JSON file as a dict; a :class:`RunError` naming the file (and ``what`` writes it) when missing."""
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path}: missing{'; ' + what if what else ''}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


# --------------------------------------------------------------------------- summary.json
def load_summary(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``summary.json`` (empty when no notebook has written it yet)."""
    path = RunPaths(run_dir).summary
    return read_json(path) if path.exists() else {}


def update_summary(run_dir: str | Path, section: str, values: dict[str, Any]) -> dict[str, Any]:
    """Set ``summary.json[section]`` to ``values`` (written atomically); returns the whole summary."""
    summary = load_summary(run_dir)
    summary[section] = to_jsonable(values)
    write_json(RunPaths(run_dir).summary, summary)
    return summary


# --------------------------------------------------------------------------- scores
def write_scores(path: str | Path, ids, labels, scores) -> pd.DataFrame:
    """Write a scores file (``ID, label, score``, scores to 9 significant digits); returns the table."""
    table = pd.DataFrame({"ID": np.asarray(ids, dtype=np.int64), "label": np.asarray(labels).astype(int),
                          "score": np.asarray(scores, dtype=float)})
    table.to_csv(path, index=False, float_format="%.9g")
    return table


def read_scores(path: str | Path) -> pd.DataFrame:
    """A scores file: ``ID`` (int64), ``label`` (0/1, int8), ``score`` (float), in file order.

    Raises
    ------
    RunError
        When the file is missing (the network was not trained, or its training did not finish).
    ValueError
        When it lacks a column, repeats an ID, or holds bad labels or non-finite scores.
    """
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path}: no scores; train this network (02_train) first")
    frame = pd.read_csv(path)
    missing = [c for c in SCORE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(SCORE_COLUMNS)}")
    if frame["ID"].duplicated().any():
        raise ValueError(f"{path}: {int(frame['ID'].duplicated().sum())} repeated IDs")
    if not frame["label"].isin((0, 1)).all():
        raise ValueError(f"{path}: labels must be 0 or 1")
    score = frame["score"].to_numpy(dtype=float)
    if not np.isfinite(score).all():
        raise ValueError(f"{path}: {int((~np.isfinite(score)).sum())} non-finite scores")
    return frame[list(SCORE_COLUMNS)].astype({"ID": np.int64, "label": np.int8, "score": float})


def load_scores(run_dir: str | Path, kind: str, split: str) -> pd.DataFrame:
    """One network's scores on one split of a run (:func:`read_scores`)."""
    return read_scores(RunPaths(run_dir).scores(kind, split))


def load_wide_scores(run_dir: str | Path, kinds: Sequence[str], split: str = "test") -> pd.DataFrame:
    """Several networks' scores side by side: ``ID, label, score_<kind>`` per kind, sorted by ID.

    Galaxies scored by only some of the networks are dropped *with a warning that counts them*;
    labels that disagree between networks are an error.
    """
    if not kinds:
        raise ValueError("load_wide_scores: no network given")
    wide = None
    for kind in kinds:
        table = load_scores(run_dir, kind, split).rename(columns={"score": f"score_{kind}",
                                                                   "label": f"label_{kind}"})
        if wide is None:
            wide = table
            continue
        merged = wide.merge(table, on="ID", how="inner")
        lost = len(wide) + len(table) - 2 * len(merged)
        if lost:
            warnings.warn(f"{RunPaths(run_dir).scores(kind, split)}: {lost} {split} galaxies are not scored "
                          "by every network; only those scored by all are used", stacklevel=2)
        wide = merged
    labels = wide[[f"label_{k}" for k in kinds]].to_numpy()
    if (labels != labels[:, :1]).any():
        raise ValueError(f"{run_dir}: the networks' scores_{split}.csv disagree on labels")
    wide = wide.rename(columns={f"label_{kinds[0]}": "label"}).drop(columns=[f"label_{k}" for k in kinds[1:]])
    return wide.sort_values("ID").reset_index(drop=True)


# --------------------------------------------------------------------------- thresholds
def choose_threshold(labels, scores) -> dict[str, Any]:
    """The precision = recall threshold of one network on its validation scores.

    Returns ``threshold, method, val_precision, val_recall, exact``. A validation split without
    mergers leaves the threshold undefined: :data:`DEFAULT_THRESHOLD` is then used, with a
    warning, and ``method`` says so.
    """
    from galmerge.analysis.metrics import choose_precision_recall_threshold

    try:
        choice = choose_precision_recall_threshold(labels, scores)
    except ValueError as err:
        warnings.warn(f"{err}; using threshold {DEFAULT_THRESHOLD}", stacklevel=2)
        return {"threshold": DEFAULT_THRESHOLD, "method": f"fallback {DEFAULT_THRESHOLD}: {err}",
                "val_precision": np.nan, "val_recall": np.nan, "exact": False}
    return {"threshold": choice.threshold,
            "method": "precision = recall" if choice.exact else "min |precision - recall|",
            "val_precision": choice.precision, "val_recall": choice.recall, "exact": choice.exact}


def choose_thresholds(run_dir: str | Path, kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """Each network's precision = recall threshold on its validation scores (what 03_evaluate writes).

    Returns
    -------
    pandas.DataFrame
        ``kind, threshold, method, val_precision, val_recall, exact, n_validation, n_val_mergers``.
    """
    kinds = list(kinds) if kinds is not None else trained_kinds(run_dir)
    rows = []
    for kind in kinds:
        val = load_scores(run_dir, kind, "validation")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            choice = choose_threshold(val["label"], val["score"])
        for w in caught:
            warnings.warn(f"{kind}: {w.message}", stacklevel=2)
        rows.append({"kind": kind, **choice, "n_validation": len(val), "n_val_mergers": int(val["label"].sum())})
    columns = ["kind", "threshold", "method", "val_precision", "val_recall", "exact", "n_validation",
               "n_val_mergers"]
    return pd.DataFrame(rows, columns=columns)


def write_thresholds(run_dir: str | Path, table: pd.DataFrame) -> Path:
    """Write ``tables/thresholds.csv`` (the table of :func:`choose_thresholds`)."""
    missing = {"kind", "threshold"} - set(table.columns)
    if missing:
        raise ValueError(f"thresholds table lacks column(s) {sorted(missing)}")
    path = RunPaths(run_dir).table(THRESHOLDS_TABLE)
    table.to_csv(path, index=False)
    return path


def threshold_table(run_dir: str | Path, kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """Each network's decision threshold and where it came from (the module's one rule).

    Parameters
    ----------
    run_dir : str or Path
    kinds : sequence of str, optional
        Networks; default every trained one (:func:`trained_kinds`).

    Returns
    -------
    pandas.DataFrame
        ``kind, threshold, source``; one row per kind, in the order given.
    """
    paths = RunPaths(run_dir)
    kinds = list(kinds) if kinds is not None else trained_kinds(run_dir)
    table_path = paths.tables / f"{THRESHOLDS_TABLE}.csv"
    known: dict[str, float] = {}
    if table_path.exists():
        table = pd.read_csv(table_path)
        if not {"kind", "threshold"} <= set(table.columns):
            raise ValueError(f"{table_path}: needs columns kind and threshold, has {list(table.columns)}")
        known = {str(k): float(t) for k, t in zip(table["kind"], table["threshold"])}
    rows = []
    for kind in kinds:
        if kind in known and np.isfinite(known[kind]):
            rows.append((kind, known[kind], str(table_path)))
            continue
        validation = paths.scores(kind, "validation")
        why = f"no threshold for {kind!r} in {table_path}"
        if validation.exists():
            scores = read_scores(validation)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                choice = choose_threshold(scores["label"], scores["score"])
            warnings.warn(f"{why}: chose it on {validation} ({choice['method']})", stacklevel=2)
            rows.append((kind, float(choice["threshold"]), f"{choice['method']} on {validation}"))
            continue
        warnings.warn(f"{why} and no {validation}: using {DEFAULT_THRESHOLD}", stacklevel=2)
        rows.append((kind, DEFAULT_THRESHOLD,
                     f"default {DEFAULT_THRESHOLD} (no threshold table row, no validation scores)"))
    return pd.DataFrame(rows, columns=["kind", "threshold", "source"])


def load_thresholds(run_dir: str | Path, kinds: Sequence[str] | None = None) -> dict[str, float]:
    """``{kind: threshold}`` by the rule of :func:`threshold_table`."""
    table = threshold_table(run_dir, kinds)
    return dict(zip(table["kind"], table["threshold"].astype(float)))


# --------------------------------------------------------------------------- training folders
def is_finished(out_dir: str | Path) -> bool:
    """True when ``out_dir`` holds every output of a finished training (:data:`TRAINING_FILES`)."""
    return all((Path(out_dir) / name).exists() for name in TRAINING_FILES)


def read_network(out_dir: str | Path, compile: bool = False):
    """The trained network (best epoch) saved in a training folder.

    ``compile=False`` (default) is enough for prediction, occlusion and feature maps.
    """
    import keras

    path = Path(out_dir) / MODEL_FILE
    if not path.exists():
        raise RunError(f"{path}: no trained model; run the training notebook (02_train) first")
    return keras.models.load_model(path, compile=compile)


def load_network(run_dir: str | Path, kind: str, compile: bool = False):
    """The trained network ``<run_dir>/train/<kind>/model.keras`` (:func:`read_network`)."""
    return read_network(RunPaths(run_dir).train(kind), compile=compile)


def load_networks(run_dir: str | Path, kinds: Sequence[str] | None = None) -> dict:
    """``{kind: keras model}`` for every trained network of the run (or the ``kinds`` asked for)."""
    kinds = list(kinds) if kinds else trained_kinds(run_dir)
    return {kind: load_network(run_dir, kind) for kind in kinds}


def read_config(out_dir: str | Path) -> dict:
    """The ``config.json`` of a training folder (parameters, versions, results)."""
    return read_json(Path(out_dir) / CONFIG_FILE, f"the training in {Path(out_dir)} did not finish")


def write_history(out_dir: str | Path, history: pd.DataFrame) -> Path:
    """Write a training folder's ``history.csv`` (one row per epoch)."""
    path = Path(out_dir) / HISTORY_FILE
    history.to_csv(path, index=False, float_format="%.9g")
    return path


def read_history(out_dir: str | Path) -> pd.DataFrame:
    """A training folder's ``history.csv``: ``epoch``, Keras' metrics, ``seconds``, ``best``."""
    path = Path(out_dir) / HISTORY_FILE
    if not path.exists():
        raise RunError(f"{path}: missing; the training in {Path(out_dir)} did not finish")
    return pd.read_csv(path)


def load_history(run_dir: str | Path, kind: str) -> pd.DataFrame:
    """The training history of one network of a run (:func:`read_history`)."""
    return read_history(RunPaths(run_dir).train(kind))


# --------------------------------------------------------------------------- executed notebooks
#: Cell tags whose input the rendered HTML hides (imports and other plumbing; the defaults of the
#: parameters cell, which papermill's injected cell overrides and shows).
HIDDEN_INPUT_TAGS = ("remove-input", "parameters")


def collapse_progress(text: str) -> str:
    """What a terminal shows of ``text``: of each line rewritten with carriage returns (progress
    bars), only its last state is kept, so a bar leaves one line instead of hundreds."""
    lines = []
    for line in text.split("\n"):
        parts = [part for part in line.split("\r") if part.strip()]
        lines.append(parts[-1] if parts else line.replace("\r", ""))
    return "\n".join(lines)


def tidy_executed_notebook(notebook) -> int:
    """Merge each cell's consecutive stream outputs and collapse progress bars in them
    (:func:`collapse_progress`), in place; returns how many characters were removed."""
    removed = 0
    for cell in notebook.cells:
        if cell.get("cell_type") != "code" or not cell.get("outputs"):
            continue
        merged = []
        for output in cell["outputs"]:
            if (output.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                    and merged[-1].get("name") == output.get("name")):
                merged[-1]["text"] += output["text"]
            else:
                merged.append(output)
        for output in merged:
            if output.get("output_type") == "stream":
                before = len(output["text"])
                output["text"] = collapse_progress(output["text"])
                removed += before - len(output["text"])
        cell["outputs"] = merged
    return removed


def source_fingerprint(modules: Sequence[str], length: int = 12) -> str:
    """A short hex hash of the code of ``modules``: the cache key part that says which code made a product.

    Each name is a dotted module (``"galmerge.sersic.lm"``) or package (every ``.py`` file under it,
    recursively). Each file is parsed and its syntax tree hashed without docstrings, comments or line
    numbers, so that editing the documentation does not invalidate hours of fits while any change to
    the code does (a constant, an expression, a default). The tree's text depends on the Python
    version, so a new Python also gives a new fingerprint (a refit rather than a silent mismatch).
    Modules are located without being imported.

    Parameters
    ----------
    modules : sequence of str
        Dotted names of modules or packages; their order does not matter.
    length : int
        Hex digits kept of the SHA-256 (12: 48 bits, far from any collision among a project's versions).

    Returns
    -------
    str
        ``length`` lowercase hex digits.

    Raises
    ------
    ValueError
        A name that is not an importable module or package, or a source file that does not parse.
    """
    import ast
    import hashlib
    import importlib.util

    def files_of(name: str) -> list[Path]:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError) as err:
            raise ValueError(f"source_fingerprint: no module named {name!r} ({err})") from err
        if spec is None or spec.origin is None:
            raise ValueError(f"source_fingerprint: no module named {name!r}")
        if spec.submodule_search_locations:
            return sorted(p for folder in spec.submodule_search_locations for p in Path(folder).rglob("*.py"))
        return [Path(spec.origin)]

    def code_of(path: Path) -> str:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, SyntaxError) as err:
            raise ValueError(f"source_fingerprint: cannot parse {path}: {err}") from err
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        return ast.dump(tree, include_attributes=False)

    digest = hashlib.sha256()
    for name in sorted(set(modules)):
        for path in files_of(name):
            digest.update(f"{name}:{path.name}\n{code_of(path)}\n".encode())
    return digest.hexdigest()[:length]
