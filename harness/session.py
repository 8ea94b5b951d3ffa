"""One evaluation session: load golden sets, resolve the checkpoint, run once, write files.

The pytest plugin hands all its work to this object, so everything it does is also
available to a library user (and to ``routecheck run``) without pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.backends import Backend, DecodingConfig, check_format, prevalidate, resolve_backend
from harness.errors import CheckpointError, RoutecheckError
from harness.formats import get_format
from harness.gates import GateResult
from harness.golden import GoldenCase, GoldenSet, load_golden
from harness.outputcache import OutputCache, default_cache_dir
from harness.results import RunResults, write_results
from harness.runner import run_suite
from harness.settings import RunSettings

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
    _backend: Backend | None = field(default=None, repr=False)

    @classmethod
    def start(cls, settings: RunSettings) -> EvaluationSession:
        """Check everything that can be checked before any model is loaded."""
        if not settings.checkpoint:
            raise CheckpointError(
                "no checkpoint to evaluate: pass --checkpoint=PATH (base, a model or adapter "
                "folder, a .gguf file, or mock:FILE) or set checkpoint under [tool.routecheck]"
            )
        sets = load_golden(settings.golden)
        session = cls(settings=settings, sets=sets)
        check_format(settings.checkpoint, settings.format, settings.chat_template)
        session._backend = prevalidate(settings.checkpoint, **session.backend_options())
        if settings.baseline:
            from harness.baselines import load_baseline

            load_baseline(settings.baseline, Path(settings.reports_dir))
        return session

    def cases(self) -> list[GoldenCase]:
        split = self.settings.split
        return [c for s in self.sets for c in s.cases if split == "all" or c.split == split]

    def backend_options(self) -> dict[str, Any]:
        """What the backend is built with; a backend ignores options it has no use for."""
        return {
            "base_model": self.settings.base_model,
            "output_format": self.settings.format,
            "chat_template": self.settings.chat_template,
        }

    def backend(self) -> Backend:
        if self._backend is None:
            options = self.backend_options()
            self._backend = resolve_backend(self.settings.checkpoint or "", **options)
        return self._backend

    def run(self) -> RunResults:
        """Generate and score (once), then write results.json and the report."""
        if self.results is not None:
            return self.results
        keys = self.selected if self.selected is not None else {c.key for c in self.cases()}
        settings = self.settings
        cache = None if settings.no_cache else OutputCache(default_cache_dir())
        backend = self.backend()
        results = run_suite(
            self.sets,
            backend,
            DecodingConfig(max_new_tokens=settings.max_new_tokens, batch_size=settings.batch_size),
            keys=keys,
            gates=settings.gates,
            gate_split=settings.gate_split,  # type: ignore[arg-type]
            cache=cache,
            progress=True,
            output_format=get_format(settings.format, backend),
        )
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
        self.results, self.comparison = results, comparison
        self.files = self.write(results, comparison)
        return results

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


__all__ = ["EvaluationSession", "RoutecheckError", "RunFiles", "regression_gate"]
