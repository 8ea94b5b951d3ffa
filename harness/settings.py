"""Run settings: one dataclass filled from ``[tool.routecheck]`` in pyproject.toml and the
command line (the command line wins). Every field documents itself; the pytest plugin and
the CLI build their options from these fields.
"""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.backends.base import DTYPES
from harness.errors import RoutecheckError, SettingsError
from harness.gates import GateConfig
from harness.golden import SLICES
from harness.perturb import PERTURBATIONS

DEFAULT_GOLDEN = "golden"

VERDICTS = ("gates", "cases")
"""What decides a complete run's exit status: the gates alone, or every case as well."""

PATH_SETTINGS = ("golden", "reports_dir")
"""Settings that are always paths: relative ones in pyproject.toml are read from its folder."""

MAYBE_PATH_SETTINGS = ("checkpoint", "baseline", "judge")
"""Settings that may be paths (or a name, ``base``, a Hub id): resolved when the path exists."""


@dataclass(frozen=True)
class RunSettings:
    """Everything a suites run needs besides the golden cases themselves."""

    checkpoint: str | None = field(
        default=None,
        metadata={
            "help": "What to evaluate: base, a model or LoRA adapter folder, a .gguf file, "
            "a Hub id, or mock:FILE.JSONL (replayed outputs)."
        },
    )
    golden: str = field(
        default=DEFAULT_GOLDEN,
        metadata={"help": "Golden cases: a catalog folder, a folder of them, or one .jsonl."},
    )
    reports_dir: str = field(
        default="reports", metadata={"help": "Where runs write <run-id>/results.json."}
    )
    gate_split: str = field(
        default="all",
        metadata={"help": f"Cases the gates are computed on: {', '.join(SLICES)}."},
    )
    gate_on: str = field(
        default="estimate",
        metadata={
            "help": "What a gate compares with its threshold: estimate (the point value) or "
            "bound (the far end of the 95 percent interval: upper for a maximum, lower for a "
            "minimum)."
        },
    )
    split: str = field(default="all", metadata={"help": f"Cases to run: {', '.join(SLICES)}."})
    max_new_tokens: int = field(
        default=128, metadata={"help": "Upper bound on generated tokens per case."}
    )
    batch_size: int = field(default=16, metadata={"help": "Cases per generation batch."})
    base_model: str | None = field(
        default=None,
        metadata={"help": "Base model for a LoRA adapter (overrides adapter_config.json)."},
    )
    format: str = field(
        default="json",
        metadata={
            "help": "Output format: json (one JSON object), native (the checkpoint's chat "
            "template with tools= and its own tool-call syntax) or openai-tools "
            "(message.tool_calls from an OpenAI-compatible server). On the command line it "
            "applies to every golden folder; in pyproject.toml, to folders whose catalog "
            "declares no x-format."
        },
    )
    chat_template: str | None = field(
        default=None,
        metadata={
            "help": "Replace the tokenizer's chat template: hermes (standard ChatML tool "
            "calling) or a .jinja file."
        },
    )
    no_cache: bool = field(default=False, metadata={"help": "Bypass the on-disk output cache."})
    baseline: str | None = field(
        default=None,
        metadata={"help": "A previous results.json, or a NAME saved with --rc-save-baseline."},
    )
    save_baseline: str | None = field(
        default=None,
        metadata={"help": "Save this run as baseline NAME under <reports-dir>/baselines/."},
    )
    fail_on_regression: bool = field(
        default=False,
        metadata={"help": "Add a gate that fails when any case passed in the baseline fails now."},
    )
    verdict: str = field(
        default="gates",
        metadata={
            "help": "What decides the exit status of a complete run: gates (every threshold "
            "gate, and the regression gate when asked for, passes; failing cases are still "
            "shown and counted) or cases (every case must pass as well)."
        },
    )
    max_listed: int = field(
        default=20,
        metadata={
            "help": "List failing cases one by one, with prompt, gold and output, up to this "
            "many; beyond it the list collapses to a count and the report's path."
        },
    )
    annotations: str = field(
        default="none",
        metadata={
            "help": "Print failing gates and regressed cases as CI annotations: none or "
            "github (workflow commands)."
        },
    )
    judge: str | None = field(
        default=None,
        metadata={
            "help": "Opt-in judge model, any backend spec (openai:URL#MODEL, a model folder, "
            "mock:FILE): asked one fixed yes/no question per free-text argument after "
            "generation; its verdict decides x-match judge arguments (without a judge, "
            "their x-judge-fallback policy does) and is recorded beside the others."
        },
    )
    judge_decides: str = field(
        default="judge",
        metadata={
            "help": "Which arguments the judge's verdict decides: judge (x-match judge only) "
            "or similar (also similar and contains-or-similar); elsewhere it is recorded only."
        },
    )
    robustness: bool = field(
        default=False,
        metadata={
            "help": "Also run the robustness suite: each golden case's request is perturbed "
            "(typos, casing, wrappers, id spellings...) and the verdict must not change."
        },
    )
    robustness_examples: int = field(
        default=4,
        metadata={
            "help": "Perturbed requests drawn per case by the robustness suite (its budget; "
            "shrinking a fragile case costs a few more)."
        },
    )
    robustness_split: str = field(
        default="dev",
        metadata={"help": f"Cases the robustness suite perturbs: {', '.join(SLICES)}."},
    )
    perturbations: str = field(
        default="",
        metadata={
            "help": "Comma-separated perturbation names for the robustness suite, of: "
            f"{', '.join(PERTURBATIONS)} (empty: all)."
        },
    )
    min_robustness: str = field(
        default="off",
        metadata={
            "help": "Gate: the share of perturbed requests whose verdict equals the "
            "unperturbed one must be at least this rate (or off)."
        },
    )
    decoding: str = field(
        default="free",
        metadata={
            "help": "free (the model writes anything) or constrained (a grammar built from "
            "the catalog lets a transformers checkpoint write only valid calls, json format)."
        },
    )
    dtype: str = field(
        default="float32",
        metadata={
            "help": "Weights of a transformers checkpoint: float32 (as trained, the default) "
            "or bfloat16 (the body in bfloat16 under a float32 output head: faster on CPUs "
            "with bfloat16 instructions; a few answers may change, so the checkpoint's "
            "fingerprint records it)."
        },
    )
    lookup: int = field(
        default=0,
        metadata={
            "help": "Lookup decoding (transformers checkpoints): draft tokens each decode step "
            "verifies, taken from the prompt and the lookup corpus; 0 turns it off. Outputs "
            "are the same, only faster; other backends ignore it."
        },
    )
    lookup_tree: int = field(
        default=0,
        metadata={
            "help": "Lookup decoding as a token tree: up to this many draft tokens a step, the "
            "likeliest continuations (--rc-lookup deep); 0 drafts a single continuation. "
            "Pays off for one request at a time more than for large batches."
        },
    )
    lookup_corpus: str = field(
        default="",
        metadata={
            "help": "SFT .jsonl file(s), comma-separated, whose assistant answers lookup "
            "decoding drafts from (the data the checkpoint was trained on)."
        },
    )
    gates: GateConfig = field(default_factory=GateConfig)
    format_forced: bool = field(
        default=False,
        metadata={
            "internal": True,
            "help": "format applies to every golden folder, over a folder's own x-format "
            "(set when --rc-format is given on the command line).",
        },
    )

    def __post_init__(self) -> None:
        check_robustness(self)
        if self.annotations not in ("none", "github"):
            raise SettingsError(
                f"annotations = {self.annotations!r} is not accepted; use none or github"
            )
        if self.verdict not in VERDICTS:
            raise SettingsError(
                f"verdict = {self.verdict!r} is not accepted; use gates (the default) or cases"
            )
        if self.gate_on not in ("estimate", "bound"):
            raise SettingsError(
                f"gate-on = {self.gate_on!r} is not accepted; use estimate (the default) or bound"
            )
        for name in ("gate_split", "split"):
            value = getattr(self, name)
            if value not in SLICES:
                raise SettingsError(
                    f"{name.replace('_', '-')} = {value!r} is not accepted; "
                    f"use one of: {', '.join(SLICES)}"
                )
        from harness.formats import check_format_name

        if check_format_name(self.format):
            raise RoutecheckError(check_format_name(self.format))
        if self.max_listed < 0:
            raise SettingsError("max-listed must be 0 or a positive integer")
        if self.lookup < 0:
            raise SettingsError("lookup must be 0 (off) or a positive integer")
        if self.lookup_tree < 0:
            raise SettingsError("lookup_tree must be 0 (a single draft) or a positive integer")
        if self.lookup_tree and not self.lookup:
            raise SettingsError("lookup_tree needs lookup: give --rc-lookup N, the tree's depth")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise SettingsError("max-new-tokens and batch-size must be positive integers")
        if self.judge_decides not in ("judge", "similar"):
            raise SettingsError(
                f"judge-decides = {self.judge_decides!r} is not accepted; use judge (the "
                "default) or similar"
            )
        if self.dtype not in DTYPES:
            raise SettingsError(
                f"dtype = {self.dtype!r} is not accepted; use float32 (the default) or bfloat16"
            )
        if self.decoding not in ("free", "constrained"):
            raise SettingsError(
                f"decoding = {self.decoding!r} is not accepted; use free (the default) or "
                "constrained"
            )


def setting_fields() -> list[Any]:
    """The plain (non-gate) settings, for building options."""
    return [f for f in fields(RunSettings) if f.name != "gates" and not f.metadata.get("internal")]


def field_default(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory()


def read_pyproject(rootdir: Path) -> dict[str, Any]:
    """The ``[tool.routecheck]`` table of ``rootdir/pyproject.toml`` (empty when absent).

    Values are type-checked here, where the file is known, and relative paths are made
    relative to the pyproject's folder, so a run from another directory reads the same files.
    """
    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot be read as UTF-8 text: {exc}") from None
    # TOML lets `tool = 5` or `[tool] routecheck = 5` stand where a table is expected.
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise SettingsError(
            f"{path}: tool = {tool!r:.60} is not a table ({type(tool).__name__}); write [tool]"
        )
    table = tool.get("routecheck", {})
    if not isinstance(table, dict):
        raise SettingsError(
            f"{path}: tool.routecheck = {table!r:.60} is not a table ({type(table).__name__}); "
            "write [tool.routecheck]"
        )
    check_types(table, f"{path}: [tool.routecheck]")
    return resolve_paths(table, rootdir)


def check_types(values: dict[str, Any], where: str) -> None:
    """Refuse a value of the wrong TOML type: ``"false"`` is a string, not a boolean."""
    kinds = {f.name: type(field_default(f)) for f in setting_fields()}
    for name, value in values.items():
        default_kind = kinds.get(name)
        if default_kind is None:
            continue  # gate thresholds (numbers or "off") and unknown keys: checked later
        if name == "min_robustness" and isinstance(value, int | float) and value is not True:
            continue  # a rate, like the gate thresholds: 0.9 or "off"
        if default_kind is bool:
            ok, wanted = isinstance(value, bool), "true or false (a TOML boolean, unquoted)"
        elif default_kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
            wanted = "a whole number"
        else:
            ok, wanted = isinstance(value, str), "a string (in quotes)"
        if not ok:
            raise SettingsError(
                f"{where}: {name} = {value!r} is a {type(value).__name__}; it must be {wanted}"
            )


def resolve_paths(values: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative paths in ``values`` made relative to ``base`` (unchanged when it is the CWD)."""
    if base.resolve() == Path.cwd().resolve():
        return dict(values)
    out = dict(values)
    for name in PATH_SETTINGS:
        if isinstance(out.get(name), str) and not Path(out[name]).is_absolute():
            out[name] = str(base / out[name])
    for name in MAYBE_PATH_SETTINGS:
        value = out.get(name)
        if not isinstance(value, str) or not value:
            continue
        if value.startswith("mock:") and not Path(value[5:]).is_absolute():
            out[name] = f"mock:{base / value[5:]}"
        elif not Path(value).is_absolute() and (base / value).exists():
            out[name] = str(base / value)
    return out


def build_settings(file_values: dict[str, Any], cli_values: dict[str, Any]) -> RunSettings:
    """Merge pyproject values and command-line values (``None`` means not given)."""
    plain = {f.name for f in setting_fields()}
    gate_names = set(GateConfig.option_names())
    unknown = sorted(set(file_values) - plain - gate_names)
    if unknown:
        raise SettingsError(
            f"[tool.routecheck]: unknown key(s) {unknown}; known: {sorted(plain | gate_names)}"
        )
    check_types(file_values, "[tool.routecheck]")
    merged = {**file_values, **{k: v for k, v in cli_values.items() if v is not None}}
    gate_values = {k: merged.pop(k) for k in list(merged) if k in gate_names}
    try:
        gates = replace(GateConfig(), **{k: _gate_value(v) for k, v in gate_values.items()})
        forced = cli_values.get("format") is not None  # the command line beats folders
        return RunSettings(**merged, gates=gates, format_forced=forced)
    except RoutecheckError:
        raise
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"routecheck settings: {exc}") from None


def _gate_value(value: Any) -> float | None:
    """A gate threshold; ``off``/``none`` switches the gate off."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none")):
        return None
    if isinstance(value, bool):
        raise ValueError(
            f"gate threshold {value!r} is a boolean; give a rate such as 0.95 or 'off'"
        )
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"gate threshold {value!r} is not a number or 'off'") from None


def check_robustness(settings: RunSettings) -> None:
    """Refuse robustness options that cannot work, before any model is loaded."""
    if settings.robustness_examples < 1:
        raise SettingsError(
            f"robustness-examples = {settings.robustness_examples}: the robustness suite needs "
            "a budget of at least 1 perturbed request per case"
        )
    if settings.robustness_split not in SLICES:
        raise SettingsError(
            f"robustness-split = {settings.robustness_split!r} is not accepted; "
            f"use one of: {', '.join(SLICES)}"
        )
    from harness.perturb import PerturbationError, select

    try:
        select(perturbation_names(settings.perturbations))
    except PerturbationError as exc:
        raise SettingsError(f"perturbations: {exc}") from None
    robustness_threshold(settings.min_robustness)


def perturbation_names(text: str) -> list[str]:
    """``"typo, casing"`` -> ``["typo", "casing"]`` (empty: every perturbation).

    Only separators (``",,"``) name no perturbation: refused rather than read as empty,
    which would silently run them all.
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names and text.strip():
        raise SettingsError(
            f"perturbations = {text!r} names no perturbation; give comma-separated names "
            f"of: {', '.join(PERTURBATIONS)}, or leave it empty for all"
        )
    return names


def robustness_threshold(value: str | float) -> float | None:
    """``min-robustness`` as a rate in [0, 1], or ``None`` when off."""
    if isinstance(value, str) and value.strip().lower() in ("off", "none", ""):
        return None
    try:
        rate = float(value)
    except ValueError:
        raise SettingsError(
            f"min-robustness = {value!r} is not a rate; give a number such as 0.9, or off"
        ) from None
    if not 0.0 <= rate <= 1.0:
        raise SettingsError(f"min-robustness = {value!r} must be between 0 and 1 (or off)")
    return rate
