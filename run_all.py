#!/usr/bin/env python
"""Run the analysis notebooks in sequence with papermill.

    python run_all.py                          # quick profile on the mock dataset (the main job)
    python run_all.py --profile smoke          # a few minutes: checks the whole pipeline runs
    python run_all.py --profile paper --data /path/to/merger_challenge
    python run_all.py --only 02_train -p epochs=3
    python run_all.py --profile smoke --data data/my_cutouts -p transfer_models=smoke-mock_smoke
    python run_all.py --list

Each notebook's jupytext source (``notebooks/NN_name.py``) is converted into the run's own folder
(``runs/<run>/notebooks/input/``) and executed there, with the profile's values injected into its
``parameters`` cell. Executed notebooks and their HTML renders go to ``runs/<run>/notebooks/``,
figures to ``figures/<run>/``. The run stops at the first failing notebook, naming it, the failing
cell and the error, and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

REPO = Path(__file__).resolve().parent
NOTEBOOK_DIR = REPO / "notebooks"
sys.path.insert(0, str(REPO / "lib"))  # run_all.py works before `pip install -e .` too

from galmerge.config import PROFILES, ProfileError, load_profile, parse_overrides  # noqa: E402
from galmerge.runs import Run, read_json, source_fingerprint, write_json  # noqa: E402


@dataclass
class Step:
    """One notebook execution: ``name`` is the output name, ``notebook`` the source stem."""

    name: str
    notebook: str
    extra: dict = field(default_factory=dict)
    #: run-folder paths this step caches (removed by --force)
    outputs: tuple[str, ...] = ()


def build_steps(params: dict) -> list[Step]:
    """The sequence of notebook runs; 02_train runs once per entry of ``input_kinds``."""
    steps = [
        Step("00_data", "00_data"),
        Step("01_sersic_fitting", "01_sersic_fitting", outputs=("products",)),
    ]
    for kind in params.get("input_kinds", []):
        steps.append(Step(f"02_train_{kind}", "02_train", {"input_kind": kind}, outputs=(f"train/{kind}",)))
    # 08_transfer (scores this run's test galaxies with the networks of -p transfer_models=RUN; a no-op
    # without it) runs before 09_report, so that the report, last, can show its table
    steps += [Step(name, name) for name in
              ("03_evaluate", "04_redshift", "05_merger_time", "06_ellipticity", "07_occlusion", "08_transfer",
               "09_report")]
    return steps


def select_steps(steps: list[Step], only: list[str] | None, start: str | None) -> list[Step]:
    """Apply --only (names or notebook stems, repeatable) and --from (a name or stem)."""
    def matches(step: Step, key: str) -> bool:
        return key in (step.name, step.notebook)

    if start:
        hits = [i for i, s in enumerate(steps) if matches(s, start)]
        if not hits:
            raise SystemExit(f"--from {start!r}: no such step; see --list")
        steps = steps[hits[0]:]
    if only:
        unknown = [k for k in only if not any(matches(s, k) for s in steps)]
        if unknown:
            raise SystemExit(f"--only {', '.join(unknown)}: no such step; see --list")
        steps = [s for s in steps if any(matches(s, k) for k in only)]
    return steps


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default="quick", help="compute profile (default: quick)")
    parser.add_argument("--data", type=Path, help="dataset folder in the merger-challenge layout "
                        "(default: the profile's mock dataset in data/mock_<profile>, generated if absent)")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/<profile>-<dataset name>)")
    parser.add_argument("--figures", type=Path, help="figures folder (default: figures/<run folder name>)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="override a profile parameter (repeatable), e.g. -p epochs=3")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this step (repeatable)")
    parser.add_argument("--from", dest="start", metavar="NAME", help="start at this step")
    parser.add_argument("--force", action="store_true",
                        help="recompute the cached products of the selected steps instead of reusing them")
    parser.add_argument("--list", action="store_true", help="list the steps and exit")
    return parser.parse_args(argv)


def resolve_parameters(args) -> dict:
    params = load_profile(args.profile)
    params.update(parse_overrides(args.param, known=params))
    return params


#: Modules whose code makes the mock's pixels and catalogue: the profile's mock is regenerated when it changes.
MOCK_CODE = ("galmerge.mock.generate", "galmerge.mock.orbits", "galmerge.mock.plan", "galmerge.mock.scene",
             "galmerge.mock.render", "galmerge.mock.observe", "galmerge.data.cosmology")
#: Written beside the profile's mock: what made it (objects, seed, code fingerprint).
MOCK_KEY_FILE = "mock_key.json"


def mock_key(params: dict) -> dict:
    """The cache key of the profile's mock: size, seed, test fraction and the fingerprint of the code that draws it."""
    return {"n": int(params["mock_n"]), "seed": int(params["mock_seed"]),
            "test_fraction": float(params["mock_test_fraction"]),
            "code_fingerprint": source_fingerprint(MOCK_CODE)}


def mock_key_change(data: Path, key: dict) -> str | None:
    """Why the complete mock in ``data`` cannot stand for ``key``, in words; None when it can be reused."""
    path = data / MOCK_KEY_FILE
    if not path.exists():
        return f"it has no {MOCK_KEY_FILE} saying what made it"
    recorded = read_json(path, "mock key")
    changed = [f"{name} {recorded.get(name)!r} -> {value!r}" for name, value in key.items()
               if recorded.get(name) != value]
    return "; ".join(changed) or None


def ensure_dataset(args, params) -> tuple[Path, bool]:
    """The dataset folder, and whether it was (re)generated now.

    With ``--data`` the folder is used as it is. Otherwise the profile's mock in ``data/mock_<profile>``
    is reused only when its recorded key (:func:`mock_key`) matches; a change of size, seed or mock code
    regenerates it, saying which.
    """
    if args.data is not None:
        data = args.data.resolve()
        if not data.is_dir():
            raise SystemExit(f"--data {data}: no such folder")
        return data, False
    data = REPO / "data" / f"mock_{args.profile}"
    key = mock_key(params)
    exists = (data / "catalog_merger_challenge_TNG_train.fits").exists()  # written last: the mock is complete
    why = mock_key_change(data, key) if exists else None
    if exists and why is None:
        print(f"mock dataset: reusing {data.relative_to(REPO)}")
        return data, False
    action = f"regenerating ({why})" if exists else "generating"
    print(f"mock dataset: {action} {key['n']} objects into {data.relative_to(REPO)}")
    cmd = [sys.executable, "-m", "galmerge.mock", "--out", str(data),
           "--n", str(key["n"]), "--seed", str(key["seed"]), "--test-fraction", str(key["test_fraction"])]
    cmd += ["--overwrite"] if exists else []
    if subprocess.run(cmd, env=_child_env()).returncode != 0:
        raise SystemExit("mock generation failed (see the messages above)")
    write_json(data / MOCK_KEY_FILE, key)
    return data, True


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "lib"), env.get("PYTHONPATH")]))
    return env


def notebook_parameters(notebook: Path) -> dict:
    """Parameter names and defaults of the ``parameters`` cell of a notebook (.ipynb, from :func:`as_ipynb`)."""
    import papermill as pm
    return pm.inspect_notebook(str(notebook))


def as_ipynb(source: Path, run: Run) -> Path:
    """Convert the jupytext source to a fresh .ipynb in the run's own folder (``notebooks/input/``):
    the .py is what runs, and two runs at once never share, or overwrite, each other's input."""
    import jupytext
    target = run.notebooks / "input" / f"{source.stem}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(notebook, target)
    return target


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



def render_html(executed: Path) -> Path:
    """Tidy the executed notebook (progress bars collapsed to their last line) and render it as
    HTML without the input of plumbing cells (tags in HIDDEN_INPUT_TAGS)."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    notebook = nbformat.read(executed, as_version=4)
    tidy_executed_notebook(notebook)
    nbformat.write(notebook, executed)
    exporter = HTMLExporter()
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags=set(HIDDEN_INPUT_TAGS),
                                                         enabled=True), enabled=True)
    body, _ = exporter.from_notebook_node(notebook)
    html = executed.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def injected_paths(run: Run, data: Path, figures_dir: Path) -> dict[str, str]:
    """The paths injected into every notebook, relative to its working directory, the run's own
    ``notebooks/`` folder (so the executed notebooks and their HTML show no path of the machine that
    ran them, and two runs at once share no working directory)."""
    here = run.notebooks.resolve()
    return {"run_dir": os.path.relpath(run.root.resolve(), here), "data_dir": os.path.relpath(data, here),
            "figures_dir": os.path.relpath(figures_dir, here)}


@contextmanager
def kernel_manager():
    """A kernel manager for one notebook that talks to its kernel over IPC (Unix sockets in a private
    temporary folder, mode 0700) instead of TCP on localhost: nothing listens on the network, and ipykernel
    no longer logs "Kernel is running over TCP without encryption" to the terminal for every notebook.
    The kernel is shut down and the folder removed afterwards (papermill leaves a kernel manager it did not
    create running, and its kernel would log "Parent appears to have exited" when run_all ends). On Windows,
    which has no IPC transport, None: papermill's own TCP kernel."""
    if os.name == "nt":
        yield None
        return
    from jupyter_client.manager import KernelManager

    folder = tempfile.mkdtemp(prefix="galmerge-kernel-")
    km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(folder, "kernel"))
    try:
        yield km
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
        shutil.rmtree(folder, ignore_errors=True)


def run_step(step: Step, params: dict, injected: dict, run: Run) -> float:
    import papermill as pm

    source = NOTEBOOK_DIR / f"{step.notebook}.py"
    if not source.exists():
        raise SystemExit(f"{step.name}: notebook source {source.relative_to(REPO)} is missing")
    notebook = as_ipynb(source, run)
    wanted = notebook_parameters(notebook)
    values = {**params, **injected, **step.extra}
    given = {k: values[k] for k in wanted if k in values}
    executed = run.notebooks / f"{step.name}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        with kernel_manager() as km:
            pm.execute_notebook(str(notebook), str(executed), parameters=given,
                                cwd=str(run.notebooks), kernel_name="python3", progress_bar=False,
                                # the notebook's prints and progress bars (fitting, training) stream
                                # to this terminal as well as into the executed notebook
                                stdout_file=sys.stdout, stderr_file=sys.stderr,
                                **({"km": km} if km is not None else {}))
    except pm.PapermillExecutionError as err:
        if executed.exists():
            render_html(executed)
        print(f"\nFAILED: notebook {step.name} ({source.relative_to(REPO)}), cell {err.exec_count} "
              f"(index {err.cell_index}): {err.ename}: {err.evalue}\n"
              f"executed notebook with the traceback: {executed}", file=sys.stderr)
        raise SystemExit(1) from None
    render_html(executed)
    return time.perf_counter() - t0


def log_entry(previous: dict | None, seconds: float, profile: str, reused: bool) -> dict:
    """One stage's entry of ``run_log.json``.

    ``seconds`` is this invocation's wall time. A stage that found its finished outputs and reused them
    takes seconds, not the minutes its computation took; ``computed_seconds`` keeps the time of the
    invocation that computed them (from the previous entry of the same profile; None when unknown), so
    a second ``make run`` does not erase the measured cost of the fitting or of a network."""
    if not reused:
        computed = round(seconds, 1)
    elif previous and previous.get("profile") == profile:
        computed = previous.get("computed_seconds", None if previous.get("reused_outputs") else previous.get("seconds"))
    else:
        computed = None
    return {"seconds": round(seconds, 1), "computed_seconds": computed, "reused_outputs": reused,
            "profile": profile, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        params = resolve_parameters(args)
    except ProfileError as err:
        raise SystemExit(str(err)) from None
    steps = select_steps(build_steps(params), args.only, args.start)
    if args.list:
        for step in build_steps(params):
            mark = "*" if step in steps else " "
            print(f"{mark} {step.name:<22} notebooks/{step.notebook}.py {step.extra or ''}")
        return 0

    data, data_is_new = ensure_dataset(args, params)
    if data_is_new and not args.force:
        # fits and networks of the same run name were made from other images: recompute them
        print("mock dataset is new: this run's cached fits and networks are recomputed (as with --force)")
        args.force = True
    run_name = f"{args.profile}-{data.name}"
    run_dir = (args.out or REPO / "runs" / run_name).resolve()
    figures_dir = (args.figures or REPO / "figures" / run_dir.name).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    run = Run(run_dir)
    injected = injected_paths(run, data, figures_dir)
    print(f"run {run_dir.name}: profile {args.profile}, data {data}, {len(steps)} notebook(s)")

    log_path = run_dir / "run_log.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {}
    for i, step in enumerate(steps, 1):
        cached = [run_dir / p for p in step.outputs if (run_dir / p).exists()]
        if cached and args.force:
            for path in cached:
                print(f"  --force: removing {path.relative_to(run_dir)}")
                shutil.rmtree(path)
        elif cached:
            print(f"  {step.name}: finished outputs exist ({', '.join(p.name for p in cached)}); "
                  "the notebook reuses them (use --force to recompute)")
        print(f"[{i}/{len(steps)}] {step.name}", flush=True)
        seconds = run_step(step, params, injected, run)
        print(f"[{i}/{len(steps)}] {step.name} done in {seconds:.0f} s", flush=True)
        reused = bool(cached) and not args.force
        log[step.name] = log_entry(log.get(step.name), seconds, args.profile, reused)
        log_path.write_text(json.dumps(log, indent=2))
    print(f"done: notebooks and HTML in {run_dir / 'notebooks'}, figures in {figures_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
