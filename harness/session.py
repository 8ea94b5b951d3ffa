"""One evaluation session: load golden sets, resolve the checkpoint, run once, write files.

The pytest plugin hands all its work to this object, so everything it does is also
available to a library user (and to ``routecheck run``) without pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.backends import Backend, DecodingConfig, check_format, prevalidate, resolve_backend
from harness.backends._hf_lookup import read_lookup_examples
from harness.errors import CheckpointError, RoutecheckError, RunIncompleteError
from harness.formats import OutputFormat, get_format
from harness.formats.folder import resolve_formats
from harness.gates import GateResult
from harness.golden import GoldenCase, GoldenSet, load_golden
from harness.judge import Judge
from harness.judging import RunJudge
from harness.outputcache import OutputCache, check_writable, default_cache_dir
from harness.results import RunResults, write_results
from harness.runner import RunStopped, golden_fingerprint, run_suite
from harness.settings import RunSettings

EXIT_PASSED = 0
"""A complete run whose verdict passed (failing cases do not count under ``gates``)."""
EXIT_FAILED = 1
"""A complete run whose verdict failed: a gate (or, under ``cases``, a case) failed."""
EXIT_INCOMPLETE = 3
"""The run started but did not complete: the backend or a file write failed."""
EXIT_USAGE = 4
"""The run could not start: options, settings, files or folders are wrong (pytest's 4)."""

if TYPE_CHECKING:
    from harness.compare import Comparison


@dataclass
class RunFiles:
    results: Path
    report: Path | None = None
    baseline_saved: Path | None = None


@dataclass
class EvaluationSession:
    """Lazily runs the evaluation the first time a result is asked for."""

    settings: RunSettings
    sets: list[GoldenSet]
    selected: set[str] | None = None
    results: RunResults | None = None
    comparison: Comparison | None = None
    files: RunFiles | None = None
    robust_selected: set[str] | None = None
    """Cases the robustness suite perturbs (``None``: every case of the run)."""
    _backend: Backend | None = field(default=None, repr=False)
    _lookup_examples: list[tuple[str, str]] = field(default_factory=list, repr=False)
    _corpus_added: bool = field(default=False, repr=False)

    @classmethod
    def start(cls, settings: RunSettings) -> EvaluationSession:
        """Check everything that can be checked before any model is loaded.

        Each failure is a :class:`RoutecheckError` naming the file or folder and the fix, so
        a run never generates for minutes and then loses the work to a late check.
        """
        if not settings.checkpoint:
            raise CheckpointError(
                "no checkpoint to evaluate: pass --checkpoint=PATH (base, a model or adapter "
                "folder, a .gguf file, or mock:FILE) or set checkpoint under [tool.routecheck]"
            )
        sets = load_golden(settings.golden)
        session = cls(settings=settings, sets=sets)
        for name in sorted(set(session.formats().values())) or [settings.format]:
            session._check_format(name)
        if settings.decoding != "free":
            session._check_constrained()
        if settings.dtype != "float32":
            from harness.backends.registry import check_dtype

            check_dtype(settings.checkpoint, settings.dtype)
        if settings.lookup_corpus:
            session._lookup_examples = read_lookup_examples(settings.lookup_corpus)
        session._backend = prevalidate(settings.checkpoint, **session.backend_options())
        check_writable(settings.reports_dir, "The reports folder", "--rc-reports-dir")
        if not settings.no_cache:
            check_writable(
                default_cache_dir(),
                "The output cache folder",
                "ROUTECHECK_CACHE_DIR (or skip the cache with --rc-no-cache)",
            )
        if settings.baseline:
            session._check_baseline()
        if settings.save_baseline:  # a bad name found after generating would lose the run
            from harness.baselines import check_baseline_name

            check_baseline_name(settings.save_baseline)
        if settings.judge:
            session._check_judge(settings.judge)
        return session

    def _check_judge(self, spec: str) -> None:
        """A judge spec that cannot be resolved stops the run before it starts (exit 4);
        once running, a failing judge only leaves its verdicts unavailable."""
        try:
            prevalidate(spec)
        except RoutecheckError as exc:
            raise CheckpointError(
                f"--rc-judge {spec}: {str(exc).replace('--checkpoint ' + spec + ': ', '')}"
            ) from None

    def run_judge(self) -> RunJudge | None:
        """The run's judge, loaded when the run needs it; one that fails to load is data (its
        verdicts are unavailable, the deterministic policies decide), not a crash."""
        spec = self.settings.judge
        if not spec:
            return None
        cache = None if self.settings.no_cache else OutputCache(default_cache_dir())
        try:
            backend: Backend = resolve_backend(spec)
        except Exception as exc:
            backend = _Unloadable(spec, f"{type(exc).__name__}: {exc}")
        return RunJudge(Judge(backend=backend, cache=cache), decides=self.settings.judge_decides)

    def _check_format(self, name: str) -> None:
        """Refuse a format the backend cannot produce, naming the folders that declare it."""
        settings = self.settings
        try:
            check_format(settings.checkpoint or "", name, settings.chat_template)
        except RoutecheckError as exc:
            folders = [
                str(Path(s.files[0]).parent)
                for s in self.sets
                if s.format == name and s.files and not settings.format_forced
            ]
            if not folders or name == settings.format:
                raise
            raise type(exc)(
                f"{', '.join(folders)}: the catalog declares x-format {name}, which this "
                f"backend cannot produce ({exc}); remove the declaration or pass --rc-format"
            ) from None

    def _check_constrained(self) -> None:
        """Refuse constrained decoding that cannot be honoured, before any model is loaded:
        a backend that cannot mask tokens, a format without the grammar, a catalog (or a
        case's own tools) the grammar engine cannot express."""
        from harness.backends.registry import find_backend
        from harness.grammar import check_constrainable, check_support

        settings = self.settings
        entry = find_backend(settings.checkpoint or "")
        for name in sorted(set(self.formats().values())) or [settings.format]:
            check_support(settings.decoding, entry.decodings, settings.checkpoint, name)
        seen: set[int] = set()
        for golden in self.sets:
            check_constrainable(golden.catalog)
            for case in golden.cases:
                if case.tools is not None and id(case.tools) not in seen:
                    seen.add(id(case.tools))
                    check_constrainable(case.tools, f"case {case.key}")

    def _check_baseline(self) -> None:
        """The baseline must read and come from (mostly) the same golden cases as this run."""
        from harness.baselines import load_baseline

        settings = self.settings
        baseline = load_baseline(settings.baseline or "", Path(settings.reports_dir))
        if baseline.golden_fingerprint == golden_fingerprint(self.sets):
            return
        keys = {c.key for c in self.cases()}
        common = keys & {c.key for c in baseline.cases}
        larger = max(len(keys), len(baseline.cases))
        if 2 * len(common) < larger:
            raise RoutecheckError(
                f"--rc-baseline {settings.baseline}: that run used another golden set "
                f"({baseline.golden_fingerprint}, {len(baseline.cases)} cases) and shares "
                f"{len(common)} of {larger} cases with this one ({settings.golden}), fewer than "
                "half, so it cannot be compared; pick a baseline run on the same golden set, "
                "or drop --rc-baseline"
            )

    def check_outputs(self) -> None:
        """Refuse before generating when a replaying backend has no output for a case."""
        backend = self._backend
        bind = getattr(backend, "bind_cases", None)
        if backend is None or not callable(bind):
            return
        chosen = [c for c in self.cases() if self.selected is None or c.key in self.selected]
        missing: list[str] = bind([(c.key, c.id) for c in chosen])
        if missing:
            shown = ", ".join(missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise CheckpointError(
                f"--checkpoint {backend.spec}: no output for {len(missing)} case(s) "
                f"({shown}{more}); a mock file must hold an output for every case it is run "
                "on (missing cases are errors, not passes)"
            )

    def cases(self) -> list[GoldenCase]:
        split = self.settings.split
        return [c for s in self.sets for c in s.cases if split == "all" or c.split == split]

    def formats(self) -> dict[str, str]:
        """Catalog name -> the format its folder runs in: ``--rc-format`` on the command line
        for every folder, else the folder's own ``x-format``, else the run's ``format``."""
        return resolve_formats(
            ((s.catalog.name, s.format) for s in self.sets),
            self.settings.format,
            self.settings.format_forced,
        )

    def backend_format(self) -> str:
        """The format the backend is built (and its tokenizer checked) for: ``native`` when
        any folder uses it, since only that format asks more of the backend."""
        used = set(self.formats().values())
        if len(used) == 1:
            return used.pop()
        return "native" if "native" in used else self.settings.format

    def backend_options(self) -> dict[str, Any]:
        """What the backend is built with; a backend ignores options it has no use for."""
        return {
            "base_model": self.settings.base_model,
            "output_format": self.backend_format(),
            "chat_template": self.settings.chat_template,
            "dtype": self.settings.dtype,
        }

    def backend(self) -> Backend:
        if self._backend is None:
            options = self.backend_options()
            self._backend = resolve_backend(self.settings.checkpoint or "", **options)
        if not self._corpus_added:  # only a transformers backend drafts
            self._corpus_added = True
            add_corpus = getattr(self._backend, "add_lookup_corpus", None)
            if self._lookup_examples and add_corpus is not None:
                said, answers = zip(*self._lookup_examples, strict=True)
                add_corpus(list(answers), list(said))
        return self._backend

    def decoding_config(self) -> DecodingConfig:
        """How this run generates (the same for the golden cases and the robustness suite)."""
        s = self.settings
        return DecodingConfig(
            max_new_tokens=s.max_new_tokens,
            batch_size=s.batch_size,
            mode=s.decoding,
            lookup=s.lookup,
            lookup_tree=s.lookup_tree,
        )

    def run(self) -> RunResults:
        """Generate and score (once), then write results.json and the report.

        Raises :class:`RunIncompleteError` when the backend or a write fails; whatever was
        generated is in the output cache and, when it can be written, in a results.json
        marked incomplete.
        """
        if self.results is not None:
            return self.results
        keys = self.selected if self.selected is not None else {c.key for c in self.cases()}
        settings = self.settings
        cache = None if settings.no_cache else OutputCache(default_cache_dir())
        backend = self.backend()
        try:
            results = run_suite(
                self.sets,
                backend,
                self.decoding_config(),
                keys=keys,
                gates=settings.gates,
                gate_split=settings.gate_split,  # type: ignore[arg-type]
                gate_on=settings.gate_on,
                cache=cache,
                progress=True,
                formats=self._output_formats(backend),
                judge=self.run_judge(),
            )
            if settings.robustness:
                results = self._robustness(results, backend, cache)
        except RunStopped as stopped:
            self._write_incomplete(stopped.results, str(stopped))
            raise
        except OSError as exc:
            raise RunIncompleteError(
                f"writing the output cache under {default_cache_dir()} failed "
                f"({exc.strerror or exc}); free space or fix its permissions and run again "
                "(finished outputs are kept)"
            ) from None
        comparison = None
        if settings.baseline:
            from harness.baselines import load_baseline
            from harness.compare import compare_runs

            comparison = compare_runs(
                results, load_baseline(settings.baseline, Path(settings.reports_dir))
            )
            if settings.fail_on_regression:
                results = results.model_copy(
                    update={"gates": [*results.gates, regression_gate(comparison)]}
                )
        results = results.model_copy(
            update={"verdict": results.judged(settings.verdict), "verdict_rule": settings.verdict}
        )
        self.results, self.comparison = results, comparison
        try:
            self.files = self.write(results, comparison)
        except OSError as exc:
            folder = Path(settings.reports_dir) / results.run_id
            self._write_incomplete(results, f"writing the run's files failed: {exc}")
            raise RunIncompleteError(
                f"writing the run's files under {folder} failed ({exc.strerror or exc}); "
                "free space or fix the folder's permissions and run again (the outputs are in "
                "the output cache, so nothing is generated twice)"
            ) from None
        return results

    def _output_formats(self, backend: Backend) -> dict[str, OutputFormat]:
        """Each catalog's :class:`OutputFormat`, one object per format name."""
        made = {name: get_format(name, backend) for name in set(self.formats().values())}
        return {catalog: made[name] for catalog, name in self.formats().items()}

    def _robustness(
        self, results: RunResults, backend: Backend, cache: OutputCache | None
    ) -> RunResults:
        """Add the robustness suite's section (see :mod:`harness.robustness`)."""
        from harness.robustness import Explorer, add_robustness

        settings = self.settings
        explorer = Explorer(
            backend,
            self.decoding_config(),
            get_format(settings.format, backend),
            cache,
        )
        try:
            return add_robustness(results, self.sets, explorer, settings, self.robust_selected)
        except RunIncompleteError as exc:  # the golden cases are done: keep them
            self._write_incomplete(results, str(exc))
            raise

    def _write_incomplete(self, results: RunResults, reason: str) -> None:
        """Best effort: keep what a stopped run has, marked incomplete, for a look later."""
        partial = results.model_copy(
            update={"completed": False, "incomplete_reason": reason, "verdict": "incomplete"}
        )
        self.results = partial
        try:
            path = Path(self.settings.reports_dir) / partial.run_id / "results.json"
            self.files = RunFiles(results=write_results(partial, path))
        except OSError:
            self.files = None

    def write(self, results: RunResults, comparison: Comparison | None) -> RunFiles:
        folder = Path(self.settings.reports_dir) / results.run_id
        files = RunFiles(results=write_results(results, folder / "results.json"))
        from harness.render.html import write_report

        files.report = write_report(results, folder / "report.html", comparison)
        if self.settings.save_baseline:
            from harness.baselines import save_baseline

            files.baseline_saved = save_baseline(
                results, self.settings.save_baseline, Path(self.settings.reports_dir)
            )
        return files


class _Unloadable(Backend):
    """A judge whose model would not load: every question fails, with the reason."""

    def __init__(self, spec: str, reason: str) -> None:
        self.spec, self.reason = spec, reason

    def generate(self, requests: Any, config: Any, progress: Any = None) -> list[Any]:
        raise RuntimeError(f"the judge model could not be loaded ({self.reason})")


def regression_gate(comparison: Comparison) -> GateResult:
    """``--rc-fail-on-regression`` as a gate: any pass-to-fail case fails it."""
    n = len(comparison.regressions)
    p = comparison.mcnemar_p
    message = (
        f"regressions = {n} (pass -> fail) against {len(comparison.fixes)} fixes; "
        f"exact McNemar p = {p:.4g}; gate: regressions == 0: {'ok' if n == 0 else 'FAILED'}"
    )
    if n:
        message += f"; regressed cases: {', '.join(comparison.regressions[:10])}"
    return GateResult(
        metric="regressions",
        op="<=",
        threshold=0.0,
        value=float(n),
        low=None,
        high=None,
        numerator=n,
        denominator=n + len(comparison.fixes),
        passed=n == 0,
        offenders=list(comparison.regressions[:10]),
        message=message,
    )


__all__ = [
    "EXIT_FAILED",
    "EXIT_INCOMPLETE",
    "EXIT_PASSED",
    "EXIT_USAGE",
    "EvaluationSession",
    "RoutecheckError",
    "RunFiles",
    "regression_gate",
]
