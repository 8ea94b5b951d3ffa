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

A hostile source cannot break the import: a line that is not one JSON object (or nests
too deep, or holds a lone surrogate), a duplicate id, an ambiguous answer, and any case the
golden loader would refuse are refused with file, line, id and field. Every category is
converted and checked before anything is written, so a file that cannot be read (exit 2)
leaves no half-written output.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple, get_args

from harness.atomic import write_atomic
from harness.bfcl_convert import (
    _OMIT,
    MAX_COMBINATIONS,
    convert_call,
    convert_function,
    convert_schema,
)
from harness.cases import Message
from harness.catalog import DEFAULT_DESCRIPTION, catalog_from_dict, tools_from_list
from harness.errors import CatalogError, GoldenFileError, RoutecheckError
from harness.golden import MAX_DEPTH, load_golden, parse_case
from harness.hashing import sha256_hex
from harness.jsonl import DuplicateKeyError, parse_int, unique_keys

__all__ = [
    "CATEGORIES",
    "MAX_COMBINATIONS",
    "PARALLEL",
    "BfclImportError",
    "CategoryImport",
    "convert_call",
    "convert_category",
    "convert_function",
    "convert_schema",
    "import_category",
    "main",
    "replay_variants",
]

CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")
PARALLEL = frozenset({"parallel", "parallel_multiple"})


class BfclImportError(RoutecheckError, ValueError):
    """A BFCL source file is missing or unreadable; the message names the file and the fix."""


_ROLES = frozenset(get_args(Message.model_fields["role"].annotation))
_ID = re.compile(rb'"id"\s*:\s*("(?:[^"\\]|\\.)*")')


class _Row(NamedTuple):
    """One non-blank source line: its object, or why it cannot be used."""

    lineno: int
    raw: bytes
    data: dict[str, Any]
    id: str | None
    problem: str | None


class CategoryImport(NamedTuple):
    """One category converted and checked but not yet written: its manifest entry, its
    files' bytes (so that nothing is written before every category is known good), and
    the files of an earlier import to remove (a category with no case gets no folder,
    since the golden loader refuses a set without cases)."""

    entry: dict[str, Any]
    files: dict[Path, bytes]
    remove: tuple[Path, ...] = ()

    def apply(self) -> None:
        """Write the files, or remove the earlier import's (and its folder, if empty)."""
        for path, data in self.files.items():
            write_atomic(path, data)
        for path in self.remove:
            path.unlink(missing_ok=True)
        if self.remove and self.remove[0].parent.is_dir():
            with contextlib.suppress(OSError):  # not empty: other files are the user's
                self.remove[0].parent.rmdir()


def _sha(data: bytes) -> str:
    return sha256_hex(data)


def _safe(text: str) -> str:
    """``text`` with each lone surrogate as its ``\\ud800``-style escape, printable as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _json_bytes(data: Any, indent: int | None = None) -> bytes:
    """JSON as UTF-8; a lone surrogate (in a refused id or reason) stays a JSON escape."""
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


def _surrogate(text: str) -> str | None:
    """The first lone surrogate in ``text``, escaped, if any."""
    if text.isascii():
        return None
    return next((f"\\u{ord(c):04x}" for c in text if 0xD800 <= ord(c) <= 0xDFFF), None)


def _first_problem(data: Any) -> str | None:
    """Where ``data`` nests deeper than :data:`MAX_DEPTH` or holds a lone surrogate (which
    UTF-8, and so no file the harness writes, can carry). Iterative: no depth overflows."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH and isinstance(value, dict | list):
            shown = path if len(path) <= 80 else path[:80] + "..."
            return f"{shown}: nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, str) and (bad := _surrogate(value)):
            return f"{path}: holds a lone surrogate ({bad}), which UTF-8 cannot carry"
        if isinstance(value, dict):
            for key in reversed(list(value)):
                at = f"{path}.{key}" if path else key
                if bad := _surrogate(key):
                    return f"{_safe(at)}: a key holds a lone surrogate ({bad})"
                stack.append((value[key], at, depth + 1))
        elif isinstance(value, list):
            stack.extend(
                (v, f"{path}[{i}]", depth + 1) for i, v in reversed(list(enumerate(value)))
            )
    return None


def _parse_line(raw: bytes) -> tuple[dict[str, Any], str | None, str | None]:
    """One source line as (object, id, problem); a line that is no JSON object gets the id
    its text seems to give, so that its refusal can still name the case."""
    try:
        data = json.loads(raw, parse_int=parse_int, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        problem = f"line: not JSON ({exc.msg} at column {exc.colno})"
    except UnicodeDecodeError:
        problem = "line: not UTF-8 text"
    except RecursionError:
        problem = f"line: nested deeper than {MAX_DEPTH} levels"
    except DuplicateKeyError as dup:
        problem = f"line: key {_safe(dup.key)!r} appears twice in one object"
    except ValueError as exc:  # an integer longer than Python reads (parse_int says so)
        problem = f"line: {exc}"
    else:
        if not isinstance(data, dict):
            return {}, None, "line: not a JSON object"
        case_id = data.get("id")
        if not isinstance(case_id, str) or not case_id.strip():
            return {}, None, "id: missing or not a non-empty string"
        return data, case_id, _first_problem(data)
    found = _ID.search(raw)
    try:
        guess = json.loads(found.group(1)) if found else None
    except ValueError:
        guess = None
    return {}, guess if isinstance(guess, str) else None, problem


def _read_lines(path: Path) -> tuple[bytes, list[_Row]]:
    """The file's bytes and its non-blank lines; a line that cannot be used carries its
    problem (it is refused, naming file and line), a file that cannot be read raises."""
    if not path.is_file():
        raise BfclImportError(
            f"{path}: not found. Give the folder that holds BFCL_v4_<category>.json "
            "(BFCL's bfcl_eval/data)."
        )
    data = path.read_bytes()
    rows = []
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if raw.strip():
            rows.append(_Row(lineno, raw, *_parse_line(raw)))
    return data, rows


def _by_id(rows: list[_Row]) -> dict[str, list[_Row]]:
    ids: dict[str, list[_Row]] = {}
    for row in rows:
        if row.id is not None:
            ids.setdefault(row.id, []).append(row)
    return ids


def _refusal(case_id: str | None, source: str, reason: str) -> dict[str, Any]:
    return {"id": case_id, "source": source, "reason": reason}


def import_category(
    source: Path, category: str, answers: Path | None, out: Path, split: str, string_match: str
) -> dict[str, Any]:
    """Import one category (convert, then write); returns its manifest entry."""
    done = convert_category(source, category, answers, out, split, string_match)
    done.apply()
    return done.entry


def convert_category(
    source: Path, category: str, answers: Path | None, out: Path, split: str, string_match: str
) -> CategoryImport:
    """Convert and check one category without writing: every case either passes the golden
    loader's own check (so the folder loads) or is refused with file, line, id and field."""
    qfile = source / f"BFCL_v4_{category}.json"
    qbytes, questions = _read_lines(qfile)
    golds: dict[str, list[_Row]] = {}
    refused: list[dict[str, Any]] = []
    afile = abytes = None
    if category != "irrelevance":
        if answers is None:
            raise BfclImportError(
                f"--answers: category {category!r} needs BFCL's possible answers. Give the "
                "possible_answer folder with --answers DIR."
            )
        afile = answers / f"BFCL_v4_{category}.json"
        abytes, arows = _read_lines(afile)
        golds = _by_id(arows)
        aname = f"{afile.parent.name}/{afile.name}"
        refused.extend(
            _refusal(None, f"{aname}:{r.lineno}", r.problem)
            for r in arows
            if r.problem is not None and r.id is None
        )
    folder = out / f"bfcl_{category}"
    catalog = {"name": f"bfcl_{category}", "description": DEFAULT_DESCRIPTION, "tools": []}
    empty = catalog_from_dict(catalog, source=str(folder / "catalog.json"))
    same_id = _by_id(questions)
    lines: list[str] = []
    cases: list[dict[str, str]] = []
    notes: list[dict[str, str]] = []
    for row in questions:
        where = f"{qfile.name}:{row.lineno}"
        case_notes: list[str] = []
        try:
            if row.problem is not None:
                raise ValueError(row.problem)
            assert row.id is not None
            others = [r.lineno for r in same_id[row.id] if r is not row]
            if others:
                raise ValueError(
                    f"id: {row.id!r} is also the id at line(s) {others}: every line with a "
                    "duplicate id is refused, since which one is meant is ambiguous"
                )
            gold = _gold(golds, row.id, afile) if afile is not None else None
            line = _convert_case(row.data, gold, category, split, string_match, case_notes)
            text = json.dumps(line, ensure_ascii=False, allow_nan=False)
            text.encode("utf-8")
            parse_case(json.loads(text), empty, "golden line")
        except (CatalogError, GoldenFileError, ValueError, KeyError, TypeError) as exc:
            refused.append(_refusal(row.id, where, str(exc)))
            continue
        except RecursionError:
            refused.append(_refusal(row.id, where, "line: nested too deeply to convert"))
            continue
        lines.append(text + "\n")
        cases.append({"id": row.id, "source": where, "sha256": _sha(row.raw)})
        notes.extend({"id": row.id, "note": n} for n in case_notes)
    entry: dict[str, Any] = {
        "folder": folder.name,
        "questions": {"file": str(qfile), "sha256": _sha(qbytes)},
        "imported": len(cases),
        "refused": refused,
        "notes": notes,
        "cases": cases,
    }
    if afile is not None and abytes is not None:
        entry["answers"] = {"file": str(afile), "sha256": _sha(abytes)}
    if not cases:
        entry["folder"] = None
        return CategoryImport(entry, {}, (folder / "catalog.json", folder / "cases.jsonl"))
    files = {
        folder / "catalog.json": _json_bytes(catalog, indent=1) + b"\n",
        folder / "cases.jsonl": "".join(lines).encode("utf-8"),
    }
    return CategoryImport(entry, files)


def _gold(golds: dict[str, list[_Row]], case_id: str, afile: Path) -> dict[str, Any] | None:
    """The case's one possible answer; several lines for one id, or an unreadable one, are
    refused rather than letting one of them win silently."""
    rows = golds.get(case_id, [])
    aname = f"{afile.parent.name}/{afile.name}"
    if len(rows) > 1:
        raise ValueError(
            f"id: {len(rows)} lines of {aname} have this id (lines "
            f"{[r.lineno for r in rows]}): which one is the answer is ambiguous"
        )
    if rows and rows[0].problem is not None:
        raise ValueError(f"possible answer ({aname}:{rows[0].lineno}): {rows[0].problem}")
    return rows[0].data if rows else None


def _messages(turns: Any) -> list[dict[str, str]]:
    """BFCL's one turn as golden messages; what the golden loader would refuse is refused
    here, naming the message and field."""
    if not isinstance(turns, list) or len(turns) != 1 or not isinstance(turns[0], list):
        raise ValueError(
            "question: only single-turn questions can be expressed (one list of messages)"
        )
    messages = []
    for i, m in enumerate(turns[0]):
        at = f"question[0][{i}]"
        if not isinstance(m, dict):
            raise ValueError(f"{at}: a message must be an object with role and content")
        role, content = m.get("role"), m.get("content")
        if not isinstance(role, str) or role not in _ROLES:
            raise ValueError(f"{at}.role: {role!r} is not one of {sorted(_ROLES)}")
        if not isinstance(content, str):
            raise ValueError(f"{at}.content: must be a string, not {type(content).__name__}")
        messages.append({"role": role, "content": content})
    if not messages or messages[-1]["role"] != "user":
        raise ValueError("question[0]: the question must end with a user message")
    if not messages[-1]["content"].strip():
        raise ValueError(f"question[0][{len(messages) - 1}].content: the request is empty")
    return messages


def _convert_case(
    q: dict[str, Any],
    gold: dict[str, Any] | None,
    category: str,
    split: str,
    string_match: str,
    notes: list[str],
) -> dict[str, Any]:
    messages = _messages(q.get("question"))
    functions = q.get("function")
    if not isinstance(functions, list) or not functions:
        raise ValueError("function: no functions offered")
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
    truth = gold.get("ground_truth")
    if not isinstance(truth, list):
        raise ValueError("ground_truth: must be a list of {function: arguments}")
    calls = []
    for i, call in enumerate(truth):
        if not isinstance(call, dict) or len(call) != 1:
            raise ValueError(f"ground_truth[{i}] is not one {{function: arguments}}")
        ((name, answer),) = call.items()
        if name not in by_name:
            raise ValueError(f"ground_truth[{i}]: {name!r} is not among the offered functions")
        if not isinstance(answer, dict):
            raise ValueError(
                f"ground_truth[{i}].{name}: the arguments must be an object of answer "
                f"lists, not {type(answer).__name__}"
            )
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
    properties = schema.get("properties")
    for sub in properties.values() if isinstance(properties, dict) else ():
        _mark_strings(sub, policy)
    if isinstance(schema.get("items"), dict):
        _mark_strings(schema["items"], policy)


def replay_variants(golden_root: Path) -> list[list[dict[str, str]]]:
    """``mock:`` replay files answering every imported case with its acceptable values.

    Variant ``k`` answers each argument with its ``k``-th acceptable value (cycling), so
    that over all variants every accepted value and every allowed omission is replayed at
    least once; odd variants also reverse the order of parallel calls.
    """
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
    from harness.cli.common import EXIT_BAD_INPUT
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
        # Convert and check every category before writing anything: a bad file stops the
        # import with nothing written, never with a half-written output folder.
        done = {c: convert_category(source, c, answers, out, args.split, args.string_match)
                for c in categories}  # fmt: skip
        manifest: dict[str, Any] = {
            "source": str(source),
            "string_match": args.string_match,
            "split": args.split,
            "categories": {c: d.entry for c, d in done.items()},
        }
        payload = _json_bytes(manifest, indent=1)
        # The manifest goes last and the old one first: a write that fails midway leaves
        # no manifest, so the folder reads as unfinished, not as a mix of two imports.
        (out / "manifest.json").unlink(missing_ok=True)
        for d in done.values():
            d.apply()
        write_atomic(out / "manifest.json", payload)
        for category, d in done.items():
            entry = d.entry
            where = str(out / entry["folder"]) if entry["folder"] else "no folder (no case)"
            print(
                f"{category}: {entry['imported']} imported, {len(entry['refused'])} refused, "
                f"{len(entry['notes'])} notes -> {_safe(where)}"
            )
            for r in entry["refused"]:
                name = "a line" if r["id"] is None else _safe(r["id"])
                print(f"  refused {name} ({_safe(r['source'])}): {_safe(r['reason'])}")
        print(f"manifest: {_safe(str(out / 'manifest.json'))}")
        if args.replays and not any(d.files for d in done.values()):
            print("no case imported: no replay files written")
        elif args.replays:
            replays = Path(args.replays)
            replays.mkdir(parents=True, exist_ok=True)
            variants = replay_variants(out)
            for k, rows in enumerate(variants):
                text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
                write_atomic(replays / f"replay_{k}.jsonl", text)
            print(f"wrote {len(variants)} replay files to {_safe(str(replays))}")
    except (RoutecheckError, OSError) as exc:
        print(f"routecheck import bfcl: {_safe(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
