"""``mock:FILE``: replay raw outputs from a JSONL of ``{"id": ..., "output": ...}``.

The scripted backend that every plugin and report test uses, so none of them needs a
model. A case missing from the file is an error, never a silent pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.backends.base import (
    Backend,
    DecodingConfig,
    Generation,
    GenerationRequest,
    ProgressCallback,
)
from harness.errors import CheckpointError


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
        try:
            text = self._raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"{self.path}: not UTF-8 text ({exc.reason})") from None
        # Split on newlines only: str.splitlines() also breaks at U+2028 and U+0085,
        # which json.dumps(..., ensure_ascii=False) leaves raw inside an output string.
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CheckpointError(f"{self.path}:{lineno}: bad JSON ({exc.msg})") from None
            if (
                not isinstance(row, dict)
                or not isinstance(row.get("id"), str)
                or not isinstance(row.get("output"), str)
            ):
                raise CheckpointError(
                    f"{self.path}:{lineno}: each line needs string fields 'id' and 'output'"
                )
            if row["id"] in self.outputs:
                raise CheckpointError(f"{self.path}:{lineno}: duplicate id {row['id']!r}")
            self.outputs[row["id"]] = Generation(
                text=row["output"], truncated=bool(row.get("truncated", False))
            )

    def _lookup(self, request_id: str) -> Generation:
        if request_id in self.outputs:
            return self.outputs[request_id]
        # Without its catalog prefix (a catalog name may itself hold "/").
        parts = request_id.split("/")
        for i in range(1, len(parts)):
            short = "/".join(parts[i:])
            if short in self.outputs:
                return self.outputs[short]
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
        results = [self._lookup(r.id) for r in requests]
        if progress is not None:
            progress(len(results))
        return results

    def fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256(self._raw).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        return {"kind": "mock", "spec": self.spec, "path": str(self.path)}


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
