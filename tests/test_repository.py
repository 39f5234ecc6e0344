"""The repository's own contracts: dependency lists in step, notebook pairs in sync,
parameters cells that match the profiles, and run_all.py's command line."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from galmerge.config import PROFILES, ProfileError, defaults, load_profile, parse_overrides, profile_overrides

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_SOURCES = sorted((REPO / "notebooks").glob("*.py"))
#: Parameters that run_all.py injects besides the profile's keys.
INJECTED = {"run_dir", "data_dir", "figures_dir", "input_kind"}


def _requirement_name(spec: str) -> str:
    """'dask[distributed]>=2024.1; ...' -> 'dask'."""
    return re.split(r"[\s\[<>=!~;]", spec.strip(), maxsplit=1)[0].lower()


def _pip_names() -> set[str]:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {_requirement_name(s) for s in meta["dependencies"]}
    names |= {_requirement_name(s) for s in meta["optional-dependencies"]["test"]}
    # pip spellings that conda-forge names differently
    names = {"tensorflow" if n == "tensorflow-cpu" else n for n in names}
    if any(s.startswith("dask[distributed]") for s in meta["dependencies"]):
        names.add("distributed")
    return names


def _conda_names() -> set[str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    return {_requirement_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}


def test_environment_yml_matches_pyproject():
    pip, conda = _pip_names(), _conda_names()
    assert pip == conda, f"only in pyproject: {sorted(pip - conda)}; only in environment.yml: {sorted(conda - pip)}"


def test_ci_calls_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_have_the_same_commented_keys(name):
    quick = load_profile("quick")
    profile = load_profile(name)
    assert set(profile) == set(quick)
    for line in (REPO / "profiles" / f"{name}.yaml").read_text().splitlines():
        if re.match(r"^[a-z_]+\s*:", line):
            assert "#" in line, f"profiles/{name}.yaml: key without a comment: {line!r}"


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_list_only_what_they_change(name):
    same = {k: v for k, v in profile_overrides(name).items() if defaults()[k] == v}
    assert not same, f"profiles/{name}.yaml repeats defaults of galmerge.config.Parameters: {same}"


def test_parameters_are_typed():
    assert parse_overrides(["epochs=3", "learning_rate=1", "min_fit_area=null"], defaults()) == \
        {"epochs": 3, "learning_rate": 1.0, "min_fit_area": None}
    for bad, message in (("epochs=3.5", "epochs"), ("augment=yes please", "augment"), ("fitter=lbfgs", "fitter"),
                         ("input_kinds=[raw, rgb]", "rgb"), ("cnn_dense_units=[64, x]", "cnn_dense_units")):
        with pytest.raises(ProfileError, match=message):
            parse_overrides([bad], defaults())


def test_there_are_notebooks():
    assert NOTEBOOK_SOURCES, "no notebooks/*.py found"


def _parameters_cell(notebook) -> nbformat.NotebookNode:
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code, "notebook has no code cell"
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []), "the first code cell must be tagged 'parameters'"
    return first


def _parameter_values(cell) -> dict:
    namespace: dict = {}
    exec(cell.source, {}, namespace)  # a parameters cell is plain assignments
    return {k: v for k, v in namespace.items() if not k.startswith("_")}


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.name)
def test_notebook_pair_in_sync_and_without_outputs(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} missing: run `jupytext --sync {source.relative_to(REPO)}`"
    from_py = jupytext.read(source)
    from_ipynb = nbformat.read(paired, as_version=4)
    assert [(c.cell_type, c.source) for c in from_py.cells] == \
           [(c.cell_type, c.source) for c in from_ipynb.cells], \
        f"{source.name} and {paired.name} differ: run `jupytext --sync {source.relative_to(REPO)}`"
    with_outputs = [i for i, c in enumerate(from_ipynb.cells) if c.cell_type == "code" and c.get("outputs")]
    assert not with_outputs, f"{paired.name}: cells {with_outputs} carry outputs; commit it without outputs"


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.name)
def test_parameters_cell_holds_quick_profile_values(source):
    values = _parameter_values(_parameters_cell(jupytext.read(source)))
    quick = load_profile("quick")
    unknown = set(values) - set(quick) - INJECTED
    assert not unknown, f"{source.name}: parameters that no profile defines: {sorted(unknown)}"
    differ = {k: (v, quick[k]) for k, v in values.items() if k in quick and v != quick[k]}
    assert not differ, f"{source.name}: parameters differ from profiles/quick.yaml: {differ}"


def test_every_profile_key_is_used():
    used = {"input_kinds", "mock_n", "mock_seed"}  # read by run_all.py itself
    for source in NOTEBOOK_SOURCES:
        used |= set(_parameter_values(_parameters_cell(jupytext.read(source))))
    unused = set(load_profile("quick")) - used
    assert not unused, f"profile keys that no notebook or run_all.py reads: {sorted(unused)}"


def _run_all(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "run_all.py"), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_run_all_lists_every_step_with_one_training_per_kind():
    out = _run_all("--list", "--profile", "smoke")
    assert out.returncode == 0, out.stderr
    names = [line.split()[1] for line in out.stdout.splitlines()]
    kinds = load_profile("smoke")["input_kinds"]
    assert names[:2] == ["00_data", "01_sersic_fitting"]
    assert [n for n in names if n.startswith("02_train_")] == [f"02_train_{k}" for k in kinds]
    assert names[-1] == "09_report"


def test_run_all_only_and_from_select_steps():
    out = _run_all("--list", "--only", "02_train", "-p", "input_kinds=[raw, stack]")
    selected = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("*")]
    assert selected == ["02_train_raw", "02_train_stack"]
    out = _run_all("--list", "--from", "05_merger_time")
    selected = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("*")]
    assert selected[0] == "05_merger_time" and selected[-1] == "09_report"


def test_run_all_rejects_unknown_parameter_and_step():
    out = _run_all("--list", "-p", "epoch=3")
    assert out.returncode != 0 and "epoch" in out.stderr
    out = _run_all("--list", "--only", "99_nothing")
    assert out.returncode != 0 and "99_nothing" in out.stderr
