"""A run's outputs: :class:`Run`, the one reader and writer of a run folder's files.

One run folder per (profile, dataset), ``runs/<profile>-<dataset>/``::

    notebooks/            executed notebooks (.ipynb), their HTML renders, and the sources
                          run_all.py executed (notebooks/input/)
    products/             the fitting step's cubes and tables (read with galmerge.sersic.products.Products)
    products/stage.json   how the products were made (the fitting stage's record and cache key)
    train/<kind>/         per network: model.keras, history.csv, config.json,
                          scores_validation.csv and scores_test.csv (columns ID, label, score)
                          of the run's first train seed, and seeds.json (the train seeds 02_train
                          trained, first one first)
    train/<kind>/seed_<s>/  the same files for every further train seed s (profile parameter seeds >= 2)
    tables/               every table of the analysis as CSV (thresholds.csv and table1.csv among them)
    summary.json          headline numbers, one section per notebook

Figures go to ``figures/<run>/`` (see :func:`galmerge.report.plotting.save_figure`).

Open a run with ``run = Run("runs/quick-mock_quick")`` and ask it for what you need:
``run.summary``, ``run.stage``, ``run.table("table1", index_col="kind")``, ``run.scores("raw", "test")``,
``run.network("raw")``, ``run.train_dir("raw")``. Nothing is read until asked for, and a file is read
again on each access, because the notebooks write a run's files while others read them. A missing
file is a :class:`RunError` that names it and the notebook that writes it.

Training variance (issue 23): a network trained with k train seeds has k training folders, the first
seed's in ``train/<kind>/`` (where a one-seed run keeps it), each further seed's in
``train/<kind>/seed_<s>/`` (:meth:`Run.seed_dirs`, the one rule); ``train/<kind>/seeds.json`` lists the
seeds of the run (:meth:`Run.train_seeds`), so folders of seeds a later run no longer asks for are not read.

A *training folder* (``train/<kind>/``, or any folder :func:`galmerge.nets.training.train_network`
wrote) is read with the ``read_*`` functions; the fitting stage's record (``stage.json`` of a
products folder) with :func:`read_stage_record` and :func:`write_stage_record`.

Which decision threshold a network gets is the analysis' rule, not this module's:
:func:`galmerge.analysis.evaluation.threshold_table` (this module only reads and writes
``tables/thresholds.csv``).

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
#: The fitting stage's record in a products folder (and in its ``parts/``).
STAGE_FILE = "stage.json"
#: The run's headline numbers.
SUMMARY_FILE = "summary.json"
#: Name of the thresholds table under ``tables/`` (written by 03_evaluate).
THRESHOLDS_TABLE = "thresholds"
#: The train seeds of a network (``train/<kind>/seeds.json``, written by 02_train).
SEEDS_FILE = "seeds.json"
#: Where the seed-variance benchmark (``benchmarks/seed_variance.py``) keeps its tables, one per profile.
BENCHMARK_RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
#: Columns of a seed-variance table (:func:`write_seed_variance`), in order.
SEED_VARIANCE_COLUMNS = ("profile", "run", "dataset", "kind", "seed", "own_seed", "subset", "accuracy",
                         "precision", "recall", "auc", "n", "threshold")


class RunError(FileNotFoundError):
    """A run folder lacks an output that an earlier notebook should have written."""


def scores_file(split: str) -> str:
    """``scores_<split>.csv`` for a scored split (validation or test)."""
    if split not in SCORED_SPLITS:
        raise ValueError(f"split must be one of {SCORED_SPLITS}, got {split!r}")
    return f"scores_{split}.csv"


class Run:
    """One run folder: where each of its files lives, and its contents on demand.

    Parameters
    ----------
    path : str or Path
        The run folder (``runs/<profile>-<dataset>``). Nothing is created or read here; the
        properties and methods read (or write) a file when asked.

    Examples
    --------
    >>> run = Run("runs/quick-mock_quick")                    # doctest: +SKIP
    >>> run.summary["evaluate"]["n_test"]                      # doctest: +SKIP
    >>> run.table("table1", index_col="kind").loc["raw"]       # doctest: +SKIP
    """

    def __init__(self, path: str | Path):
        self.root = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.root)!r})"

    def __fspath__(self) -> str:
        return str(self.root)

    @property
    def name(self) -> str:
        """The run's name: its folder's name (``<profile>-<dataset>``)."""
        return self.root.resolve().name

    # ----------------------------------------------------------------- folders
    @property
    def notebooks(self) -> Path:
        """Folder of the executed notebooks and their HTML (``notebooks/``)."""
        return self.root / "notebooks"

    @property
    def products(self) -> Path:
        """The fitting step's products folder (``products/``; open it with
        :class:`galmerge.sersic.products.Products`)."""
        return self.root / "products"

    @property
    def tables(self) -> Path:
        """Folder of the analysis tables (``tables/``)."""
        return self.root / "tables"

    def train_dir(self, kind: str) -> Path:
        """The training folder of one network, ``train/<kind>/`` (created by its training); it holds the
        run's first train seed (:meth:`seed_dirs`)."""
        return self.root / "train" / check_input_kind(kind)

    def seed_dirs(self, kind: str, seeds: Sequence[int]) -> dict[int, Path]:
        """``{seed: training folder}`` of one network trained with ``seeds``: the first seed in
        ``train/<kind>/`` (:meth:`train_dir`, where a one-seed run keeps it), every further seed ``s`` in
        ``train/<kind>/seed_<s>/``. The one rule of where a seed's training goes."""
        seeds = [int(s) for s in seeds]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
        first = self.train_dir(kind)
        return {s: first if i == 0 else first / f"seed_{s}" for i, s in enumerate(seeds)}

    def write_train_seeds(self, kind: str, seeds: Sequence[int]) -> Path:
        """Record the train seeds of one network (``train/<kind>/seeds.json``, first seed first)."""
        self.seed_dirs(kind, seeds)  # checks them
        return write_json(self.train_dir(kind) / SEEDS_FILE, {"seeds": [int(s) for s in seeds]})

    def train_seeds(self, kind: str) -> list[int]:
        """The train seeds 02_train recorded for one network (first one first). A folder without the
        record (made before seeds existed) holds one seed: the one its ``config.json`` names (0 when it
        has no config either)."""
        path = self.train_dir(kind) / SEEDS_FILE
        if path.exists():
            return [int(s) for s in read_json(path)["seeds"]]
        config = self.train_dir(kind) / CONFIG_FILE
        return [int(read_json(config).get("parameters", {}).get("seed", 0))] if config.exists() else [0]

    def seed_scores(self, kind: str, split: str) -> dict[int, pd.DataFrame]:
        """``{seed: scores}`` of one network on one split, for every recorded train seed
        (:meth:`train_seeds`, :meth:`seed_dirs`); a seed without scores is a :class:`RunError`."""
        folders = self.seed_dirs(kind, self.train_seeds(kind))
        return {seed: read_scores(folder / scores_file(split)) for seed, folder in folders.items()}

    @property
    def profile(self) -> str:
        """The profile the run was made with: the last one run_all.py logged in ``run_log.json``, else the
        part of the run's name before the first '-' (``<profile>-<dataset>``)."""
        log = self.root / "run_log.json"
        if log.exists():
            profiles = [v.get("profile") for v in read_json(log).values() if isinstance(v, dict) and v.get("profile")]
            if profiles:
                return str(profiles[-1])
        return self.name.split("-", 1)[0]

    @property
    def report_markdown(self) -> Path:
        """``REPORT.md``, the report the last notebook writes (:func:`galmerge.report.markdown.write_report`)."""
        return self.root / "REPORT.md"

    @property
    def report_html(self) -> Path:
        """``report.html``, the same report rendered as HTML."""
        return self.root / "report.html"

    # ----------------------------------------------------------------- summary.json
    @property
    def summary_path(self) -> Path:
        """``summary.json``: the headline numbers, one section per notebook."""
        return self.root / SUMMARY_FILE

    @property
    def summary(self) -> dict[str, Any]:
        """The run's ``summary.json`` as a dict (empty when no notebook has written it yet)."""
        return read_json(self.summary_path) if self.summary_path.exists() else {}

    def update_summary(self, section: str, values: dict[str, Any]) -> dict[str, Any]:
        """Set ``summary.json[section]`` to ``values`` (written atomically); returns the whole summary."""
        summary = self.summary
        summary[section] = to_jsonable(values)
        write_json(self.summary_path, summary)
        return summary

    # ----------------------------------------------------------------- fitting stage
    @property
    def stage(self) -> dict[str, Any]:
        """The fitting stage's record (``products/stage.json``): cutout_mode, psf_sha1, fit_options, ...

        Raises
        ------
        RunError
            When the run has no finished fitting stage (no ``products/stage.json``).
        """
        record = read_stage_record(self.products)
        if record is None:
            raise RunError(f"{self.products / STAGE_FILE}: missing or unreadable; "
                           "run the fitting notebook (01_sersic_fitting) first")
        return record

    @property
    def has_stage(self) -> bool:
        """True when the fitting stage left its record (``products/stage.json``)."""
        return (self.products / STAGE_FILE).exists()

    # ----------------------------------------------------------------- tables
    def table_path(self, name: str) -> Path:
        """Path of ``tables/<name>.csv`` (nothing is created)."""
        if not name or "/" in name or name.endswith(".csv"):
            raise ValueError(f"table name {name!r}: give the bare name, e.g. 'table1' for tables/table1.csv")
        return self.tables / f"{name}.csv"

    def has_table(self, name: str) -> bool:
        """True when ``tables/<name>.csv`` exists."""
        return self.table_path(name).exists()

    def table(self, name: str, index_col: str | int | None = None) -> pd.DataFrame:
        """The table ``tables/<name>.csv``, e.g. ``run.table("table1", index_col="kind")``.

        Raises
        ------
        RunError
            When the table was not written (the notebook that writes it has not run).
        """
        path = self.table_path(name)
        if not path.exists():
            raise RunError(f"{path}: missing; run the notebook that writes table {name!r} first")
        return pd.read_csv(path, index_col=index_col)

    def write_table(self, name: str, table: pd.DataFrame, index: bool = True) -> Path:
        """Write ``table`` to ``tables/<name>.csv`` (creating the folder); returns the path."""
        path = self.table_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=index)
        return path

    def remove_table(self, name: str) -> None:
        """Delete ``tables/<name>.csv`` if it exists (a notebook that no longer applies clears its table)."""
        self.table_path(name).unlink(missing_ok=True)

    @property
    def recorded_thresholds(self) -> dict[str, float]:
        """``{kind: threshold}`` as 03_evaluate recorded them in ``tables/thresholds.csv`` (empty when
        absent; NaN rows left out). The threshold a network is *used* at follows the analysis' rule,
        :func:`galmerge.analysis.evaluation.threshold_table`."""
        if not self.has_table(THRESHOLDS_TABLE):
            return {}
        table = self.table(THRESHOLDS_TABLE)
        if not {"kind", "threshold"} <= set(table.columns):
            raise ValueError(f"{self.table_path(THRESHOLDS_TABLE)}: needs columns kind and threshold, "
                             f"has {list(table.columns)}")
        return {str(k): float(t) for k, t in zip(table["kind"], table["threshold"]) if np.isfinite(t)}

    # ----------------------------------------------------------------- networks
    @property
    def trained_kinds(self) -> list[str]:
        """Input kinds with a finished training folder (``scores_test.csv`` present), in INPUT_KINDS
        order; possibly empty (see :meth:`require_trained_kinds`)."""
        return [k for k in INPUT_KINDS if (self.root / "train" / k / scores_file("test")).exists()]

    def require_trained_kinds(self) -> list[str]:
        """:attr:`trained_kinds`, or a :class:`RunError` when no network was trained."""
        kinds = self.trained_kinds
        if not kinds:
            raise RunError(f"{self.root / 'train'}: no trained network (no train/<kind>/scores_test.csv for "
                           f"any of {INPUT_KINDS}); run 02_train first")
        return kinds

    def scores_path(self, kind: str, split: str) -> Path:
        """``train/<kind>/scores_<split>.csv``."""
        return self.train_dir(kind) / scores_file(split)

    def scores(self, kind: str, split: str) -> pd.DataFrame:
        """One network's scores on one split (``ID, label, score``; :func:`read_scores`)."""
        return read_scores(self.scores_path(kind, split))

    def wide_scores(self, kinds: Sequence[str], split: str = "test") -> pd.DataFrame:
        """Several networks' scores side by side: ``ID, label, score_<kind>`` per kind, sorted by ID.

        Galaxies scored by only some of the networks are dropped *with a warning that counts them*;
        labels that disagree between networks are an error.
        """
        if not kinds:
            raise ValueError("wide_scores: no network given")
        wide = None
        for kind in kinds:
            table = self.scores(kind, split).rename(columns={"score": f"score_{kind}", "label": f"label_{kind}"})
            if wide is None:
                wide = table
                continue
            merged = wide.merge(table, on="ID", how="inner")
            lost = len(wide) + len(table) - 2 * len(merged)
            if lost:
                warnings.warn(f"{self.scores_path(kind, split)}: {lost} {split} galaxies are not scored by every "
                              "network; only those scored by all are used", stacklevel=2)
            wide = merged
        labels = wide[[f"label_{k}" for k in kinds]].to_numpy()
        if (labels != labels[:, :1]).any():
            raise ValueError(f"{self.root}: the networks' scores_{split}.csv disagree on labels")
        wide = wide.rename(columns={f"label_{kinds[0]}": "label"}).drop(columns=[f"label_{k}" for k in kinds[1:]])
        return wide.sort_values("ID").reset_index(drop=True)

    def network(self, kind: str, compile: bool = False):
        """The trained network ``train/<kind>/model.keras`` (:func:`read_network`)."""
        return read_network(self.train_dir(kind), compile=compile)

    def networks(self, kinds: Sequence[str] | None = None) -> dict:
        """``{kind: keras model}`` for every trained network (or the ``kinds`` asked for)."""
        kinds = list(kinds) if kinds else self.require_trained_kinds()
        return {kind: self.network(kind) for kind in kinds}

    def history(self, kind: str) -> pd.DataFrame:
        """The training history of one network (:func:`read_history`)."""
        return read_history(self.train_dir(kind))

    def training_config(self, kind: str) -> dict:
        """The ``config.json`` of one network's training (:func:`read_config`)."""
        return read_config(self.train_dir(kind))


def as_run(run: Run | str | Path) -> Run:
    """``run`` itself when it is a :class:`Run`, else ``Run(run)`` (functions take either)."""
    return run if isinstance(run, Run) else Run(run)


# --------------------------------------------------------------------------- fitting stage record
def read_stage_record(folder: str | Path) -> dict | None:
    """The fitting stage's record ``<folder>/stage.json`` (a products folder or its ``parts/``);
    None when it is missing or unreadable (the stage then treats the folder as made by unknown options)."""
    path = Path(folder) / STAGE_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        warnings.warn(f"{path}: not valid JSON; treated as missing", stacklevel=2)
        return None


def write_stage_record(folder: str | Path, record: dict) -> Path:
    """Write the fitting stage's record ``<folder>/stage.json`` (:func:`write_json`)."""
    return write_json(Path(folder) / STAGE_FILE, record)


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


# --------------------------------------------------------------------------- training folders
def is_finished(out_dir: str | Path) -> bool:
    """True when ``out_dir`` holds every output of a finished training (:data:`TRAINING_FILES`)."""
    return all((Path(out_dir) / name).exists() for name in TRAINING_FILES)


def read_network(out_dir: str | Path, compile: bool = False):
    """The trained network (best epoch) saved in a training folder.

    ``compile=False`` (default) is enough for prediction, occlusion and feature maps.
    """
    path = Path(out_dir) / MODEL_FILE
    if not path.exists():
        raise RunError(f"{path}: no trained model; run the training notebook (02_train) first")
    import keras  # only now: a missing model is reported without the seconds TensorFlow takes to load

    import galmerge.nets.asymmetry  # noqa: F401  (registers the asymmetry layer that a network may hold)

    return keras.models.load_model(path, compile=compile)


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


# --------------------------------------------------------------------------- seed-variance benchmark
def seed_variance_path(profile: str, folder: str | Path | None = None) -> Path:
    """``seed_variance_<profile>.csv`` in ``folder`` (default :data:`BENCHMARK_RESULTS`)."""
    return Path(folder or BENCHMARK_RESULTS) / f"seed_variance_{profile}.csv"


def write_seed_variance(table: pd.DataFrame, profile: str, folder: str | Path | None = None) -> Path:
    """Write the seed-variance benchmark's table (columns :data:`SEED_VARIANCE_COLUMNS`); returns the path."""
    missing = [c for c in SEED_VARIANCE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"seed-variance table lacks column(s) {missing}")
    path = seed_variance_path(profile, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    table[list(SEED_VARIANCE_COLUMNS)].to_csv(path, index=False, float_format="%.9g")
    return path


def read_seed_variance(profile: str, folder: str | Path | None = None) -> pd.DataFrame | None:
    """The seed-variance benchmark's table for ``profile`` (None when it was not measured)."""
    path = seed_variance_path(profile, folder)
    if not path.exists():
        return None
    table = pd.read_csv(path)
    missing = [c for c in SEED_VARIANCE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    root = BENCHMARK_RESULTS.parents[1]
    table.attrs["path"] = str(path.resolve().relative_to(root) if path.resolve().is_relative_to(root) else path)
    return table


def read_seed_claims(path: str | Path) -> pd.DataFrame | None:
    """The seed-variance benchmark's per-claim table (``seed_variance_<profile>_claims.csv``, written
    beside its main table by ``benchmarks/seed_variance.py``), or None when it does not exist."""
    path = Path(path)
    return pd.read_csv(path) if path.exists() else None


# --------------------------------------------------------------------------- code fingerprints
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
