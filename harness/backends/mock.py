"""``mock:FILE``: replay raw outputs from a JSONL of ``{"id": ..., "output": ...}``.

The scripted backend that every plugin and report test uses, so none of them needs a
model. A case missing from the file is an error, never a silent pass.

A line may instead hold a rule, ``{"match": "<regex>", "output": ...}``: any request whose
last user turn the regex finds a match in gets that output (rules are tried in file order,
before the ids). A perturbed request of the robustness suite (id ``<case>~perturbed-<hash>``)
that no rule matches gets its case's output, so a replay is robust unless a rule says not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.backends.base import (
    Backend,
    DecodingConfig,
    Generation,
    GenerationRequest,
    ProgressCallback,
)
from harness.backends.registry import BackendEntry, register_backend
from harness.errors import CheckpointError
from harness.hashing import short_fingerprint
from harness.jsonl import iter_lines, loads_strict


class MockBackend(Backend):
    """Replays canned outputs by case id (``id`` or ``catalog/id``)."""

    cacheable = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.spec = f"mock:{path}"
        if not self.path.is_file():
            raise CheckpointError(
                f"--checkpoint mock:{path}: replay file not found. A mock checkpoint is a "
                'JSONL file with one {"id": "<case id>", "output": "<raw model text>"} per line.'
            )
        self._raw = self.path.read_bytes()
        self.outputs: dict[str, Generation] = {}
        self._case_ids: dict[str, str] = {}
        self.rules: list[tuple[re.Pattern[str], Generation]] = []
        try:
            text = self._raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(
                f"{self.path}: byte {exc.start} is not UTF-8 ({exc.reason}); a mock replay "
                "file is UTF-8 JSONL"
            ) from None
        for lineno, line in iter_lines(text):
            if not line.strip():
                continue
            where = f"{self.path}:{lineno}"
            try:
                row = loads_strict(line)
            except json.JSONDecodeError as exc:
                raise CheckpointError(f"{where}: bad JSON ({exc.msg}); fix the line") from None
            if isinstance(row, dict) and "match" in row and "id" not in row:
                self.rules.append(_rule(row, where))
                continue
            if (
                not isinstance(row, dict)
                or not isinstance(row.get("id"), str)
                or not isinstance(row.get("output"), str)
            ):
                raise CheckpointError(
                    f"{where}: each line needs string fields 'id' and 'output' (or 'match' "
                    "and 'output' for a rule)"
                )
            truncated = row.get("truncated", False)
            if not isinstance(truncated, bool):
                raise CheckpointError(
                    f"{where}: field 'truncated' is {truncated!r}; it must be JSON true or "
                    "false (not a string), or left out"
                )
            if row["id"] in self.outputs:
                raise CheckpointError(f"{where}: duplicate id {row['id']!r}; keep one line per id")
            self.outputs[row["id"]] = Generation(text=row["output"], truncated=truncated)

    def bind_cases(self, cases: Iterable[tuple[str, str]]) -> list[str]:
        """Learn each request's ``(catalog/id key, bare id)`` and return the keys with no output.

        A replay row may name a case by its key or its bare id; without knowing where the
        catalog prefix ends, a missing ``a/b`` would be answered with ``b``'s output.
        """
        missing = []
        for key, case_id in cases:
            self._case_ids[key] = case_id
            if key not in self.outputs and case_id not in self.outputs:
                missing.append(key)
        return missing

    def _lookup(self, request_id: str) -> Generation:
        request_id = request_id.split(PERTURBED_SEPARATOR, 1)[0]
        if request_id in self.outputs:
            return self.outputs[request_id]
        bare = self._case_ids.get(request_id)
        if bare is None and "/" in request_id:
            bare = request_id.split("/", 1)[1]
        if bare is not None and bare in self.outputs:
            return self.outputs[bare]
        raise CheckpointError(
            f"{self.path}: no output for case {request_id!r}; a mock file must hold an output "
            "for every case it is run on (missing cases are errors, not passes)"
        )

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        results = [self._ruled(r) or self._lookup(r.id) for r in requests]
        if progress is not None:
            progress(len(results))
        return results

    def _ruled(self, request: GenerationRequest) -> Generation | None:
        if not self.rules:
            return None
        users = [m.get("content", "") for m in request.messages if m.get("role") == "user"]
        text = users[-1] if users else ""
        for pattern, generation in self.rules:
            if pattern.search(text):
                return generation
        return None

    def response_parser(self) -> Callable[[str], dict[str, Any]]:
        """Replayed ``native`` outputs are read in the Hermes syntax (``<tool_call>``)."""
        from harness.formats.native import hermes_parser

        return hermes_parser()

    def fingerprint(self) -> str:
        return short_fingerprint(self._raw)

    def describe(self) -> dict[str, Any]:
        return {"kind": "mock", "spec": self.spec, "path": str(self.path)}


PERTURBED_SEPARATOR = "~perturbed-"
"""How the robustness suite marks a perturbed request's id (see harness.robustness)."""


def _rule(row: dict[str, Any], where: str) -> tuple[re.Pattern[str], Generation]:
    """A ``{"match": REGEX, "output": TEXT}`` line, checked."""
    if not isinstance(row.get("match"), str) or not isinstance(row.get("output"), str):
        raise CheckpointError(f"{where}: a rule needs string fields 'match' and 'output'")
    try:
        pattern = re.compile(row["match"])
    except re.error as exc:
        raise CheckpointError(f"{where}: field 'match' is not a valid regex ({exc})") from None
    return pattern, Generation(text=row["output"])


def gold_replay_rows(sets: Sequence[Any]) -> list[dict[str, str]]:
    """Replay rows whose outputs are the gold answers: a perfect router, for smoke tests."""
    rows = []
    for golden_set in sets:
        for case in golden_set.cases:
            if case.target.calls:
                output: Any = [
                    {"tool": c.tool, "arguments": c.arguments} for c in case.target.calls
                ]
            elif case.target.tool == "no_tool":
                output = {"tool": "no_tool", "reason": f"no tool fits this {case.category.value}"}
            else:
                output = {"tool": case.target.tool, "arguments": case.target.arguments}
            rows.append({"id": case.key, "output": json.dumps(output, ensure_ascii=False)})
    return rows


def _load(spec: str, **options: Any) -> Backend:
    return MockBackend(spec[len("mock:") :])


register_backend(
    BackendEntry(
        name="mock",
        prefix="mock:",
        load=_load,
        prevalidate=_load,  # replay files are cheap to read: fail at start-up, not mid-run
        formats=("json", "native", "openai-tools"),
    )
)
