"""Compute profiles: ``smoke``, ``quick`` and ``paper``.

A profile is a YAML file in ``profiles/`` whose every key is a notebook parameter.
The notebooks' ``parameters`` cells hold the same keys with the ``quick`` values, so a
notebook opened by hand runs the quick profile; ``run_all.py`` injects the chosen profile.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE_DIR = REPO_ROOT / "profiles"
PROFILES = ("smoke", "quick", "paper")


class ProfileError(ValueError):
    """A profile file or an override is invalid."""


def profile_path(name: str) -> Path:
    if name not in PROFILES:
        raise ProfileError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILE_DIR / f"{name}.yaml"


def load_profile(name: str) -> dict[str, Any]:
    """Read ``profiles/<name>.yaml`` into a dict of notebook parameters."""
    path = profile_path(name)
    try:
        values = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ProfileError(f"{path}: cannot read profile: {err}") from err
    if not isinstance(values, dict):
        raise ProfileError(f"{path}: a profile must be a mapping of parameter: value")
    return values


def parse_overrides(pairs: Iterable[str], known: Iterable[str]) -> dict[str, Any]:
    """Turn ``["epochs=3", "cnn_filters=16"]`` into ``{"epochs": 3, "cnn_filters": 16}``.

    Values are parsed as YAML scalars or lists (``3``, ``0.5``, ``true``, ``null``, ``[raw, model]``).
    A key that no profile defines is an error, so that a typo cannot pass unnoticed.
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
    return out
