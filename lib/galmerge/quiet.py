"""Silence TensorFlow's start-up chatter without hiding real errors.

Importing this module (``import galmerge`` does) sets, unless the user already set them:

- ``TF_CPP_MIN_LOG_LEVEL=2``: drop C++ INFO and WARNING lines (CPU instruction notices,
  cuDNN/cuBLAS factory registration, the oneDNN notice); ERROR lines still print.
- ``TF_ENABLE_ONEDNN_OPTS=1``: keep oneDNN's CPU kernels on, explicitly. They train the
  narrow networks of the smoke and quick profiles 2-4 times faster on CPU than TensorFlow's
  reference kernels (benchmarks/bench_training.py); their results differ in the last bits
  from the reference kernels but are the same run to run on one machine (seeded runs gave
  bit-identical scores). Set ``TF_ENABLE_ONEDNN_OPTS=0`` yourself to compare with
  machines without oneDNN.

It must run before TensorFlow is first imported, which is why ``galmerge/__init__`` imports it.
Two messages that say nothing about the run are silenced too: tqdm's "IProgress not found"
(tqdm.auto, imported by a dependency inside a notebook kernel; galmerge's bars are text bars on
purpose) and distributed's nanny warning that it kills a worker still alive when a finished local
cluster closes. Other warnings and exceptions are untouched.
"""

import logging
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
warnings.filterwarnings("ignore", message="IProgress not found")
logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
