"""The package's layers have no cycles: import-linter's contracts (``[tool.importlinter]`` in pyproject.toml).

``lint-imports`` reads every import of ``robust_snn``, including those inside functions, and checks three
contracts: the layer order (a module imports only from layers below its own), no cycle among the modules of any
subpackage, and no module importing the package root. The first test runs it on the package as it is; the others
plant one forbidden import in a copy of the package and check that the contracts catch it, so that a green run
means something.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is in the test extra: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the contracts of ``cwd/pyproject.toml``, on the ``robust_snn`` found in ``cwd``."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(cwd)}, timeout=300)


def test_the_package_keeps_its_import_contracts():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# (module of the copy, import planted inside a new function, what lint-imports must report)
PLANTED = [
    ("core/parameters.py", "from ..training import trainer",
     "robust_snn.core is not allowed to import robust_snn.training"),
    ("devices/limits.py", "from ..readiness import statistics",
     "robust_snn.devices is not allowed to import robust_snn.readiness"),
    ("readiness/statistics.py", "from ..training import trainer",
     "robust_snn.readiness is not allowed to import robust_snn.training"),
    ("data/keywords.py", "from . import options", "No cycles are allowed in robust_snn.data"),
    ("io/model_file.py", "from .. import __version__",
     "robust_snn.io.model_file is not allowed to import robust_snn"),
]


@pytest.mark.parametrize("module, statement, report", PLANTED, ids=[p[0] for p in PLANTED])
def test_a_forbidden_import_inside_a_function_breaks_a_contract(tmp_path, module, statement, report):
    shutil.copytree(ROOT / "robust_snn", tmp_path / "robust_snn", ignore=shutil.ignore_patterns("*.npz", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "robust_snn" / module
    target.write_text(target.read_text() + f"\n\ndef _planted() -> None:\n    {statement}  # noqa: F401\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert report in " ".join(result.stdout.split()), result.stdout
