"""One definition of each user error (robust_snn.errors): every path a user or a module imports it by gives the
same class, so ``except`` clauses and the CLI's exit status 2 catch it wherever it is raised."""

from __future__ import annotations

import importlib

import pytest

from robust_snn import errors

# (module that re-exports it, name) for each user error
REEXPORTS = [
    ("robust_snn.config", "ConfigError"),
    ("robust_snn.data", "DataError"),
    ("robust_snn.data.spec", "DataError"),
    ("robust_snn.io.tensors", "FileFormatError"),
    ("robust_snn.io.atomic", "OutputError"),
    ("robust_snn.cli", "USER_ERRORS"),
]


@pytest.mark.parametrize("module, name", REEXPORTS, ids=[f"{m}.{n}" for m, n in REEXPORTS])
def test_every_import_path_of_a_user_error_is_the_one_in_robust_snn_errors(module, name):
    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


def test_the_cli_reports_exactly_the_four_user_error_bases():
    assert set(errors.USER_ERRORS) == {errors.ConfigError, errors.DataError, errors.FileFormatError,
                                       errors.OutputError}


# (module, class) of errors raised beside their code that a user can fix: the CLI must catch them through a base.
SUBCLASSES = [
    ("robust_snn.runtime.accelerator", "AcceleratorError"),
    ("robust_snn.distributed.backend", "BackendError"),
    ("robust_snn.export.nir_targets", "NIRConsumerError"),
]


@pytest.mark.parametrize("module, name", SUBCLASSES, ids=[n for _, n in SUBCLASSES])
def test_errors_raised_beside_their_code_are_user_errors(module, name):
    assert issubclass(getattr(importlib.import_module(module), name), errors.USER_ERRORS)
