"""Test-session defaults, set before any notebook kernel starts (kernels inherit them).

- The ``smoke`` profile, unless ``CNNLABS_PROFILE`` says otherwise: every lab
  runs in seconds and never touches the network.
- Run folders go to a temporary folder, unless ``CNNLABS_RUNS_DIR`` is set.
- TensorFlow's C++ log noise is turned down.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("CNNLABS_PROFILE", "smoke")
os.environ.setdefault("CNNLABS_RUNS_DIR", tempfile.mkdtemp(prefix="cnnlabs-test-runs-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
