"""run_all.py's cache of the profile's mock: reused only while its size, seed and code are unchanged."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def load_run_all(monkeypatch):
    """run_all.py imported as a module (registered while the test runs: its dataclasses need that)."""
    spec = importlib.util.spec_from_file_location("run_all_under_test", REPO / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_all(monkeypatch, tmp_path):
    """run_all.py with its REPO pointed at tmp_path and mock generation faked."""
    module = load_run_all(monkeypatch)
    monkeypatch.setattr(module, "REPO", tmp_path)
    calls = []

    def fake_generate(cmd, env=None):
        out = Path(cmd[cmd.index("--out") + 1])
        if out.exists() and "--overwrite" not in cmd:
            raise AssertionError("an existing mock must be replaced with --overwrite")
        out.mkdir(parents=True, exist_ok=True)
        (out / "catalog_merger_challenge_TNG_train.fits").write_text("fake")
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(module.subprocess, "run", fake_generate)
    module.calls = calls
    return module


def _args():
    return Namespace(data=None, profile="smoke", force=False)


def test_mock_is_generated_once_then_reused(run_all, capsys):
    params = {"mock_n": 64, "mock_seed": 0, "mock_test_fraction": 0.1}
    data, new = run_all.ensure_dataset(_args(), params)
    assert new and len(run_all.calls) == 1
    assert (data / run_all.MOCK_KEY_FILE).exists()
    data_again, new_again = run_all.ensure_dataset(_args(), params)
    assert data_again == data and not new_again and len(run_all.calls) == 1
    assert "reusing" in capsys.readouterr().out


@pytest.mark.parametrize("change", ["size", "test fraction", "code", "no key"])
def test_mock_is_regenerated_when_what_made_it_changed(run_all, monkeypatch, capsys, change):
    params = {"mock_n": 64, "mock_seed": 0, "mock_test_fraction": 0.1}
    data, _ = run_all.ensure_dataset(_args(), params)
    if change == "size":
        params = {**params, "mock_n": 65}
    elif change == "test fraction":
        params = {**params, "mock_test_fraction": 0.28}
    elif change == "code":
        monkeypatch.setattr(run_all, "source_fingerprint", lambda modules: "0123456789ab")
    else:
        (data / run_all.MOCK_KEY_FILE).unlink()
    _, new = run_all.ensure_dataset(_args(), params)
    assert new and len(run_all.calls) == 2 and "--overwrite" in run_all.calls[-1]
    out = capsys.readouterr().out
    assert "regenerating" in out
    expected = {"size": "n 64 -> 65", "test fraction": "test_fraction 0.1 -> 0.28", "code": "code_fingerprint",
                "no key": "mock_key.json"}[change]
    assert expected in out


def test_mock_key_names_existing_modules(monkeypatch):
    module = load_run_all(monkeypatch)
    for name in module.MOCK_CODE:  # every module named exists (a rename must not silently drop one)
        assert importlib.util.find_spec(name) is not None, name
    assert "galmerge.mock.orbits" in module.MOCK_CODE


def test_run_log_keeps_the_computed_time_of_reused_stages(monkeypatch):
    """A second invocation that reuses the fitting logs its own seconds, and keeps the minutes the
    fitting took when it was computed (it overwrote them before)."""
    run_all = load_run_all(monkeypatch)
    computed = run_all.log_entry(None, 1605.04, "sdss", reused=False)
    assert computed["seconds"] == computed["computed_seconds"] == 1605.0
    assert computed["reused_outputs"] is False
    again = run_all.log_entry(computed, 40.2, "sdss", reused=True)
    assert again["seconds"] == 40.2 and again["computed_seconds"] == 1605.0 and again["reused_outputs"]
    third = run_all.log_entry(again, 38.0, "sdss", reused=True)  # carried over more than one reuse
    assert third["computed_seconds"] == 1605.0
    # an entry of another profile, or a reuse logged before computed_seconds existed, is not evidence
    assert run_all.log_entry(computed, 40.0, "quick", reused=True)["computed_seconds"] is None
    legacy_reuse = {"seconds": 40.0, "profile": "sdss", "reused_outputs": True}
    assert run_all.log_entry(legacy_reuse, 39.0, "sdss", reused=True)["computed_seconds"] is None
    legacy_computed = {"seconds": 818.0, "profile": "quick"}  # old log: no reuse flag, the real time
    assert run_all.log_entry(legacy_computed, 12.0, "quick", reused=True)["computed_seconds"] == 818.0


def test_notebooks_run_over_ipc_without_the_tcp_warning(monkeypatch, tmp_path, capfd):
    """ipykernel logs "Kernel is running over TCP without encryption" to the terminal for every notebook
    run over TCP; run_all's kernels talk over IPC sockets in a private folder, removed afterwards."""
    import nbformat
    import papermill as pm

    if sys.platform.startswith("win"):
        pytest.skip("no IPC transport on Windows")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('ran', 6 * 7)")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "in.ipynb")
    with load_run_all(monkeypatch).kernel_manager() as km:
        folder = Path(km.ip).parent
        assert km.transport == "ipc" and folder.is_dir()
        pm.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), kernel_name="python3",
                            progress_bar=False, cwd=str(tmp_path), km=km)
    assert not folder.exists() and not km.has_kernel
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert "ran 42" in out.cells[0].outputs[0]["text"]
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out
    assert "Parent appears to have exited" not in captured.err + captured.out
