"""Test-session defaults, set before any notebook kernel starts (kernels inherit them).

- The ``smoke`` profile, unless ``CNNLABS_PROFILE`` says otherwise: every lab
  runs in seconds and never touches the network.
- Run folders go to a temporary folder, unless ``CNNLABS_RUNS_DIR`` is set.
- TensorFlow's C++ log noise is turned down.
- ``check("NN.M")`` raises below full marks (``CNNLABS_CHECKS_STRICT``), so a solution
  notebook whose answer stops earning its points fails.
- A notebook cell whose figure calls show no image (or one twice) fails (nbval items).
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("CNNLABS_PROFILE", "smoke")
os.environ.setdefault("CNNLABS_RUNS_DIR", tempfile.mkdtemp(prefix="cnnlabs-test-runs-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# A solution notebook's check("NN.M") below full marks fails its cell under nbval.
os.environ.setdefault("CNNLABS_CHECKS_STRICT", "1")


import pytest  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A notebook cell (nbval) whose figure calls showed no image, or one twice, fails."""
    outcome = yield
    report = outcome.get_result()
    outputs = getattr(item, "test_outputs", None)
    if call.when != "call" or report.outcome != "passed" or outputs is None:
        return
    from cnnlabs import labs

    problem = labs.figure_problem(item.cell.source, outputs)
    if problem:
        report.outcome = "failed"
        report.longrepr = f"{item.name}: {problem}"
