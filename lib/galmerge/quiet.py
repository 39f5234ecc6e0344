"""Silence TensorFlow's start-up chatter without hiding real errors.

Importing this module (``import galmerge`` does) sets, unless the user already set them:

- ``TF_CPP_MIN_LOG_LEVEL=2``: drop C++ INFO and WARNING lines (CPU instruction notices,
  cuDNN/cuBLAS factory registration); ERROR lines still print.
- ``TF_ENABLE_ONEDNN_OPTS=0``: oneDNN custom ops give slightly different floating-point
  results run to run; off keeps CPU training reproducible and silences its notice.

It must run before TensorFlow is first imported, which is why ``galmerge/__init__`` imports it.
Python-level warnings and exceptions are untouched.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
