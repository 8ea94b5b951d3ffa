"""routecheck: evaluation and regression gates for small tool-routing language models.

The public surface is re-exported here; each name lives in a module of its own.
"""

from harness.backends import Backend, DecodingConfig, Generation, GenerationRequest, resolve_backend
from harness.catalog import (
    NO_TOOL,
    Catalog,
    Tool,
    catalog_from_dict,
    catalog_from_models,
    load_catalog,
)
from harness.errors import (
    CatalogError,
    CheckpointError,
    GoldenFileError,
    ResultsFileError,
    RoutecheckError,
)
from harness.gates import GateConfig, GateResult, evaluate_gates
from harness.golden import Category, GoldenCase, GoldenSet, load_golden
from harness.metrics import Metrics, Rate, compute_metrics, confusion_matrix
from harness.parse import ErrorKind, ParseResult, parse_tool_call
from harness.results import RunResults, read_results, write_results
from harness.runner import run_suite
from harness.scoring import CaseVerdict, Outcome, score_case

__version__ = "0.1.0"
"""The version when the distribution's metadata is not installed (kept equal to pyproject's)."""

__all__ = [
    "NO_TOOL",
    "Backend",
    "CaseVerdict",
    "Catalog",
    "CatalogError",
    "Category",
    "CheckpointError",
    "DecodingConfig",
    "ErrorKind",
    "GateConfig",
    "GateResult",
    "Generation",
    "GenerationRequest",
    "GoldenCase",
    "GoldenFileError",
    "GoldenSet",
    "Metrics",
    "Outcome",
    "ParseResult",
    "Rate",
    "ResultsFileError",
    "RoutecheckError",
    "RunResults",
    "Tool",
    "catalog_from_dict",
    "catalog_from_models",
    "compute_metrics",
    "confusion_matrix",
    "evaluate_gates",
    "load_catalog",
    "load_golden",
    "parse_tool_call",
    "read_results",
    "resolve_backend",
    "run_suite",
    "score_case",
    "write_results",
]
