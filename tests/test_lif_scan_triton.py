"""The feed-forward scan's GPU kernels (Triton), checked in Triton's CPU interpreter in a process of their own.

Triton decides at its first import whether kernels compile for a GPU or run in the interpreter
(``TRITON_INTERPRET=1``), so the checks in ``tests/interpreted/`` run in a fresh interpreter with that set.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton", reason="the gpu extra (Triton) is not installed")

HERE = Path(__file__).parent


def test_kernels_match_autograd_in_the_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "interpreted")],
                         cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]
