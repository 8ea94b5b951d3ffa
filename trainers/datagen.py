"""Generate SFT rows for a tool router from templates kept as data.

One row is the seed's shape: ``{"messages": [system, user, assistant]}`` where the system
message is the catalog's system prompt and the assistant message is the compact JSON the
router must emit (``{"tool":"track_order","arguments":{"order_id":"ORD-1234"}}`` or
``{"tool":"no_tool","reason":"..."}``).

The phrasings and slot values live in ``trainers/templates/<catalog>.json``; this module
only fills them in, adds noise (casing, typos, filler, rambling), mixes tool calls and
no-tool rows at the requested share, and refuses to write any prompt that is also a golden
prompt (compared after lower-casing and collapsing whitespace): the golden sets are the
test, so a collision is an error that lists the cases, never a silent drop.

Usage::

    python -m trainers.datagen --catalog golden/customer_support \
        --out data/customer_support.jsonl --rows 1000 --seed 0

``--format native`` writes the same rows for training in a model's own tool-call syntax:
``{"messages": [system, user, assistant with tool_calls], "tools": [...]}``, the no-tool
answer as plain assistant text (see ``harness.formats.native.native_row``).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.catalog import NO_TOOL, Catalog, load_catalog
from harness.errors import CatalogError, GoldenFileError
from harness.golden import Category, load_golden
from harness.schema import validate_arguments

TEMPLATES_DIR = Path(__file__).parent / "templates"
RECOMMENDED_SHARE = (0.10, 0.20)
"""The seed's advice: 10-20% no-tool rows. Other shares are allowed, with a warning."""

_SLOT_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WS_RE = re.compile(r"\s+")
_WORD_RE = re.compile(r"[A-Za-z]{4,}")
_MAX_TRIES_PER_ROW = 200
_ORDER_WORD_RE = re.compile(
    r"(?i)(?:\b(?:my|the|your)\s+)?"
    r"(?:\b(?:order|order number|order no\.?|order id|order nr\.?)\s*[#:]?\s*)?#?$"
)


class DatagenError(Exception):
    """A template file, option or generated row is not acceptable."""


class GoldenCollisionError(DatagenError):
    """Generated prompts equal golden prompts; the message lists every collision."""

    def __init__(self, collisions: Sequence[tuple[str, list[str]]]) -> None:
        self.collisions = list(collisions)
        lines = [
            f"{len(self.collisions)} generated prompt(s) equal golden prompts "
            "(compared lower-cased, whitespace collapsed); change the templates:"
        ]
        for prompt, keys in self.collisions:
            lines.append(f"  {prompt!r} == golden {', '.join(keys)}")
        super().__init__("\n".join(lines))


def normalize_prompt(text: str) -> str:
    """The form prompts are compared in: lower-cased, whitespace collapsed and stripped."""
    return _WS_RE.sub(" ", text.lower()).strip()


def compact(obj: Any) -> str:
    """The router's output form: compact JSON, non-ASCII kept as is."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class SlotValue:
    """One way to fill a slot: what the user says and what goes into the arguments."""

    text: str
    arg: Any


@dataclass(frozen=True)
class IdSlot:
    """A generated identifier: canonical form for arguments, many spellings for prompts."""

    canonical: str
    digits: tuple[int, int]
    spellings: tuple[tuple[str, float], ...]

    def draw(self, rng: random.Random) -> SlotValue:
        n_digits = rng.randint(*self.digits)
        number = str(rng.randint(10 ** (n_digits - 1), 10**n_digits - 1))
        formats = [f for f, _ in self.spellings]
        weights = [w for _, w in self.spellings]
        spelling = rng.choices(formats, weights=weights)[0]
        return SlotValue(spelling.format(n=number), self.canonical.format(n=number))


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


@dataclass(frozen=True)
class DateSlot:
    """A generated date: ISO ``YYYY-MM-DD`` for arguments, many spellings for prompts.

    A spelling may use ``{iso}``, ``{year}``, ``{month}`` (01-12), ``{day}`` (01-31),
    ``{d}`` (1-31), ``{m}`` (1-12), ``{month_name}``, ``{mon}`` (Jan) and ``{day_ord}`` (3rd).
    """

    start: date
    end: date
    spellings: tuple[tuple[str, float], ...]

    def draw(self, rng: random.Random) -> SlotValue:
        when = self.start + timedelta(days=rng.randint(0, (self.end - self.start).days))
        formats = [f for f, _ in self.spellings]
        weights = [w for _, w in self.spellings]
        spelling = rng.choices(formats, weights=weights)[0]
        text = spelling.format(
            iso=when.isoformat(),
            year=when.year,
            month=f"{when.month:02d}",
            day=f"{when.day:02d}",
            d=when.day,
            m=when.month,
            month_name=_MONTHS[when.month - 1],
            mon=_MONTHS[when.month - 1][:3],
            day_ord=_ordinal(when.day),
        )
        return SlotValue(text, when.isoformat())


@dataclass(frozen=True)
class Variant:
    templates: tuple[str, ...]
    slots: Mapping[str, tuple[SlotValue, ...]]


@dataclass(frozen=True)
class Twin:
    """A tool-call kind's minimal pair: the same request with its id said only vaguely.

    A share of the kind's rows also yield a twin: the same template and draws, the ``slot``
    value replaced by a vague reference ("my order", "it") and a word like "order" before it
    dropped, answered as the no-tool kind ``as_kind``. The pair differs only in whether the
    id is there, which is the one thing that separates a call from an underspecified
    request, so the router learns to look at it.
    """

    slot: str
    as_kind: str
    share: float
    vague: tuple[str, ...]


@dataclass(frozen=True)
class Kind:
    """A family of requests with one kind of answer (a tool call or one no-tool reason)."""

    name: str
    category: Category
    weight: float
    variants: tuple[Variant, ...]
    tool: str = NO_TOOL
    arguments: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    fillers: bool = True
    typos: bool = True
    prefix: tuple[str, ...] | None = None
    suffix: tuple[str, ...] | None = None
    twin: Twin | None = None

    @property
    def wants_tool(self) -> bool:
        return self.category.wants_tool


@dataclass(frozen=True)
class TemplateSet:
    catalog: str
    ids: Mapping[str, IdSlot | DateSlot]
    kinds: tuple[Kind, ...]
    strip_prefixes: tuple[str, ...]
    noise: Mapping[str, float]
    prefix: tuple[str, ...]
    suffix: tuple[str, ...]
    ramble: tuple[str, ...]
    source: str


def _slot_values(
    raw: Any, where: str, known: Mapping[str, tuple[SlotValue, ...]] | None = None
) -> tuple[SlotValue, ...]:
    if isinstance(raw, str) and raw.startswith("@"):
        if known is None or raw[1:] not in known:
            raise DatagenError(f"{where}: {raw!r} names no slot defined in 'slots'")
        return known[raw[1:]]
    if not isinstance(raw, list) or not raw:
        raise DatagenError(f"{where}: a slot needs a non-empty list of values")
    values = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            values.append(SlotValue(item, None))
        elif isinstance(item, dict) and isinstance(item.get("text"), str) and "arg" in item:
            values.append(SlotValue(item["text"], item["arg"]))
        else:
            raise DatagenError(f"{where}[{i}]: a value is a string or {{'text': ..., 'arg': ...}}")
    return tuple(values)


def load_templates(path: str | Path, catalog: Catalog) -> TemplateSet:
    """Read and check a template file against the catalog it generates data for."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatagenError(f"{p}: template file not found") from None
    except json.JSONDecodeError as exc:
        raise DatagenError(f"{p}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise DatagenError(f"{p}: a template file is a JSON object")
    if data.get("catalog") != catalog.name:
        raise DatagenError(
            f"{p}: written for catalog {data.get('catalog')!r}, not {catalog.name!r}"
        )
    ids: dict[str, IdSlot | DateSlot] = {}
    for name, spec in (data.get("ids") or {}).items():
        where = f"{p}: ids.{name}"
        try:
            lo, hi = spec["digits"]
            spellings = tuple((s["format"], float(s.get("weight", 1))) for s in spec["spellings"])
            ids[name] = IdSlot(spec["canonical"], (int(lo), int(hi)), spellings)
        except (KeyError, TypeError, ValueError):
            raise DatagenError(
                f"{where}: needs canonical, digits [min, max] and spellings [{{format, weight}}]"
            ) from None
        if not spellings or any("{n}" not in f for f, _ in spellings):
            raise DatagenError(f"{where}: every spelling must contain {{n}}")
    for name, spec in (data.get("dates") or {}).items():
        where = f"{p}: dates.{name}"
        try:
            start, end = date.fromisoformat(spec["start"]), date.fromisoformat(spec["end"])
            spellings = tuple((s["format"], float(s.get("weight", 1))) for s in spec["spellings"])
        except (KeyError, TypeError, ValueError):
            raise DatagenError(
                f"{where}: needs start and end (YYYY-MM-DD) and spellings [{{format, weight}}]"
            ) from None
        if end < start or not spellings:
            raise DatagenError(f"{where}: end must not be before start; give spellings")
        if name in ids:
            raise DatagenError(f"{where}: {name!r} is already an id slot")
        ids[name] = DateSlot(start, end, spellings)
    global_slots: dict[str, tuple[SlotValue, ...]] = {}
    raw_slots = data.get("slots") or {}
    for name, values in raw_slots.items():  # plain lists first, then "@alias" slots
        if not (isinstance(values, str) and values.startswith("@")):
            global_slots[name] = _slot_values(values, f"{p}: slots.{name}")
    for name, values in raw_slots.items():
        if isinstance(values, str) and values.startswith("@"):
            global_slots[name] = _slot_values(values, f"{p}: slots.{name}", global_slots)
    fillers = data.get("fillers") or {}
    kinds = []
    seen: set[str] = set()
    for i, raw in enumerate(data.get("kinds") or []):
        kinds.append(_parse_kind(raw, f"{p}: kinds[{i}]", catalog, global_slots, ids, seen))
    if not kinds:
        raise DatagenError(f"{p}: no kinds")
    by_name = {k.name: k for k in kinds}
    for i, k in enumerate(kinds):
        if k.twin is None:
            continue
        target = by_name.get(k.twin.as_kind)
        if target is None or target.wants_tool:
            raise DatagenError(
                f"{p}: kinds[{i}] ({k.name}): twin 'as' must name a no-tool kind, "
                f"not {k.twin.as_kind!r}"
            )
    return TemplateSet(
        catalog=catalog.name,
        ids=ids,
        kinds=tuple(kinds),
        strip_prefixes=tuple(s.lower() for s in data.get("strip_prefixes", [])),
        noise={k: float(v) for k, v in (data.get("noise") or {}).items()},
        prefix=tuple(fillers.get("prefix", [])),
        suffix=tuple(fillers.get("suffix", [])),
        ramble=tuple(fillers.get("ramble", [])),
        source=str(p),
    )


def _parse_kind(
    raw: Any,
    where: str,
    catalog: Catalog,
    global_slots: Mapping[str, tuple[SlotValue, ...]],
    ids: Mapping[str, IdSlot | DateSlot],
    seen: set[str],
) -> Kind:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise DatagenError(f"{where}: a kind is an object with a name")
    name = raw["name"]
    where = f"{where} ({name})"
    if name in seen:
        raise DatagenError(f"{where}: duplicate kind name")
    seen.add(name)
    try:
        category = Category(str(raw.get("category")))
    except ValueError:
        raise DatagenError(
            f"{where}: category must be one of {[c.value for c in Category]}"
        ) from None
    own_slots = {
        k: _slot_values(v, f"{where}.slots.{k}", global_slots)
        for k, v in (raw.get("slots") or {}).items()
    }
    raw_variants = raw.get("variants") or [{"templates": raw.get("templates")}]
    variants = []
    for j, rv in enumerate(raw_variants):
        templates = rv.get("templates")
        if not isinstance(templates, list) or not templates:
            raise DatagenError(f"{where}.variants[{j}]: needs a non-empty list of templates")
        slots = {
            **global_slots,
            **own_slots,
            **{
                k: _slot_values(v, f"{where}.variants[{j}].slots.{k}", global_slots)
                for k, v in (rv.get("slots") or {}).items()
            },
        }
        variants.append(Variant(tuple(templates), slots))
    arguments = raw.get("arguments", {})
    if not isinstance(arguments, dict):
        raise DatagenError(f"{where}: arguments must be an object")
    tool = raw.get("tool", NO_TOOL)
    reason = raw.get("reason", "")
    required_args: set[str] = set()
    if category.wants_tool:
        t = catalog.tool(tool)
        if t is None:
            raise DatagenError(
                f"{where}: tool {tool!r} is not in catalog {catalog.name!r} "
                f"({', '.join(catalog.tool_names)})"
            )
        required_args = set(t.required)
        missing = [a for a in t.required if a not in arguments]
        unknown = [a for a in arguments if a not in t.properties]
        if missing or unknown:
            raise DatagenError(
                f"{where}: arguments do not fit {t.signature()} "
                f"(missing {missing}, unknown {unknown})"
            )
    else:
        if tool != NO_TOOL or arguments:
            raise DatagenError(f"{where}: a {category.value} kind answers no_tool, no arguments")
        if not isinstance(reason, str) or not reason.strip():
            raise DatagenError(f"{where}: a no-tool kind needs a 'reason'")
    for j, variant in enumerate(variants):
        known = set(variant.slots) | set(ids)
        for text in variant.templates:
            for slot in _SLOT_RE.findall(text):
                if slot not in known:
                    raise DatagenError(
                        f"{where}.variants[{j}]: template {text!r}: no slot {slot!r}"
                    )
        for arg, spec in arguments.items():
            for slot in _SLOT_RE.findall(spec) if isinstance(spec, str) else []:
                if slot not in known:
                    raise DatagenError(f"{where}.arguments.{arg}: no slot {slot!r}")
                used = [t for t in variant.templates if f"{{{slot}}}" not in t]
                if used and arg in required_args:
                    raise DatagenError(
                        f"{where}.arguments.{arg} uses {{{slot}}} but template {used[0]!r} "
                        "does not say it: the user's words must carry every required argument "
                        "(an optional argument is set only by templates that say its slots)"
                    )
    own_fillers = raw.get("fillers", True)
    prefix = suffix = None
    if isinstance(own_fillers, dict):
        prefix = tuple(own_fillers.get("prefix", []))
        suffix = tuple(own_fillers.get("suffix", []))
    elif not isinstance(own_fillers, bool):
        raise DatagenError(f"{where}: fillers is true, false or {{prefix: [...], suffix: [...]}}")
    weight = float(raw.get("weight", 1))
    if weight <= 0:
        raise DatagenError(f"{where}: weight must be > 0")
    twin = None
    if raw.get("twin") is not None:
        spec = raw["twin"]
        if not category.wants_tool:
            raise DatagenError(f"{where}: only a tool-call kind can have a twin")
        try:
            slot, as_kind, share = str(spec["slot"]), str(spec["as"]), float(spec["share"])
            vague = _slot_values(spec["vague"], f"{where}.twin.vague", global_slots)
        except (KeyError, TypeError, ValueError):
            raise DatagenError(
                f"{where}: twin needs slot, as (a no-tool kind), share in (0, 1] and vague "
                "(a list of vague references, or '@slot')"
            ) from None
        if not 0 < share <= 1:
            raise DatagenError(f"{where}: twin share must be in (0, 1], got {share}")
        if not all(f"{{{slot}}}" in t for v in variants for t in v.templates):
            raise DatagenError(f"{where}: twin slot {{{slot}}} must be in every template")
        twin = Twin(slot, as_kind, share, tuple(v.text for v in vague))
    return Kind(
        name=name,
        category=category,
        weight=weight,
        variants=tuple(variants),
        tool=tool,
        arguments=arguments,
        reason=reason,
        fillers=own_fillers is not False,
        typos=bool(raw.get("typos", True)),
        prefix=prefix,
        suffix=suffix,
        twin=twin,
    )


def default_templates_path(catalog: Catalog) -> Path:
    return TEMPLATES_DIR / f"{catalog.name}.json"


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class Row:
    """One generated example and where it came from (kept out of the written JSONL)."""

    kind: str
    category: Category
    prompt: str
    output: str
    system: str
    twin_of: str = ""
    """The tool-call kind whose row this is the vague-id twin of ("" for other rows)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": [
                {"role": "system", "content": self.system},
                {"role": "user", "content": self.prompt},
                {"role": "assistant", "content": self.output},
            ]
        }


def strip_reason(text: str, prefixes: Iterable[str]) -> str:
    """The argument form of a free-text slot: leading filler words removed, once each."""
    out = text.strip()
    changed = True
    while changed:
        changed = False
        for prefix in prefixes:
            if out.lower().startswith(prefix) and len(out) > len(prefix):
                out = out[len(prefix) :].lstrip()
                changed = True
    return out.rstrip(" .!")


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(("drop", "double", "swap"))
    if op == "drop":
        return word[:i] + word[i + 1 :]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


class Generator:
    """Fills templates deterministically from one seeded random stream."""

    def __init__(self, templates: TemplateSet, catalog: Catalog, seed: int) -> None:
        self.t = templates
        self.catalog = catalog
        self.system = catalog.system_prompt()
        self.rng = random.Random(seed)

    def _render(
        self,
        kind: Kind,
        rng: random.Random | None = None,
        replace: Mapping[str, str] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A prompt and its arguments. ``replace`` says some slots in other words (twins).

        A replaced slot is still drawn, so the rest of the row draws exactly what it would
        have; a word like "order" just before it is dropped ("order ORD-1" -> "my order").
        """
        rng = rng or self.rng
        replace = replace or {}
        variant = rng.choice(kind.variants)
        template = rng.choice(variant.templates)
        chosen: dict[str, SlotValue] = {}
        # Segments: (text, protected). Slot values are protected from typos so that an
        # id or a reason in the prompt is exactly what the arguments say.
        segments: list[tuple[str, bool]] = []
        pos = 0
        for m in _SLOT_RE.finditer(template):
            segments.append((template[pos : m.start()], False))
            name = m.group(1)
            if name not in chosen:
                if name in self.t.ids:
                    chosen[name] = self.t.ids[name].draw(rng)
                else:
                    # Two slots drawn from one list (origin, destination) never agree.
                    taken = {v.text for v in chosen.values()}
                    values = [v for v in variant.slots[name] if v.text not in taken]
                    chosen[name] = rng.choice(values or variant.slots[name])
            if name in replace:
                before = _ORDER_WORD_RE.sub("", segments[-1][0])
                vague = replace[name]
                if not before.strip() or before.rstrip()[-1:] in ".!?:(\n":
                    vague = vague[:1].upper() + vague[1:]
                segments[-1] = (before, segments[-1][1])
                segments.append((vague, True))
            else:
                segments.append((chosen[name].text, True))
            pos = m.end()
        segments.append((template[pos:], False))

        noise = self.t.noise
        if kind.typos and rng.random() < noise.get("typo", 0):
            for _ in range(rng.choice((1, 1, 2))):
                candidates = [
                    (i, w)
                    for i, (s, prot) in enumerate(segments)
                    if not prot
                    for w in _WORD_RE.finditer(s)
                ]
                if not candidates:
                    break
                i, w = rng.choice(candidates)
                s = segments[i][0]
                segments[i] = (s[: w.start()] + _typo(w.group(), rng) + s[w.end() :], False)
        text = "".join(s for s, _ in segments).strip()
        if rng.random() < 0.5 and text[:1].islower():
            text = text[0].upper() + text[1:]
        if kind.fillers:
            own = kind.prefix is not None or kind.suffix is not None
            prefixes = kind.prefix if kind.prefix is not None else self.t.prefix
            suffixes = kind.suffix if kind.suffix is not None else self.t.suffix
            if not own and self.t.ramble and rng.random() < noise.get("ramble", 0):
                extra = " ".join(rng.sample(self.t.ramble, k=min(2, len(self.t.ramble))))
                text = f"{extra} {text}" if rng.random() < 0.6 else f"{text} {extra}"
            if prefixes and rng.random() < noise.get("prefix", 0):
                text = f"{rng.choice(prefixes)} {text}"
            if suffixes and rng.random() < noise.get("suffix", 0):
                text = f"{text} {rng.choice(suffixes)}"
        r = rng.random()
        if r < noise.get("upper", 0):
            text = text.upper()
        elif r < noise.get("upper", 0) + noise.get("lower", 0):
            text = text.lower()

        arguments: dict[str, Any] = {}
        for arg, spec in kind.arguments.items():
            slots = _SLOT_RE.findall(spec) if isinstance(spec, str) else []
            if all(slot in chosen for slot in slots):
                arguments[arg] = self._argument(spec, chosen)
        return text, arguments

    def _argument(self, spec: Any, chosen: Mapping[str, SlotValue]) -> Any:
        if not isinstance(spec, str):
            return spec
        whole = _SLOT_RE.fullmatch(spec)
        if whole:
            return self._slot_arg(whole.group(1), chosen[whole.group(1)])
        return _SLOT_RE.sub(lambda m: str(self._slot_arg(m.group(1), chosen[m.group(1)])), spec)

    def _slot_arg(self, name: str, value: SlotValue) -> Any:
        if value.arg is not None:
            return value.arg
        return strip_reason(value.text, self.t.strip_prefixes)

    def twin(self, kind: Kind, target: Kind, state: Any) -> Row:
        """The twin of the row rendered from rng ``state``: the id only vaguely said."""
        assert kind.twin is not None
        vague = self.rng.choice(kind.twin.vague)
        replay = random.Random()
        replay.setstate(state)
        prompt, _ = self._render(kind, rng=replay, replace={kind.twin.slot: vague})
        output = compact({"tool": NO_TOOL, "reason": target.reason})
        return Row(target.name, target.category, prompt, output, self.system, twin_of=kind.name)

    def row(self, kind: Kind) -> Row:
        prompt, arguments = self._render(kind)
        if kind.wants_tool:
            tool = self.catalog.tool(kind.tool)
            assert tool is not None
            problem = validate_arguments(arguments, tool.parameters)
            if problem is not None:
                raise DatagenError(
                    f"kind {kind.name}: generated arguments {arguments} are not a valid "
                    f"{tool.signature()} call: {problem[1]}"
                )
            output = compact({"tool": kind.tool, "arguments": arguments})
        else:
            output = compact({"tool": NO_TOOL, "reason": kind.reason})
        return Row(kind.name, kind.category, prompt, output, self.system)


def _allocate(total: int, kinds: Sequence[Kind]) -> dict[str, int]:
    """Split ``total`` rows across kinds by weight (largest remainders, deterministic)."""
    if total <= 0 or not kinds:
        return {k.name: 0 for k in kinds}
    weight = sum(k.weight for k in kinds)
    exact = [(k.name, total * k.weight / weight) for k in kinds]
    counts = {name: int(x) for name, x in exact}
    left = total - sum(counts.values())
    for name, _ in sorted(exact, key=lambda e: (-(e[1] - int(e[1])), e[0]))[:left]:
        counts[name] += 1
    return counts


def generate(
    templates: TemplateSet, catalog: Catalog, rows: int, no_tool_share: float, seed: int
) -> list[Row]:
    """``rows`` unique rows, ``round(rows * no_tool_share)`` of them no-tool, shuffled."""
    if rows < 1:
        raise DatagenError(f"--rows must be >= 1, got {rows}")
    if not 0.0 <= no_tool_share <= 1.0:
        raise DatagenError(f"--no-tool-share must be within [0, 1], got {no_tool_share}")
    n_none = round(rows * no_tool_share)
    positive = [k for k in templates.kinds if k.wants_tool]
    negative = [k for k in templates.kinds if not k.wants_tool]
    if n_none and not negative:
        raise DatagenError(f"{templates.source}: no no-tool kinds to draw {n_none} rows from")
    if rows - n_none and not positive:
        raise DatagenError(f"{templates.source}: no tool-call kinds")
    plan = {**_allocate(rows - n_none, positive), **_allocate(n_none, negative)}
    by_name = {k.name: k for k in templates.kinds}
    gen = Generator(templates, catalog, seed)
    out: list[Row] = []
    seen: set[str] = set()
    made: Counter[str] = Counter()

    def keep(row: Row) -> bool:
        key = normalize_prompt(row.prompt)
        if key in seen:
            return False
        seen.add(key)
        out.append(row)
        made[row.kind] += 1
        return True

    # Kinds that twins answer as come last: twins take their places first, so the no-tool
    # share stays exact. Without twins this is the file's order.
    targets = {k.twin.as_kind for k in templates.kinds if k.twin is not None}
    order = [k for k in templates.kinds if k.name not in targets]
    order += [k for k in templates.kinds if k.name in targets]
    for kind in order:
        while made[kind.name] < plan[kind.name]:
            for _attempt in range(_MAX_TRIES_PER_ROW):
                state = gen.rng.getstate()
                if keep(gen.row(kind)):
                    break
            else:
                raise DatagenError(
                    f"kind {kind.name}: cannot find {plan[kind.name]} distinct prompts; "
                    "add templates or slot values, or ask for fewer rows"
                )
            twin = kind.twin
            if twin is not None and gen.rng.random() < twin.share:
                target = by_name[twin.as_kind]
                if made[target.name] < plan[target.name]:
                    keep(gen.twin(kind, target, state))
    gen.rng.shuffle(out)
    return out


# --------------------------------------------------------------------------- golden guard


def golden_prompts(root: str | Path) -> dict[str, list[str]]:
    """Every golden prompt under ``root`` (normalized) and the case keys that say it."""
    index: dict[str, list[str]] = {}
    for golden_set in load_golden(root):
        for case in golden_set.cases:
            texts = [case.prompt] if case.prompt is not None else []
            if case.messages is not None:
                texts += [m.content for m in case.messages if m.role == "user"]
                texts.append(case.text)
            for text in texts:
                index.setdefault(normalize_prompt(text), []).append(case.key)
    return index


def find_collisions(
    rows: Iterable[Row], golden: Mapping[str, list[str]]
) -> list[tuple[str, list[str]]]:
    return [(r.prompt, golden[k]) for r in rows if (k := normalize_prompt(r.prompt)) in golden]


def check_collisions(rows: Sequence[Row], golden: Mapping[str, list[str]]) -> None:
    """Raise :class:`GoldenCollisionError` listing every generated prompt that is golden."""
    collisions = find_collisions(rows, golden)
    if collisions:
        raise GoldenCollisionError(collisions)


# --------------------------------------------------------------------------- reporting


def mix_table(rows: Sequence[Row]) -> str:
    """The mix per category and per kind, as printed by the command."""
    n = len(rows)
    by_cat = Counter(r.category.value for r in rows)
    by_kind = Counter((r.category.value, r.kind) for r in rows)
    by_tool = Counter(json.loads(r.output)["tool"] for r in rows)
    lines = [f"{n} rows"]
    lines.append("by category:")
    for cat in Category:
        c = by_cat.get(cat.value, 0)
        lines.append(f"  {cat.value:<16}{c:>6}  {c / n:6.1%}")
    lines.append("by answer:")
    for tool, c in sorted(by_tool.items()):
        lines.append(f"  {tool:<16}{c:>6}  {c / n:6.1%}")
    lines.append("by kind:")
    width = max((len(kind) for _, kind in by_kind), default=0) + 2
    for (cat_name, kind), c in sorted(by_kind.items()):
        lines.append(f"  {kind:<{width}}{cat_name:<16}{c:>6}  {c / n:6.1%}")
    twins = Counter(r.twin_of for r in rows if r.twin_of)
    if twins:
        listed = ", ".join(f"{kind} {c}" for kind, c in sorted(twins.items()))
        lines.append(f"vague-id twins (counted in their no-tool kinds): {listed}")
    none = sum(c for t, c in by_tool.items() if t == NO_TOOL)
    lines.append(f"no_tool share: {none / n:.1%}")
    return "\n".join(lines)


def share_warning(share: float) -> str | None:
    lo, hi = RECOMMENDED_SHARE
    if lo <= share <= hi:
        return None
    return (
        f"warning: --no-tool-share {share:.2f} is outside the recommended {lo:.0%}-{hi:.0%}: "
        "fewer no-tool rows bias the router toward always calling a tool, more make it "
        "hedge on real calls"
    )


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainers.datagen",
        description="Generate SFT rows for a tool router from templates kept as data.",
    )
    parser.add_argument(
        "--catalog", required=True, help="Catalog folder (catalog.json/.py) or catalog file."
    )
    parser.add_argument("--out", required=True, help="Output JSONL file (written atomically).")
    parser.add_argument("--rows", type=int, default=1000, help="Number of rows (default 1000).")
    parser.add_argument("--seed", type=int, default=0, help="Random seed (default 0).")
    parser.add_argument(
        "--no-tool-share",
        type=float,
        default=0.15,
        help="Share of no_tool rows in [0, 1] (default 0.15; outside 0.10-0.20 warns).",
    )
    parser.add_argument(
        "--templates",
        default=None,
        help="Template file (default: trainers/templates/<catalog name>.json).",
    )
    parser.add_argument(
        "--format",
        choices=("json", "native"),
        default="json",
        help="Row format (default json): json answers in routecheck's one-object contract; "
        "native gives the catalog as tools and the answer as an assistant tool call (or plain "
        "text for no_tool), rendered by the chat template's own tool syntax when training "
        "with --format native.",
    )
    parser.add_argument(
        "--golden",
        default=None,
        help="Golden folder whose prompts must never be generated (default: the folder "
        "holding the catalog folder, i.e. every golden set beside it).",
    )
    return parser


def _default_golden_root(catalog_path: Path) -> Path:
    folder = catalog_path if catalog_path.is_dir() else catalog_path.parent
    return folder.parent


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        catalog_path = Path(args.catalog)
        catalog = load_catalog(catalog_path)
        templates = load_templates(args.templates or default_templates_path(catalog), catalog)
        if not 0.0 <= args.no_tool_share <= 1.0:
            raise DatagenError(f"--no-tool-share must be within [0, 1], got {args.no_tool_share}")
        warning = share_warning(args.no_tool_share)
        if warning:
            print(warning, file=sys.stderr)
        golden_root = Path(args.golden) if args.golden else _default_golden_root(catalog_path)
        golden = golden_prompts(golden_root)
        rows = generate(templates, catalog, args.rows, args.no_tool_share, args.seed)
        check_collisions(rows, golden)
    except (DatagenError, CatalogError, GoldenFileError) as exc:
        print(f"datagen: error: {exc}", file=sys.stderr)
        return 2
    shaped = [r.to_json() for r in rows]
    if args.format == "native":
        from harness.formats.native import native_row

        shaped = [native_row(r["messages"], catalog) for r in shaped]
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in shaped)
    write_atomic(args.out, payload)
    print(mix_table(rows))
    print(f"checked against {len(golden)} golden prompts under {golden_root}: no collisions")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
