"""The project's vocabulary: every name, category, bin and published number defined once.

Other modules import these; none redefines them. Two words that used to have two meanings
each are kept apart here:

- an **input kind** is what a network is trained on (:data:`INPUT_KINDS`: ``raw``, ``model``,
  ``residual``, ``stack``); a **channel** is one of the three image cubes of the fitting
  products (:data:`CHANNELS`); :data:`INPUT_CHANNELS` maps the first to the second;
- a **stage** is a merger stage (:data:`MERGER_STAGES`, Sect. 2.1 of the paper); the Sérsic
  fitting step is :mod:`galmerge.sersic.stage`.

The paper is Chudy et al. (2025), arXiv 2502.16603; the section, table or figure of each
published number is named beside it.
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------- images and networks
#: Side of the network input and of every product cube, in pixels (paper Sect. 3: 128 x 128).
CUTOUT_SIZE = 128
#: The three image cubes of the fitting products (:mod:`galmerge.sersic.products`): the 128 x 128
#: centre crop of the image, of its Sérsic model and of the residual (image - model).
CHANNELS = ("raw", "model", "residual")
#: What a network is trained on: CNN1 raw, CNN2 model, CNN3 residual (the paper's three), and
#: the three stacked as channels (this repository's addition).
INPUT_KINDS = ("raw", "model", "residual", "stack")
#: The paper's three networks (the occlusion categories of Figs 14 and 15 are defined by them).
PAPER_INPUT_KINDS = ("raw", "model", "residual")
#: The channels each input kind reads, in the order they are stacked.
INPUT_CHANNELS = {"raw": ("raw",), "model": ("model",), "residual": ("residual",),
                  "stack": ("raw", "model", "residual")}
#: Short network names (the paper's CNN1-3; CNN4 is the stacked network).
NETWORK_NAMES = {"raw": "CNN1", "model": "CNN2", "residual": "CNN3", "stack": "CNN4"}
#: Network names with their input, as figures and tables show them.
NETWORK_LABELS = {"raw": "CNN1 (raw)", "model": "CNN2 (Sérsic model)", "residual": "CNN3 (residual)",
                  "stack": "CNN4 (raw+model+residual)"}


def check_input_kind(kind: str) -> str:
    """``kind`` itself when it is one of :data:`INPUT_KINDS`; a ValueError naming them otherwise."""
    if kind not in INPUT_KINDS:
        raise ValueError(f"input kind must be one of {INPUT_KINDS}, got {kind!r}")
    return kind


def input_channels(kind: str) -> tuple[str, ...]:
    """The product channels one input kind reads (:data:`INPUT_CHANNELS`)."""
    return INPUT_CHANNELS[check_input_kind(kind)]


def network_name(kind: str) -> str:
    """'CNN1' ... 'CNN4' for an input kind."""
    return NETWORK_NAMES[check_input_kind(kind)]


def network_label(kind: str) -> str:
    """'CNN1 (raw)' ... for an input kind."""
    return NETWORK_LABELS[check_input_kind(kind)]


# --------------------------------------------------------------------------- catalogue
#: Splits of the dataset, 75:15:10, grouped by ``sequence_ID`` (paper Sect. 3).
SPLITS = ("train", "validation", "test")
#: Splits on which every trained network writes its scores.
SCORED_SPLITS = ("validation", "test")
#: Merger stages in the order of the merger clock (paper Sect. 2.1).
MERGER_STAGES = ("pre", "ongoing", "post")
#: Values of the catalogue's ``stage`` column: the merger stages and ``non`` (not a major merger).
STAGES = (*MERGER_STAGES, "non")
#: ``stage`` of a merger whose stage is not known (a labelled dataset without merger times).
STAGE_UNKNOWN = "unknown"
#: Merger-time window of each stage (Gyr, negative before coalescence; paper Sect. 2.1).
STAGE_WINDOWS_GYR = {"pre": (-0.8, -0.1), "ongoing": (-0.1, 0.1), "post": (0.1, 0.3)}

# --------------------------------------------------------------------------- fitting
#: Per-image status of the Sérsic fit. :func:`galmerge.sersic.fit.fit_image` returns one of the
#: first four; ``error`` is set by the fitting step when the pipeline itself failed on an image.
FIT_STATUSES = ("ok", "no_source", "all_fits_failed", "bad_input", "error")

# --------------------------------------------------------------------------- bins
#: 0.1-wide redshift bins (Figs 1 and 7). The first edge is 0.09, not 0.1, because TNG snapshot 91
#: (z = 0.0994) belongs to the challenge's lowest folder, which the challenge calls [0.1, 0.31).
REDSHIFT_EDGES = np.round(np.r_[0.09, np.arange(0.2, 1.0 + 1e-9, 0.1)], 6)
#: Redshifts that separate the four snapnum folders (their images are 128, 160, 192, 320 px).
FOLDER_REDSHIFT_BOUNDARIES = (0.31, 0.52, 0.76)
#: Merger-time bins (Figs 2 and 8): -0.8 to 0.3 Gyr in 0.1 Gyr steps (Gyr, negative before coalescence).
MERGER_TIME_EDGES = np.round(np.arange(-0.8, 0.3 + 1e-9, 0.1), 6) + 0.0  # + 0.0: no "-0.00" edge
#: Sérsic-ellipticity bins (Figs 9-11): 0 to 1 in steps of 0.05, right-closed like the paper's "(0.65, 0.7]".
ELLIPTICITY_EDGES = np.round(np.arange(0.0, 1.0 + 1e-9, 0.05), 6)
for _edges in (REDSHIFT_EDGES, MERGER_TIME_EDGES, ELLIPTICITY_EDGES):
    _edges.flags.writeable = False

# --------------------------------------------------------------------------- the paper's numbers
#: Table 1 (per cent, test set, threshold where precision = recall).
PAPER_TABLE1 = {"raw": {"accuracy": 74, "precision": 73, "recall": 74, "f1": 74},
                "model": {"accuracy": 70, "precision": 70, "recall": 70, "f1": 70},
                "residual": {"accuracy": 68, "precision": 68, "recall": 69, "f1": 68}}
#: Table 2: per cent of pre- and post-mergers correct, bootstrap mean and (upper - mean).
PAPER_TABLE2 = {"raw": {"pre": 79.3, "pre_err": 0.6, "post": 58.8, "post_err": 1.5},
                "model": {"pre": 76.6, "pre_err": 0.6, "post": 53.4, "post_err": 1.6},
                "residual": {"pre": 73.3, "pre_err": 0.6, "post": 55.5, "post_err": 1.4}}
#: Decision thresholds (Sect. 4).
PAPER_THRESHOLDS = {"raw": 0.39, "model": 0.47, "residual": 0.49}
#: Row-normalised confusion matrices (Sect. 4, Fig. 13): per cent of mergers and of non-mergers
#: correctly classified.
PAPER_CONFUSION = {"raw": {"mergers": 74.5, "non_mergers": 73.7},
                   "model": {"mergers": 70.5, "non_mergers": 70.3},
                   "residual": {"mergers": 69.1, "non_mergers": 67.3}}


def paper_values(table: dict, column: str) -> str:
    """One column of a paper table for CNN1, CNN2, CNN3 as prose: ``paper_values(PAPER_TABLE1,
    "accuracy")`` is '74, 70, 68'."""
    return ", ".join(f"{table[k][column]:g}" for k in PAPER_INPUT_KINDS)
