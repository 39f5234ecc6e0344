"""galmerge.runs.Run: the one reader and writer of a run folder, and the scan that keeps it the only one;
run_all.py's run-specific notebook folder."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_script

from galmerge.runs import STAGE_FILE, Run, RunError, as_run, read_stage_record, write_stage_record

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "lib" / "galmerge"

# --------------------------------------------------------------------------- the scan
#: Files of a run folder, as a string literal would name them (a whole literal, so prose that mentions
#: a file, in a docstring or a message, is not flagged).
RUN_FILE_LITERAL = re.compile(
    r"(?:[\w./-]*/)?(?:summary\.json|stage\.json|run_log\.json|model\.keras|history\.csv|config\.json"
    r"|scores_\w+\.csv|thresholds\.csv|table\d\w*\.csv|REPORT\.md|report\.html|tables/[\w.]*)")
#: Any data file a notebook might name: notebooks name tables by name (``run.table("table1")``), never by file.
DATA_FILE_LITERAL = re.compile(r"[\w./-]+\.(?:csv|json|parquet|keras|h5|npz)")
#: Folders of a run folder: joining one with ``/`` (``run_dir / "tables"``, ``paths.tables / name``) builds a
#: run path by hand.
RUN_FOLDERS = {"tables", "train", "products", "notebooks"}
#: Readers of files; a notebook never calls them, and a module only on files that are not a run's.
READERS = {"read_csv", "read_parquet", "read_json", "read_table", "read_fwf", "read_hdf", "read_excel"}
#: Modules of lib/ that read and build paths in folders which are not a run's (why, for each); they are
#: still checked for literal run-file names.
NOT_RUN_FILES = {
    "ingest.py": "a dataset folder (its train/ images, its label tables, its ingest record)",
    "data/catalog.py": "a dataset's catalogue",
    "sersic/products.py": "the products' own reader (galmerge.sersic.products.Products)",
    "sersic/stage.py": "the fitting stage's parts (its stage.json goes through galmerge.runs)",
    "datasets/sdss_darg2010.py": "a foreign dataset's catalogue",
}


def _docstring_nodes(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
            out.add(id(body[0].value))
    return out


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else ""
        return f"{owner}.{func.attr}" if owner else func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _names_a_file(literal: ast.Constant, is_notebook: bool) -> bool:
    """A whole string literal that is a run file's name (any data file's, in a notebook)."""
    if not isinstance(literal.value, str):
        return False
    return bool(RUN_FILE_LITERAL.fullmatch(literal.value)
                or (is_notebook and DATA_FILE_LITERAL.fullmatch(literal.value)))


def _joins_a_run_folder(join: ast.BinOp) -> bool:
    """``x / "tables"`` or ``x.tables / y`` (and the other run folders)."""
    right, left = join.right, join.left
    return ((isinstance(right, ast.Constant) and right.value in RUN_FOLDERS)
            or (isinstance(left, ast.Attribute) and left.attr in RUN_FOLDERS))


def _reads_a_file(call: ast.Call) -> bool:
    """json.load(s) of something read from disk (``.read_text()``, ``open(...)``, a file object)."""
    name = _call_name(call)
    if name == "json.load":
        return True
    if name != "json.loads" or not call.args:
        return False
    return any(isinstance(n, ast.Call) and _call_name(n).split(".")[-1] in ("read_text", "read_bytes", "open", "read")
               for n in ast.walk(call.args[0]))


def run_file_access(source: str, where: str, is_notebook: bool) -> list[str]:
    """Lines of ``source`` that open a run's files by hand instead of through galmerge.runs.Run."""
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    other_folders = not is_notebook and where in NOT_RUN_FILES
    problems = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and id(node) not in docstrings and _names_a_file(node, is_notebook):
            problems.append(f"{where}:{line}: names the run file {node.value!r}")
        elif other_folders:
            continue
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _joins_a_run_folder(node):
            problems.append(f"{where}:{line}: builds a run path by hand ({ast.unparse(node)})")
        elif isinstance(node, ast.Call) and _reads_a_file(node):
            problems.append(f"{where}:{line}: parses a JSON file by hand")
        elif isinstance(node, ast.Call) and _call_name(node).split(".")[-1] in READERS:
            problems.append(f"{where}:{line}: reads a table by hand ({_call_name(node)})")
    return problems


def _scanned_files() -> list[tuple[Path, str, bool]]:
    modules = [(p, p.relative_to(LIB).as_posix(), False) for p in sorted(LIB.rglob("*.py")) if p.name != "runs.py"
               or p.parent != LIB]
    notebooks = [(p, f"notebooks/{p.name}", True) for p in sorted((REPO / "notebooks").glob("*.py"))]
    return modules + notebooks


def test_no_module_or_notebook_but_runs_opens_a_run_file():
    problems = []
    for path, where, is_notebook in _scanned_files():
        problems += run_file_access(path.read_text(encoding="utf-8"), where, is_notebook)
    assert not problems, "go through galmerge.runs.Run instead:\n" + "\n".join(problems)


@pytest.mark.parametrize("code", [
    'summary = json.loads((Path(run_dir) / "summary.json").read_text())',
    'stage = json.load(open(products / "stage.json"))',
    'table = pd.read_csv(paths.tables / "x.csv")',
    'path = Path(run_dir) / "tables"',
    'model = keras.models.load_model(f"{run_dir}/train/raw/" + "model.keras")',
    'rows = pd.read_csv(run.table_path("table1"))',
    'table_path = paths.tables / name',
])
def test_the_scan_catches_a_hand_made_reader(code):
    assert run_file_access(code, "nets/something.py", is_notebook=False)


def test_the_scan_catches_a_notebook_naming_a_table_file():
    assert run_file_access('path = paths.tables / "transfer_table1.csv"', "notebooks/08_transfer.py", True)
    assert run_file_access('old = pd.DataFrame().to_csv("transfer_table1.csv")', "notebooks/08_transfer.py", True)


def test_the_scan_still_catches_run_file_names_in_modules_that_read_other_folders():
    code = 'record = json.loads((products_dir / "stage.json").read_text())'
    assert run_file_access(code, "sersic/stage.py", is_notebook=False)
    assert not run_file_access("images = pd.read_parquet(folder / IMAGES_FILE)", "sersic/products.py", False)


def test_the_scan_leaves_prose_and_run_methods_alone():
    code = '''
def f(run):
    """Reads ``summary.json`` and ``tables/table1.csv``."""
    message = "the run's config.json lists the parameters"
    return run.table("table1", index_col="kind"), run.summary, message
'''
    assert run_file_access(code, "report/something.py", is_notebook=True) == []


# --------------------------------------------------------------------------- Run
def _write_scores(run: Run, kind: str, split: str, ids, labels, scores) -> None:
    run.train_dir(kind).mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"ID": ids, "label": labels, "score": scores}).to_csv(run.scores_path(kind, split), index=False)


def test_summary_starts_empty_and_updates_by_section(tmp_path):
    run = Run(tmp_path / "run")
    assert run.summary == {}
    run.update_summary("evaluate", {"n_test": np.int64(40), "auc": np.float32(0.5), "bad": float("nan")})
    run.update_summary("data", {"n": 3})
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk == {"evaluate": {"n_test": 40, "auc": 0.5, "bad": None}, "data": {"n": 3}}
    assert run.summary == on_disk


def test_a_missing_file_is_an_error_that_names_it(tmp_path):
    run = Run(tmp_path)
    with pytest.raises(RunError, match=re.escape(str(tmp_path / "products" / "stage.json"))):
        _ = run.stage
    with pytest.raises(RunError, match=re.escape(str(tmp_path / "tables" / "table1.csv"))):
        run.table("table1")
    with pytest.raises(RunError, match="scores_test.csv"):
        run.scores("raw", "test")
    with pytest.raises(RunError, match="model.keras"):
        run.network("raw")
    with pytest.raises(RunError, match="02_train"):
        run.require_trained_kinds()
    assert isinstance(RunError("x"), FileNotFoundError)


def test_stage_record_round_trip_and_unreadable_record(tmp_path):
    run = Run(tmp_path)
    assert not run.has_stage and read_stage_record(run.products) is None
    write_stage_record(run.products, {"cutout_mode": "crop", "psf_sha1": None})
    assert run.has_stage and run.stage == {"cutout_mode": "crop", "psf_sha1": None}
    (run.products / STAGE_FILE).write_text("{not json")
    with pytest.warns(UserWarning, match="not valid JSON"):
        assert read_stage_record(run.products) is None


def test_tables_by_name(tmp_path):
    run = Run(tmp_path)
    frame = pd.DataFrame({"kind": ["raw", "model"], "accuracy": [73.2, 70.1]}).set_index("kind")
    path = run.write_table("table1", frame)
    assert path == tmp_path / "tables" / "table1.csv" and run.has_table("table1")
    pd.testing.assert_frame_equal(run.table("table1", index_col="kind"), frame)
    run.remove_table("table1")
    assert not run.has_table("table1")
    run.remove_table("table1")  # removing what is not there is fine
    for bad in ("table1.csv", "sub/table1", ""):
        with pytest.raises(ValueError, match="bare name"):
            run.table_path(bad)


def test_trained_kinds_and_wide_scores(tmp_path):
    run = Run(tmp_path)
    assert run.trained_kinds == []
    _write_scores(run, "residual", "test", [1, 2, 3], [1, 0, 1], [0.9, 0.2, 0.4])
    _write_scores(run, "raw", "test", [2, 3, 4], [0, 1, 0], [0.3, 0.6, 0.1])
    _write_scores(run, "model", "validation", [1], [1], [0.5])  # no test scores: not finished
    assert run.trained_kinds == ["raw", "residual"]  # in INPUT_KINDS order
    with pytest.warns(UserWarning, match="2 test galaxies"):
        wide = run.wide_scores(["raw", "residual"])
    assert list(wide["ID"]) == [2, 3] and list(wide.columns) == ["ID", "label", "score_raw", "score_residual"]
    assert wide["score_residual"].tolist() == [0.2, 0.4]


def test_recorded_thresholds_skip_missing_values(tmp_path):
    run = Run(tmp_path)
    assert run.recorded_thresholds == {}
    run.write_table("thresholds", pd.DataFrame({"kind": ["raw", "model"], "threshold": [0.4, np.nan]}), index=False)
    assert run.recorded_thresholds == {"raw": 0.4}
    run.write_table("thresholds", pd.DataFrame({"network": ["raw"]}), index=False)
    with pytest.raises(ValueError, match="thresholds.csv"):
        _ = run.recorded_thresholds


def test_as_run_and_paths(tmp_path):
    run = as_run(tmp_path / "quick-mock_quick")
    assert as_run(run) is run and Path(run) == tmp_path / "quick-mock_quick"
    assert run.name == "quick-mock_quick"
    assert run.train_dir("stack") == tmp_path / "quick-mock_quick" / "train" / "stack"
    with pytest.raises(ValueError):
        run.train_dir("rgb")


# --------------------------------------------------------------------------- run_all.py
def _run_all_module():
    return load_script("run_all.py", "run_all_under_test")


def test_run_all_executes_each_run_in_its_own_folder(tmp_path):
    """Two runs at once convert and execute their notebooks in folders of their own (issue 19 item 8)."""
    run_all = _run_all_module()
    source = REPO / "notebooks" / "03_evaluate.py"
    runs = [Run(tmp_path / "runs" / name) for name in ("quick-a", "quick-b")]
    converted = [run_all.as_ipynb(source, run) for run in runs]
    assert converted[0] != converted[1]
    for run, path in zip(runs, converted):
        assert path.is_file() and run.root in path.parents
        assert "run_dir = " in path.read_text()  # the parameters cell papermill overrides
    data, figures = tmp_path / "data" / "mock_quick", tmp_path / "figures" / "quick-a"
    injected = run_all.injected_paths(runs[0], data, figures)
    here = runs[0].notebooks  # the notebooks' working directory
    assert (here / injected["run_dir"]).resolve() == runs[0].root.resolve()
    assert (here / injected["data_dir"]).resolve() == data.resolve()
    assert (here / injected["figures_dir"]).resolve() == figures.resolve()
    assert not any(Path(p).is_absolute() for p in injected.values())
