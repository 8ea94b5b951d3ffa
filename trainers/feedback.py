"""The feedback loop: failing dev cases of a run become training rows for the next round.

``routecheck feedback reports/<run>/results.json [--out data/feedback.jsonl]``

For every case of the ``dev`` split that failed, the command writes one SFT row in the
seed's shape (``{"messages": [system, user, assistant]}``) whose assistant turn is the gold
answer, plus a few variants of it (other ids, replaced consistently in prompt and answer;
other casing; a filler word before or after), so the router learns the case rather than
the string. The system prompt is the one the model was actually sent
(``record.messages[0]``).

When the run had the robustness suite on, every perturbed request of a dev case that broke
a passing case (the shrunk one and the sampled ones) becomes a row too: the perturbed
request, answered with the gold as the perturbation transformed it (a swapped id swapped in
the answer as well).

Holdout cases are never written, however they failed: they are the test of whether the
loop generalises, and the command says how many it left out. Rows already in the output
file are not written again, and the file is only ever appended to, under a file lock
(``<out>.lock``) held from reading the existing rows to the fsync of the new ones: existing
lines stay byte for byte as they were, and concurrent runs never drop each other's rows.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.atomic import append_text, file_lock
from harness.catalog import NO_TOOL, load_catalog
from harness.errors import CatalogError, ResultsFileError
from harness.golden import Category
from harness.jsonl import dumps_line, iter_lines, loads_strict
from harness.results import CaseRecord, RunResults, read_results

NO_TOOL_REASONS = {
    Category.CHITCHAT: "small talk, no action needed",
    Category.INFO_REQUEST: "answer directly; no tool fits",
    Category.UNDERSPECIFIED: "need more details before calling a tool",
}
"""The reason written for a no-tool gold answer, by category (underspecified cases name the
missing arguments when the failed prediction shows which tool was meant)."""

PREFIXES = ("hi, ", "hello, ", "hey, ", "ok so ", "quick question: ", "good morning, ")
SUFFIXES = (" thanks", " thank you!", " pls", " thx", " cheers", " :)")

_ID_VALUE = re.compile(r"^([A-Z]{2,5})-(\d{3,7})$")
_ALNUM = re.compile(r"[^0-9a-z]+")


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def id_prefixes(records: Sequence[CaseRecord]) -> set[str]:
    """Id prefixes (``ORD``, ``BK``) seen in gold arguments such as ``ORD-1234``."""
    found = set()
    for r in records:
        for value in r.gold.arguments.values():
            if isinstance(value, str) and (m := _ID_VALUE.match(value)):
                found.add(m.group(1))
    return found


def id_pattern(prefixes: set[str]) -> re.Pattern[str] | None:
    """Ids as users spell them: ``ORD-1234``, ``ord1234``, ``#ORD 1234``."""
    if not prefixes:
        return None
    alternatives = "|".join(sorted(re.escape(p) for p in prefixes))
    return re.compile(rf"(?<![A-Za-z0-9])({alternatives})([- ]?)(\d{{3,7}})(?![0-9])", re.I)


def no_tool_reason(record: CaseRecord, catalog_tools: dict[str, list[str]]) -> str:
    """A short reason for a no-tool gold answer.

    For an underspecified request that the model answered with a tool call, the reason
    names that tool and the required arguments the request does not contain.
    """
    if record.category is not Category.UNDERSPECIFIED:
        return NO_TOOL_REASONS.get(record.category, "no tool fits")
    tool = record.parsed.tool if record.parsed.valid else None
    if not tool or tool == NO_TOOL:
        return NO_TOOL_REASONS[Category.UNDERSPECIFIED]
    prompt = _ALNUM.sub("", record.prompt.lower())
    predicted = record.parsed.arguments or {}
    required = catalog_tools.get(tool) or sorted(predicted)
    missing = [
        name
        for name in required
        if not (
            isinstance(predicted.get(name), str)
            and _ALNUM.sub("", predicted[name].lower())
            and _ALNUM.sub("", predicted[name].lower()) in prompt
        )
    ]
    return f"need {' and '.join(missing or required)} before {tool}"


def gold_output(record: CaseRecord, catalog_tools: dict[str, list[str]]) -> str:
    if record.gold.tool == NO_TOOL:
        return compact({"tool": NO_TOOL, "reason": no_tool_reason(record, catalog_tools)})
    return compact({"tool": record.gold.tool, "arguments": record.gold.arguments})


def _swap_ids(
    text: str, arguments: dict[str, Any], pattern: re.Pattern[str] | None, rng: random.Random
) -> tuple[str, dict[str, Any]]:
    """Give every id in the prompt a new number, and the same number in the arguments."""
    if pattern is None:
        return text, arguments
    mapping: dict[str, str] = {}

    def new_number(old: str) -> str:
        if old not in mapping:
            while True:
                candidate = str(rng.randint(10 ** (len(old) - 1), 10 ** len(old) - 1))
                if candidate != old and candidate not in mapping.values():
                    mapping[old] = candidate
                    break
        return mapping[old]

    swapped = pattern.sub(lambda m: m.group(1) + m.group(2) + new_number(m.group(3)), text)
    if not mapping:
        return text, arguments
    new_args: dict[str, Any] = {}
    for name, value in arguments.items():
        if isinstance(value, str) and (m := _ID_VALUE.match(value)) and m.group(2) in mapping:
            value = f"{m.group(1)}-{mapping[m.group(2)]}"
        new_args[name] = value
    return swapped, new_args


def variants(
    record: CaseRecord,
    count: int,
    pattern: re.Pattern[str] | None,
    rng: random.Random,
) -> list[tuple[str, dict[str, Any]]]:
    """Up to ``count`` rewrites of the user's last message with matching gold arguments."""
    user = _last_user(record)
    out: list[tuple[str, dict[str, Any]]] = []
    seen = {user}
    for i in range(count * 4):
        if len(out) >= count:
            break
        text, args = _swap_ids(user, dict(record.gold.arguments), pattern, rng)
        style = (i + rng.randrange(4)) % 4
        if style == 0:
            text = text.lower()
        elif style == 1:
            text = text.upper() if len(text) < 120 else text.lower()
        elif style == 2:
            text = rng.choice(PREFIXES) + (text[:1].lower() + text[1:])
        else:
            text = text.rstrip() + rng.choice(SUFFIXES)
        if text not in seen:
            seen.add(text)
            out.append((text, args))
    return out


def _last_user(record: CaseRecord) -> str:
    for message in reversed(record.messages):
        if message.get("role") == "user":
            return message.get("content", "")
    return record.prompt


def rows_for(
    record: CaseRecord,
    count: int,
    pattern: re.Pattern[str] | None,
    catalog_tools: dict[str, list[str]],
    rng: random.Random,
) -> list[dict[str, Any]]:
    """The case itself and its variants, as ``{"messages": [...]}`` rows."""
    if not record.messages or record.messages[0].get("role") != "system":
        raise ValueError(f"{record.key}: the recorded messages do not start with a system prompt")
    base = [{"role": m["role"], "content": m["content"]} for m in record.messages]
    rows = [
        {"messages": [*base, {"role": "assistant", "content": gold_output(record, catalog_tools)}]}
    ]
    last_user = max(i for i, m in enumerate(base) if m["role"] == "user")
    for text, args in variants(record, count, pattern, rng):
        turns = [dict(m) for m in base]
        turns[last_user]["content"] = text
        if record.gold.tool == NO_TOOL:
            answer = gold_output(record, catalog_tools)
        else:
            answer = compact({"tool": record.gold.tool, "arguments": args})
        rows.append({"messages": [*turns, {"role": "assistant", "content": answer}]})
    return rows


def robustness_rows(
    results: RunResults, catalog_tools: dict[str, list[str]]
) -> tuple[list[dict[str, Any]], int]:
    """Rows for the perturbed requests of dev cases that broke a passing case (the shrunk one
    and the sampled ones), with the gold as the perturbation transformed it; and how many
    such requests of other splits were left out."""
    report = results.robustness
    if report is None:
        return [], 0
    rows: list[dict[str, Any]] = []
    held_out = 0
    for case in report.cases:
        broken = [
            ex
            for ex in ([case.shrunk] if case.shrunk else []) + case.flipped
            if case.baseline_passed and not ex.passed
        ]
        if case.split != "dev":
            held_out += len(broken)
            continue
        record = results.case(case.key)
        for ex in broken:
            turns = [{"role": m["role"], "content": m["content"]} for m in record.messages]
            last_user = max(i for i, m in enumerate(turns) if m["role"] == "user")
            turns[last_user]["content"] = ex.prompt
            if record.gold.tool == NO_TOOL or not ex.arguments:
                answer = gold_output(record, catalog_tools)
            else:
                answer = compact({"tool": record.gold.tool, "arguments": ex.arguments})
            rows.append({"messages": [*turns, {"role": "assistant", "content": answer}]})
    return rows, held_out


def row_key(row: dict[str, Any]) -> str:
    return json.dumps(row.get("messages"), sort_keys=True, ensure_ascii=False)


def existing_keys(path: Path) -> set[str]:
    keys: set[str] = set()
    if not path.is_file():
        return keys
    for _, line in iter_lines(path.read_text(encoding="utf-8")):
        if not line.strip():
            continue
        try:
            keys.add(row_key(loads_strict(line)))
        except (json.JSONDecodeError, AttributeError):
            continue  # not ours to judge; it is kept untouched
    return keys


def _catalog_required(results: RunResults) -> dict[str, list[str]]:
    """Required arguments per tool: from the run's catalogs when they can be loaded, else
    as far as the gold answers of the run show them."""
    tools: dict[str, list[str]] = {}
    for info in results.golden:
        if not info.files:
            continue
        try:
            catalog = load_catalog(Path(info.files[0]).parent)
        except CatalogError:
            continue
        for tool in catalog.tools:
            tools[tool.name] = list(tool.required)
    if tools:
        return tools
    records = results.cases
    for r in records:
        if r.gold.tool != NO_TOOL:
            names = tools.setdefault(r.gold.tool, [])
            names.extend(a for a in r.gold.arguments if a not in names)
    return tools


def _out_problem(out: Path) -> str | None:
    """Why ``--out`` cannot be appended to, as one sentence with the fix (``None``: fine)."""
    if out.is_dir():
        return f"--out {out} is a folder; give a .jsonl file to append to, e.g. {out / 'x.jsonl'}"
    if out.exists():
        try:
            out.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            return (
                f"--out {out}: byte {exc.start} is not UTF-8, so it is not a JSONL file this "
                "command wrote; give another --out (the file is left untouched)"
            )
        except OSError as exc:
            return f"--out {out} cannot be read ({exc.strerror}); check its permissions"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="routecheck feedback",
        description="Turn a run's failing dev cases into SFT rows (gold answer + variants).",
    )
    parser.add_argument("results", help="A results.json written by a routecheck run.")
    parser.add_argument(
        "--out",
        default="data/feedback.jsonl",
        help="JSONL file to append to (default: %(default)s).",
    )
    parser.add_argument(
        "--variants", type=int, default=3, help="Variants per failing case (default: %(default)s)."
    )
    parser.add_argument("--seed", type=int, default=0, help="Random seed (default: %(default)s).")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.variants < 0:
        print("feedback: error: --variants must be >= 0", file=sys.stderr)
        return 2
    try:
        results = read_results(args.results)
    except ResultsFileError as exc:
        print(f"feedback: error: {exc}", file=sys.stderr)
        return 2
    failing = [c for c in results.cases if not c.passed]
    dev = [c for c in failing if c.split == "dev"]
    held_out = [c for c in failing if c.split != "dev"]
    pattern = id_pattern(id_prefixes(results.cases))
    required = _catalog_required(results)
    rng = random.Random(args.seed)
    out = Path(args.out)
    problem = _out_problem(out)
    if problem:
        print(f"feedback: error: {problem}", file=sys.stderr)
        return 2
    new_rows: list[dict[str, Any]] = []
    duplicates = 0
    try:
        # One lock from reading the rows already there to the fsync of the new ones: a
        # concurrent run waits, then sees these rows and skips them.
        with file_lock(out):
            seen = existing_keys(out)
            robust, robust_held_out = robustness_rows(results, required)
            candidates = [
                row
                for record in dev
                for row in rows_for(record, args.variants, pattern, required, rng)
            ]
            for row in candidates + robust:
                key = row_key(row)
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                new_rows.append(row)
            if new_rows:
                append_text(out, "".join(dumps_line(r) for r in new_rows))
    except ValueError as exc:
        print(f"feedback: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"feedback: error: cannot append to {out} ({exc.strerror or exc}); check that its "
            "folder exists and is writable, or pass another --out",
            file=sys.stderr,
        )
        return 2
    print(f"{len(failing)} failing case(s) in {args.results} (run {results.run_id})")
    print(f"{len(dev)} failing dev case(s) -> {len(new_rows)} new row(s) appended to {out}")
    if duplicates:
        print(f"{duplicates} row(s) skipped: already in {out}")
    print(f"{len(held_out)} failing holdout case(s) left out: holdout cases are never trained on")
    if results.robustness is not None:
        print(
            f"{len(robust)} perturbed dev request(s) that broke a passing case -> rows "
            f"(included above); {robust_held_out} from holdout cases left out"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
