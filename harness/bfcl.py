"""``routecheck import bfcl``: Berkeley Function Calling Leaderboard cases as golden sets.

Reads a user's own copy of BFCL's question files (``BFCL_v4_<category>.json``) and, with
``--answers``, its ``possible_answer/`` files, and writes one golden folder per category:
a ``catalog.json`` with no tools of its own and a ``cases.jsonl`` whose lines each carry
their ``tools``. BFCL's schema dialect (``dict``, ``float``, ``tuple``, ``any``,
``optional``, defaults written as strings) becomes JSON Schema; each possible-answer list
becomes the target (its first value), ``accept`` (the others) and ``optional`` (``""``).
Irrelevance cases become ``info_request`` cases (no offered tool fits), gold ``no_tool``.

Nothing is refused silently: ``manifest.json`` lists every case with its source file, id
and the sha256 of its source line, every case that could not be expressed with the reason,
and every value or default that was changed on the way. No answer value reaches a prompt:
the tools are BFCL's own, and a default is kept only when the doc wrote one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.bfcl_convert import (
    _OMIT,
    MAX_COMBINATIONS,
    convert_call,
    convert_function,
    convert_schema,
)
from harness.catalog import tools_from_list
from harness.errors import CatalogError, RoutecheckError
from harness.hashing import sha256_hex

__all__ = [
    "CATEGORIES",
    "MAX_COMBINATIONS",
    "PARALLEL",
    "BfclImportError",
    "convert_call",
    "convert_function",
    "convert_schema",
    "import_category",
    "main",
    "replay_variants",
]

CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")
PARALLEL = frozenset({"parallel", "parallel_multiple"})


class BfclImportError(RoutecheckError, ValueError):
    """A BFCL source file is missing or malformed; the message names file, line and fix."""


def _sha(data: bytes) -> str:
    return sha256_hex(data)


def _read_lines(path: Path) -> list[tuple[int, bytes, dict[str, Any]]]:
    if not path.is_file():
        raise BfclImportError(
            f"{path}: not found. Give the folder that holds BFCL_v4_<category>.json "
            "(BFCL's bfcl_eval/data)."
        )
    rows = []
    for lineno, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BfclImportError(f"{path}:{lineno}: not a JSON line ({exc}).") from None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise BfclImportError(f"{path}:{lineno}: a line needs a string 'id'.")
        rows.append((lineno, raw, data))
    return rows


def import_category(
    source: Path, category: str, answers: Path | None, out: Path, split: str, string_match: str
) -> dict[str, Any]:
    """Import one category; returns its manifest entry (cases, refusals, notes)."""
    qfile = source / f"BFCL_v4_{category}.json"
    questions = _read_lines(qfile)
    golds: dict[str, dict[str, Any]] = {}
    afile = None
    if category != "irrelevance":
        if answers is None:
            raise BfclImportError(
                f"--answers: category {category!r} needs BFCL's possible answers. Give the "
                "possible_answer folder with --answers DIR."
            )
        afile = answers / f"BFCL_v4_{category}.json"
        golds = {d["id"]: d for _, _, d in _read_lines(afile)}
    folder = out / f"bfcl_{category}"
    lines: list[str] = []
    cases: list[dict[str, Any]] = []
    refused: list[dict[str, str]] = []
    notes: list[dict[str, str]] = []
    for lineno, raw, q in questions:
        case_id = q["id"]
        where = f"{qfile.name}:{lineno}"
        case_notes: list[str] = []
        try:
            line = _convert_case(q, golds.get(case_id), category, split, string_match, case_notes)
        except (CatalogError, ValueError, KeyError, TypeError) as exc:
            refused.append({"id": case_id, "source": where, "reason": str(exc)})
            continue
        lines.append(json.dumps(line, ensure_ascii=False) + "\n")
        cases.append({"id": case_id, "source": where, "sha256": _sha(raw)})
        notes.extend({"id": case_id, "note": n} for n in case_notes)
    folder.mkdir(parents=True, exist_ok=True)
    catalog = {
        "name": f"bfcl_{category}",
        "description": "You route requests to tools.",
        "tools": [],
    }
    write_atomic(folder / "catalog.json", json.dumps(catalog, indent=1) + "\n")
    write_atomic(folder / "cases.jsonl", "".join(lines))
    entry: dict[str, Any] = {
        "folder": folder.name,
        "questions": {"file": str(qfile), "sha256": _sha(qfile.read_bytes())},
        "imported": len(cases),
        "refused": refused,
        "notes": notes,
        "cases": cases,
    }
    if afile is not None:
        entry["answers"] = {"file": str(afile), "sha256": _sha(afile.read_bytes())}
    return entry


def _convert_case(
    q: dict[str, Any],
    gold: dict[str, Any] | None,
    category: str,
    split: str,
    string_match: str,
    notes: list[str],
) -> dict[str, Any]:
    turns = q.get("question")
    if not isinstance(turns, list) or len(turns) != 1 or not isinstance(turns[0], list):
        raise ValueError("only single-turn questions can be expressed (one list of messages)")
    messages = [{"role": m["role"], "content": m["content"]} for m in turns[0]]
    if not messages or messages[-1]["role"] != "user":
        raise ValueError("the question must end with a user message")
    functions = q.get("function")
    if not isinstance(functions, list) or not functions:
        raise ValueError("no functions offered")
    raw_tools = [convert_function(fn, "function", notes) for fn in functions]
    if string_match != "exact":
        for tool in raw_tools:
            _mark_strings(tool["parameters"], string_match)
    tools = tools_from_list(raw_tools, "function")
    by_name = {t.name: t for t in tools}
    line: dict[str, Any] = {"id": q["id"], "split": split}
    if len(messages) == 1:
        line["prompt"] = messages[0]["content"]
    else:
        line["messages"] = messages
    line["tools"] = raw_tools
    if category == "irrelevance":
        line["category"] = "info_request"  # no offered tool fits: answer directly
        line["target"] = {"tool": "no_tool"}
        return line
    if gold is None:
        raise ValueError("no possible answer for this id")
    calls = []
    for i, call in enumerate(gold.get("ground_truth", [])):
        if not isinstance(call, dict) or len(call) != 1:
            raise ValueError(f"ground_truth[{i}] is not one {{function: arguments}}")
        ((name, answer),) = call.items()
        if name not in by_name:
            raise ValueError(f"ground_truth[{i}]: {name!r} is not among the offered functions")
        calls.append(convert_call(name, answer, by_name[name], f"ground_truth[{i}]", notes))
    if not calls:
        raise ValueError("empty ground truth")
    line["category"] = "positive"
    if category in PARALLEL:
        line["target"] = calls
    else:
        if len(calls) != 1:
            raise ValueError(f"{len(calls)} calls in a one-call category")
        call = calls[0]
        line["target"] = {"tool": call["tool"], "arguments": call["arguments"]}
        for key in ("accept", "optional"):
            if key in call:
                line[key] = call[key]
    return line


def _mark_strings(schema: Any, policy: str) -> None:
    """Declare ``x-match`` on every free string (enums stay exact)."""
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and "enum" not in schema:
        schema.setdefault("x-match", policy)
    for sub in (schema.get("properties") or {}).values():
        _mark_strings(sub, policy)
    if isinstance(schema.get("items"), dict):
        _mark_strings(schema["items"], policy)


def replay_variants(golden_root: Path) -> list[list[dict[str, str]]]:
    """``mock:`` replay files answering every imported case with its acceptable values.

    Variant ``k`` answers each argument with its ``k``-th acceptable value (cycling), so
    that over all variants every accepted value and every allowed omission is replayed at
    least once; odd variants also reverse the order of parallel calls.
    """
    from harness.golden import load_golden

    cases = [case for s in load_golden(golden_root) for case in s.cases]
    count = 2
    for case in cases:
        if case.target.tool != "no_tool":
            for call in case.gold_calls():
                for options in _alternatives(call).values():
                    count = max(count, len(options))
    variants = []
    for k in range(count):
        rows = []
        for case in cases:
            if case.target.tool == "no_tool":
                output: Any = {"tool": "no_tool", "reason": "none of these tools fits"}
            else:
                calls = [
                    {"tool": c.tool, "arguments": _variant_arguments(c, k)}
                    for c in case.gold_calls()
                ]
                if k % 2:
                    calls.reverse()
                output = calls if case.target.parallel else calls[0]
            rows.append({"id": case.key, "output": json.dumps(output, ensure_ascii=False)})
        variants.append(rows)
    return variants


def _alternatives(call: Any) -> dict[str, list[Any]]:
    alts: dict[str, list[Any]] = {}
    for name, value in call.arguments.items():
        alts[name] = [value, *call.accept.get(name, [])]
    for name in call.optional:
        alts.setdefault(name, []).append(_OMIT)
    return alts


def _variant_arguments(call: Any, variant: int) -> dict[str, Any]:
    out = {}
    for name, options in _alternatives(call).items():
        value = options[variant % len(options)]
        if value is not _OMIT:
            out[name] = value
    return out


def main(argv: list[str]) -> int:
    """Import BFCL categories as golden folders, with a manifest of provenance."""
    from harness.cli.common import parser as command_parser

    parser = command_parser(
        "import bfcl",
        "Import Berkeley Function Calling Leaderboard cases as golden sets.",
        [
            "routecheck import bfcl ../shared/bfcl --out golden/bfcl",
            "routecheck import bfcl BFCL_DIR --category simple_python --category irrelevance "
            "--answers BFCL_DIR/possible_answer --out reports/bfcl/golden",
        ],
    )
    parser.add_argument("source", help="folder holding BFCL_v4_<category>.json files")
    parser.add_argument(
        "--category",
        action="append",
        choices=[*CATEGORIES, "all"],
        help="category to import (repeatable; default: all)",
    )
    parser.add_argument(
        "--answers",
        help="BFCL's possible_answer folder (default: SOURCE/possible_answer)",
    )
    parser.add_argument("--out", default="golden/bfcl", help="output folder (default: %(default)s)")
    parser.add_argument(
        "--split",
        choices=["dev", "holdout"],
        default="holdout",
        help="split of every imported case (default: %(default)s, the split gates read)",
    )
    parser.add_argument(
        "--string-match",
        default="text",
        help="x-match policy for free-text string arguments: text (default), bfcl (BFCL's "
        "own rule, for parity), exact, casefold, casefold-space",
    )
    parser.add_argument(
        "--replays",
        metavar="DIR",
        help="also write mock: replay files answering with every acceptable value",
    )
    args = parser.parse_args(argv)
    from harness.match import POLICIES

    if args.string_match not in POLICIES:
        parser.error(f"--string-match: unknown policy {args.string_match!r}")
    chosen = args.category or ["all"]
    categories = list(CATEGORIES) if "all" in chosen else list(dict.fromkeys(chosen))
    source = Path(args.source)
    answers = Path(args.answers) if args.answers else source / "possible_answer"
    out = Path(args.out)
    try:
        manifest: dict[str, Any] = {
            "source": str(source),
            "string_match": args.string_match,
            "split": args.split,
            "categories": {},
        }
        for category in categories:
            entry = import_category(source, category, answers, out, args.split, args.string_match)
            manifest["categories"][category] = entry
            print(
                f"{category}: {entry['imported']} imported, {len(entry['refused'])} refused, "
                f"{len(entry['notes'])} notes -> {out / entry['folder']}"
            )
            for r in entry["refused"]:
                print(f"  refused {r['id']} ({r['source']}): {r['reason']}")
        write_atomic(out / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
        print(f"manifest: {out / 'manifest.json'}")
        if args.replays:
            replays = Path(args.replays)
            replays.mkdir(parents=True, exist_ok=True)
            variants = replay_variants(out)
            for k, rows in enumerate(variants):
                text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
                write_atomic(replays / f"replay_{k}.jsonl", text)
            print(f"wrote {len(variants)} replay files to {replays}")
    except (RoutecheckError, OSError) as exc:
        print(f"routecheck import bfcl: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
