"""Exceptions for bad input that a user must fix (never for bad model output, which is data)."""

from __future__ import annotations


class RoutecheckError(Exception):
    """Base class: a problem with the user's files, options or environment."""


class CatalogError(RoutecheckError, ValueError):
    """A catalog file or module is malformed."""


class GoldenFileError(RoutecheckError, ValueError):
    """A golden JSONL file is malformed; the message names file, line and field."""


class CheckpointError(RoutecheckError, FileNotFoundError):
    """A ``--checkpoint`` value names nothing usable; the message says what was looked for."""


class ResultsFileError(RoutecheckError, ValueError):
    """A results.json is missing, corrupt or of an unsupported schema version."""


class JsonlError(RoutecheckError, ValueError):
    """A JSONL file cannot be read or holds a bad line; the message names file and line."""


class SettingsError(RoutecheckError, ValueError):
    """A setting in ``[tool.routecheck]`` or on the command line has a wrong type or value."""


class OutputDirError(RoutecheckError, PermissionError):
    """A folder the run must write to (reports, output cache) cannot be written."""


class RunIncompleteError(RoutecheckError, RuntimeError):
    """The run started but could not finish (the backend or a file write failed)."""
