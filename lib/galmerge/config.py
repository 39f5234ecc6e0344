"""Compute profiles: ``smoke``, ``quick``, ``paper`` and ``sdss``, as overrides of one set of typed defaults.

:class:`Parameters` holds every notebook parameter with its type and its default, which is the
paper's value (Chudy et al. 2025) wherever the paper gives one, except the background (``background``:
the flat sky level that keeps the galaxies' light; the paper profile sets the paper's SEP boxes). A
profile is a YAML file in ``profiles/`` that lists only the parameters it changes, each with the
reason; :func:`load_profile` overlays it on the defaults and checks every value's type and allowed
values, so that a typo or a wrong type is an error naming the file and the key.

The notebooks' ``parameters`` cells hold the ``quick`` values (a notebook opened by hand runs the
quick profile; tests/test_repository.py checks that they agree); ``run_all.py`` injects the chosen
profile's values.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from galmerge.nets import cnn
from galmerge.vocab import INPUT_KINDS

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE_DIR = REPO_ROOT / "profiles"
PROFILES = ("smoke", "quick", "paper", "sdss")


class ProfileError(ValueError):
    """A profile file or an override is invalid."""


@dataclass(frozen=True)
class Parameters:
    """Every notebook parameter, typed, with its default (the paper's value where it gives one)."""

    # --- data (00_data)
    mock_n: int = 20000  # objects in the mock dataset generated when --data is not given
    mock_seed: int = 3  # seed of the mock generator (same seed -> byte-identical files)
    mock_test_fraction: float = 0.10  # fraction of the mock's objects in its test folder, whole orbits (paper: 10 %)
    split_seed: int = 42  # seed of the 75:15:10 train/validation/test split, grouped by sequence_ID
    # --- Sérsic fitting (01_sersic_fitting)
    fit_workers: int = 2  # Dask workers of the local cluster (ignored with scheduler_address)
    scheduler_address: str | None = None  # address of an existing Dask scheduler, e.g. "tcp://10.0.0.5:8786"
    cutout_mode: str = "crop"  # how the full 160 kpc image becomes 128 x 128: crop (centre) or resample
    # bands of the networks' inputs: None, the paper's single band; "gri" for a dataset ingested with --bands gri
    # (C = 3 channels per input, model and residual per band from one i-band fit: galmerge.sersic.products)
    bands: str | None = None
    fit_region: str = "all"  # which sources are fitted: all (the paper) or cutout (near the 128 x 128 crop)
    min_fit_area: int | None = None  # fit only segments of at least this many pixels (None: every one)
    detect_thresh: float = 1.5  # SEP detection threshold, x the global background rms (paper, Sect. 3.1: 1.5)
    detect_minarea: int = 5  # SEP minimum segment area in pixels (paper, Sect. 3.1: 5)
    fitter: str = "statmorph"  # Sérsic fitter: statmorph (the paper's) or lm (galmerge.sersic.lm)
    # background: flat (one sky level far from the sources; keeps the galaxies' wings), sep (SEP's 64 px
    # boxes, the paper's reading, which removed a median 17 % of an isolated galaxy's flux: issue 11) or
    # none. The one default of the project, as galmerge.sersic.fit.DEFAULT_BACKGROUND; the paper profile sets sep.
    background: str = "flat"
    truth_galaxies: int = 100  # GalSim galaxies per set on which both fitters are compared in 01 (not in the paper)
    # --- CNN training (02_train, once per input kind)
    input_kinds: list[str] = field(default_factory=lambda: list(INPUT_KINDS))  # networks to train
    cnn_filters: int = cnn.PAPER_FILTERS  # kernels per convolutional layer (paper: 128)
    cnn_kernel_sizes: list[int] = field(default_factory=lambda: list(cnn.PAPER_KERNEL_SIZES))  # (13, 11, 9)
    cnn_dense_units: list[int] = field(default_factory=lambda: list(cnn.PAPER_DENSE_UNITS))  # (512, 128)
    cnn_input_bin: int = 1  # b x b average of the 128 px input inside the network (paper: 1; quick: 2, kernels 7, 6, 5)
    cnn_asymmetry_channel: bool = False  # 180-degree asymmetry map of each input as extra channels (paper: no)
    # batch-normalisation statistics re-estimated without dropout after every epoch (paper: Keras' moving
    # averages, which carry dropout's variance; galmerge.nets.batchnorm)
    batch_norm_recalibration: bool = False
    epochs: int = 50  # training epochs (paper: 50)
    patience: int | None = None  # stop after this many epochs without a lower validation loss (paper: None)
    batch_size: int = 32  # images per gradient step
    learning_rate: float = cnn.PAPER_LEARNING_RATE  # Adam learning rate (paper: 3e-4)
    augment: bool = False  # random flips and 90-degree rotations (the paper does not augment)
    mixed_precision: bool = False  # float16 compute on GPUs (no effect on CPU speed)
    train_seed: int = 1  # seed of weights, shuffling and dropout
    # train seeds per network: train_seed, train_seed + 1, ..., train_seed + seeds - 1 (issue 23: two trainings
    # of CNN1 on the same data differed by up to 2.8 accuracy points); Tables 1-2 and the conclusions use them all
    seeds: int = 1
    # --- evaluation (03-06)
    bootstrap_resamples: int = 1000  # bootstrap resamples per bin (paper: 1000)
    balanced_per_class: int = 500  # at most this many mergers and non-mergers per balanced bin (paper: 500)
    balanced_draws: int = 20  # random balanced draws per bin (paper: 20)
    eval_seed: int = 7  # seed of bootstrap and balanced resampling
    # --- occlusion (07_occlusion)
    occlusion_box: int = 8  # side of the occluding box in pixels (paper: 8)
    occlusion_stride: int = 1  # step of the box in pixels (paper: 1)
    occlusion_seed: int = 11  # seed of the example selection and of the noise fill
    # --- transfer (08_transfer)
    transfer_models: str | None = None  # a finished run (folder or name under runs/) whose networks score
    #                                     this run's test galaxies; None: skipped


#: Allowed values of the parameters that take one of a few.
CHOICES = {"cutout_mode": ("crop", "resample"), "fit_region": ("all", "cutout"), "fitter": ("statmorph", "lm"),
           "background": ("flat", "sep", "none")}


def defaults() -> dict[str, Any]:
    """Every parameter's default (:class:`Parameters`) as a dict."""
    return dataclasses.asdict(Parameters())


def _matches(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_matches(value, option) for option in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def validate(values: dict[str, Any], where: str = "parameters") -> dict[str, Any]:
    """Check names, types and allowed values; returns ``values`` (floats given as ints become floats)."""
    hints = typing.get_type_hints(Parameters)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise ProfileError(f"{where}: unknown parameter(s) {unknown}; known: {', '.join(sorted(hints))}")
    out = dict(values)
    for key, value in values.items():
        if not _matches(value, hints[key]):
            raise ProfileError(f"{where}: {key} = {value!r} is not of type {hints[key]}")
        if key in CHOICES and value not in CHOICES[key]:
            raise ProfileError(f"{where}: {key} = {value!r} is not one of {CHOICES[key]}")
        if hints[key] is float:
            out[key] = float(value)
    if out.get("bands") is not None:
        from galmerge.ingest import check_bands

        try:
            check_bands(out["bands"])
        except ValueError as err:
            raise ProfileError(f"{where}: {err}") from None
    if out.get("seeds", 1) < 1:
        raise ProfileError(f"{where}: seeds = {out['seeds']!r} must be at least 1")
    unknown_kinds = [k for k in out.get("input_kinds", []) if k not in INPUT_KINDS]
    if unknown_kinds:
        raise ProfileError(f"{where}: input_kinds {unknown_kinds} not among {INPUT_KINDS}")
    return out


def profile_path(name: str) -> Path:
    if name not in PROFILES:
        raise ProfileError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILE_DIR / f"{name}.yaml"


def profile_overrides(name: str) -> dict[str, Any]:
    """What ``profiles/<name>.yaml`` changes from the defaults (validated)."""
    path = profile_path(name)
    try:
        values = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ProfileError(f"{path}: cannot read profile: {err}") from err
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ProfileError(f"{path}: a profile must be a mapping of parameter: value")
    return validate(values, str(path))


def load_profile(name: str) -> dict[str, Any]:
    """Every notebook parameter of profile ``name``: the defaults overlaid with its overrides."""
    return {**defaults(), **profile_overrides(name)}


def parse_overrides(pairs: Iterable[str], known: Iterable[str]) -> dict[str, Any]:
    """Turn ``["epochs=3", "cnn_filters=16"]`` into ``{"epochs": 3, "cnn_filters": 16}``.

    Values are parsed as YAML scalars or lists (``3``, ``0.5``, ``true``, ``null``, ``[raw, model]``)
    and checked like a profile's (:func:`validate`). A key that no profile defines is an error, so
    that a typo cannot pass unnoticed.
    """
    known = set(known)
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ProfileError(f"override {pair!r} is not of the form KEY=VALUE")
        if key not in known:
            raise ProfileError(f"override {key!r} is not a profile parameter; known: {', '.join(sorted(known))}")
        try:
            out[key] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ProfileError(f"override {pair!r}: cannot parse value: {err}") from err
    return validate(out, "command-line override")
