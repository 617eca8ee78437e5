"""The user errors: bad input the user can fix, as opposed to a bug in the package.

Each is raised with a one-line message that names the problem (the field, the file, the option). The command
line catches exactly :data:`USER_ERRORS` and turns them into that line on stderr and exit status 2 (``shared/
CLI.md``); anything else is an internal error (exit 1, traceback). Subclasses (``AcceleratorError``,
``BackendError``, ``NIRConsumerError``, ...) live beside the code that raises them and are caught through these
bases. This module imports nothing from the package, so every layer can raise them.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value or file is invalid; the message names the field."""


class DataError(ValueError):
    """A data spec, folder or file is unusable; the message names it."""


class FileFormatError(ValueError):
    """A file is missing, not in the expected format, or inconsistent; the message names the file."""


class OutputError(OSError):
    """An output could not be written (missing or read-only folder, full disk); earlier files are intact."""


USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, DataError, FileFormatError, OutputError)
"""What the command line reports as one line with exit status 2."""
